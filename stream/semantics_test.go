package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/internal/testcases"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runInputs runs b on the in-process Kafka with one-partition topics in
// and out, writes recs to in (values serialized with vs from parse) and
// returns the first n records of out, formatted as testcases.Out, and the
// App's dropped-record counts.
func runInputs[V any](t *testing.T, b *stream.Builder, in string, vs serde.Serde[V], parse func(string) V, recs []testcases.Input, out string, n int) ([]string, map[string]stream.DroppedCounts) {
	t.Helper()
	k := kafkatest.New(t)
	k.Topic(in, 1)
	k.Topic(out, 1)
	app, err := stream.New(b, stream.Config{AppID: t.Name(), Brokers: k.Addrs, StateDir: t.TempDir()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- app.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-errc)
	}()
	var krs []*kgo.Record
	for _, r := range recs {
		kr := &kgo.Record{Topic: in, Timestamp: time.UnixMilli(r.Timestamp)}
		if !r.NoKey {
			kr.Key = []byte(r.Key)
		}
		if !r.NoValue {
			v, err := vs.Serialize(in, parse(r.Value))
			require.NoError(t, err)
			kr.Value = v
		}
		krs = append(krs, kr)
	}
	k.Produce(false, krs...)
	got := k.Read(out, n, 30*time.Second)
	// Nothing more comes: a quiet period after the expected records.
	time.Sleep(500 * time.Millisecond)
	all := k.Read(out, n+1, 2*time.Second)
	require.Len(t, all, len(got), "more records than expected on %s", out)
	var lines []string
	for _, r := range got {
		v := testcases.Tombstone
		if r.Value != nil {
			n, err := serde.Int64().Deserialize(out, r.Value)
			require.NoError(t, err)
			v = fmt.Sprint(n)
		}
		lines = append(lines, testcases.Out(string(r.Key), v, r.Timestamp.UnixMilli()))
	}
	return lines, app.DroppedRecords()
}

func parseStr(s string) string { return s }

func parseInt64(s string) int64 {
	var n int64
	_, _ = fmt.Sscan(s, &n)
	return n
}

// TestNullSkips: null keys and values are skipped by a stream count and
// counted per task, and result timestamps never go back (Kafka Streams'
// KStreamAggregate#process; KGroupedStreamImplTest
// #shouldLogAndMeasureSkipsInAggregate, and #shouldCountAndMaterializeResults
// for the timestamps: max(record, previous aggregate)).
// The streamtest driver runs the same case.
func TestNullSkips(t *testing.T) {
	got, dropped := runInputs(t, testcases.NullSkips(), "events", serde.String(), parseStr, testcases.NullSkipsInput, "event-counts", len(testcases.NullSkipsWant))
	assert.Equal(t, testcases.NullSkipsWant, got)
	assert.Equal(t, map[string]stream.DroppedCounts{"0_0": testcases.NullSkipsDropped}, dropped)
}

// TestRegionCounts: table re-aggregation as Kafka Streams does since
// KIP-904 (KTableRepartitionMap#process, KTableAggregate#process,
// KTableAggregateTest): one update for a row that stays in its group,
// subtract-then-add for a row that moves, timestamps max(record,
// aggregate); KTableSource skips a record without a key.
func TestRegionCounts(t *testing.T) {
	got, dropped := runInputs(t, testcases.RegionCounts(), "members", serde.String(), parseStr, testcases.RegionCountsInput, "region-counts", len(testcases.RegionCountsWant))
	assert.Equal(t, testcases.RegionCountsWant, got)
	assert.Equal(t, testcases.RegionCountsDropped, dropped["0_0"])
}

// TestPriceChanges: Table.ToStream forwards deletes, which Filter and
// MapValues pass on and To writes as tombstones (KTableImpl#toStream maps
// a change to its new value, null for a delete; KStreamImplTest's sinks
// write null values).
func TestPriceChanges(t *testing.T) {
	got, _ := runInputs(t, testcases.PriceChanges(), "price-list", serde.Int64(), parseInt64, testcases.PriceChangesInput, "price-changes", len(testcases.PriceChangesWant))
	assert.Equal(t, testcases.PriceChangesWant, got)
}

// TestTimestampRestored: an aggregate's timestamp is stored with it and
// survives a restore from the changelog, whose records hold the plain
// value with the aggregate's timestamp as the record timestamp, as Kafka
// Streams' timestamped stores write their changelogs
// (ValueAndTimestampSerializer, ChangeLoggingTimestampedKeyValueBytesStore).
func TestTimestampRestored(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("events", 1)
	k.Topic("event-counts", 1)
	run := func(stateDir string) (stop func()) {
		app, err := stream.New(testcases.NullSkips(), stream.Config{AppID: "ts-restore", Brokers: k.Addrs, StateDir: stateDir})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- app.Run(ctx) }()
		return func() {
			cancel()
			require.NoError(t, <-errc)
		}
	}
	produce := func(key, value string, ts int64) {
		k.Produce(false, &kgo.Record{Topic: "events", Key: []byte(key), Value: []byte(value), Timestamp: time.UnixMilli(ts)})
	}
	stop := run(t.TempDir())
	produce("a", "x", 10)
	produce("a", "y", 5)
	require.Len(t, k.Read("event-counts", 2, 30*time.Second), 2)
	stop()

	cl := k.Read("ts-restore-event-counts-changelog", 1, 10*time.Second)
	require.NotEmpty(t, cl)
	last := cl[len(cl)-1]
	n, err := serde.Int64().Deserialize("", last.Value)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n, "the changelog holds the plain value")
	assert.Equal(t, int64(10), last.Timestamp.UnixMilli(), "and the aggregate's timestamp")

	// A new state directory: the store is restored from the changelog,
	// timestamps included.
	stop = run(t.TempDir())
	defer stop()
	produce("a", "z", 3)
	got := k.Read("event-counts", 3, 30*time.Second)
	require.Len(t, got, 3)
	n, err = serde.Int64().Deserialize("", got[2].Value)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	assert.Equal(t, int64(10), got[2].Timestamp.UnixMilli())
}
