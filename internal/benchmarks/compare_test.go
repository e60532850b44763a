package benchmarks

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkCountByKey compares a stateful count by key, output on every
// update, in four pipelines over the same pre-filled input (keys from 10k
// distinct keys "k0000".."k9999"):
//
//   - raw: rawPipe with counter, the at-least-once baseline (counts in a Go
//     map: no store, no changelog);
//   - rawtxn: rawPipeTxn with counter, the exactly-once baseline;
//   - brook-eos: Source -> GroupByKey -> Count -> ToStream -> To, Guarantee
//     ExactlyOnce (counts in Pebble, changelog in the transaction);
//   - brook-alo: the same, Guarantee AtLeastOnce.
//
// brook runs with the default commit interval (100ms), Workers 1 and the
// default memory settings, a fresh AppID and a fresh StateDir per run.
// Every pipeline writes one record per input record; each run is timed from
// its start until the last output record is acknowledged by the broker
// (see runBrook; the exactly-once pipelines' last transaction commits
// after that, untimed, its time is in the -v log). The output of every run
// is then read back, read_committed, and checked record for record: every
// key k with n input records has the outputs k=1 .. k=n.
//
// Metrics: <pipeline>-rec/s (input records per second over all iterations)
// and <pipeline>-cpu-ns/rec (CPU of the whole process, broker included, per
// input record), and the ratios eos/alo = brook-eos/brook-alo (issue target
// >= 0.85), alo/raw = brook-alo/raw and eos/rawtxn = brook-eos/rawtxn
// (target >= 0.6).
func BenchmarkCountByKey(b *testing.B) {
	e, iterBase := benchEnv(b)
	want := expectedCounts(e.records)
	verify := func(output string) error { return e.verifyOutput(output, want, countString) }
	countCfg := func(app string, g stream.Guarantee) stream.Config {
		return stream.Config{AppID: app, Guarantee: g, StateDir: b.TempDir(), CommitInterval: commitInterval}
	}
	n := int64(e.records)
	sides := []*side{
		{name: "raw", run: func(iter int, out string) (runResult, error) {
			return runRaw(e, counter(out), out, fmt.Sprintf("count-raw-%d", iter), n)
		}},
		{name: "rawtxn", run: func(iter int, out string) (runResult, error) {
			return runRawTxn(e, counter(out), out, fmt.Sprintf("count-rawtxn-%d", iter), n)
		}},
		{name: "brook-eos", run: func(iter int, out string) (runResult, error) {
			cfg := countCfg(fmt.Sprintf("count-eos-%d", iter), stream.ExactlyOnce)
			return runBrook(e, countTopology(e.input, out), cfg, out, n)
		}},
		{name: "brook-alo", run: func(iter int, out string) (runResult, error) {
			cfg := countCfg(fmt.Sprintf("count-alo-%d", iter), stream.AtLeastOnce)
			return runBrook(e, countTopology(e.input, out), cfg, out, n)
		}},
	}
	compare(b, e, iterBase, sides, verify)
	ratio(b, sides, "brook-eos", "brook-alo", "eos/alo")
	ratio(b, sides, "brook-alo", "raw", "alo/raw")
	ratio(b, sides, "brook-eos", "rawtxn", "eos/rawtxn")
}

// BenchmarkStatelessExactlyOnce compares the stateless map+filter pipeline
// under exactly-once: rawPipeTxn (rawtxn) against brook's Source ->
// MapValues -> Filter -> To with Guarantee ExactlyOnce (brook-eos; Workers
// 1, CommitInterval 100ms, a fresh StateDir per run, since the
// transactional id is kept there). Runs are timed as in
// BenchmarkCountByKey, until the last output record is acknowledged, and
// their committed output is checked record for record.
//
// Metrics: rawtxn-rec/s, brook-eos-rec/s, their CPU per record, and ratio =
// brook-eos/rawtxn (design target >= 0.8).
func BenchmarkStatelessExactlyOnce(b *testing.B) {
	e, iterBase := benchEnv(b)
	want := expectedOutput(e.records)
	verify := func(output string) error {
		return e.verifyOutput(output, want, func(r *kgo.Record) string { return string(r.Key) + "=" + string(r.Value) })
	}
	sides := []*side{
		{name: "rawtxn", run: func(iter int, out string) (runResult, error) {
			return runRawTxn(e, mapFilter(out), out, fmt.Sprintf("stateless-rawtxn-%d", iter), e.expected)
		}},
		{name: "brook-eos", run: func(iter int, out string) (runResult, error) {
			cfg := stream.Config{AppID: fmt.Sprintf("stateless-eos-%d", iter), Guarantee: stream.ExactlyOnce, Workers: 1,
				CommitInterval: commitInterval, StateDir: b.TempDir()}
			return runBrook(e, statelessTopology(e.input, out), cfg, out, e.expected)
		}},
	}
	compare(b, e, iterBase, sides, verify)
	ratio(b, sides, "brook-eos", "rawtxn", "ratio")
}

// benchEnv starts the cluster and fills the input for a comparison, with
// goroutine leak checks; it returns the goroutine count to check each
// iteration against.
func benchEnv(b *testing.B) (*env, int) {
	base, _ := goroutines()
	b.Cleanup(func() { checkGoroutines(b, base) })
	e := newEnv(b, *flagRecords, int32(*flagPartitions))
	iterBase, _ := goroutines()
	return e, iterBase
}

// side is one pipeline of a comparison: run runs it once over the whole
// input, writing to output (a fresh topic).
type side struct {
	name string
	run  func(iter int, output string) (runResult, error)
	sum  runResult // over the iterations
	runs int
}

// selected reports whether -only selects the pipeline: -only is empty, or
// one of its comma-separated names is the pipeline's name or the part of
// it before a '-' ("brook" selects brook-eos and brook-alo).
func (s *side) selected() bool {
	if *flagOnly == "" {
		return true
	}
	for _, o := range strings.Split(*flagOnly, ",") {
		if o == s.name || strings.HasPrefix(s.name, o+"-") {
			return true
		}
	}
	return false
}

// compare runs every selected pipeline once per iteration, each with a
// fresh output topic, in an order that rotates from one iteration to the
// next; only the runs are timed. verify checks a run's output, untimed.
// It reports <name>-rec/s and <name>-cpu-ns/rec of every pipeline.
func compare(b *testing.B, e *env, iterBase int, sides []*side, verify func(output string) error) {
	b.Helper()
	iter := 0
	for b.Loop() {
		b.StopTimer()
		for j := range sides {
			s := sides[(iter+j)%len(sides)]
			if !s.selected() {
				continue
			}
			out := fmt.Sprintf("out-%s-%d", s.name, iter)
			e.createTopic(out)
			runtime.GC()
			b.StartTimer()
			r, err := s.run(iter, out)
			b.StopTimer()
			if err != nil {
				b.Fatalf("iteration %d, %s: %v", iter, s.name, err)
			}
			if err := verify(out); err != nil {
				b.Fatalf("iteration %d, %s: %v", iter, s.name, err)
			}
			s.sum.add(r)
			s.runs++
			b.Logf("iteration %d: %-9s %8.0f rec/s: %v", iter, s.name, float64(e.records)/r.elapsed.Seconds(), r)
			e.deleteTopics(out)
		}
		checkGoroutines(b, iterBase) // every client and App of the iteration is closed
		iter++
		b.StartTimer()
	}
	for _, s := range sides {
		if s.runs == 0 {
			continue
		}
		total := float64(e.records) * float64(s.runs)
		b.ReportMetric(total/s.sum.elapsed.Seconds(), s.name+"-rec/s")
		b.ReportMetric(float64(s.sum.cpu.Nanoseconds())/total, s.name+"-cpu-ns/rec")
	}
}

// ratio reports the throughput of pipeline num over that of den as unit,
// if both ran.
func ratio(b *testing.B, sides []*side, num, den, unit string) {
	var n, d *side
	for _, s := range sides {
		switch s.name {
		case num:
			n = s
		case den:
			d = s
		}
	}
	if n == nil || d == nil || n.runs == 0 || d.runs == 0 {
		return
	}
	rate := func(s *side) float64 { return float64(s.runs) / s.sum.elapsed.Seconds() }
	b.ReportMetric(rate(n)/rate(d), unit)
}

// countTopology is Source -> GroupByKey -> Count -> ToStream -> To, the
// store named "counts": the same output as counter.
func countTopology(input, output string) *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, input, serde.String(), serde.String()).
		GroupByKey().
		Count(stream.Materialized("counts")).
		ToStream().
		To(output, nil, nil)
	return b
}

// expectedCounts returns the output of a count by key with every update
// output, over the n input records, as "key=count" strings, sorted.
func expectedCounts(n int) []string {
	counts := map[string]int64{}
	out := make([]string, 0, n)
	genInput(n, func(_ int, k, _ []byte) {
		counts[string(k)]++
		out = append(out, string(k)+"="+strconv.FormatInt(counts[string(k)], 10))
	})
	slices.Sort(out)
	return out
}

// countString formats an output record of a count as "key=count".
func countString(r *kgo.Record) string {
	if len(r.Value) != 8 {
		return string(r.Key) + "=<" + strconv.Itoa(len(r.Value)) + " bytes>"
	}
	return string(r.Key) + "=" + strconv.FormatInt(int64(binary.BigEndian.Uint64(r.Value)), 10)
}

// verifyOutput reads output read_committed and checks that its records,
// formatted with format and sorted, are want.
func (e *env) verifyOutput(output string, want []string, format func(*kgo.Record) string) error {
	got := make([]string, 0, len(want))
	if err := e.readCommitted(output, 60*time.Second, func(r *kgo.Record) { got = append(got, format(r)) }); err != nil {
		return err
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		i := firstDiff(got, want)
		g, w := "(end)", "(end)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		return fmt.Errorf("output %q: %d records, want %d; first difference at %d: %s, want %s", output, len(got), len(want), i, g, w)
	}
	return nil
}
