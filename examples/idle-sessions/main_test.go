package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/embedded"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	require.NoError(t, run(ctx, "", time.Second, &out))

	// The topology: the processor between the source and the sink, with
	// its store; then the sessions, whatever the partitions they came from.
	want := `Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [clicks])
      --> sessionizer
    Processor: sessionizer (stores: [open-sessions])
      --> KSTREAM-SINK-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Sink: KSTREAM-SINK-0000000002 (topic: sessions)
      <-- sessionizer

Wrote 6 click(s) to "clicks": ann 3, bob 2, carl 1.
Read 3 session(s) ended after 1s idle from "sessions":
  key=ann value={"user":"ann","clicks":3}
  key=bob value={"user":"bob","clicks":2}
  key=carl value={"user":"carl","clicks":1}
Wrote 1 click(s) to "clicks": ann 1.
Read 1 session(s) ended after 1s idle from "sessions":
  key=ann value={"user":"ann","clicks":1}
`
	assert.Equal(t, want, out.String())
}

// A second run against the same cluster would read the first run's
// sessions; it refuses to run.
func TestRunTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := embedded.Start()
	require.NoError(t, err)
	defer c.Close()
	brokers := strings.Join(c.Addrs(), ",")
	var out strings.Builder
	require.NoError(t, run(ctx, brokers, 500*time.Millisecond, &out))
	assert.Contains(t, out.String(), `Read 3 session(s) ended after 500ms idle from "sessions":`)
	err = run(ctx, brokers, time.Second, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `topic "clicks" already has 7 records`)
}

func TestRunBadFlags(t *testing.T) {
	var out strings.Builder
	assert.Error(t, run(context.Background(), " , ", time.Second, &out))
	err := run(context.Background(), "", 0, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-idle is 0s: it must be positive")
	assert.Empty(t, out.String())
}

func TestDescribeClicks(t *testing.T) {
	assert.Equal(t, `6 click(s) to "clicks": ann 3, bob 2, carl 1`, describeClicks(firstClicks))
	assert.Equal(t, 3, users(firstClicks))
	assert.Equal(t, 1, users(secondClicks))
}
