package streamtest_test

import (
	"testing"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Joins count what they drop, as Kafka Streams' droppedRecordsSensor: the
// inner stream-table join drops a keyless record and a tombstone, the left
// join only the tombstone; the stream-global joins drop a record whose
// computed key is nil.
func TestJoinDrops(t *testing.T) {
	b := stream.NewBuilder()
	in := stream.Source(b, "in", serde.String(), serde.String())
	tab := stream.SourceTable(b, "tab", serde.String(), serde.String())
	join := func(v, tv string) string { return v + "/" + tv }
	in.Join(tab, join).To("out", nil, nil)
	in.LeftJoin(tab, join).To("out-left", nil, nil)
	g := stream.GlobalTable(b, "glob", serde.Nullable(serde.String()), serde.String(), stream.Materialized("glob"))
	byValue := func(_, v string) *string {
		if v == "none" {
			return nil
		}
		return &v
	}
	in.JoinGlobal(g, byValue, join).To("out-global", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{})
	tin := d.Input("tab", serde.String(), serde.String())
	sin := d.Input("in", serde.String(), serde.String())
	gin := d.Input("glob", serde.String(), serde.String())
	tin.PipeAt("a", "A", 1)
	gin.PipeAt("x", "X", 2)
	sin.PipeAt("a", "x", 3)
	sin.PipeBytes(nil, []byte("x")) // no key
	sin.PipeTombstone("a")
	sin.PipeAt("a", "none", 4)
	gin.PipeAt("x", "X2", 5) // a global update is seen at once
	sin.PipeAt("b", "x", 6)

	out := d.Output("out", serde.String(), serde.String()).ReadAll()
	assert.Equal(t, []stream.KeyValue[string, string]{stream.KV("a", "x/A"), stream.KV("a", "none/A")}, out)
	left := d.Output("out-left", serde.String(), serde.String()).Records()
	require.Len(t, left, 4)
	assert.Equal(t, "x/", left[1].Value, "a keyless record joins with the zero value")
	assert.Equal(t, "x/", left[3].Value)
	glob := d.Output("out-global", serde.String(), serde.String()).ReadAll()
	assert.Equal(t, []stream.KeyValue[string, string]{stream.KV("a", "x/X"), stream.KV("", "x/X"), stream.KV("b", "x/X2")}, glob)
	// Inner: a keyless record and a tombstone; left: the tombstone;
	// global: the tombstone and the nil computed key.
	assert.Equal(t, stream.DroppedCounts{NullKeys: 2, NullValues: 3}, d.DroppedRecords()["0_0"])
	v, ok, err := d.Store[*string, string]("glob").Get(new("x"))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "X2", v)
}
