package main

import (
	"context"
	"os"
	"path/filepath"
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
	require.NoError(t, run(ctx, "", "", &out))

	topology, output, ok := strings.Cut(out.String(), "Final counts")
	require.True(t, ok, "no Final counts section in\n%s", out.String())

	// The topology: two sub-topologies joined by the repartition topic, the
	// count with its store, the sink to the output topic.
	assert.True(t, strings.HasPrefix(topology, "Topologies:\n"), topology)
	for _, want := range []string{
		"Sub-topology: 0",
		"Source: KSTREAM-SOURCE-0000000000 (topics: [text-lines])",
		"Sink: word-counts-repartition-sink (topic: wordcount-example-word-counts-repartition)",
		"Sub-topology: 1",
		"Source: word-counts-repartition-source (topics: [wordcount-example-word-counts-repartition])",
		"Processor: KSTREAM-AGGREGATE-0000000003 (stores: [word-counts])",
		"(topic: word-counts)",
	} {
		assert.Contains(t, topology, want)
	}

	want := ` (store "word-counts", 14 words):
  the    7
  quick  5
  dog    4
  fox    4
  over   3
  a      2
  brown  2
  jumps  2
  lazy   2
  and    1
  barks  1
  end    1
  runs   1
  sleeps 1
Output topic "word-counts": 36 update records for 36 words read; the last record of each word is its final count.
`
	assert.Equal(t, want, output)
}

func TestWords(t *testing.T) {
	assert.Equal(t, []string{"quick", "quick", "the", "dog", "s", "2nd", "nap"},
		words("Quick, quick: the dog's 2nd nap!"))
	assert.Empty(t, words(" ... "))
}

// With -state-dir, the Pebble databases of the count's tasks are left in
// <state-dir>/<app id>.
func TestRunKeepsStateDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	var out strings.Builder
	require.NoError(t, run(ctx, "", dir, &out))
	tasks, err := os.ReadDir(filepath.Join(dir, appID))
	require.NoError(t, err)
	assert.NotEmpty(t, tasks)
}

// A second run against the same cluster would find its expected counts
// already restored from the first run's changelog; it refuses to run.
func TestRunTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := embedded.Start()
	require.NoError(t, err)
	defer c.Close()
	brokers := strings.Join(c.Addrs(), ",")
	var out strings.Builder
	require.NoError(t, run(ctx, brokers, "", &out))
	err = run(ctx, brokers, "", &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `topic "text-lines" already has 6 records`)
}

func TestRunBadBrokers(t *testing.T) {
	var out strings.Builder
	assert.Error(t, run(context.Background(), " , ", "", &out))
}
