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

// TestWindowScripts runs the data-driven cases of testdata/windows: each
// file holds cases that start with "=== <name>", then a line
// "window <kind> <args...>" (tumbling <size>, hopping <size> <advance>,
// sliding <time difference>, with options "grace=<ms>" and "emit=close"), then input records
// "<key>@<timestamp>", a line "----", the records written to the output
// topic ("<key> [<start>,<end>) <count> @<timestamp>"), another "----",
// and the store's contents ("<key> [<start>,<end>) <count>", by
// FetchAll), then "dropped late=<n>". The topology is a windowed Count
// of the input stream, written with window.TimeWindowedSerde.
func TestWindowScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/windows/*.txt")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, c := range strings.Split(string(data), "=== ")[1:] {
			name, body, _ := strings.Cut(c, "\n")
			t.Run(filepath.Base(f)+"/"+strings.TrimSpace(name), func(t *testing.T) { runWindowScript(t, body) })
		}
	}
}

func runWindowScript(t *testing.T, body string) {
	parts := strings.Split(body, "----\n")
	require.Len(t, parts, 3, "a case has input, output and store parts")
	lines := nonEmpty(parts[0])
	spec := strings.Fields(lines[0])
	require.Equal(t, "window", spec[0])
	ms := func(s string) time.Duration {
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		return time.Duration(n) * time.Millisecond
	}
	var w window.Spec
	var size int64
	args := spec[2:]
	if spec[1] == "session" {
		runSessionScript(t, window.Session(ms(args[0])), args[1:], lines[1:], nonEmpty(parts[1]), nonEmpty(parts[2]), ms)
		return
	}
	switch spec[1] {
	case "tumbling":
		w, args = window.Tumbling(ms(args[0])), args[1:]
	case "hopping":
		w, args = window.Hopping(ms(args[0]), ms(args[1])), args[2:]
	case "sliding":
		w, args = window.Sliding(ms(args[0])), args[1:]
	default:
		t.Fatalf("unknown window kind %q", spec[1])
	}
	emit := stream.OnWindowUpdate()
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "grace":
			switch x := w.(type) {
			case window.TimeWindows:
				w = x.Grace(ms(v))
			case window.SlidingWindows:
				w = x.Grace(ms(v))
			}
		case "emit":
			if v == "close" {
				emit = stream.OnWindowClose()
			}
		default:
			t.Fatalf("unknown option %q", a)
		}
	}
	switch x := w.(type) {
	case window.TimeWindows:
		size = x.SizeMs
	case window.SlidingWindows:
		size = x.DifferenceMs
	}
	b := stream.NewBuilder()
	stream.WindowedBy(stream.Source(b, "in", serde.String(), serde.String()).GroupByKey(), w).
		Emit(emit).
		Count(stream.Materialized("counts")).
		ToStream().To("out", window.TimeWindowedSerde(serde.String(), size), serde.Int64())
	d := streamtest.New(t, b, streamtest.Config{})
	defer d.Close()
	in := d.Input("in", serde.String(), serde.String())
	for _, l := range lines[1:] {
		if l == "restart" {
			d.Restart()
			continue
		}
		k, ts, ok := strings.Cut(l, "@")
		require.True(t, ok, "input %q", l)
		n, err := strconv.ParseInt(ts, 10, 64)
		require.NoError(t, err)
		in.PipeAt(k, "v", n)
	}
	// Sliding windows hold their end: they print as [start,end].
	wstr := func(w window.Window) string {
		if spec[1] == "sliding" {
			return fmt.Sprintf("[%d,%d]", w.Start, w.End)
		}
		return w.String()
	}
	var got []string
	for _, r := range d.Output("out", window.TimeWindowedSerde(serde.String(), size), serde.Int64()).Records() {
		got = append(got, fmt.Sprintf("%s %s %d @%d", r.Key.Key, wstr(r.Key.Window), r.Value, r.Timestamp))
	}
	assert.Equal(t, nonEmpty(parts[1]), got, "output")
	var st []string
	ws := d.WindowStore[string, int64]("counts")
	for k, v := range ws.FetchAll(0, 1<<62) {
		st = append(st, fmt.Sprintf("%s %s %d", k.Key, wstr(k.Window), v))
	}
	require.NoError(t, ws.Err())
	want := nonEmpty(parts[2])
	dropped := want[len(want)-1]
	assert.Equal(t, want[:len(want)-1], st, "store")
	assert.Equal(t, dropped, fmt.Sprintf("dropped late=%d", d.DroppedRecords()["0_0"].Late))
}

func nonEmpty(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// runSessionScript runs a case of session windows: "window session <gap>
// [grace=<ms>] [emit=close]"; inputs may include "restart"; the store
// part lists the session store's contents ("<key> [<start>,<end>]
// <count>", by FetchAll), then the "dropped" line.
func runSessionScript(t *testing.T, w window.SessionWindows, args, input, wantOut, wantStore []string, ms func(string) time.Duration) {
	emit := stream.OnWindowUpdate()
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch {
		case k == "grace":
			w = w.Grace(ms(v))
		case k == "emit" && v == "close":
			emit = stream.OnWindowClose()
		default:
			t.Fatalf("unknown option %q", a)
		}
	}
	b := stream.NewBuilder()
	stream.SessionWindowedBy(stream.Source(b, "in", serde.String(), serde.String()).GroupByKey(), w).
		Emit(emit).
		Count(stream.Materialized("sessions")).
		ToStream().To("out", window.SessionWindowedSerde(serde.String()), serde.Int64())
	d := streamtest.New(t, b, streamtest.Config{})
	defer d.Close()
	in := d.Input("in", serde.String(), serde.String())
	for _, l := range input {
		if l == "restart" {
			d.Restart()
			continue
		}
		k, ts, ok := strings.Cut(l, "@")
		require.True(t, ok, "input %q", l)
		n, err := strconv.ParseInt(ts, 10, 64)
		require.NoError(t, err)
		in.PipeAt(k, "v", n)
	}
	var got []string
	for _, r := range d.Output("out", window.SessionWindowedSerde(serde.String()), serde.Int64()).Records() {
		v := strconv.FormatInt(r.Value, 10)
		if r.Tombstone {
			v = "<deleted>"
		}
		got = append(got, fmt.Sprintf("%s [%d,%d] %s @%d", r.Key.Key, r.Key.Window.Start, r.Key.Window.End, v, r.Timestamp))
	}
	assert.Equal(t, wantOut, got, "output")
	var st []string
	ss := d.SessionStore[string, int64]("sessions")
	for k, v := range ss.FetchAll() {
		st = append(st, fmt.Sprintf("%s [%d,%d] %d", k.Key, k.Window.Start, k.Window.End, v))
	}
	require.NoError(t, ss.Err())
	st = append(st, fmt.Sprintf("dropped late=%d", d.DroppedRecords()["0_0"].Late))
	assert.Equal(t, wantStore, st, "store")
}
