package stream_test

import (
	"errors"
	"testing"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keyBytes reads output keys telling an empty key ("<empty>") from a
// missing one (nil bytes: the zero "").
var keyBytes = serde.Func(
	func(_ string, k string) ([]byte, error) { return []byte(k), nil },
	func(_ string, b []byte) (string, error) {
		if len(b) == 0 {
			return "<empty>", nil
		}
		return string(b), nil
	})

// TestCountUndecodedInput runs counts whose source leaves keys and values
// undecoded (decision 52) over the edge cases of both: an empty key is a
// key, a missing one is dropped; an empty value is counted, a missing one
// (a tombstone) is dropped; any bytes count under String and Bytes. The
// output, the store and the drop counts are exactly those of a count that
// decodes everything.
func TestCountUndecodedInput(t *testing.T) {
	type in struct{ k, v []byte }
	input := []in{
		{[]byte("a"), []byte("x")},
		{[]byte{}, []byte("y")},
		{nil, []byte("z")},
		{[]byte("a"), nil},
		{[]byte("a"), []byte{}},
		{[]byte{}, []byte{0xff, 0xfe}},
		{[]byte("\xff"), []byte("v")},
	}
	want := []stream.KeyValue[string, int64]{
		stream.KV("a", int64(1)), stream.KV("<empty>", int64(1)),
		stream.KV("a", int64(2)), stream.KV("<empty>", int64(2)), stream.KV("\xff", int64(1)),
	}
	tests := []struct {
		name  string
		build func(b *stream.Builder)
	}{
		{"String values", func(b *stream.Builder) {
			stream.Source(b, "in", serde.String(), serde.String()).GroupByKey().Count(stream.Materialized("counts")).ToStream().To("out", nil, nil)
		}},
		{"Bytes values", func(b *stream.Builder) {
			stream.Source(b, "in", serde.String(), serde.Bytes()).GroupByKey().Count(stream.Materialized("counts")).ToStream().To("out", nil, nil)
		}},
		{"Table.To", func(b *stream.Builder) {
			stream.Source(b, "in", serde.String(), serde.String()).GroupByKey().Count(stream.Materialized("counts")).To("out", nil, nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := stream.NewBuilder()
			tc.build(b)
			d := streamtest.New(t, b, streamtest.Config{})
			pipe := d.Input("in", serde.String(), serde.String())
			for _, r := range input {
				pipe.PipeBytes(r.k, r.v)
			}
			assert.Equal(t, want, d.Output("out", keyBytes, serde.Int64()).ReadAll())
			store := map[string]int64{}
			for k, v := range d.Store[string, int64]("counts").All() {
				store[k] = v
			}
			assert.Equal(t, map[string]int64{"a": 2, "": 2, "\xff": 1}, store)
			assert.Equal(t, map[string]stream.DroppedCounts{"0_0": {NullKeys: 1, NullValues: 1}}, d.DroppedRecords())
		})
	}
}

// TestCountDecodesFallibleInput checks that a count still decodes keys
// and values whose serde can fail, so that a bad record is an error naming
// its topic, partition and offset, as before decision 52.
func TestCountDecodesFallibleInput(t *testing.T) {
	tests := []struct {
		name   string
		build  func(b *stream.Builder)
		k, v   []byte
		target error
	}{
		{"Int64 value of 3 bytes", func(b *stream.Builder) {
			stream.Source(b, "in", serde.String(), serde.Int64()).GroupByKey().Count().ToStream().To("out", nil, nil)
		}, []byte("k"), []byte{1, 2, 3}, serde.ErrSize},
		{"Int64 key of 2 bytes", func(b *stream.Builder) {
			stream.Source(b, "in", serde.Int64(), serde.String()).GroupByKey().Count().ToStream().To("out", nil, nil)
		}, []byte{1, 2}, []byte("v"), serde.ErrSize},
		{"JSON value that is not JSON", func(b *stream.Builder) {
			stream.Source(b, "in", serde.String(), serde.JSON[map[string]int]()).GroupByKey().Count().ToStream().To("out", nil, nil)
		}, []byte("k"), []byte("{not json"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := stream.NewBuilder()
			tc.build(b)
			d := streamtest.New(t, b, streamtest.Config{})
			pipe := d.Input("in", serde.String(), serde.String())
			err := pipe.TryPipeBytes(tc.k, tc.v)
			var re *stream.RecordError
			require.True(t, errors.As(err, &re), "want a *stream.RecordError, got %v", err)
			assert.Equal(t, "in", re.Topic)
			assert.Equal(t, int32(0), re.Partition)
			assert.Equal(t, int64(0), re.Offset)
			if tc.target != nil {
				assert.ErrorIs(t, err, tc.target)
			}
			assert.Equal(t, 0, d.Output("out", serde.String(), serde.Int64()).Len())
		})
	}
}
