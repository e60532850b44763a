package state

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkRestore restores 1M small changelog records (10-byte keys in
// random order, 8-byte values) into a fresh Pebble DB and reports records/s.
func BenchmarkRestore(b *testing.B) {
	const n = 1_000_000
	keys := make([][]byte, n)
	for i, p := range rand.New(rand.NewPCG(1, 1)).Perm(n) {
		keys[i] = fmt.Appendf(nil, "k%09d", p)
	}
	value := make([]byte, 8)
	cache := NewCache(64 << 20)
	defer cache.Close()
	var elapsed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db, err := Open(filepath.Join(b.TempDir(), fmt.Sprint(i)), Options{Cache: cache, Logger: quietLogger()})
		require.NoError(b, err)
		r, err := db.Restorer("store")
		require.NoError(b, err)
		start := time.Now()
		b.StartTimer()
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
		require.NoError(b, db.Close())
	}
	b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}
