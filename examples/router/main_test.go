package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	require.NoError(t, run(ctx, "", &out))

	topology, output, ok := strings.Cut(out.String(), "Output:\n")
	require.True(t, ok, "no Output: section in\n%s", out.String())

	// The topology: one source, the two branches, one sink per output topic.
	assert.True(t, strings.HasPrefix(topology, "Topologies:\n"), topology)
	for _, want := range []string{
		"Source: KSTREAM-SOURCE-0000000000 (topics: [events])",
		"Processor: route-click (stores: [])",
		"Processor: route-purchase (stores: [])",
		"(topic: clicks)",
		"(topic: purchases)",
	} {
		assert.Contains(t, topology, want)
	}

	want := `clicks: 3 record(s)
  key=ann value={"user":"ann","amount":1}
  key=bob value={"user":"bob","amount":5}
  key=carl value={"user":"carl","amount":2}
purchases: 2 record(s)
  key=ann value={"user":"ann","amount":12}
  key=bob value={"user":"bob","amount":30}
events-dlq: 1 record(s)
  key=dave value={"user":"dave","type":"click"
    brook.error: KSTREAM-SOURCE-0000000000: deserialize value for topic "events": serde.JSON[main.Event]: topic "events": decode: unexpected end of JSON input
`
	assert.Equal(t, want, output)
}

func TestRunBadBrokers(t *testing.T) {
	var out strings.Builder
	assert.Error(t, run(context.Background(), " , ", &out))
}
