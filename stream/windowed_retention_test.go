package stream_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/window"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Retention: once stream time passes a segment's windows' start +
// retention, the segment leaves the Pebble store as one range delete;
// what remains on disk after a clean shutdown is the live windows and the
// store's two bookkeeping keys. The changelog is compact,delete with
// retention.ms = size + grace + one day.
func TestWindowRetention(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("views", 1)
	k.Topic("view-counts", 1)
	b := stream.NewBuilder()
	stream.WindowedBy(stream.Source(b, "views", serde.String(), serde.String()).GroupByKey(), window.Tumbling(time.Minute)).
		Count(stream.Materialized("views-per-minute")).
		ToStream().To("view-counts", nil, nil)
	dir := t.TempDir()
	app, err := stream.New(b, stream.Config{AppID: "retention", Brokers: k.Addrs, StateDir: dir})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- app.Run(ctx) }()
	var recs []*kgo.Record
	for ts := int64(0); ts <= 600_000; ts += 10_000 {
		for _, key := range []string{"a", "b"} {
			recs = append(recs, &kgo.Record{Topic: "views", Key: []byte(key), Value: []byte("v"), Timestamp: time.UnixMilli(ts)})
		}
	}
	k.Produce(false, recs...)
	k.Read("view-counts", len(recs), 30*time.Second)
	time.Sleep(time.Second) // the last records' commit
	cancel()
	require.NoError(t, <-errc)

	db, err := state.Open(filepath.Join(dir, "retention", "0_0"), state.Options{})
	require.NoError(t, err)
	defer db.Close()
	ro, err := db.ReadOnly("views-per-minute")
	require.NoError(t, err)
	var starts []int64
	for key := range ro.All() {
		if key[0] == 0xff {
			continue // stream time
		}
		_, start, err := state.SplitWindowKey(key)
		require.NoError(t, err)
		starts = append(starts, start)
	}
	require.NoError(t, ro.Err())
	// Stream time 600000, retention 60000: segments (one minute each)
	// before 540001/60000 = 9 are gone, windows [0,540000) with them.
	assert.Equal(t, []int64{540_000, 540_000, 600_000, 600_000}, starts, "segment 9 (a, b), then segment 10 (a, b)")

	cl := k.Client()
	defer cl.Close()
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(context.Background(), "retention-views-per-minute-changelog")
	require.NoError(t, err)
	rc, err := rcs.On("retention-views-per-minute-changelog", nil)
	require.NoError(t, err)
	cfg := map[string]string{}
	for _, c := range rc.Configs {
		if c.Value != nil {
			cfg[c.Key] = *c.Value
		}
	}
	assert.Equal(t, "compact,delete", cfg["cleanup.policy"])
	assert.Equal(t, "86460000", cfg["retention.ms"])
}
