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
// concatenates the two values with "+".
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
