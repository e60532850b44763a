package streamtest_test

// The tests in this file run the topologies of the Kafka tests in
// stream/stream_test.go, stream/state_test.go and stream/runtime_test.go
// through the driver, with the same inputs and the same expected results.

import (
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func kvs[K, V any](recs []stream.KeyValue[K, V]) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = stringOf(r.Key) + "=" + stringOf(r.Value)
	}
	return out
}

func stringOf(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	panic("unexpected type")
}

// Same cases as stream_test.go's TestOperators.
func TestOperators(t *testing.T) {
	input := []string{"a=1", "b=2", "c=3", "a=4"}
	tests := []struct {
		name  string
		build func(s stream.Stream[string, string])
		want  []string
	}{
		{"filter", func(s stream.Stream[string, string]) {
			s.Filter(func(_, v string) bool { return v != "2" }).To("out", nil, nil)
		}, []string{"a=1", "c=3", "a=4"}},
		{"filternot", func(s stream.Stream[string, string]) {
			s.FilterNot(func(k, _ string) bool { return k == "a" }).To("out", nil, nil)
		}, []string{"b=2", "c=3"}},
		{"map", func(s stream.Stream[string, string]) {
			s.Map(func(k, v string) (string, int64) {
				n, _ := strconv.Atoi(v)
				return strings.ToUpper(k), int64(n * 10)
			}).MapValues(func(v int64) string { return strconv.FormatInt(v, 10) }).To("out", nil, serde.String())
		}, []string{"A=10", "B=20", "C=30", "A=40"}},
		{"mapvalues", func(s stream.Stream[string, string]) {
			s.MapValues(func(v string) string { return v + v }).To("out", nil, nil)
		}, []string{"a=11", "b=22", "c=33", "a=44"}},
		{"flatmap", func(s stream.Stream[string, string]) {
			s.FlatMap(func(k, v string) []stream.KeyValue[string, string] {
				if k == "b" {
					return nil
				}
				return []stream.KeyValue[string, string]{stream.KV(k+"1", v), stream.KV(k+"2", v)}
			}).To("out", nil, nil)
		}, []string{"a1=1", "a2=1", "c1=3", "c2=3", "a1=4", "a2=4"}},
		{"flatmapvalues", func(s stream.Stream[string, string]) {
			s.FlatMapValues(func(v string) []string { return []string{v, "x"} }).To("out", nil, nil)
		}, []string{"a=1", "a=x", "b=2", "b=x", "c=3", "c=x", "a=4", "a=x"}},
		{"selectkey", func(s stream.Stream[string, string]) {
			s.SelectKey(func(k, v string) string { return v + k }).To("out", nil, nil)
		}, []string{"1a=1", "2b=2", "3c=3", "4a=4"}},
		{"peek", func(s stream.Stream[string, string]) {
			s.Peek(func(string, string) {}).To("out", nil, nil)
		}, []string{"a=1", "b=2", "c=3", "a=4"}},
		{"int64 values", func(s stream.Stream[string, string]) {
			s.MapValues(func(v string) int64 { n, _ := strconv.Atoi(v); return int64(n) }).
				Filter(func(_ string, v int64) bool { return v%2 == 0 }).
				To("out", nil, serde.Int64())
		}, []string{"b=\x00\x00\x00\x00\x00\x00\x00\x02", "a=\x00\x00\x00\x00\x00\x00\x00\x04"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := stream.NewBuilder()
			tc.build(stream.Source(b, "in", serde.String(), serde.String()))
			d := streamtest.New(t, b, streamtest.Config{})
			in := d.Input("in", serde.String(), serde.String())
			for _, kv := range input {
				key, val, _ := strings.Cut(kv, "=")
				in.Pipe(key, val)
			}
			// Read raw values as strings, as the Kafka test compares bytes.
			out := d.Output("out", serde.String(), serde.String())
			assert.Equal(t, tc.want, kvs(out.ReadAll()))
			assert.True(t, out.Empty())
		})
	}
}

// As stream_test.go's TestMergeSplitForeach, with 2 partitions.
func TestMergeSplitForeach(t *testing.T) {
	b := stream.NewBuilder()
	l := stream.Source(b, "left", serde.String(), serde.String())
	r := stream.Source(b, "right", serde.String(), serde.String())
	num := l.Merge(r).MapValues(func(v string) int64 { n, _ := strconv.Atoi(v); return int64(n) })
	var seen []int64
	num.Foreach(func(_ string, v int64) { seen = append(seen, v) })
	routes := num.Split(stream.Named("size-")).
		Branch("small", func(_ string, v int64) bool { return v < 5 }).
		Branch("big", func(_ string, v int64) bool { return v >= 50 }).
		Default("rest")
	require.Len(t, routes, 3)
	routes["size-small"].To("small", nil, serde.Int64())
	routes["size-big"].To("big", nil, serde.Int64())
	routes["size-rest"].To("rest", nil, serde.Int64())
	d := streamtest.New(t, b, streamtest.Config{Partitions: 2})
	left := d.Input("left", serde.String(), serde.String())
	right := d.Input("right", serde.String(), serde.String())
	for i := range 10 {
		left.Pipe("l", strconv.Itoa(i))
		right.Pipe("r", strconv.Itoa(i*10))
	}
	values := func(topic string) []int64 {
		var out []int64
		for _, kv := range d.Output(topic, serde.String(), serde.Int64()).ReadAll() {
			out = append(out, kv.Value)
		}
		return out
	}
	assert.ElementsMatch(t, []int64{0, 1, 2, 3, 4, 0}, values("small"))
	assert.ElementsMatch(t, []int64{50, 60, 70, 80, 90}, values("big"))
	assert.ElementsMatch(t, []int64{5, 6, 7, 8, 9, 10, 20, 30, 40}, values("rest"))
	assert.Len(t, seen, 20)
}

// As stream_test.go's TestToTopicFunc.
func TestToTopicFunc(t *testing.T) {
	b := stream.NewBuilder()
	stream.Source(b, "events", serde.String(), serde.String()).
		ToTopicFunc(func(_, v string) string {
			if n, _ := strconv.Atoi(v); n%2 == 0 {
				return "even"
			}
			return "odd"
		}, nil, nil)
	d := streamtest.New(t, b, streamtest.Config{})
	in := d.Input("events", serde.String(), serde.String())
	for i := range 6 {
		in.Pipe(strconv.Itoa(i), strconv.Itoa(i))
	}
	assert.Equal(t, []string{"0=0", "2=2", "4=4"}, kvs(d.Output("even", serde.String(), serde.String()).ReadAll()))
	assert.Equal(t, []string{"1=1", "3=3", "5=5"}, kvs(d.Output("odd", serde.String(), serde.String()).ReadAll()))
}

// wordCount, wordLines and wantWords are those of state_test.go.
func wordCount(in, out string) *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, in, serde.String(), serde.String()).
		FlatMapValues(strings.Fields).
		GroupBy(func(_, w string) string { return w }, serde.String()).
		Count(stream.Named("word-counts")).
		ToStream().
		To(out, nil, nil)
	return b
}

var wordLines = []string{
	"the quick brown fox", "jumps over the lazy dog", "the dog barks",
	"a fox and a dog", "quick quick quick", "over and over",
}

func wantWords(lines []string, times int) map[string]int64 {
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

func feedLines(in *streamtest.InputTopic[string, string], lines []string) {
	for i, l := range lines {
		in.Pipe(string(rune('a'+i%5)), l)
	}
}

// As state_test.go's TestWordCount: 3 partitions, the GroupBy repartition
// topic flows through the driver to the counting sub-topology.
func TestWordCount(t *testing.T) {
	b := wordCount("lines", "counts")
	d := streamtest.New(t, b, streamtest.Config{AppID: "wc", Partitions: 3})
	assert.Contains(t, b.Describe(), "Source: word-counts-repartition-source (topics: [wc-word-counts-repartition])")
	assert.Contains(t, b.Describe(), "(stores: [word-counts])")
	lines := d.Input("lines", serde.String(), serde.String())
	for range 5 {
		feedLines(lines, wordLines)
	}
	want := wantWords(wordLines, 5)
	assert.Equal(t, want, d.Output("counts", serde.String(), serde.Int64()).Latest())

	// The store holds the counts, each word in the task of its partition.
	counts := d.Store[string, int64]("word-counts")
	all := maps.Collect(counts.All())
	assert.Equal(t, want, all)
	n, ok, err := counts.Get("quick")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, want["quick"], n)
	assert.Equal(t, int64(len(want)), counts.ApproximateCount())

	// Every word went through the repartition topic to the partition its
	// key hashes to, and its changelog records are in that partition too.
	part := kgo.StickyKeyPartitioner(nil).ForTopic("")
	repart := d.Output("wc-word-counts-repartition", serde.String(), serde.String()).Records()
	var words int
	for _, c := range want {
		words += int(c)
	}
	assert.Len(t, repart, words)
	partitions := map[int32]bool{}
	for _, r := range repart {
		assert.Equal(t, int32(part.Partition(&kgo.Record{Key: []byte(r.Key)}, 3)), r.Partition, r.Key)
		partitions[r.Partition] = true
	}
	assert.Len(t, partitions, 3, "the words are spread over the 3 tasks")
	changelog := d.Output("wc-word-counts-changelog", serde.String(), serde.Int64())
	for _, r := range changelog.Records() {
		assert.Equal(t, int32(part.Partition(&kgo.Record{Key: []byte(r.Key)}, 3)), r.Partition, r.Key)
	}
	assert.Equal(t, want, d.Output("wc-word-counts-changelog", serde.String(), serde.Int64()).Latest())
	assert.Equal(t, []string{"counts", "lines", "wc-word-counts-changelog", "wc-word-counts-repartition"}, d.Topics())
}

// With CommitEvery, the write-back cache turns repeated updates of a key
// into one changelog record per commit, as in an App.
func TestCommitEvery(t *testing.T) {
	d := streamtest.New(t, wordCount("lines", "counts"), streamtest.Config{CommitEvery: 1000})
	lines := d.Input("lines", serde.String(), serde.String())
	for range 5 {
		feedLines(lines, wordLines)
	}
	want := wantWords(wordLines, 5)
	counts := d.Store[string, int64]("word-counts")
	assert.Empty(t, maps.Collect(counts.All()), "nothing committed yet")
	assert.Equal(t, want, d.Output("counts", serde.String(), serde.Int64()).Latest(), "outputs are not held back")
	d.Commit()
	assert.Equal(t, want, maps.Collect(counts.All()))
	changelog := d.Output("streamtest-word-counts-changelog", serde.String(), serde.Int64()).ReadAll()
	assert.Len(t, changelog, len(want), "one changelog record per key")
}

// As state_test.go's TestReduceAndAggregate.
func TestReduceAndAggregate(t *testing.T) {
	type stats struct {
		N   int `json:"n"`
		Sum int `json:"sum"`
	}
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
		Reduce(func(agg, v int64) int64 { return max(agg, v) }, stream.Named("max")).
		ToStream().To("max", nil, nil)
	amounts.GroupByKey().
		Aggregate(func() stats { return stats{} }, func(_ string, v int64, s stats) stats {
			return stats{N: s.N + 1, Sum: s.Sum + int(v)}
		}, serde.JSON[stats](), stream.Named("stats")).
		ToStream().To("stats", nil, nil)
	assert.NotContains(t, b.Describe(), "repartition", "GroupByKey after MapValues must not repartition")
	d := streamtest.New(t, b, streamtest.Config{Partitions: 2})
	in := d.Input("amounts", serde.String(), serde.String())
	for _, kv := range []struct{ k, v string }{{"a", "3"}, {"b", "10"}, {"a", "7"}, {"a", "5"}, {"b", "2"}, {"c", "1"}} {
		in.Pipe(kv.k, kv.v)
	}
	assert.Equal(t, map[string]int64{"a": 7, "b": 10, "c": 1}, d.Output("max", serde.String(), serde.Int64()).Latest())
	assert.Equal(t, map[string]stats{"a": {3, 15}, "b": {2, 12}, "c": {1, 1}}, d.Output("stats", serde.String(), serde.JSON[stats]()).Latest())
	assert.Equal(t, map[string]stats{"a": {3, 15}, "b": {2, 12}, "c": {1, 1}}, maps.Collect(d.Store[string, stats]("stats").All()))
}

// As state_test.go's TestTableReaggregation: moves and tombstones.
func TestTableReaggregation(t *testing.T) {
	b := stream.NewBuilder()
	stream.SourceTable(b, "users", serde.String(), serde.String(), stream.Named("users")).
		GroupBy(func(user, region string) (string, string) { return region, user }, serde.String(), serde.String()).
		Count(stream.Named("users-per-region")).
		ToStream().To("per-region", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{Partitions: 2})
	users := d.Input("users", serde.String(), serde.String())
	users.Pipe("ann", "eu")
	users.Pipe("bob", "eu")
	users.Pipe("cid", "us")
	users.Pipe("dan", "apac")
	assert.Equal(t, map[string]int64{"eu": 2, "us": 1, "apac": 1}, d.Output("per-region", serde.String(), serde.Int64()).Latest())
	// bob moves to us, dan is deleted, ann's row is rewritten unchanged.
	users.Pipe("bob", "us")
	users.PipeTombstone("dan")
	users.Pipe("ann", "eu")
	assert.Equal(t, map[string]int64{"eu": 1, "us": 2, "apac": 0}, d.Output("per-region", serde.String(), serde.Int64()).Latest())
	assert.Equal(t, map[string]string{"ann": "eu", "bob": "us", "cid": "us"}, maps.Collect(d.Store[string, string]("users").All()))
}

// As state_test.go's TestTableFilterTo: tombstones for deleted and
// filtered-out rows.
func TestTableFilterTo(t *testing.T) {
	b := stream.NewBuilder()
	stream.SourceTable(b, "prices", serde.String(), serde.Int64(), stream.Named("prices")).
		Filter(func(_ string, p int64) bool { return p >= 100 }).
		MapValues(func(p int64) int64 { return p * 2 }).
		To("expensive", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{})
	prices := d.Input("prices", serde.String(), serde.Int64())
	prices.Pipe("tv", 500)
	prices.Pipe("pen", 2)
	prices.Pipe("car", 9000)
	expensive := d.Output("expensive", serde.String(), serde.Int64())
	assert.Equal(t, map[string]int64{"tv": 1000, "car": 18000}, expensive.Latest())
	prices.Pipe("tv", 50)
	prices.PipeTombstone("car")
	recs := expensive.Records()
	require.Len(t, recs, 2)
	assert.True(t, recs[0].Tombstone && recs[1].Tombstone)
	assert.Equal(t, map[string]int64{}, d.Output("expensive", serde.String(), serde.Int64()).Latest())
}

// badInputTopology and the input of pipeBad are those of runtime_test.go.
func badInputTopology(in, out string) *stream.Builder {
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

func pipeBad(in *streamtest.InputTopic[string, int64]) {
	in.Pipe("a", 1)
	in.Pipe("b", 2)
	in.PipeBytes([]byte("c"), []byte("x"), stream.Header{Key: "h", Value: []byte("v")})
	in.Pipe("d", 3)
	in.Pipe("e", 99)
	in.Pipe("f", 4)
}

func TestBadRecordFail(t *testing.T) {
	d := streamtest.New(t, badInputTopology("bad-in", "bad-out"), streamtest.Config{})
	in := d.Input("bad-in", serde.String(), serde.Int64())
	in.Pipe("a", 1)
	in.Pipe("b", 2)
	err := in.TryPipeBytes([]byte("c"), []byte("x"))
	var re *stream.RecordError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "bad-in", re.Topic)
	assert.Equal(t, int32(0), re.Partition)
	assert.Equal(t, int64(2), re.Offset)
	var se *stream.SerdeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "value", se.Part)
	assert.ErrorIs(t, err, serde.ErrSize)
	assert.Contains(t, err.Error(), `topic "bad-in" partition 0 offset 2`)
	assert.Equal(t, []string{"a=2", "b=4"}, kvs(d.Output("bad-out", serde.String(), serde.Int64()).ReadAll()))
	// The driver stopped, as the App does.
	err = in.TryPipeRecord(stream.Record[string, int64]{Key: "d", Value: 3})
	assert.ErrorContains(t, err, "the driver stopped after an error")
	assert.ErrorAs(t, err, &re)
}

func TestBadRecordSkip(t *testing.T) {
	d := streamtest.New(t, badInputTopology("skip-in", "skip-out"), streamtest.Config{OnBadRecord: stream.SkipBadRecord()})
	pipeBad(d.Input("skip-in", serde.String(), serde.Int64()))
	assert.Equal(t, []string{"a=2", "b=4", "d=6", "f=8"}, kvs(d.Output("skip-out", serde.String(), serde.Int64()).ReadAll()))
}

func TestBadRecordDeadLetter(t *testing.T) {
	d := streamtest.New(t, badInputTopology("dlq-in", "dlq-out"), streamtest.Config{OnBadRecord: stream.DeadLetterTopic("dlq")})
	pipeBad(d.Input("dlq-in", serde.String(), serde.Int64()))
	assert.Equal(t, []string{"a=2", "b=4", "d=6", "f=8"}, kvs(d.Output("dlq-out", serde.String(), serde.Int64()).ReadAll()))
	dead := d.Output("dlq", serde.String(), serde.String()).Records()
	require.Len(t, dead, 2)
	hdr := func(r streamtest.OutputRecord[string, string]) map[string]string {
		m := map[string]string{}
		for _, h := range r.Headers {
			m[h.Key] = string(h.Value)
		}
		return m
	}
	assert.Equal(t, "c", dead[0].Key)
	assert.Equal(t, "x", dead[0].Value)
	h := hdr(dead[0])
	assert.Equal(t, "v", h["h"])
	assert.Equal(t, "dlq-in", h[stream.HeaderTopic])
	assert.Equal(t, "0", h[stream.HeaderPartition])
	assert.Equal(t, "2", h[stream.HeaderOffset])
	assert.Equal(t, "0_0", h[stream.HeaderTask])
	assert.Contains(t, h[stream.HeaderError], "deserialize value")
	v99, _ := serde.Int64().Serialize("", 99)
	assert.Equal(t, "e", dead[1].Key)
	assert.Equal(t, string(v99), dead[1].Value)
	assert.Equal(t, "4", hdr(dead[1])[stream.HeaderOffset])
	assert.Contains(t, hdr(dead[1])[stream.HeaderError], "panic: ninety-nine is not allowed")
}

func TestUnknownTopicAndStore(t *testing.T) {
	d := streamtest.New(t, wordCount("lines", "counts"), streamtest.Config{})
	err := d.Input("nope", serde.String(), serde.String()).TryPipeRecord(stream.Record[string, string]{Key: "k", Value: "v"})
	assert.ErrorContains(t, err, `no source of the topology reads topic "nope"; it reads ["lines", "streamtest-word-counts-repartition"]`)
	// Without a testing.TB, failures panic.
	d = streamtest.New(nil, wordCount("lines", "counts"), streamtest.Config{})
	defer d.Close()
	assert.PanicsWithError(t, `brook: unknown store: store "word-counts" holds other types than string and string`, func() {
		d.Store[string, string]("word-counts")
	})
}
