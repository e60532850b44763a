package stream

import (
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/brookstream/brook/window"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrUnknownStore is returned by App.Store for a name the topology has no
// store of, or a store whose types differ from the ones asked for.
var ErrUnknownStore = errors.New("brook: unknown store")

// NotLocalError is a key whose partition (task) this instance does not hold:
// another instance of the app owns it, or it is being restored here.
type NotLocalError struct {
	Store     string
	Partition int32
	// Owner is the endpoint (Config.ApplicationServer) of the instance
	// that holds the partition since the last rebalance: another
	// instance, or this one while the partition restores here. It is zero
	// when not known (see ErrOwnerUnknown); App.KeyOwner tells more.
	Owner HostInfo
}

// Error implements error: it says what went wrong and what to do.
func (e *NotLocalError) Error() string {
	if e.Owner != (HostInfo{}) {
		return fmt.Sprintf("brook: store %q: the key belongs to partition %d, which this instance does not hold now: %s holds it (ask it, or retry if it is this instance and the partition is still restoring)", e.Store, e.Partition, e.Owner)
	}
	return fmt.Sprintf("brook: store %q: the key belongs to partition %d, which this instance does not hold (another instance owns it, or it is still restoring)", e.Store, e.Partition)
}

// StoreView is a read-only view of a key-value store over the tasks this
// instance holds, for interactive queries. It reads committed state: what
// the last commit made durable, at most CommitInterval behind processing.
// It is safe for concurrent use.
type StoreView[K, V any] struct {
	app  *App
	name string
	ks   serde.Serde[K]
	vs   serde.Serde[V]
	part kgo.TopicPartitioner
	// global is set for the store of a global table: one full copy.
	global bool
}

// Store returns a view of the store called name, typed by the serdes the
// topology gave it. It fails with ErrUnknownStore if the topology has no
// such store or K and V are not its types.
//
//	counts, err := app.Store[string, int64]("word-counts")
//	n, ok, err := counts.Get("hello")
func (a *App) Store[K, V any](name string) (*StoreView[K, V], error) {
	for _, d := range a.b.g.Stores {
		if d.Name != name {
			continue
		}
		if d.RetentionMs > 0 {
			return nil, fmt.Errorf("%w: store %q is a window store: read it with stream.WindowStore", ErrUnknownStore, name)
		}
		ks, ok1 := d.KeySerde.(serde.Serde[K])
		vs, ok2 := d.ValueSerde.(serde.Serde[V])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: store %q holds other types than %T and %T", ErrUnknownStore, name, *new(K), *new(V))
		}
		return &StoreView[K, V]{app: a, name: name, ks: ks, vs: vs, part: keyPartitioner}, nil
	}
	for _, d := range a.b.g.Globals {
		if d.Store != name {
			continue
		}
		ks, ok1 := d.KeySerde.(serde.Serde[K])
		vs, ok2 := d.ValueSerde.(serde.Serde[V])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: store %q holds other types than %T and %T", ErrUnknownStore, name, *new(K), *new(V))
		}
		return &StoreView[K, V]{app: a, name: name, ks: ks, vs: vs, global: true}, nil
	}
	return nil, fmt.Errorf("%w: %q; the topology's stores are named by stream.Materialized on their operators, or automatically (see Builder.Describe)", ErrUnknownStore, name)
}

// Get returns the value of key. It fails with a *NotLocalError when another
// instance holds the key's partition, found by hashing the serialized key as
// Kafka's default partitioner does.
func (v *StoreView[K, V]) Get(key K) (V, bool, error) {
	var zero V
	kb, err := v.ks.Serialize(v.name, key)
	if err != nil {
		return zero, false, err
	}
	if v.global {
		// Every instance holds the whole global table, once loaded.
		ro := v.app.eng.GlobalStore(v.name)
		if ro == nil {
			return zero, false, &NotLocalError{Store: v.name, Partition: -1}
		}
		b, ok, err := ro.Get(kb)
		if err != nil || !ok {
			return zero, false, err
		}
		val, err := v.vs.Deserialize(v.name, b)
		return val, err == nil, err
	}
	views, n, _ := v.app.eng.Stores(v.name)
	if n == 0 {
		return zero, false, &NotLocalError{Store: v.name, Partition: -1}
	}
	p := int32(v.part.Partition(&kgo.Record{Key: kb}, int(n)))
	for _, ls := range views {
		if ls.Partition != p {
			continue
		}
		b, ok, err := ls.Store.Get(kb)
		if err != nil || !ok {
			return zero, false, err
		}
		val, err := v.vs.Deserialize(v.name, b)
		return val, err == nil, err
	}
	return zero, false, &NotLocalError{Store: v.name, Partition: p, Owner: v.app.ownerOf(v.name, p)}
}

// Range yields the entries with from <= key < to (in serialized-key
// order) from every partition this instance holds, one partition after
// another. The sequence can be ranged over more than once; each range reads
// the state of that moment. An error (a closed or failing store) ends
// the sequence early.
func (v *StoreView[K, V]) Range(from, to K) iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for _, s := range v.local() {
			for k, val := range s.Range(from, to) {
				if !yield(k, val) {
					return
				}
			}
		}
	}
}

// All yields every entry of the partitions this instance holds.
func (v *StoreView[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for _, s := range v.local() {
			for k, val := range s.All() {
				if !yield(k, val) {
					return
				}
			}
		}
	}
}

// ApproximateCount returns about how many entries the local partitions hold.
func (v *StoreView[K, V]) ApproximateCount() int64 {
	var n int64
	for _, s := range v.local() {
		n += s.ApproximateCount()
	}
	return n
}

func (v *StoreView[K, V]) local() []state.ReadOnlyKeyValue[K, V] {
	if v.global {
		ro := v.app.eng.GlobalStore(v.name)
		if ro == nil {
			return nil
		}
		return []state.ReadOnlyKeyValue[K, V]{state.NewReadOnlyKeyValue(ro, v.ks, v.vs, v.name)}
	}
	views, _, _ := v.app.eng.Stores(v.name)
	out := make([]state.ReadOnlyKeyValue[K, V], len(views))
	for i, ls := range views {
		out[i] = state.NewReadOnlyKeyValue(ls.Store, v.ks, v.vs, v.name)
	}
	return out
}

// WindowStore returns a view of the window store called name (the store
// of a windowed aggregation, named with Materialized), typed by the key
// serde and the aggregate's serde the topology gave it, for interactive
// queries: Fetch(key, from, to) and FetchAll(from, to) yield the windows
// whose start is in [from, to] from the partitions this instance holds,
// one partition after another (a sliding window's End is its start plus
// the time difference). It reads committed state, as Store does.
// It fails with ErrUnknownStore if the topology has no such window store
// or K and V are not its types.
//
//	counts, err := stream.WindowStore[string, int64](app, "views-per-minute")
//	for w, n := range counts.Fetch("home", from, to) { ... }
//
// It is a function because the view's methods yield window.Windowed[K].
func WindowStore[K, V any](a *App, name string) (state.ReadOnlyWindow[K, V], error) {
	for _, d := range a.b.g.Stores {
		if d.Name != name {
			continue
		}
		ks, ok1 := d.KeySerde.(serde.Serde[K])
		vs, ok2 := d.ValueSerde.(serde.Serde[V])
		if d.Session {
			return nil, fmt.Errorf("%w: store %q is a session store: read it with stream.SessionStore", ErrUnknownStore, name)
		}
		if !ok1 || !ok2 || d.RetentionMs <= 0 {
			return nil, fmt.Errorf("%w: store %q is not a window store of %T and %T", ErrUnknownStore, name, *new(K), *new(V))
		}
		return &appWindow[K, V]{app: a, name: name, ks: ks, vs: vs, size: d.WindowSizeMs, retention: d.RetentionMs}, nil
	}
	return nil, fmt.Errorf("%w: %q; name window stores with stream.Materialized", ErrUnknownStore, name)
}

type appWindow[K, V any] struct {
	app       *App
	name      string
	ks        serde.Serde[K]
	vs        serde.Serde[V]
	size      int64
	retention int64
	mu        sync.Mutex
	last      state.ReadOnlyWindow[K, V] // the view of the latest Fetch or FetchAll, for Err
}

func (w *appWindow[K, V]) local() state.ReadOnlyWindow[K, V] {
	views, _, _ := w.app.eng.Stores(w.name)
	parts := make([]state.ReadOnlyWindow[K, V], len(views))
	for i, ls := range views {
		parts[i] = state.NewReadOnlyWindow(ls.Store, w.ks, w.vs, w.name, w.size, w.retention)
	}
	m := state.MultiWindow(parts)
	w.mu.Lock()
	w.last = m
	w.mu.Unlock()
	return m
}

func (w *appWindow[K, V]) Fetch(key K, from, to int64) iter.Seq2[window.Windowed[K], V] {
	return w.local().Fetch(key, from, to)
}

func (w *appWindow[K, V]) FetchAll(from, to int64) iter.Seq2[window.Windowed[K], V] {
	return w.local().FetchAll(from, to)
}

func (w *appWindow[K, V]) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		return nil
	}
	return w.last.Err()
}

// SessionStore returns a view of the session store called name (the store
// of a session-windowed aggregation, named with Materialized), typed by
// the key serde and the aggregate's serde the topology gave it, for
// interactive queries, as Kafka Streams' ReadOnlySessionStore:
// Fetch(key) yields every session of key the store holds, by end then
// start; FetchSession(key, start, end) returns one session's aggregate;
// FetchAll yields the sessions of every key of the partitions this
// instance holds, one partition after another. A session's Window holds
// its first and last record's timestamps, both inclusive. It reads
// committed state, as Store does. Fetch and FetchSession find the key's
// partition by hashing its serialized key, as StoreView.Get does: when
// this instance does not hold it, FetchSession fails with a
// *NotLocalError, and Fetch yields nothing and Err returns the
// *NotLocalError. It fails with ErrUnknownStore if the topology has no
// such session store or K and V are not its types.
//
//	sessions, err := stream.SessionStore[string, int64](app, "sessions")
//	for s, n := range sessions.Fetch("alice") { ... }
//	n, ok, err := sessions.FetchSession("alice", s.Window.Start, s.Window.End)
func SessionStore[K, V any](a *App, name string) (state.ReadOnlySession[K, V], error) {
	for _, d := range a.b.g.Stores {
		if d.Name != name {
			continue
		}
		ks, ok1 := d.KeySerde.(serde.Serde[K])
		vs, ok2 := d.ValueSerde.(serde.Serde[V])
		if !ok1 || !ok2 || !d.Session {
			return nil, fmt.Errorf("%w: store %q is not a session store of %T and %T", ErrUnknownStore, name, *new(K), *new(V))
		}
		return &appSession[K, V]{app: a, name: name, ks: ks, vs: vs, retention: d.RetentionMs}, nil
	}
	return nil, fmt.Errorf("%w: %q; name session stores with stream.Materialized", ErrUnknownStore, name)
}

type appSession[K, V any] struct {
	app       *App
	name      string
	ks        serde.Serde[K]
	vs        serde.Serde[V]
	retention int64
	mu        sync.Mutex
	last      state.ReadOnlySession[K, V] // the view of the latest Fetch or FetchAll, for Err
	lastErr   error                       // or the error that stopped it before it read
}

func (w *appSession[K, V]) remember(v state.ReadOnlySession[K, V], err error) {
	w.mu.Lock()
	w.last, w.lastErr = v, err
	w.mu.Unlock()
}

// partition returns the view of the partition that holds key.
func (w *appSession[K, V]) partition(key K) (state.ReadOnlySession[K, V], error) {
	kb, err := w.ks.Serialize(w.name, key)
	if err != nil {
		return nil, err
	}
	views, n, _ := w.app.eng.Stores(w.name)
	if n == 0 {
		return nil, &NotLocalError{Store: w.name, Partition: -1}
	}
	p := int32(keyPartitioner.Partition(&kgo.Record{Key: kb}, int(n)))
	for _, ls := range views {
		if ls.Partition == p {
			return state.NewReadOnlySession(ls.Store, w.ks, w.vs, w.name, w.retention), nil
		}
	}
	return nil, &NotLocalError{Store: w.name, Partition: p, Owner: w.app.ownerOf(w.name, p)}
}

func (w *appSession[K, V]) Fetch(key K) iter.Seq2[window.Windowed[K], V] {
	return func(yield func(window.Windowed[K], V) bool) {
		v, err := w.partition(key)
		w.remember(v, err)
		if err != nil {
			return
		}
		for k, val := range v.Fetch(key) {
			if !yield(k, val) {
				return
			}
		}
	}
}

func (w *appSession[K, V]) FetchSession(key K, start, end int64) (V, bool, error) {
	v, err := w.partition(key)
	if err != nil {
		var zero V
		return zero, false, err
	}
	return v.FetchSession(key, start, end)
}

func (w *appSession[K, V]) FetchAll() iter.Seq2[window.Windowed[K], V] {
	return func(yield func(window.Windowed[K], V) bool) {
		views, _, _ := w.app.eng.Stores(w.name)
		parts := make([]state.ReadOnlySession[K, V], len(views))
		for i, ls := range views {
			parts[i] = state.NewReadOnlySession(ls.Store, w.ks, w.vs, w.name, w.retention)
		}
		m := state.MultiSession(parts)
		w.remember(m, nil)
		for k, val := range m.FetchAll() {
			if !yield(k, val) {
				return
			}
		}
	}
}

func (w *appSession[K, V]) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastErr != nil || w.last == nil {
		return w.lastErr
	}
	return w.last.Err()
}
