package testcases

import (
	"strconv"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
)

// Input is one record written to an input topic by the cases below, to a
// topic of one partition, in order.
type Input struct {
	// Key is the record's key, unless NoKey.
	Key string
	// Value is the record's value (as a string), unless NoValue.
	Value string
	// NoKey writes the record without a key (nil key bytes).
	NoKey bool
	// NoValue writes the record without a value: a tombstone.
	NoValue bool
	// Timestamp is the record's timestamp, in milliseconds.
	Timestamp int64
}

// Tombstone is how Out writes a record without a value.
const Tombstone = "<tombstone>"

// Out formats an output record as the cases below expect them:
// "key=value@timestamp", value Tombstone for a record without a value.
func Out(key, value string, ts int64) string {
	return key + "=" + value + "@" + strconv.FormatInt(ts, 10)
}

// NullSkips reads the topic "events" (string keys and values) and counts
// the records per key (store "event-counts"), writing the counts to the
// topic "event-counts" as int64 values. It follows Kafka Streams'
// KGroupedStreamImplTest / KStreamAggregate: records without a key or a
// value are skipped (and counted as dropped), and a count's timestamp is
// the largest timestamp of the records counted so far.
func NullSkips() *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, "events", serde.String(), serde.String()).
		GroupByKey().
		Count(stream.Materialized("event-counts")).
		ToStream().To("event-counts", nil, nil)
	return b
}

// NullSkipsInput is the input of NullSkips.
var NullSkipsInput = []Input{
	{Key: "a", Value: "x", Timestamp: 10},
	{Key: "a", NoValue: true, Timestamp: 20},
	{NoKey: true, Value: "y", Timestamp: 30},
	{Key: "b", Value: "y", Timestamp: 40},
	{Key: "a", Value: "z", Timestamp: 5}, // out of order: the count keeps 10
	{Key: "b", Value: "w", Timestamp: 50},
}

// NullSkipsWant is what the topic "event-counts" holds after
// NullSkipsInput, in order, as Out of the key, the count and the
// timestamp.
var NullSkipsWant = []string{Out("a", "1", 10), Out("b", "1", 40), Out("a", "2", 10), Out("b", "2", 50)}

// NullSkipsDropped is how many records NullSkips drops for a null key and
// for a null value, in its one task 0_0.
var NullSkipsDropped = stream.DroppedCounts{NullKeys: 1, NullValues: 1}

// RegionCounts reads the table "members" (member -> region, strings;
// store "members"), groups it by region and counts the members per region
// (store "region-counts"), writing each update of a count to the topic
// "region-counts" as int64 values. It follows Kafka Streams'
// KTableAggregateTest and KTableRepartitionMap since KIP-904: a row that
// changes and stays in its group gives that group one update; a row that
// moves updates its old group, then its new one. Timestamps are the
// largest of the records' and the aggregate's. The table source skips a
// record without a key (KTableSourceTest).
func RegionCounts() *stream.Builder {
	b := stream.NewBuilder()
	stream.SourceTable(b, "members", serde.String(), serde.String(), stream.Materialized("members")).
		GroupBy(func(member, region string) (string, string) { return region, member }, serde.String(), serde.String()).
		Count(stream.Materialized("region-counts")).
		ToStream().To("region-counts", nil, nil)
	return b
}

// RegionCountsInput is the input of RegionCounts.
var RegionCountsInput = []Input{
	{Key: "ann", Value: "eu", Timestamp: 10},
	{Key: "bob", Value: "eu", Timestamp: 20},
	{Key: "ann", Value: "eu", Timestamp: 15}, // same group: one update, keeps timestamp 20
	{Key: "bob", Value: "us", Timestamp: 30}, // moves: eu first, then us
	{NoKey: true, Value: "us", Timestamp: 35},
	{Key: "ann", NoValue: true, Timestamp: 40},
}

// RegionCountsWant is what the topic "region-counts" holds after
// RegionCountsInput, in order.
var RegionCountsWant = []string{
	Out("eu", "1", 10), Out("eu", "2", 20),
	Out("eu", "2", 20),
	Out("eu", "1", 30), Out("us", "1", 30),
	Out("eu", "0", 40),
}

// RegionCountsDropped is how many records RegionCounts drops, in its
// first sub-topology's task 0_0.
var RegionCountsDropped = stream.DroppedCounts{NullKeys: 1}

// PriceChanges reads the table "price-list" (string keys, int64 values;
// store "price-list") and writes its changes, through ToStream, Filter
// (prices of 100 and more) and MapValues (doubled), to the topic
// "price-changes" as int64 values. Deleted rows flow as tombstones: past
// the Filter and the MapValues, to the sink, which writes them with a nil
// value (KTableImpl#toStream forwards deletes as null values).
func PriceChanges() *stream.Builder {
	b := stream.NewBuilder()
	stream.SourceTable(b, "price-list", serde.String(), serde.Int64(), stream.Materialized("price-list")).
		ToStream().
		Filter(func(_ string, p int64) bool { return p >= 100 }).
		MapValues(func(p int64) int64 { return p * 2 }).
		To("price-changes", nil, nil)
	return b
}

// PriceChangesInput is the input of PriceChanges (values are decimal
// int64s).
var PriceChangesInput = []Input{
	{Key: "tv", Value: "500", Timestamp: 1},
	{Key: "pen", Value: "2", Timestamp: 2},
	{Key: "tv", NoValue: true, Timestamp: 3},
	{Key: "pen", NoValue: true, Timestamp: 4},
	{Key: "car", NoValue: true, Timestamp: 5}, // never there, forwarded all the same (KTableSource)
}

// PriceChangesWant is what the topic "price-changes" holds after
// PriceChangesInput, in order.
var PriceChangesWant = []string{Out("tv", "1000", 1), Out("tv", Tombstone, 3), Out("pen", Tombstone, 4), Out("car", Tombstone, 5)}
