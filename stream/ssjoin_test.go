package stream_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/brookstream/brook/window"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStreamJoinScripts runs the data-driven cases of testdata/joins: each
// file holds cases that start with "=== <name>", then a line
// "join <inner|left|outer> <options>" with options "diff=<ms>" (before
// and after), "before=<ms>", "after=<ms>", "grace=<ms>" and "self" (the
// left stream joined with itself), then input records "L|R <key>
// <value>@<timestamp>" for the left and right streams (<null> for a
// missing key or value), a line "----", the records written to the output
// ("<key> <left>+<right> @<timestamp>", null for a missing side), another
// "----", and the drop counts "dropped late=<n> nullkey=<n>
// nullvalue=<n>". Keys and values are nullable strings; the joiner
// concatenates the two values with "+". A spec line "join stream-table
// <inner|left>", "join table-table <inner|left|outer>" or "join global
// <inner|left>" runs the case as a join with a table or a global table
// instead (see runTableJoinScript).
func TestStreamJoinScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/joins/*.txt")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, c := range strings.Split(string(data), "=== ")[1:] {
			name, body, _ := strings.Cut(c, "\n")
			t.Run(filepath.Base(f)+"/"+strings.TrimSpace(name), func(t *testing.T) { runJoinScript(t, body) })
		}
	}
}

func orNull(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

func runJoinScript(t *testing.T, body string) {
	parts := strings.Split(body, "----\n")
	require.Len(t, parts, 3, "a case has input, output and drops parts")
	lines := nonEmpty(parts[0])
	spec := strings.Fields(lines[0])
	require.Equal(t, "join", spec[0])
	switch spec[1] {
	case "stream-table", "table-table", "global":
		require.Len(t, spec, 3, "spec %q: join <shape> <kind>", lines[0])
		runTableJoinScript(t, spec[1], spec[2], lines[1:], parts[1], parts[2])
		return
	}
	var w window.JoinWindows
	self := false
	for _, a := range spec[2:] {
		if a == "self" {
			self = true
			continue
		}
		k, v, _ := strings.Cut(a, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, "option %q", a)
		d := time.Duration(n) * time.Millisecond
		switch k {
		case "diff":
			w = window.JoinTimeDifference(d).Grace(time.Duration(w.GraceMs) * time.Millisecond)
		case "before":
			w = w.Before(d)
		case "after":
			w = w.After(d)
		case "grace":
			w = w.Grace(d)
		default:
			t.Fatalf("unknown option %q", a)
		}
	}
	ns := serde.Nullable(serde.String())
	joiner := func(l, r *string) string { return orNull(l) + "+" + orNull(r) }
	b := stream.NewBuilder()
	left := stream.Source(b, "left", ns, ns)
	right := left
	if !self {
		right = stream.Source(b, "right", ns, ns)
	}
	var out stream.Stream[*string, string]
	switch spec[1] {
	case "inner":
		out = left.JoinStream(right, joiner, w)
	case "left":
		out = left.LeftJoinStream(right, joiner, w)
	case "outer":
		out = left.OuterJoinStream(right, joiner, w)
	default:
		t.Fatalf("unknown join %q", spec[1])
	}
	out.To("out", nil, serde.String())
	d := streamtest.New(t, b, streamtest.Config{})
	defer d.Close()
	inputs := map[string]*streamtest.InputTopic[*string, *string]{"L": d.Input("left", ns, ns)}
	if !self {
		inputs["R"] = d.Input("right", ns, ns)
	}
	tok := func(s string) *string {
		if s == "<null>" {
			return nil
		}
		return &s
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		require.Len(t, f, 3, "input %q", l)
		v, ts, ok := strings.Cut(f[2], "@")
		require.True(t, ok, "input %q", l)
		n, err := strconv.ParseInt(ts, 10, 64)
		require.NoError(t, err)
		in, ok := inputs[f[0]]
		require.True(t, ok, "input %q: no stream %s", l, f[0])
		in.PipeAt(tok(f[1]), tok(v), n)
	}
	var got []string
	for _, r := range d.Output("out", ns, serde.String()).Records() {
		k := "<null>"
		if r.Key != nil {
			k = *r.Key
		}
		got = append(got, fmt.Sprintf("%s %s @%d", k, r.Value, r.Timestamp))
	}
	assert.Equal(t, nonEmpty(parts[1]), got, "output")
	dc := d.DroppedRecords()["0_0"]
	assert.Equal(t, nonEmpty(parts[2]), []string{fmt.Sprintf("dropped late=%d nullkey=%d nullvalue=%d", dc.Late, dc.NullKeys, dc.NullValues)})
}

// A re-keyed stream joined with itself is repartitioned once, and each
// record joins itself and its neighbours under the new key.
func TestStreamJoinRekeyedSelf(t *testing.T) {
	b := stream.NewBuilder()
	s := stream.Source(b, "in", serde.String(), serde.String()).
		SelectKey(func(_, v string) string { return v[:1] })
	s.JoinStream(s, func(a, b string) string { return a + "+" + b }, window.JoinTimeDifference(10*time.Millisecond)).
		To("out", nil, nil)
	require.NoError(t, b.Build())
	assert.Equal(t, 1, strings.Count(b.Describe(), "(topics: [KSTREAM-KEY-SELECT-0000000001-repartition])"), "one repartition topic, read by one source:\n%s", b.Describe())
	assert.Equal(t, 1, strings.Count(b.Describe(), "Sink: KSTREAM-SINK-0000000002 (topic: KSTREAM-KEY-SELECT-0000000001-repartition)"), b.Describe())
	d := streamtest.New(t, b, streamtest.Config{Partitions: 2})
	defer d.Close()
	in := d.Input("in", serde.String(), serde.String())
	in.PipeAt("x", "a1", 100)
	in.PipeAt("y", "a2", 105)
	in.PipeAt("z", "b1", 106)
	var got []string
	for _, r := range d.Output("out", serde.String(), serde.String()).Records() {
		got = append(got, fmt.Sprintf("%s %s @%d", r.Key, r.Value, r.Timestamp))
	}
	assert.ElementsMatch(t, []string{"a a1+a1 @100", "a a2+a1 @105", "a a1+a2 @105", "a a2+a2 @105", "b b1+b1 @106"}, got)
}

func TestStreamJoinBuildErrors(t *testing.T) {
	join := func(a, b string) string { return a + b }
	for _, tc := range []struct {
		name  string
		build func(b *stream.Builder)
		want  string
	}{
		{"negative window", func(b *stream.Builder) {
			s := stream.Source(b, "in", serde.String(), serde.String())
			s.JoinStream(s, join, window.JoinTimeDifference(time.Second).After(-2*time.Second))
		}, "must not be negative"},
		{"negative grace", func(b *stream.Builder) {
			s := stream.Source(b, "in", serde.String(), serde.String())
			s.LeftJoinStream(s, join, window.JoinTimeDifference(time.Second).Grace(-time.Second))
		}, "grace -1000ms must not be negative"},
		{"no value serde", func(b *stream.Builder) {
			s := stream.Source(b, "in", serde.String(), serde.String())
			o := stream.Source(b, "in2", serde.String(), serde.String()).MapValues(func(v string) string { return v })
			l := s.MapValues(func(v string) int { return len(v) })
			l.OuterJoinStream(o, func(n int, v string) string { return v }, window.JoinTimeDifference(time.Second))
		}, "WithSerdes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := stream.NewBuilder()
			tc.build(b)
			err := b.Build()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
