package benchmarks

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/embedded"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	flagMemKeys       = flag.String("mem-keys", "100000,1000000", "comma-separated key counts of BenchmarkMemory1MKeys (one run each per iteration)")
	flagMemRecords    = flag.Int("mem-records", 1_000_000, "input records of each run of BenchmarkMemory1MKeys, whatever its key count")
	flagMemTxnTimeout = flag.Duration("mem-txn-timeout", 0, "BenchmarkMemory1MKeys: Config.TransactionTimeout of the App (0: the default, 10s); raise it on a machine so loaded that a commit takes longer")
	flagMemProfile    = flag.String("mem-heapprofile", "", "BenchmarkMemory1MKeys: write a heap profile to this file at the Go heap's peak (of the last run)")
)

// brokerProcessEnv, set in the environment of this test binary, makes it
// run an in-process Kafka instead of the tests (see TestMain).
const brokerProcessEnv = "BROOK_BENCH_BROKER_PROCESS"

// TestMain runs the tests, or, in the child process that
// BenchmarkMemory1MKeys starts, only a Kafka broker.
func TestMain(m *testing.M) {
	if os.Getenv(brokerProcessEnv) == "1" {
		os.Exit(brokerProcess())
	}
	os.Exit(m.Run())
}

// brokerProcess starts an in-process cluster, prints "addrs a,b,..." on
// stdout and serves until its stdin is closed.
func brokerProcess() int {
	c, err := embedded.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	fmt.Printf("addrs %s\n", strings.Join(c.Addrs(), ","))
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// BenchmarkMemory1MKeys measures the memory of an App counting by key over
// many distinct keys, with the default memory settings (StateCacheBytes 64
// MiB shared, and per task MemTableBytes 4 MiB x 2 and StoreCacheBytes 4
// MiB per store: about 112 MiB of state budget for the 4 tasks here),
// ExactlyOnce, Workers 1.
//
// The broker runs in a child process (this test binary, re-executed with
// BROOK_BENCH_BROKER_PROCESS=1), so that the topic data it holds in memory
// (input, output, changelogs: it grows during the run) is not counted in
// this process's memory; its RSS is reported apart.
//
// For each key count K of -mem-keys (default 100k and 1M), an input topic
// (-partitions partitions) is filled before the iterations with N records
// (-mem-records, default 1M, the same for every K, so that only the key
// count differs), keys "m0000000".. in random order, each N/K times: with
// K = N every record adds a key to the store, the worst case for a store's
// memory. Each iteration then runs,
// for each K, countTopology over that input with a fresh AppID and
// StateDir until the K outputs are acknowledged and the last transaction
// committed, and closes the App. Before each run the Go heap is collected
// and returned to the OS (debug.FreeOSMemory) and the process's peak RSS
// is reset (/proc/self/clear_refs 5); a goroutine samples VmRSS and
// runtime.MemStats.HeapInuse every 10ms during the run.
//
// Metrics, per K (the largest over the iterations):
//
//	rss-MiB-<K>      peak RSS of this process during the run (VmHWM after
//	                 the reset, or the sampled VmRSS if larger): the
//	                 App, its franz-go clients, Pebble, plus the
//	                 process's base below
//	app-MiB-<K>      that peak less the RSS just before the run: what the
//	                 App added
//	heap-MiB-<K>     peak sampled Go HeapInuse (Pebble's block cache and
//	                 memtables are allocated outside the Go heap when cgo
//	                 is on, so they show in RSS only)
//	base-rss-MiB     RSS just before a run (the largest): test binary,
//	                 runtime, and what earlier benchmarks left (freed C
//	                 memory that the C allocator keeps, such as Pebble's
//	                 caches): 30-45 MiB when this benchmark runs alone,
//	                 60-95 MiB after the others; run it alone (-bench
//	                 Memory) for the absolute figure
//	broker-rss-MiB   RSS of the broker process at the end, for reference
//	rec/s-<K>        input records per second, until the last output
//	                 record is acknowledged
//
// Each run also logs what the memory was made of at the largest sampled
// RSS (the Go runtime's mapped memory, the Go heap in use, the heap marked
// live by the last GC and the next GC's goal, and the rest: the binary and
// C allocations such as Pebble's memtables under cgo), and the most
// records held at once: fetched and not polled, polled and not processed,
// produced (to any topic) and not yet acknowledged.
//
// Target (issue 16): rss-MiB-1M at most 200, and about the same as
// rss-MiB-100k: the memory is set by the budget, not by the number of keys.
func BenchmarkMemory1MKeys(b *testing.B) {
	var counts []int
	for _, f := range strings.Split(*flagMemKeys, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k <= 0 {
			b.Fatalf("-mem-keys: bad key count %q", f)
		}
		counts = append(counts, k)
	}
	base, _ := goroutines()
	b.Cleanup(func() { checkGoroutines(b, base) })
	n := *flagMemRecords
	e, broker := newRemoteEnv(b, int32(*flagPartitions))
	for _, k := range counts {
		if k > n {
			b.Fatalf("-mem-keys %d is more than -mem-records %d", k, n)
		}
		input := memInput(k)
		e.createTopic(input)
		start := time.Now()
		perm := rand.New(rand.NewPCG(3, uint64(k))).Perm(n)
		err := produceAll(e.addrs, input, n, func(i int) ([]byte, []byte) {
			return fmt.Appendf(nil, "m%07d", perm[i]%k), fmt.Appendf(nil, `{"seq":%d,"note":"memory benchmark"}`, i)
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("filled %q: %d records, %d distinct keys, over %d partitions in %v", input, n, k, e.partitions, time.Since(start).Round(time.Millisecond))
	}
	iterBase, _ := goroutines()

	peakRSS := make([]int64, len(counts))
	overBase := make([]int64, len(counts))
	peakHeap := make([]uint64, len(counts))
	elapsed := make([]time.Duration, len(counts))
	var baseRSS int64 // the largest base
	iter := 0
	for b.Loop() {
		b.StopTimer()
		for j, k := range counts {
			out := fmt.Sprintf("mem-out-%d-%d", k, iter)
			e.createTopic(out)
			re := *e
			re.input, re.records = memInput(k), n
			bl := &backlog{input: re.input, output: out}
			cfg := stream.Config{AppID: fmt.Sprintf("mem-%d-%d", k, iter), StateDir: b.TempDir(), ClientOpts: []kgo.Opt{kgo.WithHooks(bl)},
				TransactionTimeout: *flagMemTxnTimeout}

			runtime.GC()
			debug.FreeOSMemory()
			base := procStatus("self", "VmRSS")
			baseRSS = max(baseRSS, base)
			hwmReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
			s := startMemSampler(10*time.Millisecond, *flagMemProfile, bl)
			b.StartTimer()
			var rss int64
			var heap uint64
			var parts memParts
			peaks := func() { // once the App is closed, before the output is read back
				rss, heap = s.stop()
				parts = s.atPeak
				if hwmReset {
					rss = max(rss, procStatus("self", "VmHWM"))
				}
			}
			r, err := runBrookThen(&re, countTopology(re.input, out), cfg, out, int64(n), peaks)
			b.StopTimer()
			if rss == 0 {
				peaks()
			}
			if err != nil {
				b.Fatalf("iteration %d, %d keys: %v", iter, k, err)
			}
			peakRSS[j] = max(peakRSS[j], rss)
			overBase[j] = max(overBase[j], rss-base)
			peakHeap[j] = max(peakHeap[j], heap)
			elapsed[j] += r.elapsed
			b.Logf("iteration %d: %7d keys: peak RSS %d MiB, peak heap in use %d MiB (base RSS %d MiB, broker RSS %d MiB); at most %d records buffered in franz-go, %d polled but not yet processed, %d produced (outputs and changelogs) not yet acknowledged; at most %v between commits: %.0f rec/s: %v",
				iter, k, rss>>20, heap>>20, base>>20, procStatus(strconv.Itoa(broker.Process.Pid), "VmRSS")>>20,
				bl.maxBuffered, bl.maxQueued, bl.maxUnacked, bl.maxBetween.Round(time.Millisecond), float64(n)/r.elapsed.Seconds(), r)
			b.Logf("iteration %d: %7d keys: at the largest sampled RSS: %v", iter, k, parts)
			e.deleteTopics(out)
		}
		checkGoroutines(b, iterBase)
		iter++
		b.StartTimer()
	}
	for j, k := range counts {
		b.ReportMetric(float64(peakRSS[j])/(1<<20), "rss-MiB-"+keyCountName(k))
		b.ReportMetric(float64(overBase[j])/(1<<20), "app-MiB-"+keyCountName(k))
		b.ReportMetric(float64(peakHeap[j])/(1<<20), "heap-MiB-"+keyCountName(k))
		b.ReportMetric(float64(n)*float64(iter)/elapsed[j].Seconds(), "rec/s-"+keyCountName(k))
	}
	b.ReportMetric(float64(baseRSS)/(1<<20), "base-rss-MiB")
	b.ReportMetric(float64(procStatus(strconv.Itoa(broker.Process.Pid), "VmRSS"))/(1<<20), "broker-rss-MiB")
}

func memInput(keys int) string { return fmt.Sprintf("mem-input-%d", keys) }

// keyCountName is 100k for 100000, 1M for 1000000.
func keyCountName(k int) string {
	switch {
	case k%1_000_000 == 0:
		return strconv.Itoa(k/1_000_000) + "M"
	case k%1000 == 0:
		return strconv.Itoa(k/1000) + "k"
	}
	return strconv.Itoa(k)
}

// newRemoteEnv starts a broker in a child process (this test binary with
// brokerProcessEnv set) and returns an env on it, with no input topic, and
// the child's command. The child is stopped when tb ends.
func newRemoteEnv(tb testing.TB, partitions int32) (*env, *exec.Cmd) {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), brokerProcessEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start broker process: %v", err)
	}
	waited := make(chan error, 1)
	tb.Cleanup(func() {
		stdin.Close() // the child exits when its stdin closes
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-waited
			tb.Errorf("broker process %d did not exit within 10s of its stdin closing; killed", cmd.Process.Pid)
		}
	})
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "addrs "); ok {
				addrc <- a
				break
			}
		}
		io.Copy(io.Discard, stdout)
		waited <- cmd.Wait()
	}()
	var addrs []string
	select {
	case a := <-addrc:
		addrs = strings.Split(a, ",")
	case err := <-waited:
		waited <- err
		tb.Fatalf("broker process exited before serving: %v", err)
	case <-time.After(20 * time.Second):
		tb.Fatalf("broker process did not report its address within 20s")
	}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		tb.Fatalf("admin client: %v", err)
	}
	tb.Cleanup(admCl.Close)
	return &env{tb: tb, addrs: addrs, admCl: admCl, adm: kadm.NewClient(admCl), partitions: partitions}, cmd
}

// procStatus returns a field in kB of /proc/<pid>/status ("self" for this
// process), in bytes; 0 if it cannot be read.
func procStatus(pid, field string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// memSampler samples this process's VmRSS and Go HeapInuse and keeps the
// largest of each, and what the memory was made of at the sample of the
// largest VmRSS.
type memSampler struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	rss    int64
	heap   uint64
	atPeak memParts
}

// memParts is what a process's memory was made of at one sample.
type memParts struct {
	rss      int64  // VmRSS
	live     uint64 // the Go heap marked live by the last GC (/gc/heap/live:bytes)
	goal     uint64 // the Go heap's goal for the next GC (/gc/heap/goal:bytes)
	inuse    uint64 // Go HeapInuse
	goMapped uint64 // what the Go runtime holds from the OS (Sys - HeapReleased)
}

// String shows the parts in MiB; "other" is VmRSS less what the Go runtime
// holds: memory allocated outside the Go heap (Pebble's manually
// allocated memtables and block cache under cgo, the C allocator's free
// lists) and the binary's text and data.
func (p memParts) String() string {
	return fmt.Sprintf("RSS %d MiB = Go runtime %d MiB (heap in use %d, live at the last GC %d, next GC at %d) + other %d MiB",
		p.rss>>20, p.goMapped>>20, p.inuse>>20, p.live>>20, p.goal>>20, (p.rss-int64(p.goMapped))>>20)
}

// If profile is not "", it also writes a heap profile to that file
// whenever HeapInuse grows by 5% over the last profile's.
func startMemSampler(every time.Duration, profile string, bl *backlog) *memSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &memSampler{cancel: cancel}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		var ms runtime.MemStats
		var profiled uint64
		gm := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}}
		for {
			rss := procStatus("self", "VmRSS")
			runtime.ReadMemStats(&ms)
			s.heap = max(s.heap, ms.HeapInuse)
			if rss > s.rss {
				s.rss = rss
				metrics.Read(gm)
				s.atPeak = memParts{rss: rss, live: gm[0].Value.Uint64(), goal: gm[1].Value.Uint64(),
					inuse: ms.HeapInuse, goMapped: ms.Sys - ms.HeapReleased}
			}
			bl.sample()
			if profile != "" && ms.HeapInuse > profiled+profiled/20 {
				if f, err := os.Create(profile); err == nil {
					pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
					profiled = ms.HeapInuse
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the peaks.
func (s *memSampler) stop() (rss int64, heapInuse uint64) {
	s.cancel()
	s.wg.Wait() // stop is idempotent
	return s.rss, s.heap
}

// backlog is a kgo hook counting the input records an App has fetched,
// polled and processed (its count produced an output record), to sample
// how many it holds at once: buffered in franz-go (fetched, not yet
// polled) and queued in brook (polled, not yet processed).
type backlog struct {
	input, output               string
	fetched, unbuffered, polled atomic.Int64
	processed                   atomic.Int64
	produced, acked             atomic.Int64 // records of every topic: buffered to produce, and done (acknowledged or failed)
	maxBuffered, maxQueued      int64        // sampler goroutine only
	maxUnacked                  int64        // sampler goroutine only

	mu         sync.Mutex
	lastEnd    time.Time     // the last EndTxn response
	maxBetween time.Duration // the longest time between two EndTxn responses
}

// OnBrokerRead notes the longest time between two transaction ends: about
// the longest transaction.
func (b *backlog) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key != int16(kmsg.EndTxn) || err != nil {
		return
	}
	now := time.Now()
	b.mu.Lock()
	if !b.lastEnd.IsZero() {
		b.maxBetween = max(b.maxBetween, now.Sub(b.lastEnd))
	}
	b.lastEnd = now
	b.mu.Unlock()
}

func (b *backlog) OnFetchRecordBuffered(r *kgo.Record) {
	if r.Topic == b.input {
		b.fetched.Add(1)
	}
}

func (b *backlog) OnFetchRecordUnbuffered(r *kgo.Record, polled bool) {
	if r.Topic == b.input {
		b.unbuffered.Add(1)
		if polled {
			b.polled.Add(1)
		}
	}
}

func (b *backlog) OnProduceRecordUnbuffered(*kgo.Record, error) { b.acked.Add(1) }

func (b *backlog) OnProduceRecordBuffered(r *kgo.Record) {
	b.produced.Add(1)
	if r.Topic == b.output {
		b.processed.Add(1)
	}
}

func (b *backlog) sample() {
	if b == nil {
		return
	}
	b.maxBuffered = max(b.maxBuffered, b.fetched.Load()-b.unbuffered.Load())
	b.maxQueued = max(b.maxQueued, b.polled.Load()-b.processed.Load())
	b.maxUnacked = max(b.maxUnacked, b.produced.Load()-b.acked.Load())
}
