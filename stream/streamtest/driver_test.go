package streamtest_test

// The tests in this file run the topologies of the Kafka tests in
// stream/stream_test.go, stream/state_test.go and stream/runtime_test.go
// through the driver, with the same inputs and the same expected results.

import (
	"maps"
	"testing"

	"github.com/brookstream/brook/internal/testcases"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kvs is testcases.Pairs, under the name processor_test.go uses.
func kvs[K, V any](recs []stream.KeyValue[K, V]) []string { return testcases.Pairs(recs) }

// Same cases as stream_test.go's TestOperators.
func TestOperators(t *testing.T) {
	for _, tc := range testcases.Operators {
		t.Run(tc.Name, func(t *testing.T) {
			b := stream.NewBuilder()
			tc.Build(stream.Source(b, "in", serde.String(), serde.String()), "out")
			d := streamtest.New(t, b, streamtest.Config{})
			in := d.Input("in", serde.String(), serde.String())
			for _, kv := range testcases.OperatorInput {
				in.Pipe(kv.Key, kv.Value)
			}
			// Read raw values as strings, as the Kafka test compares bytes.
			out := d.Output("out", serde.String(), serde.String())
			assert.Equal(t, tc.Want, testcases.Pairs(out.ReadAll()))
			assert.True(t, out.Empty())
		})
	}
}

// As stream_test.go's TestMergeSplitForeach, with 2 partitions.
func TestMergeSplitForeach(t *testing.T) {
	b := stream.NewBuilder()
	var seen []int64
	routes := testcases.MergeSplitForeach(b, func(v int64) { seen = append(seen, v) })
	require.Len(t, routes, 3)
	d := streamtest.New(t, b, streamtest.Config{Partitions: 2})
	left := d.Input("left", serde.String(), serde.String())
	for _, kv := range testcases.MergeLeft {
		left.Pipe(kv.Key, kv.Value)
	}
	right := d.Input("right", serde.String(), serde.String())
	for _, kv := range testcases.MergeRight {
		right.Pipe(kv.Key, kv.Value)
	}
	for topic, want := range testcases.MergeSplitWant {
		var got []int64
		for _, kv := range d.Output(topic, serde.String(), serde.Int64()).ReadAll() {
			got = append(got, kv.Value)
		}
		assert.ElementsMatch(t, want, got, topic)
	}
	assert.ElementsMatch(t, testcases.MergeSeen, seen)
}

// As stream_test.go's TestToTopicFunc.
func TestToTopicFunc(t *testing.T) {
	b := stream.NewBuilder()
	testcases.ToTopicFunc(b)
	d := streamtest.New(t, b, streamtest.Config{})
	in := d.Input("events", serde.String(), serde.String())
	for _, kv := range testcases.EventsInput {
		in.Pipe(kv.Key, kv.Value)
	}
	for topic, want := range testcases.ToTopicFuncWant {
		out := d.Output(topic, serde.String(), serde.String())
		assert.Equal(t, want, testcases.Pairs(out.ReadAll()), topic)
		assert.True(t, out.Empty(), topic)
	}
}

// feedLines pipes lines as testcases.LineRecords keys them.
func feedLines(in *streamtest.InputTopic[string, string], lines []string) {
	for _, kv := range testcases.LineRecords(lines) {
		in.Pipe(kv.Key, kv.Value)
	}
}

// pipeUpdates pipes the updates of a table.
func pipeUpdates[V any](in *streamtest.InputTopic[string, V], ups []testcases.Update[V]) {
	for _, u := range ups {
		if u.Tombstone {
			in.PipeTombstone(u.Key)
		} else {
			in.Pipe(u.Key, u.Value)
		}
	}
}

// As state_test.go's TestWordCount: 3 partitions, the GroupBy repartition
// topic flows through the driver to the counting sub-topology.
func TestWordCount(t *testing.T) {
	b := testcases.WordCount("lines", "counts")
	d := streamtest.New(t, b, streamtest.Config{AppID: "wc", Partitions: 3})
	assert.Contains(t, b.Describe(), "Source: word-counts-repartition-source (topics: [wc-word-counts-repartition])")
	assert.Contains(t, b.Describe(), "(stores: [word-counts])")
	lines := d.Input("lines", serde.String(), serde.String())
	for range 5 {
		feedLines(lines, testcases.WordLines)
	}
	want := testcases.WantWords(testcases.WordLines, 5)
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
	d := streamtest.New(t, testcases.WordCount("lines", "counts"), streamtest.Config{CommitEvery: 1000})
	lines := d.Input("lines", serde.String(), serde.String())
	for range 5 {
		feedLines(lines, testcases.WordLines)
	}
	want := testcases.WantWords(testcases.WordLines, 5)
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
	b := testcases.ReduceAndAggregate()
	assert.NotContains(t, b.Describe(), "repartition", "GroupByKey after MapValues must not repartition")
	d := streamtest.New(t, b, streamtest.Config{Partitions: 2})
	in := d.Input("amounts", serde.String(), serde.String())
	for _, kv := range testcases.Amounts {
		in.Pipe(kv.Key, kv.Value)
	}
	assert.Equal(t, testcases.WantMax, d.Output("max", serde.String(), serde.Int64()).Latest())
	assert.Equal(t, testcases.WantStats, d.Output("stats", serde.String(), serde.JSON[testcases.Stats]()).Latest())
	assert.Equal(t, testcases.WantStats, maps.Collect(d.Store[string, testcases.Stats]("stats").All()))
}

// As state_test.go's TestTableReaggregation: moves and tombstones.
func TestTableReaggregation(t *testing.T) {
	d := streamtest.New(t, testcases.UsersPerRegion(), streamtest.Config{Partitions: 2})
	users := d.Input("users", serde.String(), serde.String())
	for _, p := range testcases.UsersPerRegionPhases {
		pipeUpdates(users, p.Updates)
		assert.Equal(t, p.Want, d.Output("per-region", serde.String(), serde.Int64()).Latest())
	}
	assert.Equal(t, testcases.WantUsers, maps.Collect(d.Store[string, string]("users").All()))
}

// As state_test.go's TestTableFilterTo: tombstones for deleted and
// filtered-out rows.
func TestTableFilterTo(t *testing.T) {
	d := streamtest.New(t, testcases.ExpensivePrices(), streamtest.Config{})
	prices := d.Input("prices", serde.String(), serde.Int64())
	phases := testcases.ExpensivePricesPhases
	require.Len(t, phases, 2)
	pipeUpdates(prices, phases[0].Updates)
	expensive := d.Output("expensive", serde.String(), serde.Int64())
	assert.Equal(t, phases[0].Want, expensive.Latest())
	// Both updates of the second phase remove a row of the output.
	pipeUpdates(prices, phases[1].Updates)
	recs := expensive.Records()
	require.Len(t, recs, 2)
	assert.True(t, recs[0].Tombstone && recs[1].Tombstone)
	assert.Equal(t, phases[1].Want, d.Output("expensive", serde.String(), serde.Int64()).Latest())
}

// pipeBad pipes records of testcases.BadRecords: a Raw value as its bytes.
func pipeBad(d *streamtest.Driver, in *streamtest.InputTopic[string, int64], recs []testcases.BadRecord) {
	for _, r := range recs {
		if r.Raw != nil {
			in.PipeBytes([]byte(r.Key), r.Raw, r.Headers...)
		} else {
			in.PipeRecord(stream.Record[string, int64]{Key: r.Key, Value: r.Value, Timestamp: d.Now().UnixMilli(), Headers: r.Headers})
		}
	}
}

func TestBadRecordFail(t *testing.T) {
	d := streamtest.New(t, testcases.BadInput("bad-in", "bad-out"), streamtest.Config{})
	in := d.Input("bad-in", serde.String(), serde.Int64())
	pipeBad(d, in, testcases.BadRecords[:2])
	bad := testcases.BadRecords[2]
	require.NotNil(t, bad.Raw)
	err := in.TryPipeBytes([]byte(bad.Key), bad.Raw, bad.Headers...)
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
	assert.Equal(t, testcases.BadInputFailed, testcases.Pairs(d.Output("bad-out", serde.String(), serde.Int64()).ReadAll()))
	// The driver stopped, as the App does.
	next := testcases.BadRecords[3]
	err = in.TryPipeRecord(stream.Record[string, int64]{Key: next.Key, Value: next.Value})
	assert.ErrorContains(t, err, "the driver stopped after an error")
	assert.ErrorAs(t, err, &re)
}

func TestBadRecordSkip(t *testing.T) {
	d := streamtest.New(t, testcases.BadInput("skip-in", "skip-out"), streamtest.Config{OnBadRecord: stream.SkipBadRecord()})
	pipeBad(d, d.Input("skip-in", serde.String(), serde.Int64()), testcases.BadRecords)
	assert.Equal(t, testcases.BadInputSkipped, testcases.Pairs(d.Output("skip-out", serde.String(), serde.Int64()).ReadAll()))
}

func TestBadRecordDeadLetter(t *testing.T) {
	d := streamtest.New(t, testcases.BadInput("dlq-in", "dlq-out"), streamtest.Config{OnBadRecord: stream.DeadLetterTopic("dlq")})
	pipeBad(d, d.Input("dlq-in", serde.String(), serde.Int64()), testcases.BadRecords)
	assert.Equal(t, testcases.BadInputSkipped, testcases.Pairs(d.Output("dlq-out", serde.String(), serde.Int64()).ReadAll()))
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
	d := streamtest.New(t, testcases.WordCount("lines", "counts"), streamtest.Config{})
	err := d.Input("nope", serde.String(), serde.String()).TryPipeRecord(stream.Record[string, string]{Key: "k", Value: "v"})
	assert.ErrorContains(t, err, `no source of the topology reads topic "nope"; it reads ["lines", "streamtest-word-counts-repartition"]`)
	// Without a testing.TB, failures panic.
	d = streamtest.New(nil, testcases.WordCount("lines", "counts"), streamtest.Config{})
	defer d.Close()
	assert.PanicsWithError(t, `brook: unknown store: store "word-counts" holds other types than string and string`, func() {
		d.Store[string, string]("word-counts")
	})
}
