package benchmarks

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	flagCardKeys    = flag.String("card-keys", "10000,1000000", "comma-separated distinct key counts of BenchmarkCountCardinality")
	flagCardRecords = flag.Int("card-records", 1_000_000, "input records of each input of BenchmarkCountCardinality, whatever its key count")
	flagCardVerify  = flag.Int("card-verify", 2_000_000, "BenchmarkCountCardinality reads back and checks every output record of inputs up to this many records (larger ones: the output count only)")
	flagCardWorkers = flag.Int("card-workers", 0, "Config.Workers of BenchmarkCountCardinality's Apps (0: the default)")
)

// BenchmarkCountCardinality measures the count by key as the number of
// distinct keys grows: for each key count K of -card-keys (default 10k and
// 1M; add 10000000 with -card-records 10000000 for 10M), an input topic of
// -card-records records (default 1M) is filled before the iterations,
// keys "c00000000".. in random order, each N/K times (K = N: every record
// is a new key, the worst case for a store). Each iteration then runs, for
// each K, in an order that rotates:
//
//   - raw-<K>: rawPipe with counter (counts in a Go map);
//   - brook-alo-<K>: countTopology, Guarantee AtLeastOnce, the default
//     Config otherwise (memory budgets included), a fresh AppID and
//     StateDir;
//   - brook-eos-<K>: the same under ExactlyOnce.
//
// Runs are timed as in BenchmarkCountByKey, until the last output record is
// acknowledged. Inputs of at most -card-verify records have their output
// read back and checked record for record.
//
// Metrics: <pipeline>-<K>-rec/s and -cpu-ns/rec, alo/raw-<K> and
// eos/alo-<K>, and alo-<K>/alo-<first K> (how much of the speed over the
// first, smallest key count remains: the target is >= 0.5 for 1M
// keys against 10k).
func BenchmarkCountCardinality(b *testing.B) {
	var counts []int
	for _, f := range strings.Split(*flagCardKeys, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k <= 0 {
			b.Fatalf("-card-keys: bad key count %q", f)
		}
		counts = append(counts, k)
	}
	n := *flagCardRecords
	e, iterBase := benchEnvN(b, 0)
	e.records = n // for the rates compare reports
	var sides []*side
	for _, k := range counts {
		if k > n {
			b.Fatalf("-card-keys %d is more than -card-records %d", k, n)
		}
		input := fmt.Sprintf("card-input-%d", k)
		e.createTopic(input)
		start := time.Now()
		perm := rand.New(rand.NewPCG(4, uint64(k))).Perm(n)
		err := produceAll(e.addrs, input, n, func(i int) ([]byte, []byte) {
			return cardKey(perm[i] % k), fmt.Appendf(nil, `{"seq":%d,"note":"cardinality"}`, i)
		})
		if err != nil {
			b.Fatal(err)
		}
		perm = nil
		b.Logf("filled %q: %d records, %d distinct keys, over %d partitions in %v", input, n, k, e.partitions, time.Since(start).Round(time.Millisecond))
		re := *e
		re.input, re.records = input, n
		name := keyCountName(k)
		sides = append(sides,
			&side{name: "raw-" + name, run: func(iter int, out string) (runResult, error) {
				return runRaw(&re, counter(out), out, fmt.Sprintf("card-raw-%s-%d", name, iter), int64(n))
			}},
			&side{name: "rawstate-" + name, run: func(iter int, out string) (runResult, error) {
				changelog := fmt.Sprintf("card-rawstate-%s-%d-changelog", name, iter)
				re.createTopic(changelog)
				dc := newDurableCounter(out, changelog, b.TempDir())
				r, err := runRawHook(&re, dc.work, dc.flush, out, fmt.Sprintf("card-rawstate-%s-%d", name, iter), int64(n))
				if cerr := dc.close(); err == nil {
					err = cerr
				}
				re.deleteTopics(changelog)
				return r, err
			}},
			&side{name: "brook-alo-" + name, run: func(iter int, out string) (runResult, error) {
				cfg := stream.Config{AppID: fmt.Sprintf("card-alo-%s-%d", name, iter), Guarantee: stream.AtLeastOnce, StateDir: b.TempDir(), CommitInterval: commitInterval, Workers: *flagCardWorkers}
				r, err := runBrook(&re, countTopology(input, out), cfg, out, int64(n))
				if err == nil && n <= *flagCardVerify {
					err = verifyCardinality(&re, out, n, k)
				}
				return r, err
			}},
			&side{name: "brook-eos-" + name, run: func(iter int, out string) (runResult, error) {
				cfg := stream.Config{AppID: fmt.Sprintf("card-eos-%s-%d", name, iter), Guarantee: stream.ExactlyOnce, StateDir: b.TempDir(), CommitInterval: commitInterval, Workers: *flagCardWorkers}
				r, err := runBrook(&re, countTopology(input, out), cfg, out, int64(n))
				if err == nil && n <= *flagCardVerify {
					err = verifyCardinality(&re, out, n, k)
				}
				return r, err
			}},
		)
	}
	// The runs check their own output (runBrook checks the count).
	compare(b, e, iterBase, sides, func(string) error { return nil })
	first := keyCountName(counts[0])
	for _, k := range counts {
		name := keyCountName(k)
		ratio(b, sides, "brook-alo-"+name, "raw-"+name, "alo/raw-"+name)
		ratio(b, sides, "brook-alo-"+name, "rawstate-"+name, "alo/rawstate-"+name)
		ratio(b, sides, "brook-eos-"+name, "brook-alo-"+name, "eos/alo-"+name)
		if name != first {
			ratio(b, sides, "brook-alo-"+name, "brook-alo-"+first, "alo-"+name+"/alo-"+first)
			ratio(b, sides, "rawstate-"+name, "rawstate-"+first, "rawstate-"+name+"/rawstate-"+first)
			ratio(b, sides, "brook-eos-"+name, "brook-eos-"+first, "eos-"+name+"/eos-"+first)
		}
	}
}

// cardKey is the i-th key of BenchmarkCountCardinality's inputs.
func cardKey(i int) []byte { return fmt.Appendf(nil, "c%08d", i) }

// benchEnvN is benchEnv with an input of n records.
func benchEnvN(b *testing.B, n int) (*env, int) {
	base, _ := goroutines()
	b.Cleanup(func() { checkGoroutines(b, base) })
	e := newEnv(b, n, int32(*flagPartitions))
	iterBase, _ := goroutines()
	return e, iterBase
}

// verifyCardinality checks the output of a count over BenchmarkCountCardinality's
// input of n records over k keys: every key has the outputs 1..n/k (or
// n/k+1 for the first n%k keys), each once.
func verifyCardinality(e *env, output string, n, k int) error {
	seen := make([]uint64, k) // bit set of the counts seen, per key, for up to 64 per key; beyond, a sum
	sums := make([]int64, k)
	got := 0
	var bad error
	err := e.readCommitted(output, 2*time.Minute, func(r *kgo.Record) {
		got++
		if bad != nil {
			return
		}
		i, err := strconv.Atoi(strings.TrimPrefix(string(r.Key), "c"))
		if err != nil || i < 0 || i >= k || len(r.Value) != 8 {
			bad = fmt.Errorf("output %q: unexpected record %q=%x", output, r.Key, r.Value)
			return
		}
		c := int64(binary.BigEndian.Uint64(r.Value))
		sums[i] += c
		if c <= 64 {
			if seen[i]&(1<<(c-1)) != 0 {
				bad = fmt.Errorf("output %q: key %s has count %d twice", output, r.Key, c)
			}
			seen[i] |= 1 << (c - 1)
		}
	})
	if err != nil {
		return err
	}
	if bad != nil {
		return bad
	}
	if got != n {
		return fmt.Errorf("output %q: %d records, want %d", output, got, n)
	}
	for i := range k {
		c := int64(n / k)
		if i < n%k {
			c++
		}
		if sums[i] != c*(c+1)/2 {
			return fmt.Errorf("output %q: key %s: counts sum to %d, want 1+..+%d = %d", output, cardKey(i), sums[i], c, c*(c+1)/2)
		}
	}
	return nil
}
