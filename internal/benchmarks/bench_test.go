package benchmarks

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/pprof"
	"slices"
	"testing"
	"time"

	"github.com/brookstream/brook/stream"
)

var (
	flagRecords    = flag.Int("records", 200000, "input records per benchmark run")
	flagPartitions = flag.Int("partitions", 4, "partitions of the input and output topics")
	flagOnly       = flag.String("only", "", `run only some pipelines of a comparison (for profiling; no ratio is reported): raw, rawtxn, brook (every brook pipeline), brook-eos or brook-alo, or a comma-separated list`)
)

// BenchmarkStatelessAtLeastOnce compares brook's Source -> MapValues ->
// Filter -> To topology (Guarantee AtLeastOnce, set explicitly since the
// default is ExactlyOnce; Workers 1, CommitInterval 100ms)
// with rawPipe, a hand-written franz-go consume -> produce loop doing the
// same work, over the same pre-filled input.
//
// Each iteration runs both over the whole input, each with a fresh consumer
// group and a fresh output topic; the order alternates between iterations.
// A run is timed from its start (client creation, group join included)
// until the broker has acknowledged the expected number of output records,
// counted by the same franz-go hook on both sides; the output topic is then
// checked to hold exactly that many. Topic creation and deletion, a GC
// before each run, and closing the brook App are not timed.
//
// Metrics: raw-rec/s and brook-rec/s are input records per second over all
// iterations, ratio is brook-rec/s / raw-rec/s (design target >= 0.8).
// raw-cpu-ns/rec and brook-cpu-ns/rec are the CPU time of the whole process
// (in-process broker included) per input record: less sensitive than wall
// time to other load on the machine. ns/op is the time of both runs of one
// iteration.
func BenchmarkStatelessAtLeastOnce(b *testing.B) {
	only := *flagOnly
	if only != "" && only != "raw" && only != "brook" {
		b.Skipf(`-only is %q: this benchmark has the pipelines "raw" and "brook"`, only)
	}
	base, _ := goroutines()
	b.Cleanup(func() { checkGoroutines(b, base) })
	e := newEnv(b, *flagRecords, int32(*flagPartitions))

	iterBase, _ := goroutines()

	var raw, brook runResult // sums over the iterations
	iter := 0
	for b.Loop() {
		b.StopTimer()
		rawOut, brookOut := fmt.Sprintf("out-raw-%d", iter), fmt.Sprintf("out-brook-%d", iter)
		e.createTopic(rawOut)
		e.createTopic(brookOut)

		runRawOnce := func() {
			if only == "brook" {
				return
			}
			runtime.GC()
			b.StartTimer()
			r, err := runRaw(e, mapFilter(rawOut), rawOut, fmt.Sprintf("raw-%d", iter), e.expected)
			b.StopTimer()
			if err != nil {
				b.Fatalf("iteration %d: %v", iter, err)
			}
			raw.add(r)
			b.Logf("iteration %d: raw   %.0f rec/s: %v", iter, float64(e.records)/r.elapsed.Seconds(), r)
		}
		runBrookOnce := func() {
			if only == "raw" {
				return
			}
			runtime.GC()
			cfg := stream.Config{AppID: fmt.Sprintf("brook-%d", iter), Guarantee: stream.AtLeastOnce, Workers: 1, CommitInterval: commitInterval}
			topo := statelessTopology(e.input, brookOut)
			b.StartTimer()
			r, err := runBrook(e, topo, cfg, brookOut, e.expected)
			b.StopTimer()
			if err != nil {
				b.Fatalf("iteration %d: %v", iter, err)
			}
			brook.add(r)
			b.Logf("iteration %d: brook %.0f rec/s: %v", iter, float64(e.records)/r.elapsed.Seconds(), r)
		}
		if iter%2 == 0 {
			runRawOnce()
			runBrookOnce()
		} else {
			runBrookOnce()
			runRawOnce()
		}

		e.deleteTopics(rawOut, brookOut)
		checkGoroutines(b, iterBase) // every client of the iteration is closed
		iter++
		b.StartTimer()
	}

	total := float64(e.records) * float64(iter)
	if only != "brook" {
		b.ReportMetric(total/raw.elapsed.Seconds(), "raw-rec/s")
		b.ReportMetric(float64(raw.cpu.Nanoseconds())/total, "raw-cpu-ns/rec")
	}
	if only != "raw" {
		b.ReportMetric(total/brook.elapsed.Seconds(), "brook-rec/s")
		b.ReportMetric(float64(brook.cpu.Nanoseconds())/total, "brook-cpu-ns/rec")
	}
	if only == "" {
		b.ReportMetric(raw.elapsed.Seconds()/brook.elapsed.Seconds(), "ratio")
	}
}

// BenchmarkRawPipeTxn measures the exactly-once baseline, rawPipeTxn, on its
// own, for comparisons with brook's ExactlyOnce guarantee. The
// run is timed until the transaction holding the last input record commits.
func BenchmarkRawPipeTxn(b *testing.B) {
	base, _ := goroutines()
	b.Cleanup(func() { checkGoroutines(b, base) })
	e := newEnv(b, *flagRecords, int32(*flagPartitions))

	var total time.Duration
	iter := 0
	for b.Loop() {
		b.StopTimer()
		out := fmt.Sprintf("out-rawtxn-%d", iter)
		e.createTopic(out)
		runtime.GC()
		ctx, cancel := context.WithTimeoutCause(context.Background(), runTimeout(e.records),
			fmt.Errorf("timed out after %v", runTimeout(e.records)))
		var st pipeStats
		var err error
		b.StartTimer()
		pprof.Do(ctx, pprof.Labels("pipeline", "rawtxn"), func(ctx context.Context) {
			st, err = rawPipeTxn(ctx, e.addrs, e.input, fmt.Sprintf("rawtxn-%d", iter), fmt.Sprintf("rawtxn-%d", iter), e.records, commitInterval, mapFilter(out))
		})
		b.StopTimer()
		cancel()
		if err != nil {
			b.Fatalf("iteration %d: %v", iter, err)
		}
		if int64(st.produced) != e.expected {
			b.Fatalf("iteration %d: produced %d records, want %d", iter, st.produced, e.expected)
		}
		total += st.elapsed
		b.Logf("iteration %d: raw txn %v, %.0f rec/s", iter, st.elapsed.Round(time.Millisecond), float64(e.records)/st.elapsed.Seconds())
		e.deleteTopics(out)
		iter++
		b.StartTimer()
	}
	b.ReportMetric(float64(e.records)*float64(iter)/total.Seconds(), "rawtxn-rec/s")
}

// TestPipes checks the harness on a small input: the raw pipe, the
// transactional raw pipe and the brook topology (AtLeastOnce and
// ExactlyOnce) each write exactly the expected records, byte for byte, for
// the stateless map+filter and for the count by key, and nothing leaks.
func TestPipes(t *testing.T) {
	base, _ := goroutines()
	t.Cleanup(func() { checkGoroutines(t, base) })
	const n = 5000
	e := newEnv(t, n, int32(*flagPartitions))
	want := expectedOutput(n)
	if int64(len(want)) != e.expected {
		t.Fatalf("expectedOutput has %d records, the fill counted %d", len(want), e.expected)
	}
	if drop := 1 - float64(len(want))/n; drop < 0.07 || drop > 0.13 {
		t.Fatalf("the filter drops %.1f%% of the input, want about 10%%", 100*drop)
	}
	check := func(topic string) {
		t.Helper()
		got, err := e.readOutput(topic, len(want), 20*time.Second)
		if err != nil {
			t.Fatalf("read %s: %v", topic, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %d records, want %d; first difference at %d", topic, len(got), len(want), firstDiff(got, want))
		}
	}

	t.Run("raw", func(t *testing.T) {
		e.createTopic("out-raw")
		if _, err := runRaw(e, mapFilter("out-raw"), "out-raw", "raw", e.expected); err != nil {
			t.Fatal(err)
		}
		check("out-raw")
	})
	t.Run("rawtxn", func(t *testing.T) {
		e.createTopic("out-rawtxn")
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout(n))
		defer cancel()
		st, err := rawPipeTxn(ctx, e.addrs, e.input, "rawtxn", "rawtxn", n, commitInterval, mapFilter("out-rawtxn"))
		if err != nil {
			t.Fatal(err)
		}
		if int64(st.produced) != e.expected || st.consumed != n {
			t.Fatalf("consumed %d produced %d, want %d and %d", st.consumed, st.produced, n, e.expected)
		}
		check("out-rawtxn")
	})
	t.Run("brook", func(t *testing.T) {
		e.createTopic("out-brook")
		cfg := stream.Config{AppID: "brook", Guarantee: stream.AtLeastOnce, Workers: 1, CommitInterval: commitInterval}
		if _, err := runBrook(e, statelessTopology(e.input, "out-brook"), cfg, "out-brook", e.expected); err != nil {
			t.Fatal(err)
		}
		check("out-brook")
	})
	t.Run("brook-eos", func(t *testing.T) {
		e.createTopic("out-brook-eos")
		cfg := stream.Config{AppID: "brook-eos", Workers: 1, CommitInterval: commitInterval, StateDir: t.TempDir()}
		if _, err := runBrook(e, statelessTopology(e.input, "out-brook-eos"), cfg, "out-brook-eos", e.expected); err != nil {
			t.Fatal(err)
		}
		check("out-brook-eos")
	})

	// The count pipelines: every input record gives one output record.
	wantCounts := expectedCounts(n)
	checkCounts := func(topic string) {
		t.Helper()
		if err := e.verifyOutput(topic, wantCounts, countString); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("count-raw", func(t *testing.T) {
		e.createTopic("count-raw")
		if _, err := runRaw(e, counter("count-raw"), "count-raw", "count-raw", n); err != nil {
			t.Fatal(err)
		}
		checkCounts("count-raw")
	})
	t.Run("count-rawtxn", func(t *testing.T) {
		e.createTopic("count-rawtxn")
		if _, err := runRawTxn(e, counter("count-rawtxn"), "count-rawtxn", "count-rawtxn", n); err != nil {
			t.Fatal(err)
		}
		checkCounts("count-rawtxn")
	})
	for _, g := range []stream.Guarantee{stream.ExactlyOnce, stream.AtLeastOnce} {
		t.Run("count-brook-"+g.String(), func(t *testing.T) {
			out := "count-brook-" + g.String()
			e.createTopic(out)
			cfg := stream.Config{AppID: out, Guarantee: g, CommitInterval: commitInterval, StateDir: t.TempDir()}
			if _, err := runBrook(e, countTopology(e.input, out), cfg, out, n); err != nil {
				t.Fatal(err)
			}
			checkCounts(out)
		})
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
