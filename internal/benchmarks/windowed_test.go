package benchmarks

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
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
// The emit-on-close pipelines, brook-close-alo and brook-close-eos, run
// the same count with Emit(stream.OnWindowClose()) and event time taken
// from the value: record seq is at seq*closeStepMs, so the input spans
// about 17 one-minute windows at 200k records. They are timed until the
// last final result is acknowledged: the windows that close (end <= the
// partition's largest timestamp), each once, with its final count. The
// records of each partition's last minute, still open at the end, are
// processed but not timed (about 4% of the input at 200k records, less
// with more). Their check: every closed window, once, with its count.
//
// Metrics: <pipeline>-rec/s, <pipeline>-cpu-ns/rec, and the ratio alo/raw
// = brook-alo/raw (issue target >= 0.5), eos/raw, close-alo/raw and
// close-eos/raw.
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
	final := closedWindows(e)
	for _, g := range []stream.Guarantee{stream.AtLeastOnce, stream.ExactlyOnce} {
		name := map[stream.Guarantee]string{stream.AtLeastOnce: "alo", stream.ExactlyOnce: "eos"}[g]
		sides = append(sides, &side{name: "brook-close-" + name, run: func(iter int, out string) (runResult, error) {
			return runBrook(e, windowedCloseTopology(e.input, out), cfg(fmt.Sprintf("wclose-%s-%d", name, iter), g), out, int64(len(final)))
		}})
	}
	// The raw side's output is a plain count, checked as such.
	compare(b, e, iterBase, sides, func(output string) error {
		switch {
		case strings.HasPrefix(output, "out-raw-"):
			return e.verifyOutput(output, expectedCounts(e.records), countString)
		case strings.HasPrefix(output, "out-brook-close-"):
			return verifyClosed(e, output, final)
		}
		return verify(output)
	})
	ratio(b, sides, "brook-alo", "raw", "alo/raw")
	ratio(b, sides, "brook-eos", "raw", "eos/raw")
	ratio(b, sides, "brook-close-alo", "raw", "close-alo/raw")
	ratio(b, sides, "brook-close-eos", "raw", "close-eos/raw")
}

// closeStepMs is the event time between two input records of the
// emit-on-close pipelines: record seq is at seq*closeStepMs.
const closeStepMs = 5

// seqTime returns the event time of an input value, from its "seq".
func seqTime(v string) int64 {
	var seq int64
	for i := len(`{"seq":`); i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		seq = seq*10 + int64(v[i]-'0')
	}
	return seq * closeStepMs
}

// windowedCloseTopology counts per key in tumbling one-minute windows of
// event time seqTime and writes each window once, when it closes.
func windowedCloseTopology(input, output string) *stream.Builder {
	b := stream.NewBuilder()
	src := stream.Source(b, input, serde.String(), serde.String(),
		stream.TimestampExtractor(func(r stream.Record[string, string], _ int64) (int64, error) { return seqTime(r.Value), nil }))
	stream.WindowedBy(src.GroupByKey(), window.Tumbling(time.Minute)).
		Emit(stream.OnWindowClose()).
		Count(stream.Materialized("window-counts")).
		ToStream().
		To(output, nil, nil)
	return b
}

// closedWindows returns the final count of every window that closes in the
// emit-on-close pipelines, by its windowed key's bytes (the key, then the
// window start, 8 bytes big-endian, as window.TimeWindowedSerde writes
// it): the windows whose end is at or before the largest event time of
// their key's partition.
func closedWindows(e *env) map[string]int64 {
	part := kgo.StickyKeyPartitioner(nil).ForTopic(e.input)
	counts := map[string]int64{}
	parts := map[string]int{}
	last := make([]int64, e.partitions)
	genInput(e.records, func(_ int, k, v []byte) {
		ts := seqTime(string(v))
		p := part.Partition(&kgo.Record{Key: k}, int(e.partitions))
		last[p] = max(last[p], ts)
		wk := string(binary.BigEndian.AppendUint64(bytes.Clone(k), uint64(ts-ts%60_000)))
		counts[wk]++
		parts[wk] = p
	})
	for wk, p := range parts {
		start := int64(binary.BigEndian.Uint64([]byte(wk[len(wk)-8:])))
		if start+60_000 > last[p] {
			delete(counts, wk)
		}
	}
	return counts
}

// verifyClosed checks that output holds every closed window once, with
// its final count.
func verifyClosed(e *env, output string, want map[string]int64) error {
	got := map[string]int64{}
	dup := 0
	if err := e.readCommitted(output, 60*time.Second, func(r *kgo.Record) {
		if _, ok := got[string(r.Key)]; ok {
			dup++
		}
		got[string(r.Key)] = int64(binary.BigEndian.Uint64(r.Value))
	}); err != nil {
		return err
	}
	if dup > 0 {
		return fmt.Errorf("output %q: %d windows emitted more than once", output, dup)
	}
	if len(got) != len(want) {
		return fmt.Errorf("output %q: %d windows, want %d", output, len(got), len(want))
	}
	for k, n := range want {
		if got[k] != n {
			return fmt.Errorf("output %q: window %q has %d, want %d", output, k, got[k], n)
		}
	}
	return nil
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
