package stream_test

import (
	"errors"
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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSuppressScripts runs the data-driven cases of testdata/suppress:
// each case starts with "=== <name>", then "suppress <limit ms>" with
// options "records=<n>", "bytes=<n>" and "full=shutdown", then input
// records "<key>@<timestamp>" and "restart" lines
// (streamtest.Driver.Restart), "----", the records written to the output
// topic ("<key> <count> @<timestamp>", then "error <text>" if the App
// stopped), another "----" and the count store's contents ("<key>
// <count>"). The topology is a count by key, suppressed, written out.
func TestSuppressScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/suppress/*.txt")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, c := range strings.Split(string(data), "=== ")[1:] {
			name, body, _ := strings.Cut(c, "\n")
			t.Run(filepath.Base(f)+"/"+strings.TrimSpace(name), func(t *testing.T) { runSuppressScript(t, body) })
		}
	}
}

func runSuppressScript(t *testing.T, body string) {
	parts := strings.Split(body, "----\n")
	require.Len(t, parts, 3, "a case has input, output and store parts")
	lines := nonEmpty(parts[0])
	spec := strings.Fields(lines[0])
	require.Equal(t, "suppress", spec[0])
	num := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		return n
	}
	limit := time.Duration(num(spec[1])) * time.Millisecond
	var buf stream.BufferConfig
	for _, a := range spec[2:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "records":
			buf.MaxRecords = num(v)
		case "bytes":
			buf.MaxBytes = num(v)
		case "full":
			require.Equal(t, "shutdown", v)
			buf.OnFull = stream.ShutDownWhenFull
		default:
			t.Fatalf("unknown option %q", a)
		}
	}
	b := stream.NewBuilder()
	stream.Source(b, "in", serde.String(), serde.String()).
		GroupByKey().
		Count(stream.Materialized("counts")).
		Suppress(stream.UntilTimeLimit(limit, buf)).
		ToStream().To("out", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{})
	defer d.Close()
	in := d.Input("in", serde.String(), serde.String())
	var failed error
	for _, l := range lines[1:] {
		if l == "restart" {
			d.Restart()
			continue
		}
		k, ts, ok := strings.Cut(l, "@")
		require.True(t, ok, "input %q", l)
		if failed = in.TryPipeRecord(stream.Record[string, string]{Key: k, Value: "v", Timestamp: num(ts)}); failed != nil {
			break
		}
	}
	var got []string
	for _, r := range d.Output("out", serde.String(), serde.Int64()).Records() {
		got = append(got, fmt.Sprintf("%s %d @%d", r.Key, r.Value, r.Timestamp))
	}
	if failed != nil {
		var full *stream.SuppressBufferFullError
		require.True(t, errors.As(failed, &full), "error %v is a *SuppressBufferFullError", failed)
		got = append(got, "error "+full.Error())
	}
	assert.Equal(t, nonEmpty(parts[1]), got, "output")
	if failed != nil {
		return
	}
	var st []string
	for k, v := range d.Store[string, int64]("counts").All() {
		st = append(st, fmt.Sprintf("%s %d", k, v))
	}
	assert.Equal(t, nonEmpty(parts[2]), st, "store")
}
