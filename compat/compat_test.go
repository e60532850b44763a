// Package compat_test runs brook and Kafka Streams side by side: every case
// in cases/ is fed through brook's test driver here, and the result is
// compared, record for record, with what Kafka Streams' TopologyTestDriver
// printed for the same case (golden/, written by kafkastreams/run.sh and
// never by hand). See README.md.
package compat_test

import (
	"bufio"
	"cmp"
	"flag"
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
	"github.com/brookstream/brook/window"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var showBrook = flag.Bool("show", false, "print brook's output of every case")

// caseFile is one differential case; see README.md for its format.
type caseFile struct {
	name       string
	topology   string
	partitions int
	divergent  string // why brook differs from Kafka Streams on purpose, if it does
	inputs     []input
}

type input struct {
	topic      string
	key, value *string
	ts         int64
}

func parseCase(path string) (*caseFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := &caseFile{name: strings.TrimSuffix(filepath.Base(path), ".case"), partitions: 1}
	body := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		where := fmt.Sprintf("%s:%d", path, n)
		if !body {
			if l == "----" {
				body = true
				continue
			}
			name, value, ok := strings.Cut(l, ":")
			if !ok {
				return nil, fmt.Errorf("%s: want name: value", where)
			}
			value = strings.TrimSpace(value)
			switch strings.TrimSpace(name) {
			case "topology":
				c.topology = value
			case "partitions":
				if c.partitions, err = strconv.Atoi(value); err != nil {
					return nil, fmt.Errorf("%s: partitions: %w", where, err)
				}
			case "divergent":
				c.divergent = value
			default:
				return nil, fmt.Errorf("%s: unknown header %q", where, name)
			}
			continue
		}
		toks, err := tokens(l)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if len(toks) != 4 || toks[0] == nil || toks[3] == nil {
			return nil, fmt.Errorf("%s: want TOPIC KEY VALUE TIMESTAMP", where)
		}
		ts, err := strconv.ParseInt(*toks[3], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: timestamp: %w", where, err)
		}
		c.inputs = append(c.inputs, input{topic: *toks[0], key: toks[1], value: toks[2], ts: ts})
	}
	if c.topology == "" {
		return nil, fmt.Errorf("%s: no topology header", path)
	}
	return c, sc.Err()
}

// tokens splits a line into bare words, double-quoted strings (escapes \"
// and \\) and <null>, which is a nil.
func tokens(l string) ([]*string, error) {
	var out []*string
	for i := 0; i < len(l); {
		switch {
		case l[i] == ' ' || l[i] == '\t':
			i++
		case l[i] == '"':
			var sb strings.Builder
			i++
			for {
				if i >= len(l) {
					return nil, fmt.Errorf("unterminated quote")
				}
				c := l[i]
				i++
				if c == '"' {
					break
				}
				if c == '\\' && i < len(l) {
					c = l[i]
					i++
				}
				sb.WriteByte(c)
			}
			s := sb.String()
			out = append(out, &s)
		default:
			j := i
			for j < len(l) && l[j] != ' ' && l[j] != '\t' {
				j++
			}
			w := l[i:j]
			if w == "<null>" {
				out = append(out, nil)
			} else {
				out = append(out, &w)
			}
			i = j
		}
	}
	return out, nil
}

// quote prints a key or value as Kafka Streams' side does: <null>, a
// number as is, or a string in double quotes.
func quote(v any) string {
	switch v := v.(type) {
	case nil:
		return "<null>"
	case int64:
		return strconv.FormatInt(v, 10)
	case string:
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
	}
	panic(fmt.Sprintf("quote %T", v))
}

// runBrook runs c through streamtest and prints its outputs and stores in
// the canonical form. A record that brook rejects stops the run, as it
// would stop an App under the default policy: the error is the last line.
func runBrook(t *testing.T, c *caseFile) string {
	def, ok := topologies[c.topology]
	require.Truef(t, ok, "case %s: no brook topology %q in topologies_test.go", c.name, c.topology)
	b := stream.NewBuilder()
	def.build(b)
	d := streamtest.New(t, b, streamtest.Config{AppID: "compat", Partitions: c.partitions})
	var sb strings.Builder
	var failed error
	ins := map[string]*streamtest.InputTopic[*string, *string]{}
	for _, in := range c.inputs {
		it := ins[in.topic]
		if it == nil {
			it = d.Input(in.topic, nstr(), nstr())
			ins[in.topic] = it
		}
		if failed = it.TryPipeRecord(stream.Record[*string, *string]{Key: in.key, Value: in.value, Timestamp: in.ts}); failed != nil {
			break
		}
	}
	var outs []string
	for topic, k := range def.outputs {
		outs = append(outs, readOutput(d, topic, k)...)
	}
	// Topics in name order, each topic's records in the order written.
	slices.SortStableFunc(outs, func(a, b string) int { return cmp.Compare(outTopic(a), outTopic(b)) })
	if c.partitions > 1 {
		outs = perKey(outs)
	}
	var stores []string
	for name, k := range def.stores {
		stores = append(stores, readStore(d, name, k)...)
	}
	slices.Sort(stores)
	for _, l := range append(outs, stores...) {
		sb.WriteString(l + "\n")
	}
	if failed != nil {
		fmt.Fprintf(&sb, "error %v\n", failed)
	}
	return sb.String()
}

func outTopic(line string) string { return strings.Fields(line)[1] }

// perKey orders output lines by topic and key, keeping each key's records
// in the order written: with several partitions only that order is
// defined.
func perKey(lines []string) []string {
	key := func(l string) string { f := strings.SplitN(l, " @", 2)[0]; return f[:strings.LastIndex(f, " ")] }
	slices.SortStableFunc(lines, func(a, b string) int { return cmp.Compare(key(a), key(b)) })
	return lines
}

// windowSize returns the window size of a "windowed-SIZE" key kind, or 0.
func windowSize(kind string) int64 {
	n, ok := strings.CutPrefix(kind, "windowed-")
	if !ok {
		return 0
	}
	size, _ := strconv.ParseInt(n, 10, 64)
	return size
}

// windowedKey prints a windowed key as Runner.java does: "key@[start,end)".
func windowedKey(w window.Windowed[string]) string {
	return fmt.Sprintf("%s@[%d,%d)", w.Key, w.Window.Start, w.Window.End)
}

func readOutput(d *streamtest.Driver, topic string, k kinds) []string {
	var lines []string
	if size := windowSize(k.key); size > 0 || k.key == "session" {
		ks := window.TimeWindowedSerde(serde.String(), size)
		if k.key == "session" {
			ks = window.SessionWindowedSerde(serde.String())
		}
		for _, r := range d.Output(topic, ks, serde.Int64()).Records() {
			var v any = r.Value
			if r.Tombstone {
				v = nil
			}
			lines = append(lines, fmt.Sprintf("out %s %s %s @%d", topic, quote(windowedKey(r.Key)), quote(v), r.Timestamp))
		}
		return lines
	}
	add := func(key *string, value any, ts int64) {
		var kv any
		if key != nil {
			kv = *key
		}
		lines = append(lines, fmt.Sprintf("out %s %s %s @%d", topic, quote(kv), quote(value), ts))
	}
	switch k.value {
	case "string":
		for _, r := range d.Output(topic, nstr(), serde.String()).Records() {
			var v any = r.Value
			if r.Tombstone {
				v = nil
			}
			add(r.Key, v, r.Timestamp)
		}
	case "long":
		for _, r := range d.Output(topic, nstr(), serde.Int64()).Records() {
			var v any = r.Value
			if r.Tombstone {
				v = nil
			}
			add(r.Key, v, r.Timestamp)
		}
	}
	return lines
}

func readStore(d *streamtest.Driver, name string, k kinds) []string {
	var lines []string
	switch {
	case windowSize(k.key) > 0:
		ws := d.WindowStore[*string, int64](name)
		for w, v := range ws.FetchAll(0, 1<<62) {
			lines = append(lines, fmt.Sprintf("store %s %s %s", name, quote(windowedKey(window.Windowed[string]{Key: *w.Key, Window: w.Window})), quote(v)))
		}
	case k.key == "nstring" && k.value == "long":
		for key, v := range d.Store[*string, int64](name).All() {
			var kv any
			if key != nil {
				kv = *key
			}
			lines = append(lines, fmt.Sprintf("store %s %s %s", name, quote(kv), quote(v)))
		}
	case k.value == "string":
		for key, v := range d.Store[string, string](name).All() {
			lines = append(lines, fmt.Sprintf("store %s %s %s", name, quote(key), quote(v)))
		}
	case k.value == "long":
		for key, v := range d.Store[string, int64](name).All() {
			lines = append(lines, fmt.Sprintf("store %s %s %s", name, quote(key), quote(v)))
		}
	}
	return lines
}

// normalize applies to Kafka Streams' output what runBrook does to
// brook's: with several partitions, only each key's order is compared.
func normalize(golden string, c *caseFile) string {
	if c.partitions <= 1 {
		return golden
	}
	var outs, rest []string
	for _, l := range strings.Split(strings.TrimSuffix(golden, "\n"), "\n") {
		if strings.HasPrefix(l, "out ") {
			outs = append(outs, l)
		} else if l != "" {
			rest = append(rest, l)
		}
	}
	var sb strings.Builder
	for _, l := range append(perKey(outs), rest...) {
		sb.WriteString(l + "\n")
	}
	return sb.String()
}

// TestKafkaStreamsCases compares brook with Kafka Streams on every case.
// A case marked divergent must still differ (so that a fixed divergence
// loses its mark); its reason is in docs/ARCHITECTURE.md.
func TestKafkaStreamsCases(t *testing.T) {
	paths, err := filepath.Glob("cases/*.case")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	for _, p := range paths {
		c, err := parseCase(p)
		require.NoError(t, err)
		t.Run(c.name, func(t *testing.T) {
			golden, err := os.ReadFile(filepath.Join("golden", c.name+".out"))
			require.NoErrorf(t, err, "no Kafka Streams output for this case: run compat/kafkastreams/run.sh")
			want := normalize(string(golden), c)
			got := runBrook(t, c)
			if *showBrook {
				t.Logf("brook:\n%s", got)
			}
			if c.divergent != "" {
				assert.NotEqualf(t, want, got, "case is marked divergent (%s) but brook now matches Kafka Streams: remove the mark", c.divergent)
				return
			}
			assert.Equal(t, want, got, "Kafka Streams (want) and brook (got) differ")
		})
	}
}

// TestKafkaStreamsDescribe compares Builder.Describe with Kafka Streams'
// Topology#describe() for every topology.
func TestKafkaStreamsDescribe(t *testing.T) {
	for name, def := range topologies {
		t.Run(name, func(t *testing.T) {
			golden, err := os.ReadFile(filepath.Join("golden", "describe", name+".txt"))
			require.NoErrorf(t, err, "no Kafka Streams description: run compat/kafkastreams/run.sh")
			b := stream.NewBuilder()
			def.build(b)
			got := b.Describe()
			if reason, ok := describeDivergent[name]; ok {
				assert.NotEqualf(t, string(golden), got, "marked divergent (%s) but now equal: remove the mark", reason)
				return
			}
			assert.Equal(t, string(golden), got)
		})
	}
}

// describeDivergent lists the topologies whose Describe differs from Kafka
// Streams' on purpose, with the reason.
var describeDivergent = map[string]string{}
