package topo

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Drops are counted per task and logged at Warn: the first at once with
// the record's coordinates, then at most one summary per
// DropSummaryInterval (Kafka Streams logs each skip at Warn and counts it
// in the dropped-records sensor, see KStreamAggregate#process; brook
// summarizes so that a stream of tombstones does not flood the log).
func TestDropCountsAndSummaries(t *testing.T) {
	var logs bytes.Buffer
	g := NewGraph()
	src := g.Add(KindSource, "SRC", "src")
	src.Topics = []string{"in"}
	src.Build = func(*Task, []any) (any, error) {
		return SourceFunc(func(t *Task, r *kgo.Record) error {
			if r.Key == nil {
				t.Drop("src", DropNullKey)
			} else if r.Value == nil {
				t.Drop("src", DropNullValue)
			}
			return nil
		}), nil
	}
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	task, err := NewTask(g.Subtopologies()[0], TaskID{0, 2}, nil, Policy{}, log, nil, 0)
	require.NoError(t, err)

	for i := range 1000 {
		r := &kgo.Record{Topic: "in", Partition: 2, Offset: int64(i), Key: []byte("k"), Timestamp: time.UnixMilli(1)}
		if i%2 == 0 {
			r.Key = nil
		}
		require.NoError(t, task.Process(r))
	}
	assert.Equal(t, map[TaskID]DropCounts{{0, 2}: {NullKeys: 500, NullValues: 500}}, g.Drops().Snapshot())
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 1, "one line for 1000 drops within the interval")
	assert.Contains(t, lines[0], "level=WARN")
	assert.Contains(t, lines[0], "skipping record with a null key")
	assert.Contains(t, lines[0], "task=0_2 node=src topic=in partition=2 offset=0")

	// Once the interval has passed, the next drop logs a summary of the
	// drops since the last line.
	task.drops.lastLog = time.Now().Add(-DropSummaryInterval)
	require.NoError(t, task.Process(&kgo.Record{Topic: "in", Key: []byte("k"), Offset: 1000, Timestamp: time.UnixMilli(2)}))
	lines = strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[1], "skipped records with null keys or values")
	assert.Contains(t, lines[1], "null_keys=499 null_values=501 late=0 total_null_keys=500 total_null_values=501 total_late=0")
}
