package stream_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// globalKeyOf is the key mapper of the stream-global join scripts: the
// stream record's value up to its first ':' (all of it without one), nil
// when the value starts with '-'.
func globalKeyOf(_ *string, v *string) *string {
	if strings.HasPrefix(*v, "-") {
		return nil
	}
	k, _, _ := strings.Cut(*v, ":")
	return &k
}

// runTableJoinScript runs a case of testdata/joins whose spec line is
// "join stream-table|table-table|global <inner|left|outer>" (see
// TestStreamJoinScripts). L is the left input: a stream, or for
// table-table a table. R is the right input: a table, or for global a
// global table. A <null> value on a table is a tombstone. The output
// lines are "<key> <value> @<ts>", "<deleted>" for a tombstone of the
// table-table result (its ToStream). The last part is the drops line,
// then for table-table the result store at the end, "store <key> <value>"
// sorted.
func runTableJoinScript(t *testing.T, shape, kind string, inputs []string, wantOut, wantEnd string) {
	ns := serde.Nullable(serde.String())
	joiner := func(l, r *string) string { return orNull(l) + "+" + orNull(r) }
	b := stream.NewBuilder()
	switch shape {
	case "stream-table":
		s := stream.Source(b, "left", ns, ns)
		tab := stream.SourceTable(b, "right", ns, ns, stream.Materialized("right-store"))
		var out stream.Stream[*string, string]
		switch kind {
		case "inner":
			out = s.Join(tab, joiner)
		case "left":
			out = s.LeftJoin(tab, joiner)
		default:
			t.Fatalf("unknown stream-table join %q", kind)
		}
		out.To("out", nil, serde.String())
	case "table-table":
		l := stream.SourceTable(b, "left", ns, ns, stream.Materialized("left-store"))
		r := stream.SourceTable(b, "right", ns, ns, stream.Materialized("right-store"))
		opts := []stream.Option{stream.Materialized("result"), stream.ValueSerde(serde.String())}
		var out stream.Table[*string, string]
		switch kind {
		case "inner":
			out = l.Join(r, joiner, opts...)
		case "left":
			out = l.LeftJoin(r, joiner, opts...)
		case "outer":
			out = l.OuterJoin(r, joiner, opts...)
		default:
			t.Fatalf("unknown table-table join %q", kind)
		}
		out.ToStream().To("out", nil, nil)
	case "global":
		s := stream.Source(b, "left", ns, ns)
		g := stream.GlobalTable(b, "right", ns, ns, stream.Materialized("global-store"))
		var out stream.Stream[*string, string]
		switch kind {
		case "inner":
			out = s.JoinGlobal(g, globalKeyOf, joiner)
		case "left":
			out = s.LeftJoinGlobal(g, globalKeyOf, joiner)
		default:
			t.Fatalf("unknown stream-global join %q", kind)
		}
		out.To("out", nil, serde.String())
	}
	d := streamtest.New(t, b, streamtest.Config{})
	defer d.Close()
	ins := map[string]*streamtest.InputTopic[*string, *string]{"L": d.Input("left", ns, ns), "R": d.Input("right", ns, ns)}
	tok := func(s string) *string {
		if s == "<null>" {
			return nil
		}
		return &s
	}
	for _, l := range inputs {
		f := strings.Fields(l)
		require.Len(t, f, 3, "input %q", l)
		v, ts, ok := strings.Cut(f[2], "@")
		require.True(t, ok, "input %q", l)
		n, err := strconv.ParseInt(ts, 10, 64)
		require.NoError(t, err)
		in, ok := ins[f[0]]
		require.True(t, ok, "input %q: the inputs are L and R", l)
		in.PipeAt(tok(f[1]), tok(v), n)
	}
	var got []string
	for _, r := range d.Output("out", ns, serde.String()).Records() {
		k, v := "<null>", r.Value
		if r.Key != nil {
			k = *r.Key
		}
		if r.Tombstone {
			v = "<deleted>"
		}
		got = append(got, fmt.Sprintf("%s %s @%d", k, v, r.Timestamp))
	}
	assert.Equal(t, nonEmpty(wantOut), got, "output")
	dc := d.DroppedRecords()["0_0"]
	end := []string{fmt.Sprintf("dropped late=%d nullkey=%d nullvalue=%d", dc.Late, dc.NullKeys, dc.NullValues)}
	if shape == "table-table" {
		var st []string
		s := d.Store[*string, string]("result")
		for k, v := range s.All() {
			st = append(st, "store "+orNull(k)+" "+v)
		}
		require.NoError(t, s.Err())
		slices.Sort(st)
		end = append(end, st...)
	}
	assert.Equal(t, nonEmpty(wantEnd), end, "drops and store")
}
