package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// impl is one TaskDB implementation under test.
type impl struct {
	name string
	open func(t testing.TB) TaskDB
}

func impls() []impl {
	return []impl{
		{"pebble", func(t testing.TB) TaskDB {
			db, err := Open(filepath.Join(t.TempDir(), "task"), Options{Logger: quietLogger()})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, db.Close()) })
			return db
		}},
		{"memory", func(t testing.TB) TaskDB {
			db := NewMemDB()
			t.Cleanup(func() { require.NoError(t, db.Close()) })
			return db
		}},
	}
}

func forEach(t *testing.T, f func(t *testing.T, db TaskDB)) {
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) { f(t, im.open(t)) })
	}
}

type kv struct{ k, v string }

func collect(t testing.TB, s ReadOnlyStore, from, to []byte) []kv {
	t.Helper()
	var out []kv
	for k, v := range s.Range(from, to) {
		out = append(out, kv{string(k), string(v)})
	}
	require.NoError(t, s.Err())
	return out
}

func collectAll(t testing.TB, s ReadOnlyStore) []kv {
	t.Helper()
	var out []kv
	for k, v := range s.All() {
		out = append(out, kv{string(k), string(v)})
	}
	require.NoError(t, s.Err())
	return out
}

func get(t testing.TB, s ReadOnlyStore, k string) (string, bool) {
	t.Helper()
	v, ok, err := s.Get([]byte(k))
	require.NoError(t, err)
	return string(v), ok
}

func put(t testing.TB, s Store, k, v string) {
	t.Helper()
	require.NoError(t, s.Put([]byte(k), []byte(v)))
}

func del(t testing.TB, s Store, k string) {
	t.Helper()
	require.NoError(t, s.Delete([]byte(k)))
}

type rec struct {
	k   string
	v   []byte
	del bool
}

func flush(t testing.TB, s *CachedStore) []rec {
	t.Helper()
	var out []rec
	require.NoError(t, s.Flush(func(k, v []byte) {
		out = append(out, rec{string(k), v, v == nil})
	}))
	return out
}

func TestPutGetDeleteRangeAll(t *testing.T) {
	forEach(t, func(t *testing.T, db TaskDB) {
		s, err := db.Store("s", 0)
		require.NoError(t, err)

		_, ok := get(t, s, "a")
		require.False(t, ok)
		put(t, s, "b", "2")
		put(t, s, "a", "1")
		put(t, s, "c", "3")
		put(t, s, "e", "")
		v, ok := get(t, s, "a")
		require.True(t, ok)
		require.Equal(t, "1", v)
		v, ok = get(t, s, "e")
		require.True(t, ok)
		require.Equal(t, "", v)
		del(t, s, "c")
		_, ok = get(t, s, "c")
		require.False(t, ok)
		want := []kv{{"a", "1"}, {"b", "2"}, {"e", ""}}
		require.Equal(t, want, collectAll(t, s))

		// Commit, then overlay the committed data with cached writes.
		flush(t, s)
		require.NoError(t, db.Commit(map[string]int64{"s": 4}))
		require.Equal(t, want, collectAll(t, s))
		put(t, s, "a", "10") // update committed
		del(t, s, "b")       // delete committed
		put(t, s, "d", "4")  // new key between committed keys
		put(t, s, "0", "0")  // new key before all
		put(t, s, "z", "26") // new key after all
		del(t, s, "y")       // delete absent key
		want = []kv{{"0", "0"}, {"a", "10"}, {"d", "4"}, {"e", ""}, {"z", "26"}}
		require.Equal(t, want, collectAll(t, s))
		v, _ = get(t, s, "a")
		require.Equal(t, "10", v)
		_, ok = get(t, s, "b")
		require.False(t, ok)
		require.EqualValues(t, 5, s.ApproximateCount())

		flush(t, s)
		require.NoError(t, db.Commit(map[string]int64{"s": 10}))
		require.Equal(t, want, collectAll(t, s))
		ro, err := db.ReadOnly("s")
		require.NoError(t, err)
		require.Equal(t, want, collectAll(t, ro))
		require.EqualValues(t, 5, ro.ApproximateCount())
		off, ok, err := db.Checkpoint("s")
		require.NoError(t, err)
		require.True(t, ok)
		require.EqualValues(t, 10, off)

		// Modifying arguments after Put must not affect the store.
		k, val := []byte("m"), []byte("mm")
		require.NoError(t, s.Put(k, val))
		k[0], val[0] = 'x', 'x'
		v, ok = get(t, s, "m")
		require.True(t, ok)
		require.Equal(t, "mm", v)
	})
}

func TestFlushOncePerKey(t *testing.T) {
	forEach(t, func(t *testing.T, db TaskDB) {
		s, err := db.Store("s", 0)
		require.NoError(t, err)
		for i := range 5 {
			put(t, s, "k1", fmt.Sprint(i))
		}
		del(t, s, "k2") // delete of an absent key still emits a tombstone
		put(t, s, "k3", "x")
		del(t, s, "k3")
		put(t, s, "k0", "") // empty value is a put, not a tombstone
		require.Equal(t, []rec{
			{"k0", []byte{}, false},
			{"k1", []byte("4"), false},
			{"k2", nil, true},
			{"k3", nil, true},
		}, flush(t, s))
		require.Empty(t, flush(t, s), "second flush emits nothing")

		// Reads between Flush and Commit still see the flushed writes.
		v, ok := get(t, s, "k1")
		require.True(t, ok)
		require.Equal(t, "4", v)
		require.NoError(t, db.Commit(nil))

		put(t, s, "k1", "a")
		put(t, s, "k1", "b")
		require.Equal(t, []rec{{"k1", []byte("b"), false}}, flush(t, s))
		require.NoError(t, db.Commit(nil))
		require.Equal(t, []kv{{"k0", ""}, {"k1", "b"}}, collectAll(t, s))
	})
}

func TestAbort(t *testing.T) {
	forEach(t, func(t *testing.T, db TaskDB) {
		s, err := db.Store("s", 0)
		require.NoError(t, err)
		put(t, s, "a", "1")
		put(t, s, "b", "2")
		flush(t, s)
		require.NoError(t, db.Commit(map[string]int64{"s": 2}))

		// Uncommitted writes, some flushed (staged), some only cached.
		put(t, s, "a", "100")
		del(t, s, "b")
		put(t, s, "c", "3")
		flush(t, s)
		put(t, s, "d", "4")
		db.Abort()

		committed := []kv{{"a", "1"}, {"b", "2"}}
		require.Equal(t, committed, collectAll(t, s))
		v, _ := get(t, s, "a")
		require.Equal(t, "1", v)
		_, ok := get(t, s, "c")
		require.False(t, ok)
		require.Empty(t, flush(t, s))
		require.False(t, s.NeedsCommit())

		// A later commit must not apply the discarded staged batch.
		require.NoError(t, db.Commit(map[string]int64{"s": 3}))
		require.Equal(t, committed, collectAll(t, s))
		off, _, err := db.Checkpoint("s")
		require.NoError(t, err)
		require.EqualValues(t, 3, off)
	})
}

func TestRangeBounds(t *testing.T) {
	forEach(t, func(t *testing.T, db TaskDB) {
		s, err := db.Store("s", 0)
		require.NoError(t, err)
		// Half committed, half cached, to exercise the merge.
		for i, k := range []string{"a", "b", "c", "d", "e", "f"} {
			put(t, s, k, k+k)
			if i == 2 {
				flush(t, s)
				require.NoError(t, db.Commit(nil))
			}
		}
		put(t, s, "b\x00", "b0")
		put(t, s, "\xff", "ff")
		keys := func(kvs []kv) []string {
			var out []string
			for _, e := range kvs {
				out = append(out, e.k)
			}
			return out
		}
		b := func(s string) []byte { return []byte(s) }
		for _, ro := range []ReadOnlyStore{s} {
			require.Equal(t, []string{"b", "b\x00", "c"}, keys(collect(t, ro, b("b"), b("d"))))
			require.Equal(t, []string{"b\x00", "c", "d"}, keys(collect(t, ro, b("b\x00"), b("d\x00"))))
			require.Equal(t, []string{"a", "b", "b\x00"}, keys(collect(t, ro, nil, b("c"))))
			require.Equal(t, []string{"e", "f", "\xff"}, keys(collect(t, ro, b("e"), nil)))
			require.Equal(t, []string{"a", "b", "b\x00", "c", "d", "e", "f", "\xff"}, keys(collect(t, ro, nil, nil)))
			require.Empty(t, collect(t, ro, b("d"), b("b")))
			require.Empty(t, collect(t, ro, b("c"), b("c")))
			require.Empty(t, collect(t, ro, nil, []byte{}))
			require.Equal(t, []string{"c", "d"}, keys(collect(t, ro, b("bb"), b("da"))))
			require.Empty(t, collect(t, ro, b("g"), b("z")))
		}
		// The sequence can be ranged over more than once, and sees the current state.
		seq := s.Range([]byte("a"), []byte("c"))
		n := 0
		for range seq {
			n++
		}
		require.Equal(t, 3, n)
		del(t, s, "a")
		n = 0
		for range seq {
			n++
		}
		require.Equal(t, 2, n)
	})
}

func TestStoresAreIsolated(t *testing.T) {
	forEach(t, func(t *testing.T, db TaskDB) {
		a, err := db.Store("a", 0)
		require.NoError(t, err)
		ab, err := db.Store("ab", 0)
		require.NoError(t, err)
		_, err = db.Store("a", 0)
		require.ErrorIs(t, err, ErrStoreOpen)
		put(t, a, "bx", "from a")
		put(t, ab, "x", "from ab")
		flush(t, a)
		flush(t, ab)
		require.NoError(t, db.Commit(map[string]int64{"a": 1, "ab": 7}))
		require.Equal(t, []kv{{"bx", "from a"}}, collectAll(t, a))
		require.Equal(t, []kv{{"x", "from ab"}}, collectAll(t, ab))
		_, ok := get(t, a, "x")
		require.False(t, ok)
		off, ok, err := db.Checkpoint("ab")
		require.NoError(t, err)
		require.True(t, ok)
		require.EqualValues(t, 7, off)
		_, ok, err = db.Checkpoint("nope")
		require.NoError(t, err)
		require.False(t, ok)
	})
}

func TestNeedsCommit(t *testing.T) {
	forEach(t, func(t *testing.T, db TaskDB) {
		s, err := db.Store("s", 4096)
		require.NoError(t, err)
		n := 0
		for !s.NeedsCommit() {
			put(t, s, fmt.Sprintf("key-%04d", n), "0123456789012345678901234567890123456789")
			n++
			require.Less(t, n, 1000)
		}
		require.Greater(t, n, 10)
		require.True(t, db.NeedsCommit())
		// Nothing is written to committed state before the commit.
		ro, err := db.ReadOnly("s")
		require.NoError(t, err)
		require.Empty(t, collectAll(t, ro))

		// Flushing alone does not make the data durable, but clears the dirty state.
		require.Len(t, flush(t, s), n)
		require.False(t, s.NeedsCommit())
		require.NoError(t, db.Commit(map[string]int64{"s": int64(n)}))
		require.False(t, db.NeedsCommit())
		require.Len(t, collectAll(t, ro), n)
		// Over budget after commit: clean entries were dropped from the cache.
		require.Zero(t, s.CacheBytes())
		require.Len(t, collectAll(t, s), n)

		// Repeated updates of one key do not grow the dirty set.
		for i := range 1000 {
			put(t, s, "hot", fmt.Sprint(i))
		}
		require.False(t, s.NeedsCommit())
	})
}

func TestCacheKeepsCleanEntriesWithinBudget(t *testing.T) {
	forEach(t, func(t *testing.T, db TaskDB) {
		s, err := db.Store("s", 1<<20)
		require.NoError(t, err)
		put(t, s, "a", "1")
		flush(t, s)
		require.NoError(t, db.Commit(nil))
		require.NotZero(t, s.CacheBytes())
		require.Zero(t, s.DirtyBytes())
	})
}

func TestBreakDoesNotLeakIterators(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "task")
	db, err := Open(dir, Options{Logger: quietLogger()})
	require.NoError(t, err)
	s, err := db.Store("s", 0)
	require.NoError(t, err)
	for i := range 100 {
		put(t, s, fmt.Sprintf("%03d", i), "v")
	}
	flush(t, s)
	require.NoError(t, db.Commit(nil))
	put(t, s, "050x", "cached")
	ro, err := db.ReadOnly("s")
	require.NoError(t, err)
	kvs := NewKeyValue(s, stringSerde{}, stringSerde{}, "t")

	for range s.All() {
		break
	}
	for range s.Range([]byte("010"), []byte("090")) {
		break
	}
	for range ro.All() {
		break
	}
	for range kvs.All() {
		break
	}
	func() {
		defer func() { require.Equal(t, "boom", recover()) }()
		for range ro.Range([]byte("010"), nil) {
			panic("boom")
		}
	}()
	func() {
		defer func() { require.Equal(t, "boom", recover()) }()
		for range s.All() {
			panic("boom")
		}
	}()
	// Never-ranged sequences hold nothing.
	_ = s.All()
	require.NoError(t, s.Err())
	require.NoError(t, ro.Err())
	require.NoError(t, db.Close())
}

func TestCommitReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "task")
	opts := Options{Logger: quietLogger(), MemTableSize: 1 << 20}
	db, err := Open(dir, opts)
	require.NoError(t, err)
	s, err := db.Store("s", 0)
	require.NoError(t, err)
	put(t, s, "a", "1")
	put(t, s, "b", "2")
	flush(t, s)
	require.NoError(t, db.Commit(map[string]int64{"s": 42}))
	put(t, s, "c", "uncommitted")
	flush(t, s)
	put(t, s, "d", "uncommitted")
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "second close is a no-op")
	_, _, err = s.Get([]byte("a"))
	require.ErrorIs(t, err, ErrClosed)

	db, err = Open(dir, opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	s, err = db.Store("s", 0)
	require.NoError(t, err)
	require.Equal(t, []kv{{"a", "1"}, {"b", "2"}}, collectAll(t, s))
	off, ok, err := db.Checkpoint("s")
	require.NoError(t, err)
	require.True(t, ok)
	require.EqualValues(t, 42, off)
}

func TestRestore(t *testing.T) {
	const n = 100_000
	value := func(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }
	key := func(i int) []byte { return fmt.Appendf(nil, "key-%07d", i) }
	restore := func(t *testing.T, db TaskDB) {
		_, ok, err := db.Checkpoint("s")
		require.NoError(t, err)
		require.False(t, ok)
		r, err := db.Restorer("s")
		require.NoError(t, err)
		for i := range n {
			require.NoError(t, r.Apply(key(i), value(i), int64(i)))
		}
		// Delete every 10th key again, then skip over a transaction marker.
		for i := 0; i < n; i += 10 {
			require.NoError(t, r.Apply(key(i), nil, int64(n+i)))
		}
		r.Advance(2*n + 1)
		require.NoError(t, r.Finish())
	}
	verify := func(t *testing.T, db TaskDB) {
		off, ok, err := db.Checkpoint("s")
		require.NoError(t, err)
		require.True(t, ok)
		require.EqualValues(t, 2*n+1, off)
		s, err := db.Store("s", 0)
		require.NoError(t, err)
		i, count := 0, 0
		for k, v := range s.All() {
			if i%10 == 0 {
				i++
			}
			require.Equal(t, key(i), k)
			require.Equal(t, value(i), v)
			i++
			count++
		}
		require.NoError(t, s.Err())
		require.Equal(t, n-n/10, count)
		require.EqualValues(t, n-n/10, s.ApproximateCount())
		v, ok, err := s.Get(key(5))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, value(5), v)
		_, ok, err = s.Get(key(10))
		require.NoError(t, err)
		require.False(t, ok)
	}
	t.Run("pebble", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "task")
		opts := Options{Logger: quietLogger(), RestoreBatchRecords: 7_000}
		db, err := Open(dir, opts)
		require.NoError(t, err)
		restore(t, db)
		require.NoError(t, db.Close())
		db, err = Open(dir, opts)
		require.NoError(t, err)
		defer func() { require.NoError(t, db.Close()) }()
		verify(t, db)
	})
	t.Run("memory", func(t *testing.T) {
		db := NewMemDB()
		restore(t, db)
		verify(t, db)
	})
}

func TestRestoreCheckpointFollowsBatches(t *testing.T) {
	// Without Finish, only whole batches are committed, each with a
	// checkpoint matching its data.
	dir := filepath.Join(t.TempDir(), "task")
	opts := Options{Logger: quietLogger(), RestoreBatchRecords: 100}
	db, err := Open(dir, opts)
	require.NoError(t, err)
	r, err := db.Restorer("s")
	require.NoError(t, err)
	for i := range 250 {
		require.NoError(t, r.Apply(fmt.Appendf(nil, "%03d", i), []byte("v"), int64(1000+i)))
	}
	require.NoError(t, db.Close())
	db, err = Open(dir, opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	off, ok, err := db.Checkpoint("s")
	require.NoError(t, err)
	require.True(t, ok)
	require.EqualValues(t, 1200, off)
	ro, err := db.ReadOnly("s")
	require.NoError(t, err)
	require.Len(t, collectAll(t, ro), 200)
}

func TestOpenMissingAndCorrupt(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b", "task")
	opts := Options{Logger: quietLogger()}
	db, err := Open(dir, opts) // missing directory: created
	require.NoError(t, err)
	_, err = Open(dir, opts)
	require.ErrorIs(t, err, ErrLocked)
	require.ErrorIs(t, Wipe(dir), ErrLocked)
	s, err := db.Store("s", 0)
	require.NoError(t, err)
	put(t, s, "a", "1")
	flush(t, s)
	require.NoError(t, db.Commit(map[string]int64{"s": 1}))
	require.NoError(t, db.Close())

	// Corrupt every file of the DB.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), []byte("garbage"), 0o644))
	}
	_, err = Open(dir, opts)
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrLocked)

	db, wiped, err := OpenOrWipe(dir, opts)
	require.NoError(t, err)
	require.True(t, wiped)
	_, ok, err := db.Checkpoint("s")
	require.NoError(t, err)
	require.False(t, ok)
	ro, err := db.ReadOnly("s")
	require.NoError(t, err)
	require.Empty(t, collectAll(t, ro))
	require.NoError(t, db.Close())

	db, wiped, err = OpenOrWipe(dir, opts)
	require.NoError(t, err)
	require.False(t, wiped)
	require.NoError(t, db.Close())
	require.NoError(t, Wipe(dir))
	_, err = os.Stat(dir)
	require.True(t, errors.Is(err, os.ErrNotExist))
}

func TestReadOnlyConcurrent(t *testing.T) {
	forEach(t, func(t *testing.T, db TaskDB) {
		s, err := db.Store("s", 0)
		require.NoError(t, err)
		ro, err := db.ReadOnly("s")
		require.NoError(t, err)
		const rounds = 50
		const perRound = 100
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					// Committed rounds are whole: the count is a multiple of perRound
					// for snapshot iterations (Pebble); always sorted and unique.
					var prev []byte
					for k, v := range ro.All() {
						if prev != nil && bytes.Compare(prev, k) >= 0 {
							panic("out of order")
						}
						prev = append(prev[:0], k...)
						if string(v) == "uncommitted" {
							panic("read uncommitted data")
						}
					}
					if _, _, err := ro.Get([]byte("r000-000")); err != nil {
						panic(err)
					}
					ro.ApproximateCount()
				}
			}()
		}
		for r := range rounds {
			for i := range perRound {
				put(t, s, fmt.Sprintf("r%03d-%03d", r, i), "v")
			}
			put(t, s, "zz", "uncommitted")
			del(t, s, "zz")
			if r%3 == 0 {
				put(t, s, "zz", "uncommitted")
				flush(t, s)
				db.Abort()
				continue
			}
			flush(t, s)
			require.NoError(t, db.Commit(map[string]int64{"s": int64(r)}))
		}
		close(stop)
		wg.Wait()
		require.NoError(t, ro.Err())
	})
}

func TestClosedReadOnly(t *testing.T) {
	forEach(t, func(t *testing.T, db TaskDB) {
		ro, err := db.ReadOnly("s")
		require.NoError(t, err)
		require.NoError(t, db.Close())
		_, _, err = ro.Get([]byte("a"))
		require.ErrorIs(t, err, ErrClosed)
		for range ro.All() {
			t.Fatal("no entries expected")
		}
		require.ErrorIs(t, ro.Err(), ErrClosed)
		_, err = db.Store("s", 0)
		require.ErrorIs(t, err, ErrClosed)
	})
}

// TestModel runs random operations against both implementations and a map
// model, with commits, aborts and reads in between.
func TestModel(t *testing.T) {
	// A budget of 2 KiB keeps few entries in the cache; 1 MiB gives a
	// Pebble store a key filter (256 KiB).
	for _, budget := range []int{2048, 1 << 20} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) { testModel(t, budget) })
	}
}

func testModel(t *testing.T, budget int) {
	forEach(t, func(t *testing.T, db TaskDB) {
		rng := rand.New(rand.NewPCG(1, 2))
		s, err := db.Store("s", budget)
		require.NoError(t, err)
		committed := map[string]string{}
		current := map[string]string{}
		clone := func(m map[string]string) map[string]string {
			out := make(map[string]string, len(m))
			for k, v := range m {
				out[k] = v
			}
			return out
		}
		sorted := func(m map[string]string, from, to string, bounded bool) []kv {
			var out []kv
			for k, v := range m {
				if k >= from && (!bounded || k < to) {
					out = append(out, kv{k, v})
				}
			}
			sort.Slice(out, func(i, j int) bool { return out[i].k < out[j].k })
			return out
		}
		changelog := map[string]string{}
		var pendingLog map[string]*string
		for step := range 5000 {
			k := fmt.Sprintf("k%02d", rng.IntN(60))
			switch op := rng.IntN(100); {
			case op < 45:
				v := fmt.Sprint(step)
				put(t, s, k, v)
				current[k] = v
			case op < 60:
				del(t, s, k)
				delete(current, k)
			case op < 75:
				v, ok := get(t, s, k)
				cv, cok := current[k]
				require.Equal(t, cok, ok, k)
				require.Equal(t, cv, v)
			case op < 85:
				from, to := fmt.Sprintf("k%02d", rng.IntN(60)), fmt.Sprintf("k%02d", rng.IntN(60))
				require.Equal(t, sorted(current, from, to, true), collect(t, s, []byte(from), []byte(to)))
			case op < 95:
				pendingLog = map[string]*string{}
				require.NoError(t, s.Flush(func(k, v []byte) {
					_, dup := pendingLog[string(k)]
					require.False(t, dup, "key emitted twice")
					if v == nil {
						pendingLog[string(k)] = nil
					} else {
						vs := string(v)
						pendingLog[string(k)] = &vs
					}
				}))
				if rng.IntN(4) == 0 {
					db.Abort()
					current = clone(committed)
				} else {
					require.NoError(t, db.Commit(map[string]int64{"s": int64(step)}))
					committed = clone(current)
					for k, v := range pendingLog {
						if v == nil {
							delete(changelog, k)
						} else {
							changelog[k] = *v
						}
					}
					// The changelog reproduces the committed state.
					require.Equal(t, committed, changelog)
				}
			default:
				db.Abort()
				current = clone(committed)
			}
			if step%500 == 0 {
				require.Equal(t, sorted(current, "", "", false), collectAll(t, s))
				require.EqualValues(t, len(current), s.ApproximateCount())
				ro, err := db.ReadOnly("s")
				require.NoError(t, err)
				require.Equal(t, sorted(committed, "", "", false), collectAll(t, ro))
			}
		}
	})
}

func TestSkiplist(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	l := newSkiplist()
	model := map[string]bool{}
	for range 20000 {
		k := fmt.Sprintf("%04d", rng.IntN(2000))
		if rng.IntN(3) == 0 {
			require.Equal(t, model[k], l.remove(k) != nil)
			delete(model, k)
		} else {
			_, inserted := l.upsert(k)
			require.Equal(t, !model[k], inserted)
			model[k] = true
		}
	}
	var keys []string
	for k := range model {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var got []string
	for n := l.first(); n != nil; n = n.next[0] {
		got = append(got, n.key)
	}
	require.Equal(t, keys, got)
	require.Equal(t, len(keys), l.len)
	if len(keys) > 0 {
		require.Equal(t, keys[0], l.seekGE("").key)
		require.Nil(t, l.seekGT(keys[len(keys)-1]))
	}
}

func TestClearStore(t *testing.T) {
	forEach(t, func(t *testing.T, db TaskDB) {
		a, err := db.Store("a", 0)
		require.NoError(t, err)
		b, err := db.Store("b", 0)
		require.NoError(t, err)
		put(t, a, "k", "a")
		put(t, b, "k", "b")
		flush(t, a)
		flush(t, b)
		require.NoError(t, db.Commit(map[string]int64{"a": 5, "b": 6}))
		require.NoError(t, db.ClearStore("a"))
		require.Empty(t, collectAll(t, a))
		require.Zero(t, a.ApproximateCount())
		_, ok, err := db.Checkpoint("a")
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, []kv{{"k", "b"}}, collectAll(t, b))
		off, ok, err := db.Checkpoint("b")
		require.NoError(t, err)
		require.True(t, ok)
		require.EqualValues(t, 6, off)
		put(t, a, "k2", "again")
		flush(t, a)
		require.NoError(t, db.Commit(nil))
		require.Equal(t, []kv{{"k2", "again"}}, collectAll(t, a))
	})
}

func TestApproximateCountLargeStore(t *testing.T) {
	defer func(old uint64) { exactCountBytes = old }(exactCountBytes)
	exactCountBytes = 0 // always estimate from sstables
	dir := filepath.Join(t.TempDir(), "task")
	opts := Options{Logger: quietLogger()}
	db, err := Open(dir, opts)
	require.NoError(t, err)
	for _, name := range []string{"a", "b"} {
		r, err := db.Restorer(name)
		require.NoError(t, err)
		for i := range 200_000 {
			require.NoError(t, r.Apply(fmt.Appendf(nil, "key-%07d", i), []byte("value-123"), int64(i)))
		}
		require.NoError(t, r.Finish())
	}
	require.NoError(t, db.Close())
	db, err = Open(dir, opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	s, err := db.Store("a", 0)
	require.NoError(t, err)
	ro, err := db.ReadOnly("b")
	require.NoError(t, err)
	for _, n := range []int64{s.ApproximateCount(), ro.ApproximateCount()} {
		require.InDelta(t, 200_000, n, 40_000)
	}
}

// TestKeyFilter: a store that is empty when opened gets a key filter; a
// Get of a key never written answers absent without reading Pebble, and
// every key written by a Put or restored by a Restorer is found; a store
// opened with data has none; a filter past its capacity is kept, a
// saturated one dropped, and reads stay right; ClearStore starts a new one.
func TestKeyFilter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "task")
	opts := Options{Logger: quietLogger()}
	db, err := Open(dir, opts)
	require.NoError(t, err)
	s, err := db.Store("s", 4<<20)
	require.NoError(t, err)
	require.Equal(t, 1<<20, s.FilterBytes())
	put(t, s, "a", "1")
	require.NoError(t, s.Flush(nil))
	require.NoError(t, db.Commit(map[string]int64{"s": 1}))
	s.cache.dropClean() // read "a" from Pebble through the filter
	_, ok := get(t, s, "b")
	require.False(t, ok)
	v, ok := get(t, s, "a")
	require.True(t, ok)
	require.Equal(t, "1", v)

	// Restored keys are in the filter.
	r, err := db.Restorer("r")
	require.NoError(t, err)
	require.NoError(t, r.Finish())
	rs, err := db.Store("r", 4<<20)
	require.NoError(t, err)
	require.Positive(t, rs.FilterBytes())
	r, err = db.Restorer("r")
	require.NoError(t, err)
	for i := range 1000 {
		require.NoError(t, r.Apply(fmt.Appendf(nil, "k%04d", i), []byte{byte(i)}, int64(i)))
	}
	require.NoError(t, r.Finish())
	for i := range 1000 {
		v, ok := get(t, rs, fmt.Sprintf("k%04d", i))
		require.True(t, ok, i)
		require.Equal(t, string([]byte{byte(i)}), v)
	}
	_, ok = get(t, rs, "k1000")
	require.False(t, ok)

	// ClearStore: empty again, with a fresh filter.
	require.NoError(t, db.ClearStore("r"))
	require.Positive(t, rs.FilterBytes())
	_, ok = get(t, rs, "k0001")
	require.False(t, ok)
	require.NoError(t, db.Close())

	// Reopened with data: no filter.
	db, err = Open(dir, opts)
	require.NoError(t, err)
	s, err = db.Store("s", 4<<20)
	require.NoError(t, err)
	require.Zero(t, s.FilterBytes())
	v, ok = get(t, s, "a")
	require.True(t, ok)
	require.Equal(t, "1", v)

	// A filter past its capacity keeps serving; a saturated one is
	// dropped. With a 256 KiB budget the filter is 64 KiB, for 65,536 keys
	// at 2% false positives; it is dropped at about 6 times that.
	f, err := db.Store("full", 256<<10)
	require.NoError(t, err)
	require.Equal(t, 64<<10, f.FilterBytes())
	r, err = db.Restorer("full")
	require.NoError(t, err)
	const n = 450_000
	for i := range n {
		require.NoError(t, r.Apply(fmt.Appendf(nil, "f%06d", i), []byte("v"), int64(i)))
		if i == 3*65_536 {
			require.Equal(t, 64<<10, f.FilterBytes(), "a filter at 3 times its capacity is kept")
		}
	}
	require.NoError(t, r.Finish())
	require.Zero(t, f.FilterBytes())
	for i := 0; i < n; i += 997 {
		_, ok := get(t, f, fmt.Sprintf("f%06d", i))
		require.True(t, ok, i)
	}
	require.NoError(t, db.Close())
}

// TestKeyFilterFalsePositives: at its capacity the filter answers "may
// contain" for about 2% of the keys never added, past it for more, as
// falsePositiveRate estimates, and never "absent" for a key added; it asks
// to be dropped at about 6 times its capacity.
func TestKeyFilterFalsePositives(t *testing.T) {
	f := newKeyFilter(64 << 10)
	require.Equal(t, 65536, f.capacity)
	added := 0
	measure := func() float64 {
		fp := 0
		for i := range 100_000 {
			if f.mayContain(fmt.Appendf(nil, "out%d", i)) {
				fp++
			}
		}
		return float64(fp) / 100_000
	}
	for _, tc := range []struct {
		times    float64 // keys added, in capacities
		min, max float64 // false positives
	}{
		{1, 0, 0.04},
		{2.5, 0.2, 0.36},
		{4, 0.5, 0.75},
	} {
		for ; added < int(tc.times*float64(f.capacity)); added++ {
			require.True(t, f.add(fmt.Appendf(nil, "in%d", added)))
		}
		for i := 0; i < added; i += 7 {
			require.True(t, f.mayContain(fmt.Appendf(nil, "in%d", i)))
		}
		fp := measure()
		t.Logf("%.1f times the capacity: false positives %.1f%%, estimated %.1f%%", tc.times, 100*fp, 100*f.falsePositiveRate())
		require.GreaterOrEqual(t, fp, tc.min)
		require.LessOrEqual(t, fp, tc.max)
		require.InDelta(t, fp, f.falsePositiveRate(), 0.05)
	}
	for f.add(fmt.Appendf(nil, "in%d", added)) {
		added++
	}
	t.Logf("dropped after %d keys (%.1f times the capacity)", added, float64(added)/float64(f.capacity))
	require.InDelta(t, 6, float64(added)/float64(f.capacity), 1)
	require.Nil(t, newKeyFilter(minFilterBytes-1))
}
