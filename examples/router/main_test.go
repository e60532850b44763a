package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/exampleutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
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

// TestRunRefusesUsedTopics: on topics that already hold records the
// example would print more than its own results; it refuses, as wordcount
// does.
func TestRunRefusesUsedTopics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addrs, stop, err := exampleutil.Brokers("")
	require.NoError(t, err)
	defer stop()
	require.NoError(t, exampleutil.CreateTopics(ctx, addrs, 3, clicksTopic))
	require.NoError(t, exampleutil.Produce(ctx, addrs, &kgo.Record{Topic: clicksTopic, Value: []byte("old")}))
	var out strings.Builder
	err = run(ctx, strings.Join(addrs, ","), &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `topic "clicks" already has 1 records`)
	assert.Contains(t, err.Error(), "consumer group router-example")
	assert.Empty(t, out.String())
}

// TestRunRemovesStateDir: the temporary state directory is gone after run.
func TestRunRemovesStateDir(t *testing.T) {
	pattern := filepath.Join(os.TempDir(), "brook-"+appID+"-*")
	before, err := filepath.Glob(pattern)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, run(ctx, "", io.Discard))
	after, err := filepath.Glob(pattern)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}
