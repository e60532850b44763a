package stream_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestAbortLeavesNoTrace stops an exactly-once App with an error in the
// middle of a transaction that already holds output and store updates. The
// transaction aborts: the committed output stays a gapless 1..m per key.
// After a restart on the same state directory, every key's output is
// exactly 1..n and the store holds n: the aborted work left no trace in the
// output (no repeats) nor in the store (no skipped counts).
func TestAbortLeavesNoTrace(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("ab-in", 2)
	k.Topic("ab-out", 2)
	var boom atomic.Bool
	boom.Store(true)
	topology := func() *stream.Builder {
		b := stream.NewBuilder()
		stream.Source(b, "ab-in", serde.String(), serde.String()).
			Peek(func(_, v string) {
				if v == "boom" && boom.Load() {
					panic("boom")
				}
			}).
			GroupByKey().
			Count(stream.Materialized("ab-counts")).
			ToStream().
			To("ab-out", nil, nil)
		return b
	}
	const keys = 10
	want := map[string]int64{}
	n := 0
	feed := func(count int, last string) {
		var recs []*kgo.Record
		for i := range count {
			key := "k" + strconv.Itoa(n%keys)
			v := strconv.Itoa(n)
			if i == count-1 && last != "" {
				v = last
			}
			recs = append(recs, rec("ab-in", key, v))
			want[key]++
			n++
		}
		k.Produce(false, recs...)
	}
	dir := t.TempDir()
	cfg := stream.Config{AppID: "abort", Brokers: k.Addrs, StateDir: dir}
	app, err := stream.New(topology(), cfg)
	require.NoError(t, err)
	runErr := make(chan error, 1)
	go func() { runErr <- app.Run(context.Background()) }()
	feed(200, "")
	require.Len(t, k.Read("ab-out", 200, 20*time.Second), 200)
	// One batch whose last record panics: the transaction holding the
	// batch's updates aborts and the App stops.
	feed(300, "boom")
	err = <-runErr
	var pe *stream.PanicError
	require.ErrorAs(t, err, &pe)
	committed := k.ReadAll("ab-out", 500*time.Millisecond)
	requireGapless(t, countUpdates(t, committed))
	t.Logf("%d of %d outputs committed when the App stopped", len(committed), n)
	assert.Less(t, len(committed), n, "the failing record's output was committed")

	boom.Store(false)
	app, err = stream.New(topology(), cfg)
	require.NoError(t, err)
	go app.Run(context.Background())
	defer app.Close()
	feed(200, "")
	requireExactlyOnce(t, k.Read("ab-out", n, 30*time.Second), want)
	view, err := app.Store[string, int64]("ab-counts")
	require.NoError(t, err)
	requireStore(t, view, want, 10*time.Second)
}
