package compat_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSideBySide benchmarks brook against Kafka Streams on one Apache Kafka
// broker: the same input, the same workloads (stateless map+filter, count
// by key over 10k keys), both guarantees, the same commit interval (100
// ms), one processing thread each, alternating runs. Each side runs as a
// process of its own (compat/brookbench, and Bench.java on java with
// -Xmx1g), from its start until the last output record is visible to a
// read_committed consumer; the rate is also given from the first output
// record on, which leaves out start-up (the JVM, the group join). CPU is
// the process's user+system time over the whole run, start-up included;
// peak RSS is the process's maximum resident set. On demand only:
//
//	BROOK_BENCH_KS=1 BROOK_TEST_APACHE=1 GOTOOLCHAIN=auto go test ./compat/ \
//	    -run TestSideBySide -v -timeout 60m
//
// BROOK_BENCH_RECORDS (default 1000000) and BROOK_BENCH_ROUNDS (default 2)
// size it. BROOK_BENCH_WORKLOADS (default "stateless,count") and
// BROOK_BENCH_GUARANTEES (default "eos,alos") choose what runs, and
// BROOK_BENCH_KEYS (default 10000, a comma-separated list) the key counts
// of the count: an input of K keys other than 10k has each key N/K times
// (one more for the first N mod K; at most N keys) in random order (K = N:
// every record a new key), as
// BenchmarkCountCardinality's, and its rates are also given as a share of
// the same side's count over 10k keys. The results table goes to the
// test log; see docs/PERFORMANCE.md.
func TestSideBySide(t *testing.T) {
	if os.Getenv("BROOK_BENCH_KS") != "1" {
		t.Skip("the side-by-side benchmark with Kafka Streams runs on demand: BROOK_BENCH_KS=1 BROOK_TEST_APACHE=1")
	}
	n := envInt("BROOK_BENCH_RECORDS", 1_000_000)
	rounds := envInt("BROOK_BENCH_ROUNDS", 2)
	br := kafkatest.StartBroker(t)
	k := br.Kafka()

	// Build both sides.
	dir := t.TempDir()
	brookBin := filepath.Join(dir, "brookbench")
	out, err := exec.Command("go", "build", "-o", brookBin, "./brookbench").CombinedOutput()
	require.NoError(t, err, "%s", out)
	mvn := exec.Command("mvn", "-q", "-B", "compile", "dependency:build-classpath", "-Dmdep.outputFile=target/classpath.txt")
	mvn.Dir = "kafkastreams"
	out, err = mvn.CombinedOutput()
	require.NoError(t, err, "%s", out)
	cp, err := os.ReadFile("kafkastreams/target/classpath.txt")
	require.NoError(t, err)
	classpath := "kafkastreams/target/classes:" + strings.TrimSpace(string(cp))

	const partitions = 4
	k.Topic("bench-in", partitions)
	kept := fill(t, k.Addrs, "bench-in", n, 10_000)
	t.Logf("input: %d records, %d partitions; the map+filter keeps %d", n, partitions, kept)
	// The workloads: a label, what the sides run, their input and how
	// many outputs they write.
	type work struct {
		label, workload, input string
		want                   int
	}
	var works []work
	for _, w := range envList("BROOK_BENCH_WORKLOADS", "stateless,count") {
		if w != "count" {
			works = append(works, work{w, w, "bench-in", kept})
			continue
		}
		for _, keys := range envList("BROOK_BENCH_KEYS", "10000") {
			kc, err := strconv.Atoi(keys)
			require.NoError(t, err, "BROOK_BENCH_KEYS")
			if kc == 10_000 {
				works = append(works, work{"count", "count", "bench-in", n})
				continue
			}
			in := fmt.Sprintf("bench-in-%d", kc)
			k.Topic(in, partitions)
			fill(t, k.Addrs, in, n, kc)
			t.Logf("input %s: %d records over %d keys", in, n, kc)
			works = append(works, work{fmt.Sprintf("count-%d", kc), "count", in, n})
		}
	}
	guarantees := envList("BROOK_BENCH_GUARANTEES", "eos,alos")

	type result struct {
		wall    time.Duration // from the process's start to the last output
		steady  time.Duration // from the first output to the last
		cpu     time.Duration
		rssKiB  int64
		records int
	}
	type key struct{ workload, guarantee, side string }
	results := map[key][]result{}
	run := 0
	for _, wk := range works {
		workload, want := wk.workload, wk.want
		for _, guarantee := range guarantees {
			for round := range rounds {
				sides := []string{"kafka-streams", "brook"}
				if round%2 == 1 {
					sides = []string{"brook", "kafka-streams"}
				}
				for _, side := range sides {
					run++
					app := fmt.Sprintf("bench-%d", run)
					outTopic := app + "-out"
					k.Topic(outTopic, partitions)
					state := filepath.Join(dir, app)
					var cmd *exec.Cmd
					if side == "brook" {
						cmd = exec.Command(brookBin, "-brokers", br.Addr, "-workload", workload, "-guarantee", guarantee,
							"-commit", "100ms", "-app", app, "-in", wk.input, "-out", outTopic, "-state", state)
					} else {
						cmd = exec.Command("java", "-Xmx1g", "-cp", classpath, "brook.compat.Bench", br.Addr, workload, guarantee,
							"100", app, wk.input, outTopic, state)
					}
					logf, err := os.Create(state + ".log")
					require.NoError(t, err)
					cmd.Stdout, cmd.Stderr = logf, logf
					start := time.Now()
					require.NoError(t, cmd.Start())
					got, first, err := awaitCount(k.Addrs, outTopic, want, 10*time.Minute)
					wall := time.Since(start)
					steady := wall - first.Sub(start)
					_ = cmd.Process.Signal(syscall.SIGTERM)
					werr := cmd.Wait()
					logf.Close()
					require.NoError(t, err, "%s %s %s: see %s.log", side, workload, guarantee, state)
					// The JVM exits with 143 (128+SIGTERM) after its shutdown hook
					// closed Kafka Streams cleanly.
					if side == "kafka-streams" && cmd.ProcessState.ExitCode() == 143 {
						werr = nil
					}
					require.NoError(t, werr, "%s exited badly: see %s.log", side, state)
					ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
					r := result{wall: wall, steady: steady, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), rssKiB: ru.Maxrss, records: got}
					results[key{wk.label, guarantee, side}] = append(results[key{wk.label, guarantee, side}], r)
					t.Logf("%-9s %-4s %-13s round %d: %8.0f rec/s from start (%v), %8.0f rec/s from first output (%v), %5.2f µs CPU/rec, peak RSS %4d MiB, %d outputs",
						wk.label, guarantee, side, round, float64(n)/wall.Seconds(), wall.Round(time.Millisecond), float64(n)/steady.Seconds(), steady.Round(time.Millisecond),
						float64(r.cpu.Microseconds())/float64(n), r.rssKiB/1024, got)
				}
			}
		}
	}

	// Best of the rounds for rates (the least disturbed run), largest RSS.
	var sb strings.Builder
	sb.WriteString("\n| workload | guarantee | side | records/s from start | records/s from first output | CPU µs/record | records per CPU-s | peak RSS MiB |\n|---|---|---|---:|---:|---:|---:|---:|\n")
	type agg struct{ rate, steady, cpuPerRec, perCPU, rss float64 }
	best := func(rs []result) agg {
		var a agg
		a.cpuPerRec = 1e18
		for _, r := range rs {
			a.rate = max(a.rate, float64(n)/r.wall.Seconds())
			a.steady = max(a.steady, float64(n)/r.steady.Seconds())
			c := float64(r.cpu.Microseconds()) / float64(n)
			a.cpuPerRec = min(a.cpuPerRec, c)
			a.rss = max(a.rss, float64(r.rssKiB)/1024)
		}
		a.perCPU = 1e6 / a.cpuPerRec
		return a
	}
	var ratios strings.Builder
	for _, wk := range works {
		w := wk.label
		for _, g := range guarantees {
			b, j := best(results[key{w, g, "brook"}]), best(results[key{w, g, "kafka-streams"}])
			if w != "count" && wk.workload == "count" {
				if rs := results[key{"count", g, "brook"}]; len(rs) > 0 {
					b10, j10 := best(rs), best(results[key{"count", g, "kafka-streams"}])
					fmt.Fprintf(&ratios, "%s %s / count over 10k keys, records/s from start: brook %.2f, kafka-streams %.2f; from first output: brook %.2f, kafka-streams %.2f\n",
						w, g, b.rate/b10.rate, j.rate/j10.rate, b.steady/b10.steady, j.steady/j10.steady)
				}
			}
			for _, s := range []struct {
				name string
				a    agg
			}{{"brook", b}, {"kafka-streams", j}} {
				fmt.Fprintf(&sb, "| %s | %s | %s | %.0f | %.0f | %.2f | %.0f | %.0f |\n", w, g, s.name, s.a.rate, s.a.steady, s.a.cpuPerRec, s.a.perCPU, s.a.rss)
			}
			fmt.Fprintf(&ratios, "%s %s: brook/kafka-streams records/s %.2fx from start, %.2fx from first output; records per CPU-second %.2fx; peak RSS %.2fx\n",
				w, g, b.rate/j.rate, b.steady/j.steady, b.perCPU/j.perCPU, b.rss/j.rss)
		}
	}
	t.Logf("side by side, %d records, best of %d rounds:%s\n%s", n, rounds, sb.String(), ratios.String())
}

// envList returns the comma-separated values of the environment variable
// name, or of def if it is empty.
func envList(name, def string) []string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func benchKeep(v string) bool { return len(v) < 2 || v[len(v)-2] != '0' }

// fill writes n records to topic, keys from the given number of distinct
// keys and values small JSON objects (36-60 bytes), as internal/benchmarks
// does, and returns how many the map+filter keeps. With 10k keys each key
// is drawn at random ("k0000".."k9999"); with another count, each key
// comes n/keys times (one more for the first n mod keys) in a random order
// ("k0000000"..).
func fill(t *testing.T, addrs []string, topic string, n, keys int) int {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(200_000))
	require.NoError(t, err)
	defer cl.Close()
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	var perm []int
	if keys != 10_000 {
		perm = rand.New(rand.NewPCG(8, uint64(keys))).Perm(n)
	}
	const letters = "abcdefghijklmnopqrstuvwxyz"
	var note [24]byte
	kept := 0
	errs := make(chan error, 1)
	for i := range n {
		var key []byte
		if keys == 10_000 {
			key = fmt.Appendf(nil, "k%04d", rng.IntN(10_000))
		} else {
			key = fmt.Appendf(nil, "k%07d", perm[i]%keys)
		}
		nl := rng.IntN(len(note) + 1)
		for j := range nl {
			note[j] = letters[rng.IntN(len(letters))]
		}
		value := fmt.Appendf(nil, `{"seq":%d,"note":"%s","amt":%d}`, i, note[:nl], 1+rng.IntN(9999))
		if benchKeep(strings.ToUpper(string(value))) {
			kept++
		}
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Key: key, Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	require.NoError(t, cl.Flush(context.Background()))
	select {
	case err := <-errs:
		require.NoError(t, err)
	default:
	}
	return kept
}

// awaitCount reads topic read_committed until it has seen want records,
// and returns when it saw the first.
func awaitCount(addrs []string, topic string, want int, timeout time.Duration) (int, time.Time, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return 0, time.Time{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got := 0
	var first time.Time
	for got < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return got, first, fmt.Errorf("%d of %d records in %s after %v", got, want, topic, timeout)
		}
		if n := fs.NumRecords(); n > 0 && got == 0 {
			first = time.Now()
		}
		got += fs.NumRecords()
	}
	return got, first, nil
}
