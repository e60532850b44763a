package benchmarks

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/window"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkWindowedCount compares a tumbling one-minute count by key (10k
// keys), every update out, with the raw franz-go pipe that counts in a Go
// map (raw: at-least-once, no store, no windows): brook-alo and brook-eos
// run stream.WindowedBy(GroupByKey, window.Tumbling(time.Minute)).Count
// with the window store on Pebble and its changelog. Runs are timed as in
// BenchmarkCountByKey. The check: every window of every key has the
// outputs 1..n, with as many outputs in all as input records.
//
// Metrics: <pipeline>-rec/s, <pipeline>-cpu-ns/rec, and the ratio alo/raw
// = brook-alo/raw (issue target >= 0.5) and eos/raw.
func BenchmarkWindowedCount(b *testing.B) {
	e, iterBase := benchEnv(b)
	n := int64(e.records)
	verify := func(output string) error {
		per := map[string][]int64{}
		total := 0
		if err := e.readCommitted(output, 60*time.Second, func(r *kgo.Record) {
			per[string(r.Key)] = append(per[string(r.Key)], int64(binary.BigEndian.Uint64(r.Value)))
			total++
		}); err != nil {
			return err
		}
		if total != e.records {
			return fmt.Errorf("output %q: %d records, want %d", output, total, e.records)
		}
		for k, vs := range per {
			slices.Sort(vs)
			for i, v := range vs {
				if v != int64(i+1) {
					return fmt.Errorf("output %q: window key %q has counts %v, want 1..%d", output, k, vs, len(vs))
				}
			}
		}
		return nil
	}
	cfg := func(app string, g stream.Guarantee) stream.Config {
		return stream.Config{AppID: app, Guarantee: g, StateDir: b.TempDir(), CommitInterval: commitInterval}
	}
	sides := []*side{
		{name: "raw", run: func(iter int, out string) (runResult, error) {
			return runRaw(e, counter(out), out, fmt.Sprintf("wcount-raw-%d", iter), n)
		}},
		{name: "brook-alo", run: func(iter int, out string) (runResult, error) {
			return runBrook(e, windowedCountTopology(e.input, out), cfg(fmt.Sprintf("wcount-alo-%d", iter), stream.AtLeastOnce), out, n)
		}},
		{name: "brook-eos", run: func(iter int, out string) (runResult, error) {
			return runBrook(e, windowedCountTopology(e.input, out), cfg(fmt.Sprintf("wcount-eos-%d", iter), stream.ExactlyOnce), out, n)
		}},
	}
	// The raw side's output is a plain count, checked as such.
	compare(b, e, iterBase, sides, func(output string) error {
		if len(output) > 8 && output[:8] == "out-raw-" {
			return e.verifyOutput(output, expectedCounts(e.records), countString)
		}
		return verify(output)
	})
	ratio(b, sides, "brook-alo", "raw", "alo/raw")
	ratio(b, sides, "brook-eos", "raw", "eos/raw")
}

// windowedCountTopology counts per key in tumbling one-minute windows and
// writes every update.
func windowedCountTopology(input, output string) *stream.Builder {
	b := stream.NewBuilder()
	stream.WindowedBy(stream.Source(b, input, serde.String(), serde.String()).GroupByKey(), window.Tumbling(time.Minute)).
		Count(stream.Materialized("window-counts")).
		ToStream().
		To(output, nil, nil)
	return b
}
