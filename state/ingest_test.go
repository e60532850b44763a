package state

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// changelogRec is a changelog record for the restore tests; del marks a
// tombstone.
type changelogRec struct {
	k, v string
	del  bool
}

// randomChangelog returns n records over keys distinct keys (of lengths
// 1 to 24, so that some keys share their first 16 bytes and some are
// prefixes of others), a tenth of them tombstones and some empty values,
// and the contents of the store after applying them all in order.
func randomChangelog(seed uint64, n, keys int) ([]changelogRec, map[string]string) {
	rng := rand.New(rand.NewPCG(seed, seed))
	names := make([]string, keys)
	for i := range names {
		switch i % 4 {
		case 0:
			names[i] = fmt.Sprintf("k%d", i)
		case 1:
			names[i] = fmt.Sprintf("a-long-shared-prefix-%03d", i%1000) // 24 bytes
		case 2:
			names[i] = fmt.Sprintf("a-long-shared-prefix-%03d\x00", i%1000)
		default:
			names[i] = string([]byte{byte(i), byte(i >> 8)})
		}
	}
	want := map[string]string{}
	recs := make([]changelogRec, n)
	for i := range recs {
		k := names[rng.IntN(keys)]
		switch r := rng.IntN(10); {
		case r == 0:
			recs[i] = changelogRec{k: k, del: true}
			delete(want, k)
		case r == 1:
			recs[i] = changelogRec{k: k, v: ""}
			want[k] = ""
		default:
			v := fmt.Sprintf("v%d", i)
			recs[i] = changelogRec{k: k, v: v}
			want[k] = v
		}
	}
	return recs, want
}

func applyAll(t testing.TB, r Restorer, recs []changelogRec, from int) {
	t.Helper()
	for i := from; i < len(recs); i++ {
		var v []byte
		if !recs[i].del {
			v = []byte(recs[i].v) // not nil, also when empty
		}
		require.NoError(t, r.Apply([]byte(recs[i].k), v, int64(i)))
	}
}

func storeContents(t testing.TB, db *DB, name string) map[string]string {
	t.Helper()
	ro, err := db.ReadOnly(name)
	require.NoError(t, err)
	got := map[string]string{}
	for k, v := range ro.All() {
		got[string(k)] = string(v)
	}
	require.NoError(t, ro.Err())
	return got
}

// TestFullRestore restores changelogs into an empty store with each
// strategy of the ingesting restorer and sort buffers that hold all the
// records or a small part of them (many sorted runs or ingested chunks),
// and checks the store's exact contents, its checkpoint, a checkpoint of
// WithCheckpoint, that the store's key filter learned every key, and that
// nothing is left in the restore's directory.
func TestFullRestore(t *testing.T) {
	defer func(s ingestStrategy) { restoreIngestStrategy = s }(restoreIngestStrategy)
	for _, tc := range []struct {
		name     string
		strategy ingestStrategy
		budget   int
		n, keys  int
	}{
		{"merge-one-buffer", ingestMerge, 64 << 20, 20_000, 3_000},
		{"merge-many-runs", ingestMerge, 16 << 10, 20_000, 3_000},
		{"merge-runs-all-keys-new", ingestMerge, 16 << 10, 5_000, 100_000},
		{"merge-split-in-two", ingestMerge, 1 << 20, 40_000, 100_000},
		{"chunks-one-buffer", ingestChunks, 64 << 20, 20_000, 3_000},
		{"chunks-many", ingestChunks, 16 << 10, 20_000, 3_000},
		{"only-tombstones", ingestMerge, 16 << 10, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restoreIngestStrategy = tc.strategy
			recs, want := randomChangelog(uint64(tc.n), tc.n, tc.keys)
			if tc.n == 0 {
				recs = []changelogRec{{k: "a", del: true}, {k: "b", del: true}}
			}
			dir := filepath.Join(t.TempDir(), "task")
			db, err := Open(dir, Options{Logger: quietLogger(), RestoreIngestBytes: tc.budget})
			require.NoError(t, err)
			s, err := db.Store("s", 0)
			require.NoError(t, err)
			require.NotNil(t, s.filter)
			r, err := db.FullRestorer("s")
			require.NoError(t, err)
			require.IsType(t, &ingestRestorer{}, r)
			applyAll(t, r, recs, 0)
			r.Advance(int64(len(recs) + 1)) // a transaction marker
			r.(CheckpointWriter).WithCheckpoint("\x00stream-time", 42)
			require.NoError(t, r.Finish())
			ir := r.(*ingestRestorer)
			if tc.budget < 1<<20 && tc.n > 0 {
				require.Greater(t, ir.files.Load(), int64(10)) // the small buffers filled up
			}
			require.Equal(t, tc.name == "merge-split-in-two", ir.split, "the final merge in two key ranges")
			if tc.name == "merge-many-runs" {
				require.Equal(t, 1, ir.chunks, "an ingest at maxIngestRuns runs") // 20,000 records, ~200 a run
			}

			require.Equal(t, want, storeContents(t, db, "s"))
			off, ok, err := db.Checkpoint("s")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, int64(len(recs)+1), off)
			st, ok, err := db.Checkpoint("\x00stream-time")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, int64(42), st)
			for k := range want {
				require.True(t, s.filter.mayContain([]byte(k)), k)
				v, ok, err := s.Get([]byte(k))
				require.NoError(t, err)
				require.True(t, ok)
				require.Equal(t, want[k], string(v))
			}
			entries, err := os.ReadDir(filepath.Join(dir, restoreTmpDir))
			require.NoError(t, err)
			require.Empty(t, entries)

			// The data survives a reopen.
			require.NoError(t, db.Close())
			db, err = Open(dir, Options{Logger: quietLogger()})
			require.NoError(t, err)
			defer db.Close()
			require.Equal(t, want, storeContents(t, db, "s"))
		})
	}
}

// TestFullRestoreNotEmpty: a store with a checkpoint or with entries is
// restored with batches, on top of what it holds.
func TestFullRestoreNotEmpty(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "task"), Options{Logger: quietLogger()})
	require.NoError(t, err)
	defer db.Close()
	s, err := db.Store("s", 0)
	require.NoError(t, err)
	put(t, s, "a", "1")
	require.NoError(t, s.Flush(nil))
	require.NoError(t, db.Commit(map[string]int64{"s": 1}))
	r, err := db.FullRestorer("s")
	require.NoError(t, err)
	require.IsType(t, &pebbleRestorer{}, r)
	require.NoError(t, r.Apply([]byte("b"), []byte("2"), 1))
	require.NoError(t, r.Finish())
	require.Equal(t, map[string]string{"a": "1", "b": "2"}, storeContents(t, db, "s"))
}

// TestFullRestoreCutShort stops ingesting restores midway (no Finish, the
// DB closed, as a revoke or a crash leaves it) and restores again from the
// checkpoint found, as the runtime does: the result is exact. With sorted
// runs nothing was ingested before maxIngestRuns runs, so the store is
// still empty and starts over; once something was ingested (chunks, or
// runs merged at maxIngestRuns) the checkpoint is that of the last ingest,
// the data matches it, and the restore goes on with batches. Then the whole changelog is applied again from offset
// 0 over the restored store, as after a checkpoint lost behind its data:
// the contents do not change.
func TestFullRestoreCutShort(t *testing.T) {
	defer func(s ingestStrategy) { restoreIngestStrategy = s }(restoreIngestStrategy)
	recs, want := randomChangelog(7, 20_000, 3_000)
	for _, tc := range []struct {
		name     string
		strategy ingestStrategy
		budget   int
		ingested bool // an ingest happened before the cut
	}{
		{"merge", ingestMerge, 32 << 10, false},
		{"merge-after-an-ingest", ingestMerge, 8 << 10, true}, // 64 runs of ~100 records
		{"chunks", ingestChunks, 32 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restoreIngestStrategy = tc.strategy
			dir := filepath.Join(t.TempDir(), "task")
			opts := Options{Logger: quietLogger(), RestoreIngestBytes: tc.budget}
			db, err := Open(dir, opts)
			require.NoError(t, err)
			r, err := db.FullRestorer("s")
			require.NoError(t, err)
			applyAll(t, r, recs[:12_345], 0)
			require.NoError(t, db.Close())

			db, err = Open(dir, opts)
			require.NoError(t, err)
			defer db.Close()
			off, ok, err := db.Checkpoint("s")
			require.NoError(t, err)
			if !tc.ingested {
				require.False(t, ok)
				require.Empty(t, storeContents(t, db, "s"))
			} else {
				require.True(t, ok)
				require.Greater(t, off, int64(0))
				require.Less(t, off, int64(12_345))
				_, prefix := randomChangelogPrefix(recs, int(off))
				require.Equal(t, prefix, storeContents(t, db, "s"))
			}
			if !ok {
				off = 0
			}
			r, err = db.FullRestorer("s")
			require.NoError(t, err)
			applyAll(t, r, recs, int(off))
			require.NoError(t, r.Finish())
			require.Equal(t, want, storeContents(t, db, "s"))

			r, err = db.Restorer("s")
			require.NoError(t, err)
			applyAll(t, r, recs, 0)
			require.NoError(t, r.Finish())
			require.Equal(t, want, storeContents(t, db, "s"))
			off, _, err = db.Checkpoint("s")
			require.NoError(t, err)
			require.Equal(t, int64(len(recs)), off)
		})
	}
}

// randomChangelogPrefix returns the store after the first n records.
func randomChangelogPrefix(recs []changelogRec, n int) ([]changelogRec, map[string]string) {
	m := map[string]string{}
	for _, r := range recs[:n] {
		if r.del {
			delete(m, r.k)
		} else {
			m[r.k] = r.v
		}
	}
	return slices.Clone(recs[:n]), m
}

// TestSortEnts checks the restore's sort of buffered records against a
// reference order (key bytes, then the order buffered) on random keys
// (short, long, sharing 16-byte prefixes, duplicated), on sorted and
// reversed input, and through the heapsort fallback (depth 0).
func TestSortEnts(t *testing.T) {
	keyset := func(rng *rand.Rand, n int) [][]byte {
		keys := make([][]byte, n)
		for i := range keys {
			switch rng.IntN(4) {
			case 0:
				keys[i] = fmt.Appendf(nil, "k%09d", rng.IntN(n))
			case 1:
				keys[i] = fmt.Appendf(nil, "a-long-shared-prefix-%d", rng.IntN(50))
			case 2:
				keys[i] = []byte{byte(rng.IntN(3))}
			default:
				keys[i] = fmt.Appendf(nil, "a-long-shared-pr\x00%d", rng.IntN(5))
			}
		}
		return keys
	}
	rng := rand.New(rand.NewPCG(7, 7))
	random := keyset(rng, 5000)
	sorted := slices.Clone(random)
	slices.SortFunc(sorted, bytes.Compare)
	reversed := slices.Clone(sorted)
	slices.Reverse(reversed)
	for _, tc := range []struct {
		name  string
		keys  [][]byte
		depth int
	}{
		{"random", random, 64},
		{"sorted", sorted, 64},
		{"reversed", reversed, 64},
		{"heapsort", random, 0},
		{"short", random[:9], 64},
		{"empty", nil, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &ingestChunk{}
			for i, k := range tc.keys {
				k0, k1 := prefix16(k)
				c.ents = append(c.ents, ingestEnt{k0: k0, k1: k1, off: uint32(len(c.buf)), klen: uint32(len(k)), seq: uint32(i)})
				c.buf = append(c.buf, k...)
			}
			want := slices.Clone(c.ents)
			slices.SortStableFunc(want, func(a, b ingestEnt) int { return bytes.Compare(c.key(&a), c.key(&b)) })
			sortEnts(c.buf, c.ents, tc.depth)
			require.Equal(t, want, c.ents)
		})
	}
}

// TestFullRestoreLargeValues restores values larger than the merge's read
// buffer of a sorted run (runReadBytes), spilled in several runs.
func TestFullRestoreLargeValues(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "task"), Options{Logger: quietLogger(), RestoreIngestBytes: 1 << 20})
	require.NoError(t, err)
	defer db.Close()
	r, err := db.FullRestorer("s")
	require.NoError(t, err)
	want := map[string]string{}
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range 60 {
		k := fmt.Sprintf("key-%02d", rng.IntN(40))
		v := bytes.Repeat([]byte{byte('a' + i%26)}, runReadBytes+rng.IntN(3*runReadBytes))
		require.NoError(t, r.Apply([]byte(k), v, int64(i)))
		want[k] = string(v)
	}
	require.NoError(t, r.Finish())
	require.Greater(t, r.(*ingestRestorer).files.Load(), int64(5), "sorted runs spilled")
	require.Equal(t, want, storeContents(t, db, "s"))
}
