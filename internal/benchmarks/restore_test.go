package benchmarks

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/embedded"
	"github.com/brookstream/brook/state"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kgo"
)

var flagRestoreRecords = flag.Int("restore-records", 1_000_000, "changelog records BenchmarkRestore restores")

// BenchmarkRestore measures how fast an App restores a store from its
// changelog. Before the iterations, the changelog topic of the count store
// "counts" of the app "restore" ("restore-counts-changelog", 1 partition,
// cleanup.policy=compact) is filled directly with -restore-records records
// (default 1M): distinct 10-byte keys "k000000000".. in random order,
// 8-byte values (the record's index, big-endian: a valid count). The
// app's input topic has 1 partition and no records.
//
// Each iteration then measures, one after the other, in the same process
// and on the same records:
//
//   - brook: an App running countTopology with the default Config (but for
//     a fresh StateDir, so the store restores from offset 0), timed from
//     Run until OnRestore reports Done for the store. After Done, the
//     number of records restored is checked, and a few keys are read back
//     through App.Store. restore-rec/s counts from Run (start-up, topic
//     set-up, group join included); restore-only-rec/s from the first
//     changelog batch fetched (a franz-go hook) until Done.
//   - fetch: the restore's first half alone: a franz-go client with the
//     options of brook's restore client (internal/runtime/state.go
//     restoreStore: read_committed, KeepControlRecords, FetchMaxBytes
//     16 MiB, FetchMaxPartitionBytes 4 MiB) reading the changelog from
//     offset 0 to its end and visiting each record, timed, as brook's,
//     from the first batch fetched.
//   - pebble: the second half alone, as restores wrote before decision
//     55: state.Open (a 64 MiB shared cache, brook's default memtables),
//     the store opened as the App opens it (with its key filter, which a
//     restore fills) and a Restorer applying the same records as brook's
//     restore from memory in Pebble batches (the values as brook's
//     timestamped count store holds them: the record's timestamp, then
//     the 8-byte count), then Finish. Pebble's flushes and compactions
//     still running when Finish returns are not counted.
//   - ingest: the second half alone as brook's restore into an empty
//     store does it: the same with state.FullRestorer, which sorts the
//     records and ingests them as sorted tables.
//
// The ratios restore-only / the slower of fetch and pebble
// (ratio-batch-half) and restore-only / the slower of fetch and ingest
// (ratio-own-half, the halves brook's restore is made of) are reported
// too. The target is restore-rec/s >= 1M records/s.
func BenchmarkRestore(b *testing.B) {
	const app, store = "restore", "counts"
	changelog := app + "-" + store + "-changelog"
	n := *flagRestoreRecords
	base, _ := goroutines()
	b.Cleanup(func() { checkGoroutines(b, base) })
	e := newEnv(b, 0, 1) // the app's input: 1 partition, as the changelog, and empty
	e.createTopic("restore-out")

	var err error
	keys := make([][]byte, n)
	for i, p := range rand.New(rand.NewPCG(2, 2)).Perm(n) {
		keys[i] = fmt.Appendf(nil, "k%09d", p)
	}
	value := func(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }
	ctx, cancel := e.ctx(10 * time.Second)
	compact := "compact"
	err = embedded.CreateTopic(ctx, e.addrs, changelog, 1, map[string]*string{"cleanup.policy": &compact})
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := produceAll(e.addrs, changelog, n, func(i int) ([]byte, []byte) { return keys[i], value(i) }); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %q with %d records in %v", changelog, n, time.Since(start).Round(time.Millisecond))

	// The values brook's restore applies to the timestamped count store:
	// the record's timestamp, then the count.
	ts, err := changelogTimestamp(e.addrs, changelog)
	if err != nil {
		b.Fatal(err)
	}

	iterBase, _ := goroutines()
	var sumRun, sumOnly, sumFetch, sumPebble, sumIngest time.Duration
	var prevFetch, prevPebble, prevIngest time.Duration
	iter := 0
	for b.Loop() {
		b.StopTimer()

		runtime.GC()
		b.StartTimer()
		r, err := runRestore(e, app, store, changelog, n, b.TempDir(), keys)
		b.StopTimer()
		if err != nil {
			b.Fatalf("iteration %d: brook: %v", iter, err)
		}
		sumRun += r.fromRun
		sumOnly += r.fromFetch
		b.Logf("iteration %d: brook  restored %d records in %v from Run (%.0f rec/s), %v from the first changelog fetch (%.0f rec/s); CPU %v",
			iter, n, r.fromRun.Round(time.Millisecond), float64(n)/r.fromRun.Seconds(), r.fromFetch.Round(time.Millisecond), float64(n)/r.fromFetch.Seconds(), r.cpu.Round(time.Millisecond))

		runtime.GC()
		cpu0 := cpuTime()
		var d time.Duration
		pprof.Do(context.Background(), pprof.Labels("pipeline", "fetch"), func(context.Context) { d, err = fetchOnly(e.addrs, changelog, n) })
		if err != nil {
			b.Fatalf("iteration %d: fetch: %v", iter, err)
		}
		sumFetch += d
		b.Logf("iteration %d: fetch  %d records in %v (%.0f rec/s); CPU %v", iter, n, d.Round(time.Millisecond), float64(n)/d.Seconds(), (cpuTime() - cpu0).Round(time.Millisecond))

		runtime.GC()
		cpu0 = cpuTime()
		pprof.Do(context.Background(), pprof.Labels("pipeline", "pebble"), func(context.Context) { d, err = pebbleOnly(b.TempDir(), store, keys, ts, false) })
		if err != nil {
			b.Fatalf("iteration %d: pebble: %v", iter, err)
		}
		sumPebble += d
		b.Logf("iteration %d: pebble %d records in %v (%.0f rec/s); CPU %v", iter, n, d.Round(time.Millisecond), float64(n)/d.Seconds(), (cpuTime() - cpu0).Round(time.Millisecond))

		runtime.GC()
		cpu0 = cpuTime()
		pprof.Do(context.Background(), pprof.Labels("pipeline", "ingest"), func(context.Context) { d, err = pebbleOnly(b.TempDir(), store, keys, ts, true) })
		if err != nil {
			b.Fatalf("iteration %d: ingest: %v", iter, err)
		}
		sumIngest += d
		b.Logf("iteration %d: ingest %d records in %v (%.0f rec/s); CPU %v", iter, n, d.Round(time.Millisecond), float64(n)/d.Seconds(), (cpuTime() - cpu0).Round(time.Millisecond))
		b.Logf("iteration %d: restore / slower half: %.2f with Pebble batches, %.2f with the ingesting half",
			iter, halfRatio(r.fromFetch, sumFetch-prevFetch, sumPebble-prevPebble), halfRatio(r.fromFetch, sumFetch-prevFetch, sumIngest-prevIngest))
		prevFetch, prevPebble, prevIngest = sumFetch, sumPebble, sumIngest

		checkGoroutines(b, iterBase)
		iter++
		b.StartTimer()
	}
	total := float64(n) * float64(iter)
	b.ReportMetric(total/sumRun.Seconds(), "restore-rec/s")
	b.ReportMetric(total/sumOnly.Seconds(), "restore-only-rec/s")
	b.ReportMetric(total/sumFetch.Seconds(), "fetch-rec/s")
	b.ReportMetric(total/sumPebble.Seconds(), "pebble-rec/s")
	b.ReportMetric(total/sumIngest.Seconds(), "ingest-rec/s")
	b.ReportMetric(halfRatio(sumOnly, sumFetch, sumPebble), "ratio-batch-half")
	b.ReportMetric(halfRatio(sumOnly, sumFetch, sumIngest), "ratio-own-half")
}

// halfRatio is the rate of a restore that took restore against the rate of
// the slower of two halves that took a and b (rates of the same records).
func halfRatio(restore, a, b time.Duration) float64 {
	return max(a, b).Seconds() / restore.Seconds()
}

// changelogTimestamp returns the timestamp of the first record of topic's
// partition 0.
func changelogTimestamp(addrs []string, topic string) (time.Time, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}),
		kgo.FetchMaxBytes(1<<20),
	)
	if err != nil {
		return time.Time{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		fs := cl.PollRecords(ctx, 1)
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
		if rs := fs.Records(); len(rs) > 0 {
			return rs[0].Timestamp, nil
		}
	}
}

type restoreResult struct {
	fromRun   time.Duration // from Run until OnRestore reports Done
	fromFetch time.Duration // from the first changelog batch fetched until Done
	cpu       time.Duration // CPU time of the process from Run until Done
}

// firstFetch is a kgo hook noting when the first batch of topic is read.
type firstFetch struct {
	topic string
	at    atomic.Pointer[time.Time]
}

func (f *firstFetch) OnFetchBatchRead(_ kgo.BrokerMetadata, topic string, _ int32, _ kgo.FetchBatchMetrics) {
	if topic == f.topic && f.at.Load() == nil {
		now := time.Now()
		f.at.CompareAndSwap(nil, &now)
	}
}

// runRestore runs the count App app, whose store must restore n records
// from changelog into the empty stateDir, until OnRestore reports Done,
// checks what was restored and closes the App.
func runRestore(e *env, app, store, changelog string, n int, stateDir string, keys [][]byte) (restoreResult, error) {
	done := make(chan stream.RestoreProgress, 1)
	ff := &firstFetch{topic: changelog}
	cfg := stream.Config{
		AppID:      app,
		Brokers:    e.addrs,
		StateDir:   stateDir,
		ClientOpts: []kgo.Opt{kgo.WithHooks(ff)},
		OnRestore: func(p stream.RestoreProgress) {
			if p.Done && p.Store == store {
				select {
				case done <- p:
				default:
				}
			}
		},
	}
	a, err := stream.New(countTopology(e.input, "restore-out"), cfg)
	if err != nil {
		return restoreResult{}, err
	}
	timeout := 30*time.Second + time.Duration(n)*10*time.Microsecond
	ctx, cancel := context.WithTimeoutCause(context.Background(), timeout, fmt.Errorf("timed out after %v", timeout))
	defer cancel()
	runc := make(chan error, 1)
	cpu0, start := cpuTime(), time.Now()
	go pprof.Do(ctx, pprof.Labels("pipeline", "brook"), func(ctx context.Context) { runc <- a.Run(ctx) })
	var res restoreResult
	var werr error
	select {
	case p := <-done:
		at := time.Now()
		res = restoreResult{fromRun: at.Sub(start), cpu: cpuTime() - cpu0}
		if f := ff.at.Load(); f != nil {
			res.fromFetch = at.Sub(*f)
		} else {
			werr = errors.New("no changelog batch was fetched")
		}
		if p.Restored != int64(n) {
			werr = fmt.Errorf("restored %d records of %q, want %d (total %d)", p.Restored, changelog, n, p.Total)
		}
	case err := <-runc:
		werr = fmt.Errorf("Run returned before the restore was done: %v", err)
		runc <- err
	case <-ctx.Done():
		werr = fmt.Errorf("restore not done: %w", context.Cause(ctx))
	}
	if werr == nil {
		werr = checkRestored(ctx, a, store, keys)
	}
	closed := make(chan struct{})
	go func() { a.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		return restoreResult{}, fmt.Errorf("Close did not return within 30s (restore: %v)", werr)
	}
	if werr != nil {
		return restoreResult{}, werr
	}
	if err := <-runc; err != nil {
		return restoreResult{}, fmt.Errorf("Run: %w", err)
	}
	return res, nil
}

// checkRestored reads a few keys back through App.Store: keys[i] holds i.
func checkRestored(ctx context.Context, a *stream.App, store string, keys [][]byte) error {
	view, err := a.Store[string, int64](store)
	if err != nil {
		return err
	}
	for _, i := range []int{0, len(keys) / 2, len(keys) - 1} {
		for {
			v, ok, err := view.Get(string(keys[i]))
			if nl := (*stream.NotLocalError)(nil); errors.As(err, &nl) {
				// The task becomes queryable just after its restore is done.
				select {
				case <-ctx.Done():
					return fmt.Errorf("store %q: key %s: %w", store, keys[i], err)
				case <-time.After(time.Millisecond):
				}
				continue
			}
			if err != nil || !ok || v != int64(i) {
				return fmt.Errorf("store %q: key %s: got %d, %v, %v; want %d", store, keys[i], v, ok, err, i)
			}
			break
		}
	}
	return nil
}

// fetchOnly reads topic's partition 0 from offset 0 to offset n with the
// client options of brook's restore client, and returns the time from the
// first batch read (as brook's restore-only time) until the last record.
func fetchOnly(addrs []string, topic string, n int) (time.Duration, error) {
	ff := &firstFetch{topic: topic}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(16<<20),
		kgo.FetchMaxPartitionBytes(4<<20),
		kgo.WithHooks(ff),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+time.Duration(n)*10*time.Microsecond)
	defer cancel()
	var next int64
	var keyBytes int
	for next < int64(n) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return 0, fmt.Errorf("read %d of %d records: %w", next, n, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) { next = r.Offset + 1; keyBytes += len(r.Key) })
	}
	end := time.Now()
	if keyBytes == 0 {
		return 0, errors.New("no record keys fetched")
	}
	return end.Sub(*ff.at.Load()), nil
}

// pebbleOnly restores the records (keys[i], ts and i as brook's
// timestamped count store holds them) into store of a fresh DB in dir,
// opened as the App opens it, with a Restorer (full: a FullRestorer), and
// returns the time of the Apply calls and Finish.
func pebbleOnly(dir, store string, keys [][]byte, ts time.Time, full bool) (time.Duration, error) {
	cache := state.NewCache(64 << 20)
	defer cache.Unref()
	db, err := state.Open(filepath.Join(dir, "db"), state.Options{Cache: cache, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	// The App's default StoreCacheBytes: the store's key filter is a
	// quarter of it, and a restore fills it.
	if _, err := db.Store(store, 4<<20); err != nil {
		return 0, err
	}
	start := time.Now()
	restorer := db.Restorer
	if full {
		restorer = db.FullRestorer
	}
	r, err := restorer(store)
	if err != nil {
		return 0, err
	}
	var v [8]byte
	var tv []byte
	for i, k := range keys {
		binary.BigEndian.PutUint64(v[:], uint64(i))
		tv = state.AppendTimestamped(tv[:0], ts.UnixMilli(), v[:])
		if err := r.Apply(k, tv, int64(i)); err != nil {
			return 0, err
		}
	}
	if err := r.Finish(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
