package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/window"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func windowedCloseTopology() *stream.Builder {
	b := stream.NewBuilder()
	stream.WindowedBy(stream.Source(b, "clicks", serde.String(), serde.String()).GroupByKey(), window.Tumbling(10*time.Second)).
		Emit(stream.OnWindowClose()).
		Count(stream.Materialized("clicks-per-10s")).
		ToStream().To("click-counts", nil, nil)
	return b
}

// A restart in the middle, with the state directory lost: the new
// instance restores the window store and the stream time from the
// changelog, so a record late for a window emitted before the restart is
// dropped (not emitted again), and each window's final result is written
// exactly once. Queries read the restored windows.
func TestWindowedRestartEmitsOnce(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("clicks", 1)
	k.Topic("click-counts", 1)
	rec := func(key string, ts int64) *kgo.Record {
		return &kgo.Record{Topic: "clicks", Key: []byte(key), Value: []byte("x"), Timestamp: time.UnixMilli(ts)}
	}
	run := func(recs []*kgo.Record, want int, wantStored []string) (*stream.App, map[string]stream.DroppedCounts) {
		app, err := stream.New(windowedCloseTopology(), stream.Config{AppID: "windowed-restart", Brokers: k.Addrs, StateDir: t.TempDir()})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- app.Run(ctx) }()
		k.Produce(false, recs...)
		k.Read("click-counts", want, 30*time.Second)
		ws, err := stream.WindowStore[string, int64](app, "clicks-per-10s")
		require.NoError(t, err)
		_, err = app.Store[string, int64]("clicks-per-10s")
		require.ErrorIs(t, err, stream.ErrUnknownStore, "a window store is not a key-value store")
		// Queries read committed state: wait for the last commit.
		var stored []string
		if wantStored != nil {
			assert.Eventually(t, func() bool {
				stored = nil
				for w, n := range ws.FetchAll(0, 30000) {
					stored = append(stored, fmt.Sprintf("%s %v %d", w.Key, w.Window, n))
				}
				for w, n := range ws.Fetch("a", 10000, 20000) {
					stored = append(stored, fmt.Sprintf("fetch a: %v %d", w.Window, n))
				}
				return fmt.Sprint(stored) == fmt.Sprint(wantStored)
			}, 20*time.Second, 50*time.Millisecond)
			assert.Equal(t, wantStored, stored)
			require.NoError(t, ws.Err())
		}
		dropped := app.DroppedRecords()
		cancel()
		require.NoError(t, <-errc)
		return app, dropped
	}
	run([]*kgo.Record{rec("a", 1000), rec("b", 2000), rec("a", 3000), rec("a", 12000)}, 2, nil)
	// Stream time 21000, retention 10000: windows starting before 11001
	// have expired and queries no longer see them.
	_, dropped := run([]*kgo.Record{rec("b", 5000), rec("b", 15000), rec("a", 21000)}, 4,
		[]string{"a [20000,30000) 1", "fetch a: [20000,30000) 1"})
	assert.Equal(t, int64(1), dropped["0_0"].Late, "b@5000 is late: stream time 12000 was kept")

	var got []string
	for _, r := range k.ReadAll("click-counts", time.Second) {
		w, err := window.TimeWindowedSerde(serde.String(), 10000).Deserialize("click-counts", r.Key)
		require.NoError(t, err)
		n, err := serde.Int64().Deserialize("click-counts", r.Value)
		require.NoError(t, err)
		got = append(got, fmt.Sprintf("%s %v %d @%d", w.Key, w.Window, n, r.Timestamp.UnixMilli()))
	}
	assert.Equal(t, []string{
		"a [0,10000) 2 @3000",
		"b [0,10000) 1 @2000",
		"a [10000,20000) 1 @12000",
		"b [10000,20000) 1 @15000",
	}, got)
}
