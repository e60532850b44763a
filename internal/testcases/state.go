package testcases

import (
	"strings"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
)

// WordCount reads lines from the topic in (string keys and values),
// splits them into words, groups by word (through the repartition topic
// "<app id>-word-counts-repartition"), counts them in the store
// "word-counts" and writes the counts to the topic out as int64 values.
func WordCount(in, out string) *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, in, serde.String(), serde.String()).
		FlatMapValues(strings.Fields).
		GroupBy(func(_, w string) string { return w }, serde.String()).
		Count(stream.Materialized("word-counts")).
		ToStream().
		To(out, nil, nil)
	return b
}

// WordLines are the lines the word count tests write, once or more.
var WordLines = []string{
	"the quick brown fox", "jumps over the lazy dog", "the dog barks",
	"a fox and a dog", "quick quick quick", "over and over",
}

// LineRecords keys lines for an input topic of WordCount: the keys cycle
// through "a" to "e", so that the lines are spread over the partitions.
func LineRecords(lines []string) []stream.KeyValue[string, string] {
	out := make([]stream.KeyValue[string, string], len(lines))
	for i, l := range lines {
		out[i] = stream.KV(string(rune('a'+i%5)), l)
	}
	return out
}

// WantWords returns the counts per word that WordCount ends with after
// lines were written times times: a new map each call.
func WantWords(lines []string, times int) map[string]int64 {
	m := map[string]int64{}
	for range times {
		for _, l := range lines {
			for _, w := range strings.Fields(l) {
				m[w]++
			}
		}
	}
	return m
}

// Stats is the aggregate of ReduceAndAggregate, as JSON: how many amounts
// a key had and their sum.
type Stats struct {
	// N is the number of amounts.
	N int `json:"n"`
	// Sum is their sum.
	Sum int `json:"sum"`
}

// Amounts is the input of ReduceAndAggregate, in order.
var Amounts = []stream.KeyValue[string, string]{
	stream.KV("a", "3"), stream.KV("b", "10"), stream.KV("a", "7"),
	stream.KV("a", "5"), stream.KV("b", "2"), stream.KV("c", "1"),
}

// ReduceAndAggregate reads amounts from the topic "amounts" (string keys
// and values), parses them as int64 and groups them by key, which after
// MapValues needs no repartition topic. It writes the largest amount per
// key (Reduce, store "max") to the topic "max" as int64 values, and the
// Stats per key (Aggregate, store "stats") to the topic "stats" as JSON.
func ReduceAndAggregate() *stream.Builder {
	b := stream.NewBuilder()
	amounts := stream.Source(b, "amounts", serde.String(), serde.String()).
		MapValues(func(v string) int64 {
			n := int64(0)
			for _, c := range v {
				n = n*10 + int64(c-'0')
			}
			return n
		}).WithSerdes(nil, serde.Int64())
	amounts.GroupByKey().
		Reduce(func(agg, v int64) int64 { return max(agg, v) }, stream.Materialized("max")).
		ToStream().To("max", nil, nil)
	amounts.GroupByKey().
		Aggregate(func() Stats { return Stats{} }, func(_ string, v int64, s Stats) Stats {
			return Stats{N: s.N + 1, Sum: s.Sum + int(v)}
		}, serde.JSON[Stats](), stream.Materialized("stats")).
		ToStream().To("stats", nil, nil)
	return b
}

// WantMax is the latest value per key of the topic "max" of
// ReduceAndAggregate after Amounts.
var WantMax = map[string]int64{"a": 7, "b": 10, "c": 1}

// WantStats is the latest value per key of the topic "stats" of
// ReduceAndAggregate after Amounts, and what its store "stats" holds.
var WantStats = map[string]Stats{"a": {3, 15}, "b": {2, 12}, "c": {1, 1}}

// Update is one record of a table's topic: it sets Key to Value or, if
// Tombstone, deletes Key.
type Update[V any] struct {
	// Key is the record's key.
	Key string
	// Value is the record's value, unless Tombstone.
	Value V
	// Tombstone makes the record a tombstone: a key without a value.
	Tombstone bool
}

// Set returns an Update that sets key to value.
func Set[V any](key string, value V) Update[V] { return Update[V]{Key: key, Value: value} }

// Delete returns an Update that deletes key: a tombstone.
func Delete[V any](key string) Update[V] { return Update[V]{Key: key, Tombstone: true} }

// Phase is a batch of updates to a table's input topic, of values V, and
// the latest value per key, of values W, that the output topic holds once
// they and every phase before them are processed.
type Phase[V, W any] struct {
	// Updates are written in order.
	Updates []Update[V]
	// Want is the latest value per key of the output topic, without the
	// keys whose latest record is a tombstone.
	Want map[string]W
}

// UsersPerRegion reads the table "users" (user -> region, strings, store
// "users"), groups it by region and counts the users per region (store
// "users-per-region"), writing the counts to the topic "per-region" as
// int64 values. Moving a user subtracts from the old region and adds to
// the new one; a tombstone removes the user.
func UsersPerRegion() *stream.Builder {
	b := stream.NewBuilder()
	stream.SourceTable(b, "users", serde.String(), serde.String(), stream.Materialized("users")).
		GroupBy(func(user, region string) (string, string) { return region, user }, serde.String(), serde.String()).
		Count(stream.Materialized("users-per-region")).
		ToStream().To("per-region", nil, nil)
	return b
}

// UsersPerRegionPhases are the phases of UsersPerRegion: four users in
// three regions; then bob moves to us, dan is deleted and ann's row is
// rewritten unchanged.
var UsersPerRegionPhases = []Phase[string, int64]{
	{
		Updates: []Update[string]{Set("ann", "eu"), Set("bob", "eu"), Set("cid", "us"), Set("dan", "apac")},
		Want:    map[string]int64{"eu": 2, "us": 1, "apac": 1},
	},
	{
		Updates: []Update[string]{Set("bob", "us"), Delete[string]("dan"), Set("ann", "eu")},
		Want:    map[string]int64{"eu": 1, "us": 2, "apac": 0},
	},
}

// WantUsers is what the store "users" of UsersPerRegion holds after all
// of UsersPerRegionPhases.
var WantUsers = map[string]string{"ann": "eu", "bob": "us", "cid": "us"}

// ExpensivePrices reads the table "prices" (string keys, int64 values,
// store "prices"), keeps the prices of 100 and more, doubles them and
// writes the result to the topic "expensive" as int64 values: a row that
// is deleted, or filtered out after an update, becomes a tombstone.
func ExpensivePrices() *stream.Builder {
	b := stream.NewBuilder()
	stream.SourceTable(b, "prices", serde.String(), serde.Int64(), stream.Materialized("prices")).
		Filter(func(_ string, p int64) bool { return p >= 100 }).
		MapValues(func(p int64) int64 { return p * 2 }).
		To("expensive", nil, nil)
	return b
}

// ExpensivePricesPhases are the phases of ExpensivePrices: three prices,
// one of them cheap; then the tv gets cheap and the car is deleted, which
// writes two tombstones.
var ExpensivePricesPhases = []Phase[int64, int64]{
	{
		Updates: []Update[int64]{Set[int64]("tv", 500), Set[int64]("pen", 2), Set[int64]("car", 9000)},
		Want:    map[string]int64{"tv": 1000, "car": 18000},
	},
	{
		Updates: []Update[int64]{Set[int64]("tv", 50), Delete[int64]("car")},
		Want:    map[string]int64{},
	},
}

// BadRecord is one input record of BadInput: Key with Value as an int64,
// or, where Raw is not nil, with Raw as the value's bytes as they are.
type BadRecord struct {
	// Key is the record's key.
	Key string
	// Value is the record's value, unless Raw is not nil.
	Value int64
	// Raw, if not nil, is the value's bytes, written as they are.
	Raw []byte
	// Headers are the record's headers.
	Headers []stream.Header
}

// BadInput reads int64 values from the topic in (string keys), doubles
// them and writes them to the topic out. Processing 99 panics.
func BadInput(in, out string) *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, in, serde.String(), serde.Int64()).
		MapValues(func(v int64) int64 {
			if v == 99 {
				panic("ninety-nine is not allowed")
			}
			return v * 2
		}).
		To(out, nil, nil)
	return b
}

// BadRecords is the input of BadInput, to a topic of one partition: at
// offset 2 a value "x" with the header h=v, which does not decode as an
// int64, and at offset 4 the value 99, whose processing panics.
var BadRecords = []BadRecord{
	{Key: "a", Value: 1},
	{Key: "b", Value: 2},
	{Key: "c", Raw: []byte("x"), Headers: []stream.Header{{Key: "h", Value: []byte("v")}}},
	{Key: "d", Value: 3},
	{Key: "e", Value: 99},
	{Key: "f", Value: 4},
}

// BadInputSkipped is what the output topic of BadInput holds after
// BadRecords when bad records are skipped (or sent to a dead letter
// topic), in order, as Pair of the key and the decimal value.
var BadInputSkipped = []string{"a=2", "b=4", "d=6", "f=8"}

// BadInputFailed is what the output topic of BadInput holds when the
// application fails on the first bad record of BadRecords: the records
// before it.
var BadInputFailed = []string{"a=2", "b=4"}
