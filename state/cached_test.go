package state

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// flushKeys returns distinct random keys for the flush order tests:
// hand-picked ones (empty, NUL bytes, 0xff bytes), random ones of 0 to 40
// bytes over few byte values (so that many share prefixes), and keys that
// tie on their first 16 bytes, the part the flush sorts as integers.
func flushKeys(rng *rand.Rand, n int) []string {
	keys := []string{"", "a", "a\x00", "a\x00\x00", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefgg\xff",
		"\xff\xff\xff\xff\xff\xff\xff\xff\xff", "b", "abcdefghabcdefgh", "abcdefghabcdefgh\x00", "abcdefghabcdefgha",
		"abcdefghabcdefg", "abcdefghabcdefg\x00", "abcdefghabcdefg\x00\x00"}
	for len(keys) < n {
		switch rng.IntN(3) {
		case 0: // random, 0..40 bytes
			k := make([]byte, rng.IntN(41))
			for i := range k {
				k[i] = "ab\x00\xff"[rng.IntN(4)]
			}
			keys = append(keys, string(k))
		case 1: // a 16-byte tie, then a random tail
			k := []byte(fmt.Sprintf("%016d", rng.IntN(3)))
			for range rng.IntN(25) {
				k = append(k, "ab\x00\xff"[rng.IntN(4)])
			}
			keys = append(keys, string(k))
		default: // like a count's keys
			keys = append(keys, fmt.Sprintf("c%08d", rng.IntN(1_000_000)))
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	if len(keys) > n {
		keys = keys[:n]
	}
	return keys
}

// TestFlushOrderRandom: Flush emits every dirty entry once, in
// bytes.Compare order, with its last value or as a delete, whatever the
// keys (fewer than radixMin, exactly radixMin, many; shared prefixes,
// 16-byte ties, lengths 0 to 40) and however they were written (puts,
// deletes, a Get that misses then a Put, updates); the committed store
// then holds exactly the puts.
func TestFlushOrderRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 69))
	for _, n := range []int{1, 2, 13, radixMin - 1, radixMin, radixMin + 1, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			forEach(t, func(t *testing.T, db TaskDB) {
				s, err := db.Store("s", 64<<20)
				require.NoError(t, err)
				committed := map[string]string{}
				for round := range 3 {
					keys := flushKeys(rng, n)
					want := map[string]rec{}
					for _, k := range keys {
						v := fmt.Sprintf("%s/%d", k, round)
						switch rng.IntN(5) {
						case 0:
							del(t, s, k)
							want[k] = rec{k: k, del: true}
						case 1: // how an aggregation meets a key
							_, _, err := s.Get([]byte(k))
							require.NoError(t, err)
							put(t, s, k, v)
							want[k] = rec{k: k, v: []byte(v)}
						case 2: // updated twice, the second time after a Get
							put(t, s, k, "first")
							got, ok, err := s.Get([]byte(k))
							require.NoError(t, err)
							require.True(t, ok)
							require.Equal(t, "first", string(got))
							put(t, s, k, v)
							want[k] = rec{k: k, v: []byte(v)}
						default:
							put(t, s, k, v)
							want[k] = rec{k: k, v: []byte(v)}
						}
					}
					sorted := slices.Clone(keys)
					slices.SortFunc(sorted, func(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) })
					exp := make([]rec, len(sorted))
					for i, k := range sorted {
						exp[i] = want[k]
						if want[k].del {
							delete(committed, k)
						} else {
							committed[k] = string(want[k].v)
						}
					}
					require.Equal(t, exp, flush(t, s))
					require.Zero(t, s.DirtyBytes())
					require.Empty(t, flush(t, s), "a second flush has nothing dirty")
					require.NoError(t, db.Commit(nil))
					var all []kv
					for k, v := range committed {
						all = append(all, kv{k, v})
					}
					slices.SortFunc(all, func(a, b kv) int { return bytes.Compare([]byte(a.k), []byte(b.k)) })
					require.Equal(t, all, collectAll(t, s))
				}
			})
		})
	}
}

// TestGetMissThenSet: a Put or Delete right after a Get that missed skips
// the cache's map lookup only for the same key, and only until the next
// write; whatever comes between, the store holds what was written.
func TestGetMissThenSet(t *testing.T) {
	type step struct {
		op, k, v string // op: get, put, del, range (k..v)
	}
	cases := []struct {
		name  string
		steps []step
		want  []kv
	}{
		{"same key", []step{{"get", "a", ""}, {"put", "a", "1"}}, []kv{{"a", "1"}}},
		{"other key", []step{{"get", "a", ""}, {"put", "b", "1"}, {"put", "a", "2"}}, []kv{{"a", "2"}, {"b", "1"}}},
		{"put twice", []step{{"get", "a", ""}, {"put", "a", "1"}, {"put", "a", "2"}}, []kv{{"a", "2"}}},
		{"then delete", []step{{"get", "a", ""}, {"put", "a", "1"}, {"del", "a", ""}}, nil},
		{"delete first", []step{{"get", "a", ""}, {"del", "a", ""}, {"put", "a", "3"}}, []kv{{"a", "3"}}},
		{"put of another key between", []step{{"get", "a", ""}, {"put", "a", "1"}, {"put", "b", "1"}, {"put", "a", "4"}}, []kv{{"a", "4"}, {"b", "1"}}},
		{"range delete between", []step{{"get", "a", ""}, {"range", "a", "b"}, {"put", "a", "5"}}, []kv{{"a", "5"}}},
		{"hit after miss", []step{{"get", "a", ""}, {"put", "a", "1"}, {"get", "a", "1"}, {"put", "a", "6"}}, []kv{{"a", "6"}}},
		{"prefix key", []step{{"get", "ab", ""}, {"put", "a", "1"}, {"put", "ab", "7"}}, []kv{{"a", "1"}, {"ab", "7"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEach(t, func(t *testing.T, db TaskDB) {
				s, err := db.Store("s", 0)
				require.NoError(t, err)
				for _, st := range c.steps {
					switch st.op {
					case "get":
						v, ok := get(t, s, st.k)
						require.Equal(t, st.v != "", ok)
						require.Equal(t, st.v, v)
					case "put":
						put(t, s, st.k, st.v)
					case "del":
						del(t, s, st.k)
					case "range":
						require.NoError(t, s.DeleteRange([]byte(st.k), []byte(st.v)))
					}
				}
				require.Equal(t, c.want, collectAll(t, s))
				flush(t, s)
				require.NoError(t, db.Commit(nil))
				require.Equal(t, c.want, collectAll(t, s))
				require.Equal(t, int64(len(c.want)), s.ApproximateCount())
			})
		})
	}
}

// TestDeleteRangeHeapBounded: a store used like a window store (each
// segment's keys put, committed, and the segment two before dropped by a
// DeleteRange) over 200 segments, with a cache budget it never reaches,
// so that only DeleteRange removes cache entries: the Go heap after a GC
// stays near what it was after the first segments. Nodes that DeleteRange
// removed must not stay reachable from live ones (decision 66 grew such
// a store from 7 to 115 MB).
//
// A MemDB: its committed data is in the Go heap too, and the cache is the
// same for both backends. With Pebble the heap also holds what Pebble
// allocates as it flushes and compacts, which moved by 17 MB between two
// runs of this test with -race, whatever the cache did.
func TestDeleteRangeHeapBounded(t *testing.T) {
	const segments, perSegment = 200, 2000
	func(db *MemDB) {
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		s, err := db.Store("w", 256<<20)
		require.NoError(t, err)
		seg := func(i int) []byte { return fmt.Appendf(nil, "seg%06d/", i) }
		var base uint64
		for i := range segments {
			// A key outside the segments, put once and updated since: with
			// nodes allocated in slabs (decision 66) its node kept its slab
			// alive, whose dropped nodes led, node by node through their
			// next pointers, to every segment dropped since.
			put(t, s, "meta", fmt.Sprint(i))
			for j := range perSegment {
				k := fmt.Appendf(seg(i), "%08d", j)
				_, _, err := s.Get(k)
				require.NoError(t, err)
				require.NoError(t, s.Put(k, fmt.Appendf(nil, "value-%d-%d", i, j)))
			}
			if i >= 2 {
				require.NoError(t, s.DeleteRange(seg(i-2), seg(i-1)))
			}
			flush(t, s)
			require.NoError(t, db.Commit(nil))
			if i == 19 {
				base = heapAlloc()
			}
		}
		end := heapAlloc()
		t.Logf("heap after 20 segments %.1f MB, after %d %.1f MB", float64(base)/1e6, segments, float64(end)/1e6)
		// Two segments live in the cache and the store: a few MB whatever
		// the number of segments dropped.
		require.Less(t, end, base+8<<20, "heap grew from %d to %d bytes", base, end)
		require.Equal(t, int64(2*perSegment+1), s.ApproximateCount())
		require.Less(t, s.CacheBytes(), 3*perSegment*(cacheEntryOverhead+40))
	}(NewMemDB())
}

// TestReplacedValuesFreed puts 2,000 keys with values of 10 KB, commits,
// then replaces every value by one byte and commits again: the heap after
// a GC holds the small values only, in the cache and in committed data.
// Nothing may keep a key's first value alive once it is replaced (a
// first value sharing its allocation with the key did, 21 MB here, while
// the cache's budget counted 0.2 MB). A MemDB, whose committed data is in
// the Go heap too; Pebble's memtables hold the replaced values until
// they are flushed.
func TestReplacedValuesFreed(t *testing.T) {
	const keys, big = 2000, 10_000
	func(db *MemDB) {
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		s, err := db.Store("s", 64<<20)
		require.NoError(t, err)
		base := heapAlloc()
		v := make([]byte, big)
		for i := range keys {
			k := fmt.Appendf(nil, "k%05d", i)
			_, _, err := s.Get(k)
			require.NoError(t, err)
			require.NoError(t, s.Put(k, v))
		}
		flush(t, s)
		require.NoError(t, db.Commit(nil))
		for i := range keys {
			require.NoError(t, s.Put(fmt.Appendf(nil, "k%05d", i), []byte{1}))
		}
		flush(t, s)
		require.NoError(t, db.Commit(nil))
		end := heapAlloc()
		t.Logf("heap before %.1f MB, after %.1f MB", float64(base)/1e6, float64(end)/1e6)
		require.Less(t, end, base+keys*big/4, "the replaced values are still in the heap")
	}(NewMemDB())
}

// heapAlloc returns the Go heap's allocated bytes after two collections.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
