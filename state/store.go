package state

import (
	"errors"
	"iter"
	"sync/atomic"

	"github.com/brookstream/brook/serde"
)

// Errors returned by the stores of this package.
var (
	// ErrClosed is returned by operations on a closed DB or MemDB, or on a
	// store or read-only view belonging to one.
	ErrClosed = errors.New("state: closed")
	// ErrStoreOpen is returned by DB.Store and MemDB.Store when the store
	// name is already open in that DB.
	ErrStoreOpen = errors.New("state: store already open")
)

// ReadOnlyStore is the read side of a byte-level key-value store. Keys are
// ordered by bytes.Compare.
//
// Memory ownership follows Pebble:
//   - Arguments may be modified by the caller as soon as a call returns.
//   - The value returned by Get must not be modified; it stays valid
//     indefinitely (it is a copy or an immutable cache entry).
//   - The key and value yielded by Range and All must not be modified and are
//     valid only until the loop body returns (the next step of the
//     iteration); copy them to keep them.
//
// Sequences returned by Range and All can be ranged over any number of times;
// each range starts a fresh iteration over the state at that moment. Each
// iteration releases its resources (Pebble iterators) when the loop ends,
// including through break, return or panic. Writes made to the store during
// an iteration may or may not be observed by it.
type ReadOnlyStore interface {
	// Name returns the store name.
	Name() string
	// Get returns the value of key; ok is false if key is absent.
	Get(key []byte) (value []byte, ok bool, err error)
	// Range yields the entries with from <= key < to in key order. A nil (or
	// empty) from starts at the first key; a nil to means no upper bound,
	// while a non-nil empty to gives an empty range.
	Range(from, to []byte) iter.Seq2[[]byte, []byte]
	// All yields every entry in key order.
	All() iter.Seq2[[]byte, []byte]
	// ApproximateCount returns an estimate of the number of entries. It is
	// exact for in-memory stores and small Pebble stores, and an estimate
	// from sstable statistics for large Pebble stores.
	ApproximateCount() int64
	// Err returns the first error met by an iteration over this store (which
	// stops that iteration early), or nil. Once set it stays set: such
	// errors mean a closed DB, corrupt data or a failing disk.
	Err() error
}

// Store is a byte-level key-value store: a ReadOnlyStore plus writes.
type Store interface {
	ReadOnlyStore
	// Put sets key to value. The caller may modify key and value once Put
	// returns. A nil value is stored as an empty value; use Delete to remove
	// a key.
	Put(key, value []byte) error
	// Delete removes key. Deleting an absent key is not an error (it still
	// produces a changelog tombstone).
	Delete(key []byte) error
}

// ReadOnlyKeyValue is the read side of a typed key-value store.
type ReadOnlyKeyValue[K, V any] interface {
	// Get returns the value of key; ok is false if key is absent.
	Get(key K) (V, bool, error)
	// Range yields the entries with from <= key < to, compared as serialized
	// bytes (bytes.Compare), in that order. Each range over the sequence
	// starts a new iteration; the sequence can be used many times.
	Range(from, to K) iter.Seq2[K, V]
	// All yields every entry in serialized-key order. The sequence can be
	// used many times.
	All() iter.Seq2[K, V]
	// ApproximateCount returns an estimate of the number of entries.
	ApproximateCount() int64
	// Err returns the first error met by an iteration (a serialization or
	// deserialization error, or an error of the underlying store), which
	// stopped that iteration early; nil otherwise. Once set it stays set.
	Err() error
}

// KeyValue is a typed key-value store (what processors and the DSL use).
type KeyValue[K, V any] interface {
	ReadOnlyKeyValue[K, V]
	// Put sets key to value.
	Put(key K, value V) error
	// Delete removes key.
	Delete(key K) error
}

// TaskDB is what the runtime drives for the stores of one task; *DB (Pebble)
// and *MemDB (in memory) implement it. See the package documentation for the
// commit protocol. Except for the stores returned by ReadOnly, a TaskDB and
// its stores are used by one goroutine at a time.
type TaskDB interface {
	// Store opens the store name with a write-back cache budget in bytes
	// (DefaultCacheBudget if <= 0).
	Store(name string, cacheBudgetBytes int) (*CachedStore, error)
	// ReadOnly returns a view of committed data safe for concurrent use.
	ReadOnly(name string) (ReadOnlyStore, error)
	// NeedsCommit reports whether any store is over its cache budget.
	NeedsCommit() bool
	// Commit applies what the stores' Flush staged plus the checkpoints
	// (store name -> next changelog offset) atomically.
	Commit(checkpoints map[string]int64) error
	// Abort discards staged writes and all store caches.
	Abort()
	// Checkpoint returns the committed checkpoint of a store.
	Checkpoint(name string) (offset int64, ok bool, err error)
	// Restorer returns a Restorer applying changelog records of a store.
	Restorer(name string) (Restorer, error)
	// ClearStore deletes every committed entry and the checkpoint of a
	// store and drops its cache, so it can be restored from offset 0.
	ClearStore(name string) error
	// Close releases the TaskDB; uncommitted writes are lost.
	Close() error
}

// Restorer applies changelog records of one store directly to its committed
// data, bypassing the cache, and keeps the store's checkpoint in step with
// the records applied. Records must be applied in offset order. Work not
// yet covered by a batch commit is lost if Finish is not called; that is
// safe, since the checkpoint never runs ahead of the data.
type Restorer interface {
	// Apply applies one changelog record: value nil is a delete, anything
	// else (including an empty value) a put. offset is the record's
	// changelog offset; the checkpoint becomes offset+1. The caller may
	// reuse key and value once Apply returns.
	Apply(key, value []byte, offset int64) error
	// Advance moves the checkpoint to next without a record, for offsets
	// that carry none (transaction markers, compacted gaps), such as the
	// end offset reached at the end of restore. It never moves it back.
	Advance(next int64)
	// Finish commits what remains and releases the Restorer.
	Finish() error
}

// NewKeyValue returns a typed view of s that serializes keys with ks and
// values with vs, passing topic (normally the store's changelog topic) to
// the serdes. Key order is the order of the serialized keys.
func NewKeyValue[K, V any](s Store, ks serde.Serde[K], vs serde.Serde[V], topic string) KeyValue[K, V] {
	return &typedKV[K, V]{typedRO: typedRO[K, V]{s: s, ks: ks, vs: vs, topic: topic}, w: s}
}

// NewReadOnlyKeyValue returns a typed view of s (for example a DB.ReadOnly
// view used by interactive queries).
func NewReadOnlyKeyValue[K, V any](s ReadOnlyStore, ks serde.Serde[K], vs serde.Serde[V], topic string) ReadOnlyKeyValue[K, V] {
	return &typedRO[K, V]{s: s, ks: ks, vs: vs, topic: topic}
}

type typedRO[K, V any] struct {
	s     ReadOnlyStore
	ks    serde.Serde[K]
	vs    serde.Serde[V]
	topic string
	err   stickyErr
}

type typedKV[K, V any] struct {
	typedRO[K, V]
	w Store
}

func (t *typedRO[K, V]) Get(key K) (V, bool, error) {
	var zero V
	kb, err := t.ks.Serialize(t.topic, key)
	if err != nil {
		return zero, false, err
	}
	vb, ok, err := t.s.Get(kb)
	if err != nil || !ok {
		return zero, false, err
	}
	v, err := t.vs.Deserialize(t.topic, vb)
	if err != nil {
		return zero, false, err
	}
	return v, true, nil
}

func (t *typedRO[K, V]) Range(from, to K) iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		fb, err := t.ks.Serialize(t.topic, from)
		if err != nil {
			t.err.set(err)
			return
		}
		tb, err := t.ks.Serialize(t.topic, to)
		if err != nil {
			t.err.set(err)
			return
		}
		if tb == nil {
			tb = []byte{} // a nil bound would mean "unbounded"
		}
		t.typed(t.s.Range(fb, tb), yield)
	}
}

func (t *typedRO[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) { t.typed(t.s.All(), yield) }
}

func (t *typedRO[K, V]) typed(seq iter.Seq2[[]byte, []byte], yield func(K, V) bool) {
	for kb, vb := range seq {
		k, err := t.ks.Deserialize(t.topic, kb)
		if err != nil {
			t.err.set(err)
			return
		}
		v, err := t.vs.Deserialize(t.topic, vb)
		if err != nil {
			t.err.set(err)
			return
		}
		if !yield(k, v) {
			return
		}
	}
}

func (t *typedRO[K, V]) ApproximateCount() int64 { return t.s.ApproximateCount() }

func (t *typedRO[K, V]) Err() error {
	if err := t.err.get(); err != nil {
		return err
	}
	return t.s.Err()
}

func (t *typedKV[K, V]) Put(key K, value V) error {
	kb, err := t.ks.Serialize(t.topic, key)
	if err != nil {
		return err
	}
	vb, err := t.vs.Serialize(t.topic, value)
	if err != nil {
		return err
	}
	return t.w.Put(kb, vb)
}

func (t *typedKV[K, V]) Delete(key K) error {
	kb, err := t.ks.Serialize(t.topic, key)
	if err != nil {
		return err
	}
	return t.w.Delete(kb)
}

// stickyErr keeps the first error set; safe for concurrent use.
type stickyErr struct{ p atomic.Pointer[error] }

func (s *stickyErr) set(err error) {
	if err != nil {
		s.p.CompareAndSwap(nil, &err)
	}
}

func (s *stickyErr) get() error {
	if p := s.p.Load(); p != nil {
		return *p
	}
	return nil
}
