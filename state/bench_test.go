package state

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkRestore restores 1M small changelog records (10-byte keys in
// random order, 8-byte values) into a fresh Pebble DB and reports records/s
// and the CPU per record, until the DB is closed (its flushes and
// compactions done). Sub-benchmarks: "batch" is Restorer (Pebble batches
// of 100,000 records); "ingest-merge" and "ingest-chunks" are FullRestorer
// with each strategy of ingestRestorer and sort buffers of the given size
// in all (16 MiB, the default: two buffers of 8 MiB, about six of them for
// 1M records; 64 MiB: two).
// -restore-records changes the number of records.
func BenchmarkRestore(b *testing.B) {
	n := *flagBenchRestoreRecords
	keys := make([][]byte, n)
	for i, p := range rand.New(rand.NewPCG(1, 1)).Perm(n) {
		keys[i] = fmt.Appendf(nil, "k%09d", p)
	}
	cases := []struct {
		name     string
		full     bool
		strategy ingestStrategy
		budget   int
	}{
		{"batch", false, 0, 0},
		{"ingest-merge-16MiB", true, ingestMerge, 16 << 20},
		{"ingest-merge-64MiB", true, ingestMerge, 64 << 20},
		{"ingest-chunks-16MiB", true, ingestChunks, 16 << 20},
		{"ingest-chunks-64MiB", true, ingestChunks, 64 << 20},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			defer func(s ingestStrategy) { restoreIngestStrategy = s }(restoreIngestStrategy)
			restoreIngestStrategy = c.strategy
			value := make([]byte, 8)
			cache := NewCache(64 << 20)
			defer cache.Close()
			var elapsed, cpu time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
				db, err := Open(dir, Options{Cache: cache, Logger: quietLogger(), RestoreIngestBytes: c.budget})
				require.NoError(b, err)
				restore := db.Restorer
				if c.full {
					restore = db.FullRestorer
				}
				start, cpu0 := time.Now(), cpuNow()
				b.StartTimer()
				r, err := restore("store")
				require.NoError(b, err)
				for j, k := range keys {
					binary.BigEndian.PutUint64(value, uint64(j))
					if err := r.Apply(k, value, int64(j)); err != nil {
						b.Fatal(err)
					}
				}
				if err := r.Finish(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				elapsed += time.Since(start)
				require.NoError(b, db.Close()) // waits for the flushes and compactions
				cpu += cpuNow() - cpu0
				// The store holds every record.
				db, err = Open(dir, Options{Cache: cache, Logger: quietLogger()})
				require.NoError(b, err)
				s, err := db.Store("store", 0)
				require.NoError(b, err)
				for _, j := range []int{0, n / 2, n - 1} {
					v, ok, err := s.Get(keys[j])
					require.NoError(b, err)
					require.True(b, ok)
					require.Equal(b, uint64(j), binary.BigEndian.Uint64(v))
				}
				off, ok, err := db.Checkpoint("store")
				require.NoError(b, err)
				require.True(b, ok)
				require.Equal(b, int64(n), off)
				require.NoError(b, db.Close())
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(n)/float64(b.N), "cpu-ns/rec")
			b.ReportMetric(0, "ns/op")
		})
	}
}

var flagBenchRestoreRecords = flag.Int("restore-records", 1_000_000, "changelog records BenchmarkRestore restores")

// BenchmarkCountStore does what a count by key does to the store of one
// task: for each record, Get the key's count (the write-back cache, then
// Pebble), Put the count plus one; every 10,000 records (about a commit
// interval of work) Flush and Commit. Keys are drawn from 250k distinct
// keys (a quarter of 1M keys: one task of four) or 2,500 (10k keys), in
// random order. It reports records/s.
func BenchmarkCountStore(b *testing.B) {
	for _, keys := range []int{2_500, 250_000} {
		b.Run(fmt.Sprint(keys), func(b *testing.B) {
			const n = 500_000
			rng := rand.New(rand.NewPCG(5, uint64(keys)))
			input := make([][]byte, n)
			for i := range input {
				input[i] = fmt.Appendf(nil, "c%08d", rng.IntN(keys))
			}
			cache := NewCache(64 << 20)
			defer cache.Close()
			var elapsed, cpu time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				db, err := Open(filepath.Join(b.TempDir(), fmt.Sprint(i)), Options{Cache: cache, Logger: quietLogger()})
				require.NoError(b, err)
				s, err := db.Store("counts", 4<<20)
				require.NoError(b, err)
				start, cpu0 := time.Now(), cpuNow()
				b.StartTimer()
				var buf [16]byte
				for j, k := range input {
					v, ok, err := s.Get(k)
					if err != nil {
						b.Fatal(err)
					}
					var c uint64
					if ok {
						c = binary.BigEndian.Uint64(v[8:])
					}
					binary.BigEndian.PutUint64(buf[:8], uint64(j))
					binary.BigEndian.PutUint64(buf[8:], c+1)
					if err := s.Put(k, buf[:]); err != nil {
						b.Fatal(err)
					}
					if j%10_000 == 9_999 || j == n-1 {
						if err := s.Flush(nil); err != nil {
							b.Fatal(err)
						}
						if err := db.Commit(map[string]int64{"counts": int64(j)}); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StopTimer()
				elapsed += time.Since(start)
				cpu += cpuNow() - cpu0
				require.NoError(b, db.Close())
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(n)/float64(b.N), "cpu-ns/rec")
		})
	}
}

// cpuNow returns the user+system CPU time of this process so far.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
