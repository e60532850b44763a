package stream_test

import (
	"testing"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// countUpdates groups the committed output of a counting topology by key:
// the counts in the order they were written.
func countUpdates(t *testing.T, out []*kgo.Record) map[string][]int64 {
	t.Helper()
	seq := map[string][]int64{}
	for _, r := range out {
		v, err := serde.Int64().Deserialize("", r.Value)
		require.NoError(t, err)
		seq[string(r.Key)] = append(seq[string(r.Key)], v)
	}
	return seq
}

// requireGapless fails unless every key's updates are exactly 1, 2, ...:
// no update was lost and none repeated.
func requireGapless(t *testing.T, seq map[string][]int64) {
	t.Helper()
	for key, s := range seq {
		for i, v := range s {
			require.Equal(t, int64(i+1), v, "key %s update %d", key, i)
		}
	}
}

// requireExactlyOnce fails unless out, the committed output of a counting
// topology, holds every key's updates 1..want[key] exactly once.
func requireExactlyOnce(t *testing.T, out []*kgo.Record, want map[string]int64) {
	t.Helper()
	seq := countUpdates(t, out)
	requireGapless(t, seq)
	var total int64
	for key, n := range want {
		require.Len(t, seq[key], int(n), "key %s", key)
		total += n
	}
	require.Len(t, out, int(total), "one committed output per input")
}

// requireStore waits until view holds exactly want.
func requireStore(t *testing.T, view *stream.StoreView[string, int64], want map[string]int64, timeout time.Duration) {
	t.Helper()
	got := map[string]int64{}
	require.Eventually(t, func() bool {
		clear(got)
		for k, n := range view.All() {
			got[k] = n
		}
		return assert.ObjectsAreEqual(want, got)
	}, timeout, 50*time.Millisecond, "store: got %v, want %v", got, want)
}

// countByKey counts the records of in per key in the store named store and
// writes every update to out.
func countByKey(in, store, out string) *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, in, serde.String(), serde.String()).
		GroupByKey().
		Count(stream.Materialized(store)).
		ToStream().
		To(out, nil, nil)
	return b
}
