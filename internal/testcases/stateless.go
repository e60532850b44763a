package testcases

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
)

// Pair formats a record's key and value as the expected outputs of this
// package write them: "key=value".
func Pair(key, value string) string { return key + "=" + value }

// Pairs formats records with Pair, each key and value in fmt's default
// format (a string as it is, an int64 in decimal).
func Pairs[K, V any](kvs []stream.KeyValue[K, V]) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = Pair(fmt.Sprint(kv.Key), fmt.Sprint(kv.Value))
	}
	return out
}

func atoi64(s string) int64 {
	n, _ := strconv.Atoi(s)
	return int64(n)
}

// OperatorInput is the input of every Operators case, in this order, to a
// topic of one partition.
var OperatorInput = []stream.KeyValue[string, string]{
	stream.KV("a", "1"), stream.KV("b", "2"), stream.KV("c", "3"), stream.KV("a", "4"),
}

// Operator is one case of the stateless operator table.
type Operator struct {
	// Name is the subtest's name.
	Name string
	// Build adds the operator under test to s, a stream read with string
	// serdes from the topic of OperatorInput, and writes its result to
	// the topic out.
	Build func(s stream.Stream[string, string], out string)
	// Want is what out holds after OperatorInput, in order, each record
	// as Pair of its raw key and value bytes: an int64 value shows as its
	// 8 big-endian bytes.
	Want []string
}

// Operators is the stateless operator table: one case per operator, plus
// one that writes int64 values.
var Operators = []Operator{
	{"filter", func(s stream.Stream[string, string], out string) {
		s.Filter(func(_, v string) bool { return v != "2" }).To(out, nil, nil)
	}, []string{"a=1", "c=3", "a=4"}},
	{"filternot", func(s stream.Stream[string, string], out string) {
		s.FilterNot(func(k, _ string) bool { return k == "a" }).To(out, nil, nil)
	}, []string{"b=2", "c=3"}},
	{"map", func(s stream.Stream[string, string], out string) {
		s.Map(func(k, v string) (string, int64) {
			return strings.ToUpper(k), atoi64(v) * 10
		}).MapValues(func(v int64) string { return strconv.FormatInt(v, 10) }).To(out, nil, serde.String())
	}, []string{"A=10", "B=20", "C=30", "A=40"}},
	{"mapvalues", func(s stream.Stream[string, string], out string) {
		s.MapValues(func(v string) string { return v + v }).To(out, nil, nil)
	}, []string{"a=11", "b=22", "c=33", "a=44"}},
	{"flatmap", func(s stream.Stream[string, string], out string) {
		s.FlatMap(func(k, v string) []stream.KeyValue[string, string] {
			if k == "b" {
				return nil
			}
			return []stream.KeyValue[string, string]{stream.KV(k+"1", v), stream.KV(k+"2", v)}
		}).To(out, nil, nil)
	}, []string{"a1=1", "a2=1", "c1=3", "c2=3", "a1=4", "a2=4"}},
	{"flatmapvalues", func(s stream.Stream[string, string], out string) {
		s.FlatMapValues(func(v string) []string { return []string{v, "x"} }).To(out, nil, nil)
	}, []string{"a=1", "a=x", "b=2", "b=x", "c=3", "c=x", "a=4", "a=x"}},
	{"selectkey", func(s stream.Stream[string, string], out string) {
		s.SelectKey(func(k, v string) string { return v + k }).To(out, nil, nil)
	}, []string{"1a=1", "2b=2", "3c=3", "4a=4"}},
	{"peek", func(s stream.Stream[string, string], out string) {
		s.Peek(func(string, string) {}).To(out, nil, nil)
	}, []string{"a=1", "b=2", "c=3", "a=4"}},
	{"int64 values", func(s stream.Stream[string, string], out string) {
		s.MapValues(atoi64).
			Filter(func(_ string, v int64) bool { return v%2 == 0 }).
			To(out, nil, serde.Int64())
	}, []string{"b=\x00\x00\x00\x00\x00\x00\x00\x02", "a=\x00\x00\x00\x00\x00\x00\x00\x04"}},
}

// numbered returns n records keyed key with the values 0, step, 2*step...
func numbered(key string, n, step int) []stream.KeyValue[string, string] {
	out := make([]stream.KeyValue[string, string], n)
	for i := range out {
		out[i] = stream.KV(key, strconv.Itoa(i*step))
	}
	return out
}

// MergeLeft is the input of the topic "left" of MergeSplitForeach: ten
// records keyed "l" with the values 0 to 9.
var MergeLeft = numbered("l", 10, 1)

// MergeRight is the input of the topic "right" of MergeSplitForeach: ten
// records keyed "r" with the values 0, 10, ..., 90.
var MergeRight = numbered("r", 10, 10)

// MergeSplitForeach reads the topics "left" and "right" (string keys and
// values), merges them, parses the values as int64, calls seen with each
// and splits them by size into the topics "small" (below 5), "big" (50 and
// more) and "rest", as int64 values. It returns the split's branches by
// name: "size-small", "size-big" and "size-rest".
func MergeSplitForeach(b *stream.Builder, seen func(int64)) map[string]stream.Stream[string, int64] {
	l := stream.Source(b, "left", serde.String(), serde.String())
	r := stream.Source(b, "right", serde.String(), serde.String())
	num := l.Merge(r).MapValues(atoi64)
	num.Foreach(func(_ string, v int64) { seen(v) })
	routes := num.Split(stream.Named("size-")).
		Branch("small", func(_ string, v int64) bool { return v < 5 }).
		Branch("big", func(_ string, v int64) bool { return v >= 50 }).
		Default("rest")
	routes["size-small"].To("small", nil, serde.Int64())
	routes["size-big"].To("big", nil, serde.Int64())
	routes["size-rest"].To("rest", nil, serde.Int64())
	return routes
}

// MergeSplitWant is, for each output topic of MergeSplitForeach, the
// values it holds after MergeLeft and MergeRight, in no particular order:
// the order across the input topics and partitions is not defined.
var MergeSplitWant = map[string][]int64{
	"small": {0, 1, 2, 3, 4, 0},
	"big":   {50, 60, 70, 80, 90},
	"rest":  {5, 6, 7, 8, 9, 10, 20, 30, 40},
}

// MergeSeen is what MergeSplitForeach calls seen with after MergeLeft
// and MergeRight, in no particular order: every input value, once.
var MergeSeen = []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90}

// EventsInput is the input of ToTopicFunc: six records whose keys and
// values are "0" to "5".
var EventsInput = []stream.KeyValue[string, string]{
	stream.KV("0", "0"), stream.KV("1", "1"), stream.KV("2", "2"),
	stream.KV("3", "3"), stream.KV("4", "4"), stream.KV("5", "5"),
}

// ToTopicFunc reads the topic "events" (string keys and values) and writes
// each record to the topic "even" or "odd" after its value.
func ToTopicFunc(b *stream.Builder) {
	stream.Source(b, "events", serde.String(), serde.String()).
		ToTopicFunc(func(_, v string) string {
			if atoi64(v)%2 == 0 {
				return "even"
			}
			return "odd"
		}, nil, nil)
}

// ToTopicFuncWant is, for each output topic of ToTopicFunc, the records it
// holds after EventsInput, in order.
var ToTopicFuncWant = map[string][]string{
	"even": {"0=0", "2=2", "4=4"},
	"odd":  {"1=1", "3=3", "5=5"},
}
