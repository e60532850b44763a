package stream_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// Retention on disk: 20,000 windows of the first minute take the disk of
// the task's Pebble database; once stream time moves ten minutes on,
// their segment leaves as one range delete, and after a compaction the
// live keys are the two new windows and the bookkeeping key, and the
// database's files have shrunk to a small part of what they were.
func TestWindowRetentionDisk(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("views", 1)
	k.Topic("view-counts", 1)
	dir := t.TempDir()
	const keys = 20_000
	run := func(recs []*kgo.Record, outputs, windows int) {
		b := stream.NewBuilder()
		stream.WindowedBy(stream.Source(b, "views", serde.String(), serde.String()).GroupByKey(), window.Tumbling(time.Minute)).
			Count(stream.Materialized("views-per-minute")).
			ToStream().To("view-counts", nil, nil)
		app, err := stream.New(b, stream.Config{AppID: "retention-disk", Brokers: k.Addrs, StateDir: dir})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- app.Run(ctx) }()
		defer func() {
			cancel()
			require.NoError(t, <-errc)
		}()
		k.Produce(false, recs...)
		k.Read("view-counts", outputs, 60*time.Second)
		ws, err := stream.WindowStore[string, int64](app, "views-per-minute")
		require.NoError(t, err)
		// Queries read committed state: wait for the commit of the last
		// record (the range delete is in the same commit).
		require.Eventually(t, func() bool {
			n := 0
			for range ws.FetchAll(0, 1<<62) {
				n++
			}
			return n == windows
		}, 60*time.Second, 100*time.Millisecond)
	}
	// liveKeys counts the store's keys (windows and bookkeeping), and
	// returns the bytes of the database's live tables after a full
	// compaction and of its table files on disk once closed.
	liveKeys := func() (n int, live, files int64) {
		tdir := filepath.Join(dir, "retention-disk", "0_0")
		db, err := state.Open(tdir, state.Options{})
		require.NoError(t, err)
		ro, err := db.ReadOnly("views-per-minute")
		require.NoError(t, err)
		for range ro.All() {
			n++
		}
		require.NoError(t, ro.Err())
		require.NoError(t, db.Compact(context.Background()))
		live = int64(db.TableBytes())
		require.NoError(t, db.Close())
		ssts, err := filepath.Glob(filepath.Join(tdir, "*.sst"))
		require.NoError(t, err)
		for _, f := range ssts {
			fi, err := os.Stat(f)
			require.NoError(t, err)
			files += fi.Size()
		}
		return n, live, files
	}

	var recs []*kgo.Record
	for i := range keys {
		key := fmt.Sprintf("page-%05d-%s", i, strings.Repeat("x", 40))
		recs = append(recs, &kgo.Record{Topic: "views", Key: []byte(key), Value: []byte("v"), Timestamp: time.UnixMilli(int64(i % 60_000))})
	}
	run(recs, keys, keys)
	before, liveBefore, filesBefore := liveKeys()
	assert.Equal(t, keys+1, before, "20,000 windows and the stream-time key")

	run([]*kgo.Record{
		{Topic: "views", Key: []byte("a"), Value: []byte("v"), Timestamp: time.UnixMilli(600_000)},
		{Topic: "views", Key: []byte("b"), Value: []byte("v"), Timestamp: time.UnixMilli(600_001)},
	}, keys+2, 2)
	after, liveAfter, filesAfter := liveKeys()
	assert.Equal(t, 3, after, "the two windows of minute 10 and the stream-time key")
	t.Logf("the task's database after a compaction: live tables %d bytes, *.sst files %d bytes with 20,000 windows; %d and %d bytes once they expired",
		liveBefore, filesBefore, liveAfter, filesAfter)
	assert.Less(t, liveAfter*10, liveBefore, "expired windows left the live tables")
	assert.Less(t, filesAfter*10, filesBefore, "expired windows left the disk")
}
