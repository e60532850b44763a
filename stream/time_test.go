package stream_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The extractor's timestamp is the records' event time downstream; the
// partition time is at hand for records that carry none; a negative one
// is a bad record, handled by the policy, and moves no time.
func TestTimestampExtractor(t *testing.T) {
	b := stream.NewBuilder()
	var seen []int64
	stream.Source(b, "in", serde.String(), serde.String(),
		stream.TimestampExtractor(func(r stream.Record[string, string], partitionTime int64) (int64, error) {
			seen = append(seen, partitionTime)
			switch r.Value {
			case "none":
				return partitionTime, nil
			case "broken":
				return 0, errors.New("no time in value")
			}
			return strconv.ParseInt(r.Value, 10, 64)
		})).
		To("out", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{OnBadRecord: stream.SkipBadRecord()})
	defer d.Close()
	in := d.Input("in", serde.String(), serde.String())
	in.PipeAt("a", "100", 5)
	in.PipeAt("b", "none", 6)
	in.PipeAt("c", "-3", 7)
	in.PipeAt("d", "broken", 8)
	in.PipeAt("e", "50", 9)
	in.PipeAt("f", "none", 10)
	var got []string
	for _, r := range d.Output("out", serde.String(), serde.String()).Records() {
		got = append(got, r.Key+"@"+strconv.FormatInt(r.Timestamp, 10))
	}
	assert.Equal(t, []string{"a@100", "b@100", "e@50", "f@100"}, got)
	assert.Equal(t, []int64{-1, 100, 100, 100, 100, 100}, seen)
}

// Without an extractor a negative record timestamp is a bad record: the
// default policy fails with an error naming topic, partition and offset.
func TestNegativeTimestampFails(t *testing.T) {
	b := stream.NewBuilder()
	stream.Source(b, "in", serde.String(), serde.String()).To("out", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{})
	defer d.Close()
	err := d.Input("in", serde.String(), serde.String()).TryPipeRecord(stream.Record[string, string]{Key: "k", Value: "v", Timestamp: -5})
	var re *stream.RecordError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "in", re.Topic)
	assert.Equal(t, int64(0), re.Offset)
	var te *stream.InvalidTimestampError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, int64(-5), te.Timestamp)
	assert.ErrorContains(t, err, `topic "in" partition 0 offset 0`)
}
