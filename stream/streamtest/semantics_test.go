package streamtest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/brookstream/brook/internal/testcases"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pipeInputs writes testcases.Input records, values as strings or, with
// int64Values, as decimal int64s.
func pipeInputs[V any](t *testing.T, in *streamtest.InputTopic[string, V], vs serde.Serde[V], parse func(string) V, recs []testcases.Input) {
	t.Helper()
	for _, r := range recs {
		var kb, vb []byte
		if !r.NoKey {
			kb = []byte(r.Key)
		}
		if !r.NoValue {
			var err error
			vb, err = vs.Serialize("", parse(r.Value))
			require.NoError(t, err)
		}
		in.PipeBytesAt(kb, vb, r.Timestamp)
	}
}

// outs formats the output records as testcases.Out.
func outs[V any](recs []streamtest.OutputRecord[string, V]) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		v := fmt.Sprint(r.Value)
		if r.Tombstone {
			v = testcases.Tombstone
		}
		out[i] = testcases.Out(r.Key, v, r.Timestamp)
	}
	return out
}

func str(s string) string { return s }

func i64(s string) int64 {
	var n int64
	_, _ = fmt.Sscan(s, &n)
	return n
}

// As state_test.go's TestNullSkips (Kafka Streams' KStreamAggregate#process,
// KGroupedStreamImplTest#shouldLogAndMeasureSkipsInAggregate and
// #shouldCountAndMaterializeResults, whose store keeps the largest
// timestamp): null keys and values are skipped and counted, and timestamps
// never go back.
func TestNullSkips(t *testing.T) {
	d := streamtest.New(t, testcases.NullSkips(), streamtest.Config{})
	pipeInputs(t, d.Input("events", serde.String(), serde.String()), serde.String(), str, testcases.NullSkipsInput)
	assert.Equal(t, testcases.NullSkipsWant, outs(d.Output("event-counts", serde.String(), serde.Int64()).Records()))
	assert.Equal(t, map[string]stream.DroppedCounts{"0_0": testcases.NullSkipsDropped}, d.DroppedRecords())
	// The store holds the counts; the timestamps stay in the store's
	// layout, not in what a query reads.
	n, ok, err := d.Store[string, int64]("event-counts").Get("a")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(2), n)
}

// As state_test.go's TestRegionCounts (Kafka Streams' KTableAggregateTest,
// KTableRepartitionMap since KIP-904, KTableSourceTest).
func TestRegionCounts(t *testing.T) {
	d := streamtest.New(t, testcases.RegionCounts(), streamtest.Config{})
	pipeInputs(t, d.Input("members", serde.String(), serde.String()), serde.String(), str, testcases.RegionCountsInput)
	assert.Equal(t, testcases.RegionCountsWant, outs(d.Output("region-counts", serde.String(), serde.Int64()).Records()))
	assert.Equal(t, testcases.RegionCountsDropped, d.DroppedRecords()["0_0"])
}

// As state_test.go's TestPriceChanges (Kafka Streams' KTableImpl#toStream
// forwards deletes).
func TestPriceChanges(t *testing.T) {
	d := streamtest.New(t, testcases.PriceChanges(), streamtest.Config{})
	pipeInputs(t, d.Input("price-list", serde.String(), serde.Int64()), serde.Int64(), i64, testcases.PriceChangesInput)
	assert.Equal(t, testcases.PriceChangesWant, outs(d.Output("price-changes", serde.String(), serde.Int64()).Records()))
}

// records formats what out holds as testcases.Out.
func records[V any](d *streamtest.Driver, topic string, vs serde.Serde[V]) []string {
	return outs(d.Output(topic, serde.String(), vs).Records())
}

// Kafka Streams' KTableAggregateTest#testRemoveOldBeforeAddNew: the old
// contribution is removed before the new one is added, a row that stays
// in its group gives one update, and timestamps are max(record,
// aggregate).
func TestTableAggregateRemoveOldBeforeAddNew(t *testing.T) {
	b := stream.NewBuilder()
	str := serde.String()
	stream.SourceTable(b, "count-test-input", str, str).
		GroupBy(func(k, _ string) (string, string) { return k[:1], k[1:2] }, str, str).
		Aggregate(func() string { return "" },
			func(_, v, agg string) string { return agg + v },
			func(_, v, agg string) string { return strings.ReplaceAll(agg, v, "") },
			str, stream.Materialized("someStore")).
		ToStream().To("out", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{})
	in := d.Input("count-test-input", str, str)
	in.PipeAt("11", "A", 10)
	in.PipeAt("12", "B", 8)
	in.PipeBytesAt([]byte("11"), nil, 12)
	in.PipeAt("12", "C", 6)
	assert.Equal(t, []string{testcases.Out("1", "1", 10), testcases.Out("1", "12", 10), testcases.Out("1", "2", 12), testcases.Out("1", "2", 12)},
		records(d, "out", str))
}

// Kafka Streams' KTableAggregateTest#testShouldNotSendTransientStateIfNotUpgrading:
// an update that keeps the row in its group is one update, without the
// transient count 0.
func TestTableCountNoTransientState(t *testing.T) {
	b := stream.NewBuilder()
	str := serde.String()
	stream.SourceTable(b, "input-topic", str, str).
		GroupBy(func(k, v string) (string, string) { return k, v }, str, str).
		Count().
		ToStream().To("output-topic", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{})
	in := d.Input("input-topic", str, str)
	in.PipeAt("1", "", 8)
	in.PipeAt("1", "", 9)
	assert.Equal(t, []string{testcases.Out("1", "1", 8), testcases.Out("1", "1", 9)}, records(d, "output-topic", serde.Int64()))
}

// Kafka Streams' KGroupedTableImplTest#shouldReduce (assertReduced):
// table reduce with an adder and a subtractor, and the timestamps of the
// results.
func TestTableReduce(t *testing.T) {
	b := stream.NewBuilder()
	reduced := stream.SourceTable(b, "topic", serde.String(), serde.Float64(), stream.Materialized("store")).
		GroupBy(func(k string, v float64) (string, int64) { return k, int64(v) }, serde.String(), serde.Int64()).
		Reduce(func(agg, v int64) int64 { return agg + v }, func(agg, v int64) int64 { return agg - v }, stream.Materialized("reduced"))
	reduced.ToStream().To("out", nil, nil)
	assert.Equal(t, "reduced", reduced.StoreName())
	d := streamtest.New(t, b, streamtest.Config{})
	in := d.Input("topic", serde.String(), serde.Float64())
	in.PipeAt("A", 1.1, 10)
	in.PipeAt("B", 2.2, 11)
	in.PipeAt("A", 2.6, 30)
	in.PipeAt("B", 1.3, 30)
	in.PipeAt("A", 5.7, 50)
	in.PipeAt("B", 6.2, 20)
	assert.Equal(t, []string{
		testcases.Out("A", "1", 10), testcases.Out("B", "2", 11),
		testcases.Out("A", "2", 30), testcases.Out("B", "1", 30),
		testcases.Out("A", "5", 50), testcases.Out("B", "6", 30),
	}, records(d, "out", serde.Int64()))
}

// Kafka Streams' KStreamReduce#process and KStreamAggregate#process skip
// records with a null key or value and count them as dropped
// (KGroupedStreamImplTest#shouldLogAndMeasureSkipsInReduce and
// #shouldLogAndMeasureSkipsInAggregate); with
// serde.Nullable a tombstone is a nil pointer, and still not counted (the
// issue's example: Kafka Streams counts 2 where brook counted 3).
func TestStreamAggregationsSkipNulls(t *testing.T) {
	b := stream.NewBuilder()
	str := serde.String()
	vals := stream.Source(b, "in", str, serde.Nullable(serde.Int64()))
	vals.GroupByKey().Count(stream.Materialized("count")).ToStream().To("count", nil, nil)
	vals.GroupByKey().
		Reduce(func(agg, v *int64) *int64 { s := *agg + *v; return &s }, stream.Materialized("sum")).
		MapValues(func(v *int64) int64 { return *v }).ToStream().To("sum", nil, serde.Int64())
	vals.GroupByKey().
		Aggregate(func() string { return "" }, func(_ string, v *int64, agg string) string { return agg + fmt.Sprint(*v) }, str, stream.Materialized("concat")).
		ToStream().To("concat", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{})
	in := d.Input("in", str, serde.Nullable(serde.Int64()))
	one, two := int64(1), int64(2)
	in.PipeAt("a", &one, 1)
	in.PipeAt("a", nil, 2) // a tombstone: nil value bytes
	in.PipeBytesAt(nil, []byte{0, 0, 0, 0, 0, 0, 0, 5}, 3)
	in.PipeAt("a", &two, 4)
	assert.Equal(t, []string{testcases.Out("a", "1", 1), testcases.Out("a", "2", 4)}, records(d, "count", serde.Int64()))
	assert.Equal(t, []string{testcases.Out("a", "1", 1), testcases.Out("a", "3", 4)}, records(d, "sum", serde.Int64()))
	assert.Equal(t, []string{testcases.Out("a", "1", 1), testcases.Out("a", "12", 4)}, records(d, "concat", str))
	// Each of the three aggregations dropped one record of each kind.
	assert.Equal(t, map[string]stream.DroppedCounts{"0_0": {NullKeys: 3, NullValues: 3}}, d.DroppedRecords())
}

// Kafka Streams' KStreamImpl#createRepartitionedSource puts a filter
// before the repartition topic; brook's drops records without a key there
// (a key that serializes to nil bytes, here a nil pointer with
// serde.Nullable, or a source record without a key whose key did not
// change), so they are counted in the writing task, and the aggregation
// never sees them (KStreamAggregate would drop them).
func TestRepartitionDropsNullKeys(t *testing.T) {
	b := stream.NewBuilder()
	str := serde.String()
	src := stream.Source(b, "in", str, str)
	keyed := src.GroupBy(func(_, v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}, serde.Nullable(str))
	keyed.Count(stream.Materialized("by-value")).
		ToStream().Map(func(k *string, n int64) (string, int64) { return *k, n }).To("by-value", str, serde.Int64())
	// Merging a re-keyed stream with the source makes GroupByKey
	// repartition; the source's keyless record is dropped at the filter.
	src.Merge(src.SelectKey(func(k, _ string) string { return k + "!" })).
		GroupByKey().Count(stream.Materialized("merged")).ToStream().To("merged", nil, nil)
	assert.Contains(t, b.Describe(), "Processor: merged-repartition-filter (stores: [])")
	d := streamtest.New(t, b, streamtest.Config{})
	in := d.Input("in", str, str)
	in.PipeAt("k", "x", 1)
	in.PipeAt("k", "", 2)
	in.PipeBytesAt(nil, []byte("x"), 3)
	assert.Equal(t, []string{testcases.Out("x", "1", 1), testcases.Out("x", "2", 3)}, records(d, "by-value", serde.Int64()))
	assert.Equal(t, []string{
		testcases.Out("k!", "1", 1), testcases.Out("k", "1", 1),
		testcases.Out("k!", "2", 2), testcases.Out("k", "2", 2),
		testcases.Out("!", "1", 3),
	}, records(d, "merged", serde.Int64()))
	assert.Equal(t, stream.DroppedCounts{NullKeys: 2}, d.DroppedRecords()["0_0"])
}

// Table.Filter forwards only real changes of the filtered table (decision
// 2 in docs/ARCHITECTURE.md): nothing for a row that never passed, where
// Kafka Streams' KTableFilter without a cache forwards a (null, null)
// change, which a sink writes as a tombstone (KTableFilterTest
// #shouldPassThroughWithoutMaterialization expects ("A", null, 10) for a
// row its filter rejects).
func TestTableFilterForwardsRealChangesOnly(t *testing.T) {
	b := stream.NewBuilder()
	stream.SourceTable(b, "prices", serde.String(), serde.Int64()).
		Filter(func(_ string, p int64) bool { return p >= 100 }).
		To("expensive", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{})
	in := d.Input("prices", serde.String(), serde.Int64())
	in.PipeAt("pen", 2, 1)
	in.PipeAt("tv", 500, 2)
	in.PipeAt("pen", 3, 3)
	in.PipeTombstone("pen")
	in.PipeAt("tv", 50, 5)
	assert.Equal(t, []string{testcases.Out("tv", "500", 2), testcases.Out("tv", testcases.Tombstone, 5)}, records(d, "expensive", serde.Int64()))
}
