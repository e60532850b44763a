package stream_test

import (
	"fmt"
	"os"
	"path/filepath"
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

// fkOf is the foreign-key extractor of the foreign-key join scripts: an
// order's value up to its first ':' (all of it without one), nil when the
// value starts with '-'.
func fkOf(_ string, v *string) *string {
	if strings.HasPrefix(*v, "-") {
		return nil
	}
	c, _, _ := strings.Cut(*v, ":")
	return &c
}

func joinNull(v, c *string) string {
	s := func(p *string) string {
		if p == nil {
			return "null"
		}
		return *p
	}
	return s(v) + "/" + s(c)
}

// fkJoinTopology joins the table "left" (orders: String keys, values
// "customer:item") with "right" (customers) by the customer id, into the
// store "result" and the topic "out". The join is named "fk", so its
// response topic is "<app>-fk-subscription-response-topic".
func fkJoinTopology(left bool) *stream.Builder {
	b := stream.NewBuilder()
	ns := serde.Nullable(serde.String())
	orders := stream.SourceTable(b, "left", serde.String(), ns, stream.Materialized("left-store"))
	customers := stream.SourceTable(b, "right", ns, ns, stream.Materialized("right-store"))
	opts := []stream.Option{stream.Named("fk"), stream.Materialized("result"), stream.ValueSerde(serde.String())}
	var out stream.Table[string, string]
	if left {
		out = orders.LeftJoinForeignKey(customers, fkOf, joinNull, opts...)
	} else {
		out = orders.JoinForeignKey(customers, fkOf, joinNull, opts...)
	}
	out.ToStream().To("out", nil, nil)
	return b
}

// TestFKJoinScripts runs the data-driven cases of testdata/fkjoin: each
// file holds cases that start with "=== <name>", then a line "join inner"
// or "join left" (optionally "partitions=<n>"), then input lines, a line
// "----", the records written to the output topic ("<key> <value> @<ts>",
// "<deleted>" for a tombstone), another "----", and the result store's
// contents ("<key> <value>", sorted). Input lines are "left <key> <value> @<ts>"
// (an order), "right <key> <value> @<ts>" (a customer), with "<delete>"
// as the value for a tombstone, or "replay <n>": the n-th record (from 1)
// written to the response topic so far is delivered again, as a response
// that arrives late, out of order.
func TestFKJoinScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/fkjoin/*.txt")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, c := range strings.Split(string(data), "=== ")[1:] {
			name, body, _ := strings.Cut(c, "\n")
			t.Run(filepath.Base(f)+"/"+strings.TrimSpace(name), func(t *testing.T) { runFKJoinScript(t, body) })
		}
	}
}

func runFKJoinScript(t *testing.T, body string) {
	parts := strings.Split(body, "----\n")
	require.Len(t, parts, 3, "a case has input, output and store parts")
	lines := nonEmpty(parts[0])
	spec := strings.Fields(lines[0])
	require.Equal(t, "join", spec[0])
	require.Contains(t, []string{"inner", "left"}, spec[1])
	parts0 := 1
	for _, a := range spec[2:] {
		k, v, _ := strings.Cut(a, "=")
		require.Equal(t, "partitions", k, "option %q", a)
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		parts0 = n
	}
	d := streamtest.New(t, fkJoinTopology(spec[1] == "left"), streamtest.Config{Partitions: parts0})
	defer d.Close()
	ns := serde.Nullable(serde.String())
	ins := map[string]*streamtest.InputTopic[string, *string]{
		"left":  d.Input("left", serde.String(), ns),
		"right": d.Input("right", serde.String(), ns),
	}
	const respTopic = "streamtest-fk-subscription-response-topic"
	resp := d.Output(respTopic, serde.String(), serde.String())
	var responses []streamtest.OutputRecord[string, string]
	replayIn := d.Input(respTopic, serde.String(), serde.String())
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		responses = append(responses, resp.Records()...)
		if f[0] == "replay" {
			n, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			require.LessOrEqual(t, n, len(responses), "replay %d: only %d responses so far", n, len(responses))
			r := responses[n-1]
			require.Equal(t, int32(0), r.Partition, "replay needs one partition")
			replayIn.PipeBytesAt([]byte(r.Key), []byte(r.Value), r.Timestamp)
			continue
		}
		require.Len(t, f, 4, "input %q: want SIDE KEY VALUE @TS", l)
		in := ins[f[0]]
		require.NotNil(t, in, "input %q: side is left or right", l)
		ts, err := strconv.ParseInt(strings.TrimPrefix(f[3], "@"), 10, 64)
		require.NoError(t, err)
		var v *string
		if f[2] != "<delete>" {
			v = &f[2]
		}
		in.PipeAt(f[1], v, ts)
	}
	var got []string
	for _, r := range d.Output("out", serde.String(), serde.String()).Records() {
		v := r.Value
		if r.Tombstone {
			v = "<deleted>"
		}
		got = append(got, fmt.Sprintf("%s %s @%d", r.Key, v, r.Timestamp))
	}
	assert.Equal(t, nonEmpty(parts[1]), got, "output")
	var st []string
	s := d.Store[string, string]("result")
	for k, v := range s.All() {
		st = append(st, k+" "+v)
	}
	require.NoError(t, s.Err())
	slices.Sort(st) // All walks the partitions one after another
	assert.Equal(t, nonEmpty(parts[2]), st, "store")
}
