package state

import (
	"bytes"
	"encoding/binary"
	"iter"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// DefaultCacheBudget is the write-back cache budget of a store, in bytes,
// used when DB.Store or MemDB.Store is given a budget <= 0: 1 MiB.
const DefaultCacheBudget = 1 << 20

// cacheEntryOverhead approximates the per-entry memory of the cache beyond
// key and value bytes (skiplist node and tower, map entry).
const cacheEntryOverhead = 96

// backend is the committed data a CachedStore reads through to and the
// pending batch its flushed entries are staged into. All methods run on the
// task goroutine.
type backend interface {
	closed() bool
	// get returns the committed value of key; the result must stay valid
	// indefinitely and is never modified by the backend.
	get(key []byte) ([]byte, bool, error)
	// iter iterates committed data over [from, to); to == nil means no upper
	// bound.
	iter(from, to []byte) (kvIter, error)
	// stage adds a write (value nil, del true for a delete) to the pending
	// batch of the owning DB.
	stage(key, value []byte, del bool) error
	// stageRange adds a delete of every committed key in [from, to) to
	// the pending batch.
	stageRange(from, to []byte) error
	// count returns the approximate count of entries with the cache c
	// applied on top of committed data.
	count(s *CachedStore) int64
}

// kvIter iterates committed data in key order. It starts positioned at the
// first entry.
type kvIter interface {
	valid() bool
	key() []byte
	value() ([]byte, error)
	next()
	err() error
	close() error
}

// writeCache is the bytes-level write-back cache of one store: a map from
// key to value-or-tombstone with dirty flags, and the same entries in key
// order for ranges, built lazily.
//
// Point reads and writes (what aggregations and joins do) use the map
// alone: a new key is appended to unlinked, not inserted into the
// skiplist. Ordered access (a range, DeleteRange) first links the unlinked
// entries into the skiplist (ordered). With millions of distinct keys,
// most writes are of new keys, and a skiplist insert of each (pointer
// chasing over tens of thousands of nodes) took a fifth of the store's
// CPU (BenchmarkCountStore).
type writeCache struct {
	m          map[string]*slNode
	list       *skiplist
	unlinked   []*slNode // entries of m not yet in list
	dirty      []*slNode // the dirty entries, so a flush does not walk clean ones
	bytes      int       // all entries
	dirtyBytes int
	dirtyCount int
	// absent is the key of the last Get that found no entry, while
	// absentValid (no set since).
	absent      []byte
	absentValid bool
}

func newWriteCache() writeCache {
	return writeCache{m: make(map[string]*slNode), list: newSkiplist()}
}

func entrySize(n *slNode) int { return cacheEntryOverhead + len(n.key) + len(n.value) }

// set records a put (del false) or a delete of key and marks it dirty.
// It reports whether the cache held no put of key before (no entry, or a
// delete).
func (c *writeCache) set(key, value []byte, del bool) (fresh bool) {
	var n *slNode
	ok := false
	if c.absentValid && string(key) == string(c.absent) {
		// The Get just before found no entry, and nothing was set since.
	} else {
		n, ok = c.m[string(key)]
	}
	c.absentValid = false
	fresh = !ok || n.tomb
	if !ok {
		ks := string(key)
		n = &slNode{key: ks}
		c.m[ks] = n
		c.unlinked = append(c.unlinked, n)
	} else {
		c.bytes -= entrySize(n)
		if n.dirty {
			c.dirtyBytes -= entrySize(n)
			c.dirtyCount--
		}
	}
	if !n.dirty {
		c.dirty = append(c.dirty, n)
	}
	if del {
		n.value = nil
	} else {
		// Always a fresh non-nil slice: earlier values handed out stay valid
		// and an empty value is distinguishable from a tombstone.
		n.value = make([]byte, len(value))
		copy(n.value, value)
	}
	n.tomb = del
	n.dirty = true
	sz := entrySize(n)
	c.bytes += sz
	c.dirtyBytes += sz
	c.dirtyCount++
	return fresh
}

// noteAbsent remembers that key has no entry, so that a set of the same
// key right after skips its map lookup (a Get that misses, then a Put of
// the same key, is how an aggregation meets a new key). Only a set adds
// an entry, and every set forgets the key.
func (c *writeCache) noteAbsent(key []byte) {
	c.absent = append(c.absent[:0], key...)
	c.absentValid = true
}

// ordered links the unlinked entries into the skiplist and returns it.
func (c *writeCache) ordered() *skiplist {
	if len(c.unlinked) > 0 {
		slices.SortFunc(c.unlinked, func(a, b *slNode) int { return strings.Compare(a.key, b.key) })
		for _, n := range c.unlinked {
			if c.m[n.key] == n { // not dropped since
				c.list.insert(n)
			}
		}
		clear(c.unlinked)
		c.unlinked = c.unlinked[:0]
	}
	return c.list
}

// dropClean removes every clean entry, keeping dirty ones.
func (c *writeCache) dropClean() {
	// The next commit interval likely holds as many keys: size the new map
	// for them, rather than grow it step by step again.
	hint := len(c.m)
	if c.dirtyCount == 0 {
		// The slices' arrays too, cleared: a commit interval fills them as
		// far again.
		clear(c.unlinked)
		clear(c.dirty)
		*c = writeCache{m: make(map[string]*slNode, hint), list: newSkiplist(), unlinked: c.unlinked[:0], dirty: c.dirty[:0]}
		return
	}
	kept := writeCache{m: make(map[string]*slNode, hint), list: newSkiplist()}
	for _, n := range c.dirty {
		if !n.dirty || kept.m[n.key] != nil {
			continue
		}
		// A fresh node: the old one may still be linked in the old list.
		k := &slNode{key: n.key, value: n.value, tomb: n.tomb, dirty: true}
		kept.m[k.key] = k
		kept.unlinked = append(kept.unlinked, k)
		kept.dirty = append(kept.dirty, k)
		sz := entrySize(k)
		kept.bytes += sz
		kept.dirtyBytes += sz
		kept.dirtyCount++
	}
	*c = kept
}

// CachedStore is the Store a task writes to: a write-back cache in front of
// the committed data of a DB or MemDB. It implements Store; it is not safe
// for concurrent use (use DB.ReadOnly or MemDB.ReadOnly from other
// goroutines).
//
// Writes go to the cache only. Reads see the cache first, then committed
// data; entries staged by Flush stay in the cache until the commit, so reads
// between Flush and Commit still see them. Flush hands every dirty entry to
// the changelog and stages it into the DB's pending batch; DB.Commit makes
// staged writes durable and DB.Abort discards them together with the whole
// cache.
//
// The cache budget bounds the dirty bytes between commits (NeedsCommit) and
// the clean bytes kept after a commit: when the cache is over budget at
// commit time, clean entries are dropped.
type CachedStore struct {
	name   string
	b      backend
	budget int
	cache  writeCache
	err    stickyErr
	// ranges are the range deletes staged by the next Flush, in order.
	ranges [][2][]byte
	// resets counts the times the cache was dropped (Resets).
	resets uint64
	// hits and misses count the Gets answered by the cache and by the
	// backend (see CacheStats).
	hits, misses int64
	// filter, if not nil, holds every key the committed data may hold:
	// a cache miss of a key it has not seen is absent (see keyFilter).
	filter *keyFilter
}

var _ Store = (*CachedStore)(nil)

func newCachedStore(name string, b backend, budget int) *CachedStore {
	if budget <= 0 {
		budget = DefaultCacheBudget
	}
	return &CachedStore{name: name, b: b, budget: budget, cache: newWriteCache()}
}

// Name returns the store name.
func (s *CachedStore) Name() string { return s.name }

// Get returns the value of key from the cache, or else from committed data.
// The returned value must not be modified; it stays valid indefinitely.
func (s *CachedStore) Get(key []byte) ([]byte, bool, error) {
	if s.b.closed() {
		return nil, false, ErrClosed
	}
	if n, ok := s.cache.m[string(key)]; ok {
		s.hits++
		if n.tomb {
			return nil, false, nil
		}
		return n.value, true, nil
	}
	s.misses++
	if s.filter != nil && !s.filter.mayContain(key) {
		s.cache.noteAbsent(key)
		return nil, false, nil
	}
	v, ok, err := s.b.get(key)
	if err == nil {
		s.cache.noteAbsent(key)
	}
	return v, ok, err
}

// CacheStats returns how many Gets the write-back cache answered (hits)
// and how many went to the store below it (misses) since the store was
// opened. Like the other methods, it must not be called concurrently with
// them.
func (s *CachedStore) CacheStats() (hits, misses int64) { return s.hits, s.misses }

// Put records key=value in the cache. The caller may modify key and value
// once Put returns.
func (s *CachedStore) Put(key, value []byte) error {
	if s.b.closed() {
		return ErrClosed
	}
	if s.cache.set(key, value, false) {
		// A put of a key the cache holds went through here already.
		s.addToFilter(key)
	}
	return nil
}

// Delete records a delete of key in the cache.
func (s *CachedStore) Delete(key []byte) error {
	if s.b.closed() {
		return ErrClosed
	}
	s.cache.set(key, nil, true)
	return nil
}

// DeleteRange removes every key in [from, to): the cache's entries at
// once (dirty ones are never flushed), the committed ones at the next
// commit, as one range delete in the DB's batch (a Pebble range
// tombstone), not key by key. It writes nothing to the changelog: it is
// for data that the changelog's own retention expires, such as the
// segments of a window store. Until the commit, reads of committed data
// may still see keys in the range: use it for keys no longer read. The
// caller may modify from and to once DeleteRange returns.
func (s *CachedStore) DeleteRange(from, to []byte) error {
	if s.b.closed() {
		return ErrClosed
	}
	c := &s.cache
	var drop []*slNode
	for n := c.ordered().seekGE(string(from)); n != nil && n.key < string(to); n = n.next[0] {
		drop = append(drop, n)
	}
	for _, n := range drop {
		delete(c.m, n.key)
		c.list.remove(n.key)
		c.bytes -= entrySize(n)
		if n.dirty {
			n.dirty = false
			c.dirtyBytes -= entrySize(n)
			c.dirtyCount--
		}
	}
	s.ranges = append(s.ranges, [2][]byte{bytes.Clone(from), bytes.Clone(to)})
	return nil
}

// NeedsCommit reports whether the dirty bytes in the cache exceed the cache
// budget, in which case the runtime should commit the task early. Dirty data
// is never written to the DB before a commit.
func (s *CachedStore) NeedsCommit() bool { return s.cache.dirtyBytes > s.budget }

// DirtyBytes returns the approximate memory held by dirty cache entries.
func (s *CachedStore) DirtyBytes() int { return s.cache.dirtyBytes }

// CacheBytes returns the approximate memory held by the whole cache.
func (s *CachedStore) CacheBytes() int { return s.cache.bytes }

// Flush calls emit for every dirty entry in key order, once per key however
// often it was updated since the last Flush (value nil for a delete; a put
// of an empty value emits a non-nil empty slice), stages the entry into the
// owning DB's pending batch and marks it clean. emit may be nil and may
// retain key and value: they are never modified.
//
// Staged entries become durable at the next DB.Commit and are dropped by
// DB.Abort. If Flush returns an error, the runtime must call DB.Abort.
func (s *CachedStore) Flush(emit func(key, value []byte)) error {
	if s.b.closed() {
		return ErrClosed
	}
	for _, r := range s.ranges {
		if err := s.b.stageRange(r[0], r[1]); err != nil {
			return err
		}
	}
	s.ranges = s.ranges[:0]
	if s.cache.dirtyCount == 0 {
		return nil
	}
	// Only the dirty entries, in key order; one changelog record each.
	sc := flushScratchPool.Get().(*flushScratch)
	defer sc.release()
	order := s.cache.takeDirty(sc)
	for len(order) > 0 {
		// Copy the next entries in a loop of their own (see takeDirty).
		chunk := order[:min(len(order), flushChunk)]
		order = order[len(chunk):]
		es := sc.es[:len(chunk)]
		for j, o := range chunk {
			es[j] = flushEntry{key: o.n.key, value: o.n.value, tomb: o.n.tomb}
		}
		for _, e := range es {
			k := keyBytes(e.key)
			if emit != nil {
				emit(k, e.value)
			}
			if err := s.b.stage(k, e.value, e.tomb); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushChunk is how many entries Flush copies at a time.
const flushChunk = 1024

// flushScratch holds the arrays a flush sorts its entries in (48 bytes
// per entry) and copies them to (flushChunk entries). They are reused
// from flush to flush (flushScratchPool) rather than allocated each time:
// a commit over a million keys flushes tens of thousands of entries per
// store, and copies of all of them (96 bytes per entry in all) made at
// each flush raised the peak RSS of BenchmarkMemory1MKeys.
type flushScratch struct {
	idx, tmp []keyOrd
	es       []flushEntry // flushChunk long
}

var flushScratchPool = sync.Pool{New: func() any { return &flushScratch{es: make([]flushEntry, flushChunk)} }}

// release clears the scratch, which must not keep the cache's nodes,
// keys and values, and returns it to the pool.
func (sc *flushScratch) release() {
	clear(sc.idx)
	clear(sc.tmp)
	clear(sc.es)
	sc.idx, sc.tmp = sc.idx[:0], sc.tmp[:0]
	flushScratchPool.Put(sc)
}

// flushEntry is a dirty entry as Flush hands it on.
type flushEntry struct {
	key   string
	value []byte
	tomb  bool
}

// takeDirty marks every dirty entry clean and returns them in key order,
// in sc's arrays.
//
// It reads the nodes once, in the order they became dirty, which for new
// keys is mostly the order the allocator placed them in memory, noting each key's first 16
// bytes as two integers and marking the node clean, and sorts that index
// (sortKeyOrds). Flush then copies key, value and tombstone mark of each
// node in that order, flushChunk entries at a time, in a loop of its own:
// following the nodes in key order from the loop that produces read each
// one at a random place in memory, and each read waited for memory
// between two produces; in a loop that does nothing else the reads
// overlap. With a million keys, the sort and those cache misses were a
// third of the commit's CPU. String comparisons alone were an eighth of
// the CPU of a count over a million keys, and 8 bytes left the keys of
// that benchmark ("c00000000") tied in groups of ten.
func (c *writeCache) takeDirty(sc *flushScratch) []keyOrd {
	idx := slices.Grow(sc.idx[:0], c.dirtyCount)
	for _, n := range c.dirty {
		if !n.dirty { // cleared by DeleteRange
			continue
		}
		var b [16]byte
		copy(b[:], n.key)
		idx = append(idx, keyOrd{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), n})
		n.dirty = false
	}
	clear(c.dirty)
	c.dirty = c.dirty[:0]
	c.dirtyCount, c.dirtyBytes = 0, 0
	sc.tmp = slices.Grow(sc.tmp[:0], len(idx))[:len(idx)]
	sc.idx = idx
	return sortKeyOrds(idx, sc.tmp)
}

// keyOrd is a key's first 16 bytes as two big-endian integers (zero
// padded) and its node.
type keyOrd struct {
	hi, lo uint64
	n      *slNode
}

// radixMin is the length from which sortKeyOrds sorts by radix.
const radixMin = 256

// sortKeyOrds sorts ks by key (hi, lo, then the whole keys), and returns
// the sorted slice: ks or tmp, which must be as long as ks.
//
// From radixMin entries it sorts by least-significant-digit radix on the
// 16 bytes, one byte a pass, skipping the bytes that are the same in every
// key (padding, shared prefixes): a commit of a count over a million keys
// sorts tens of thousands of keys per store, for which the comparison
// sort took 190 ns a key. The radix sort is stable, so entries whose 16
// bytes tie are then in input order, and each run of them is sorted by
// whole keys.
func sortKeyOrds(ks, tmp []keyOrd) []keyOrd {
	byPrefix := func(a, b keyOrd) int {
		switch {
		case a.hi < b.hi:
			return -1
		case a.hi > b.hi:
			return 1
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	}
	if len(ks) < radixMin {
		slices.SortFunc(ks, func(a, b keyOrd) int {
			if c := byPrefix(a, b); c != 0 {
				return c
			}
			return strings.Compare(a.n.key, b.n.key)
		})
		return ks
	}
	digit := func(k keyOrd, d int) byte { // d = 0 is the last of the 16 bytes
		if d < 8 {
			return byte(k.lo >> (8 * d))
		}
		return byte(k.hi >> (8 * (d - 8)))
	}
	var counts [16][256]int32
	for _, k := range ks {
		for d := range 8 {
			counts[d][byte(k.lo>>(8*d))]++
			counts[8+d][byte(k.hi>>(8*d))]++
		}
	}
	src, dst := ks, tmp
	for d := range 16 {
		c := &counts[d]
		if int(c[digit(src[0], d)]) == len(src) {
			continue // the same byte in every key
		}
		var sum int32
		for b := range c {
			c[b], sum = sum, sum+c[b]
		}
		for _, k := range src {
			b := digit(k, d)
			dst[c[b]] = k
			c[b]++
		}
		src, dst = dst, src
	}
	for i := 0; i < len(src); {
		j := i + 1
		for j < len(src) && byPrefix(src[i], src[j]) == 0 {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(src[i:j], func(a, b keyOrd) int { return strings.Compare(a.n.key, b.n.key) })
		}
		i = j
	}
	return src
}

// afterCommit drops clean entries if the cache is over budget.
func (s *CachedStore) afterCommit() {
	if s.cache.bytes > s.budget {
		s.cache.dropClean()
	}
}

// addToFilter adds key to the filter, and drops the filter once it is
// full.
func (s *CachedStore) addToFilter(key []byte) {
	if s.filter != nil && !s.filter.add(key) {
		s.filter = nil
	}
}

// FilterBytes returns the memory of the store's key filter: 0 when it has
// none (the store was not empty when opened, or its filter filled up).
func (s *CachedStore) FilterBytes() int {
	if s.filter == nil {
		return 0
	}
	return s.filter.bytes()
}

// reset drops the whole cache (abort, restore).
func (s *CachedStore) reset() { s.cache, s.ranges, s.resets = newWriteCache(), nil, s.resets+1 }

// Resets returns how many times the store's uncommitted writes were
// dropped (an abort, a restore, a clear): an operator that keeps in memory
// a copy of what it wrote can tell from a change that the copy may be
// ahead of the store and must be read again.
func (s *CachedStore) Resets() uint64 { return s.resets }

// Range yields entries with from <= key < to in key order, merging the cache
// over committed data. See ReadOnlyStore for bounds and memory ownership.
func (s *CachedStore) Range(from, to []byte) iter.Seq2[[]byte, []byte] {
	// Copy the bounds: the caller may reuse them before ranging.
	from = bytes.Clone(from)
	if to != nil {
		to = append([]byte{}, to...)
	}
	return func(yield func([]byte, []byte) bool) { s.iterate(from, to, yield) }
}

// All yields every entry in key order.
func (s *CachedStore) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) { s.iterate(nil, nil, yield) }
}

func (s *CachedStore) iterate(from, to []byte, yield func([]byte, []byte) bool) {
	if s.b.closed() {
		s.err.set(ErrClosed)
		return
	}
	if to != nil && bytes.Compare(from, to) >= 0 {
		return
	}
	it, err := s.b.iter(from, to)
	if err != nil {
		s.err.set(err)
		return
	}
	defer func() {
		if err := it.close(); err != nil {
			s.err.set(err)
		}
	}()
	c := s.cache.ordered().seekGE(string(from))
	for {
		if c != nil && to != nil && bytes.Compare(keyBytes(c.key), to) >= 0 {
			c = nil
		}
		bv := it.valid()
		if c == nil && !bv {
			break
		}
		cmp := -1
		if c == nil {
			cmp = 1
		} else if bv {
			cmp = bytes.Compare(keyBytes(c.key), it.key())
		}
		if cmp <= 0 {
			n := c
			c = c.next[0]
			if cmp == 0 {
				it.next()
			}
			if n.tomb {
				continue
			}
			if !yield(keyBytes(n.key), n.value) {
				return
			}
			continue
		}
		v, err := it.value()
		if err != nil {
			s.err.set(err)
			return
		}
		if !yield(it.key(), v) {
			return
		}
		it.next()
	}
	if err := it.err(); err != nil {
		s.err.set(err)
	}
}

// ApproximateCount returns the number of entries (exact for in-memory and
// small Pebble stores, an sstable-statistics estimate for large ones).
func (s *CachedStore) ApproximateCount() int64 {
	if s.b.closed() {
		return 0
	}
	return s.b.count(s)
}

// Err returns the first error met by an iteration over this store, or nil.
func (s *CachedStore) Err() error { return s.err.get() }

// keyBytes returns the bytes of an immutable string without copying. The
// result must not be modified.
func keyBytes(s string) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// countMerged counts entries by a full merged iteration.
func (s *CachedStore) countMerged() int64 {
	var n int64
	for range s.All() {
		n++
	}
	return n
}
