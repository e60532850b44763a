package streamtest_test

import (
	"fmt"
	"strings"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
)

// Word count on three partitions: the words go through the GroupBy
// repartition topic to the task that counts them, all inside the driver.
// In a test, pass the *testing.T instead of nil.
func Example() {
	b := stream.NewBuilder()
	stream.Source(b, "lines", serde.String(), serde.String()).
		FlatMapValues(strings.Fields).
		GroupBy(func(_, word string) string { return word }, serde.String()).
		Count(stream.Materialized("word-counts")).
		ToStream().
		To("counts", nil, serde.Int64())

	d := streamtest.New(nil, b, streamtest.Config{Partitions: 3})
	defer d.Close()
	lines := d.Input("lines", serde.String(), serde.String())
	lines.Pipe("", "the quick brown fox")
	lines.Pipe("", "the lazy dog")

	counts := d.Output("counts", serde.String(), serde.Int64()).Latest()
	fmt.Println(counts["the"], counts["fox"], len(counts))

	n, ok, err := d.Store[string, int64]("word-counts").Get("the")
	fmt.Println(n, ok, err)
	// Output:
	// 2 1 6
	// 2 true <nil>
}

// Records read from an output topic carry their timestamp, headers,
// partition and offset; Latest folds them into the last value per key.
func ExampleOutputTopic_Records() {
	b := stream.NewBuilder()
	stream.Source(b, "in", serde.String(), serde.String()).
		MapValues(strings.ToUpper).
		To("out", nil, nil)

	d := streamtest.New(nil, b, streamtest.Config{})
	defer d.Close()
	in := d.Input("in", serde.String(), serde.String())
	in.PipeAt("a", "one", 1000)
	in.PipeRecord(stream.Record[string, string]{Key: "b", Value: "two", Timestamp: 2000,
		Headers: []stream.Header{{Key: "trace", Value: []byte("42")}}})
	for _, r := range d.Output("out", serde.String(), serde.String()).Records() {
		fmt.Println(r.Key, r.Value, r.Timestamp, len(r.Headers), r.Partition, r.Offset)
	}
	// Output:
	// a ONE 1000 0 0 0
	// b TWO 2000 1 0 1
}
