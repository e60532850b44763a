package state

import (
	"bytes"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
)

// MemDB holds the in-memory stores of one task, with the same cache, Flush,
// Commit and Abort semantics as DB. Committed data lives in sorted in-memory
// maps and is lost when the process exits (Checkpoint then reports no
// checkpoint, so the runtime restores from offset 0); the stores still
// write a changelog via Flush.
type MemDB struct {
	mu      sync.RWMutex // guards data and ckpts against ReadOnly views
	data    map[string]*skiplist
	ckpts   map[string]int64
	pending []memOp
	stores  map[string]*CachedStore
	closed  atomic.Bool
}

var _ TaskDB = (*MemDB)(nil)

type memOp struct {
	list  *skiplist
	key   string
	value []byte
	del   bool
	// to, when set, makes the op a delete of the keys in [key, to).
	to *string
}

// NewMemDB returns an empty MemDB.
func NewMemDB() *MemDB {
	return &MemDB{
		data:   make(map[string]*skiplist),
		ckpts:  make(map[string]int64),
		stores: make(map[string]*CachedStore),
	}
}

// list returns the committed data of store name, creating it. Callers on
// the task goroutine need no lock to read it; creation takes the write lock.
func (m *MemDB) list(name string) *skiplist {
	m.mu.RLock()
	l := m.data[name]
	m.mu.RUnlock()
	if l != nil {
		return l
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if l = m.data[name]; l == nil {
		l = newSkiplist()
		m.data[name] = l
	}
	return l
}

// Store opens the store name with a write-back cache of cacheBudgetBytes
// (DefaultCacheBudget if <= 0). Each name can be opened once per MemDB.
func (m *MemDB) Store(name string, cacheBudgetBytes int) (*CachedStore, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if _, ok := m.stores[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrStoreOpen, name)
	}
	s := newCachedStore(name, &memBackend{db: m, list: m.list(name)}, cacheBudgetBytes)
	m.stores[name] = s
	return s, nil
}

// NeedsCommit reports whether any store of the MemDB is over its cache
// budget.
func (m *MemDB) NeedsCommit() bool {
	for _, s := range m.stores {
		if s.NeedsCommit() {
			return true
		}
	}
	return false
}

// Commit applies the entries staged by the stores' Flush and records the
// checkpoints, atomically with respect to ReadOnly views, then trims store
// caches that are over budget.
func (m *MemDB) Commit(checkpoints map[string]int64) error {
	if m.closed.Load() {
		return ErrClosed
	}
	m.mu.Lock()
	for _, op := range m.pending {
		if op.to != nil {
			var keys []string
			for n := op.list.seekGE(op.key); n != nil && n.key < *op.to; n = n.next[0] {
				keys = append(keys, n.key)
			}
			for _, k := range keys {
				op.list.remove(k)
			}
			continue
		}
		if op.del {
			op.list.remove(op.key)
		} else {
			n, _ := op.list.upsert(op.key)
			n.value = op.value
		}
	}
	for name, off := range checkpoints {
		m.ckpts[name] = off
	}
	m.mu.Unlock()
	clear(m.pending)
	m.pending = m.pending[:0]
	for _, s := range m.stores {
		s.afterCommit()
	}
	return nil
}

// Abort discards staged entries and the whole cache of every store.
func (m *MemDB) Abort() {
	clear(m.pending)
	m.pending = m.pending[:0]
	for _, s := range m.stores {
		s.reset()
	}
}

// Checkpoint returns the checkpoint last committed for store name in this
// MemDB (ok false if none).
func (m *MemDB) Checkpoint(name string) (int64, bool, error) {
	if m.closed.Load() {
		return 0, false, ErrClosed
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	off, ok := m.ckpts[name]
	return off, ok, nil
}

// Restorer returns a Restorer applying changelog records of store name
// directly to committed data. It drops the store's cache; use it only while
// the store has no uncommitted writes.
func (m *MemDB) Restorer(name string) (Restorer, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if s, ok := m.stores[name]; ok {
		s.reset()
	}
	return &memRestorer{db: m, name: name, list: m.list(name)}, nil
}

// ReadOnly returns a view of the committed data of store name, safe for
// concurrent use while the task writes. Iterations read in chunks without
// holding locks across yields, so they see each key once, in order, but are
// not a snapshot.
func (m *MemDB) ReadOnly(name string) (ReadOnlyStore, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	m.list(name)
	return &memReadOnly{db: m, name: name}, nil
}

// ClearStore deletes the committed entries and the checkpoint of store name
// and drops its cache. Use it only while the store has no uncommitted
// writes.
func (m *MemDB) ClearStore(name string) error {
	if m.closed.Load() {
		return ErrClosed
	}
	if s, ok := m.stores[name]; ok {
		s.reset()
	}
	l := m.list(name)
	m.mu.Lock()
	*l = *newSkiplist()
	delete(m.ckpts, name)
	m.mu.Unlock()
	return nil
}

// Close drops all data. Closing a closed MemDB returns nil.
func (m *MemDB) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	m.mu.Lock()
	m.data = nil
	m.mu.Unlock()
	m.pending = nil
	for _, s := range m.stores {
		s.reset()
	}
	return nil
}

// memBackend is the committed data of one store of a MemDB as seen by its
// CachedStore. It reads without locks: only the task goroutine mutates.
type memBackend struct {
	db   *MemDB
	list *skiplist
}

func (b *memBackend) closed() bool { return b.db.closed.Load() }

func (b *memBackend) get(key []byte) ([]byte, bool, error) {
	if n := b.list.get(string(key)); n != nil {
		return n.value, true, nil
	}
	return nil, false, nil
}

func (b *memBackend) iter(from, to []byte) (kvIter, error) {
	return &memIter{n: b.list.seekGE(string(from)), to: to}, nil
}

func (b *memBackend) stage(key, value []byte, del bool) error {
	// value is an immutable cache value: no copy needed.
	b.db.pending = append(b.db.pending, memOp{list: b.list, key: string(key), value: value, del: del})
	return nil
}

func (b *memBackend) stageRange(from, to []byte) error {
	end := string(to)
	b.db.pending = append(b.db.pending, memOp{list: b.list, key: string(from), to: &end})
	return nil
}

func (b *memBackend) count(s *CachedStore) int64 {
	n := int64(b.list.len)
	for c := s.cache.ordered().first(); c != nil; c = c.next[0] {
		exists := b.list.get(c.key) != nil
		switch {
		case c.tomb && exists:
			n--
		case !c.tomb && !exists:
			n++
		}
	}
	return n
}

type memIter struct {
	n  *slNode
	to []byte
}

func (it *memIter) valid() bool {
	if it.n != nil && it.to != nil && bytes.Compare(keyBytes(it.n.key), it.to) >= 0 {
		it.n = nil
	}
	return it.n != nil
}
func (it *memIter) key() []byte            { return keyBytes(it.n.key) }
func (it *memIter) value() ([]byte, error) { return it.n.value, nil }
func (it *memIter) next()                  { it.n = it.n.next[0] }
func (it *memIter) err() error             { return nil }
func (it *memIter) close() error           { return nil }

// memReadOnlyChunk is the number of entries a MemDB read-only iteration
// copies per lock acquisition.
const memReadOnlyChunk = 256

type memReadOnly struct {
	db   *MemDB
	name string
	err  stickyErr
}

func (r *memReadOnly) Name() string { return r.name }

func (r *memReadOnly) Get(key []byte) ([]byte, bool, error) {
	r.db.mu.RLock()
	defer r.db.mu.RUnlock()
	if r.db.data == nil {
		return nil, false, ErrClosed
	}
	if n := r.db.data[r.name].get(string(key)); n != nil {
		return n.value, true, nil
	}
	return nil, false, nil
}

func (r *memReadOnly) Range(from, to []byte) iter.Seq2[[]byte, []byte] {
	from = bytes.Clone(from)
	if to != nil {
		to = append([]byte{}, to...)
	}
	return func(yield func([]byte, []byte) bool) { r.iterate(from, to, yield) }
}

func (r *memReadOnly) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) { r.iterate(nil, nil, yield) }
}

type memKV struct {
	key   string
	value []byte
}

func (r *memReadOnly) iterate(from, to []byte, yield func([]byte, []byte) bool) {
	buf := make([]memKV, 0, memReadOnlyChunk)
	last, started := string(from), false
	for {
		buf = buf[:0]
		r.db.mu.RLock()
		if r.db.data == nil {
			r.db.mu.RUnlock()
			r.err.set(ErrClosed)
			return
		}
		l := r.db.data[r.name]
		var n *slNode
		if started {
			n = l.seekGT(last)
		} else {
			n = l.seekGE(last)
		}
		for ; n != nil && len(buf) < memReadOnlyChunk; n = n.next[0] {
			if to != nil && bytes.Compare(keyBytes(n.key), to) >= 0 {
				break
			}
			buf = append(buf, memKV{n.key, n.value})
		}
		r.db.mu.RUnlock()
		for _, kv := range buf {
			if !yield(keyBytes(kv.key), kv.value) {
				return
			}
		}
		if len(buf) < memReadOnlyChunk {
			return
		}
		last, started = buf[len(buf)-1].key, true
	}
}

func (r *memReadOnly) ApproximateCount() int64 {
	r.db.mu.RLock()
	defer r.db.mu.RUnlock()
	if r.db.data == nil {
		return 0
	}
	return int64(r.db.data[r.name].len)
}

func (r *memReadOnly) Err() error { return r.err.get() }

type memRestorer struct {
	db   *MemDB
	name string
	list *skiplist
	next int64
	set  bool
	done bool
}

func (r *memRestorer) Apply(key, value []byte, offset int64) error {
	if r.done {
		return ErrClosed
	}
	if r.db.closed.Load() {
		return ErrClosed
	}
	r.db.mu.Lock()
	if value == nil {
		r.list.remove(string(key))
	} else {
		n, _ := r.list.upsert(string(key))
		n.value = bytes.Clone(value)
		if n.value == nil {
			n.value = []byte{}
		}
	}
	if !r.set || offset+1 > r.next {
		r.next, r.set = offset+1, true
	}
	r.db.ckpts[r.name] = r.next
	r.db.mu.Unlock()
	return nil
}

func (r *memRestorer) Advance(next int64) {
	if r.done || r.db.closed.Load() || (r.set && next <= r.next) {
		return
	}
	r.next, r.set = next, true
	r.db.mu.Lock()
	r.db.ckpts[r.name] = next
	r.db.mu.Unlock()
}

func (r *memRestorer) Finish() error {
	r.done = true
	return nil
}
