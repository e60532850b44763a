package streamtest

import (
	"fmt"
	"iter"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Store returns a read-only view of the key-value store called name over
// all the partitions (tasks) of its sub-topology, typed by the serdes the
// topology gave it, as App.Store does for a running App. It reads committed
// data: with the default Config.CommitEvery of 1, everything processed.
// Get finds a key's partition by hashing its serialized key; All and Range
// read the partitions one after another, each in serialized-key order.
// An unknown store, or types other than the store's, fail the test.
//
//	counts := d.Store[string, int64]("word-counts")
//	n, ok, err := counts.Get("hello")
func (d *Driver) Store[K, V any](name string) state.ReadOnlyKeyValue[K, V] {
	d.helper()
	v, err := store[K, V](d, name)
	if err != nil {
		d.fatal(err)
		return nil
	}
	return v
}

func store[K, V any](d *Driver, name string) (*storeView[K, V], error) {
	for _, def := range d.g.Stores {
		if def.Name != name {
			continue
		}
		if def.RetentionMs > 0 {
			return nil, fmt.Errorf("%w: store %q is a window store: read it with WindowStore", stream.ErrUnknownStore, name)
		}
		ks, ok1 := def.KeySerde.(serde.Serde[K])
		vs, ok2 := def.ValueSerde.(serde.Serde[V])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: store %q holds other types than %T and %T", stream.ErrUnknownStore, name, *new(K), *new(V))
		}
		v := &storeView[K, V]{d: d, name: name, ks: ks, vs: vs}
		sub := def.Node.Sub()
		for _, t := range d.tasks {
			if t.ID.Subtopology != sub {
				continue
			}
			ro, err := t.DB.ReadOnly(name)
			if err != nil {
				return nil, err
			}
			v.parts = append(v.parts, state.NewReadOnlyKeyValue(ro, ks, vs, name))
		}
		return v, nil
	}
	for _, def := range d.g.Globals {
		if def.Store != name {
			continue
		}
		ks, ok1 := def.KeySerde.(serde.Serde[K])
		vs, ok2 := def.ValueSerde.(serde.Serde[V])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: store %q holds other types than %T and %T", stream.ErrUnknownStore, name, *new(K), *new(V))
		}
		// One copy of the whole table: one "partition".
		return &storeView[K, V]{d: d, name: name, ks: ks, vs: vs, parts: []state.ReadOnlyKeyValue[K, V]{state.NewReadOnlyKeyValue(def.Data(), ks, vs, name)}}, nil
	}
	return nil, fmt.Errorf("%w: %q; the topology's stores are named by stream.Materialized on their operators (or automatically) and by the specs given to stream.WithStores", stream.ErrUnknownStore, name)
}

// storeView is a store read over all partitions.
type storeView[K, V any] struct {
	d     *Driver
	name  string
	ks    serde.Serde[K]
	vs    serde.Serde[V]
	parts []state.ReadOnlyKeyValue[K, V] // by partition
}

var _ state.ReadOnlyKeyValue[int, int] = (*storeView[int, int])(nil)

func (v *storeView[K, V]) Get(key K) (V, bool, error) {
	kb, err := v.ks.Serialize(v.name, key)
	if err != nil {
		var zero V
		return zero, false, err
	}
	p := 0
	if kb != nil {
		p = v.d.part.Partition(&kgo.Record{Key: kb}, len(v.parts))
	}
	return v.parts[p].Get(key)
}

func (v *storeView[K, V]) Range(from, to K) iter.Seq2[K, V] {
	return v.each(func(s state.ReadOnlyKeyValue[K, V]) iter.Seq2[K, V] { return s.Range(from, to) })
}

func (v *storeView[K, V]) All() iter.Seq2[K, V] {
	return v.each(func(s state.ReadOnlyKeyValue[K, V]) iter.Seq2[K, V] { return s.All() })
}

func (v *storeView[K, V]) each(seq func(state.ReadOnlyKeyValue[K, V]) iter.Seq2[K, V]) iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for _, s := range v.parts {
			for k, val := range seq(s) {
				if !yield(k, val) {
					return
				}
			}
		}
	}
}

func (v *storeView[K, V]) ApproximateCount() int64 {
	var n int64
	for _, s := range v.parts {
		n += s.ApproximateCount()
	}
	return n
}

func (v *storeView[K, V]) Err() error {
	for _, s := range v.parts {
		if err := s.Err(); err != nil {
			return err
		}
	}
	return nil
}

// WindowStore returns a read-only view of the window store called name
// (the store of a windowed aggregation) over all the partitions of its
// sub-topology, as App.WindowStore does for a running App: Fetch(key,
// from, to) and FetchAll(from, to) by window start. It reads committed
// data. An unknown store, a store that is not a window store, or types
// other than the store's fail the test.
func (d *Driver) WindowStore[K, V any](name string) state.ReadOnlyWindow[K, V] {
	d.helper()
	for _, def := range d.g.Stores {
		if def.Name != name {
			continue
		}
		ks, ok1 := def.KeySerde.(serde.Serde[K])
		vs, ok2 := def.ValueSerde.(serde.Serde[V])
		if !ok1 || !ok2 || def.RetentionMs <= 0 || def.Session {
			d.fatal(fmt.Errorf("%w: store %q is not a window store of %T and %T", stream.ErrUnknownStore, name, *new(K), *new(V)))
			return nil
		}
		var parts []state.ReadOnlyWindow[K, V]
		sub := def.Node.Sub()
		for _, t := range d.tasks {
			if t.ID.Subtopology != sub {
				continue
			}
			ro, err := t.DB.ReadOnly(name)
			if err != nil {
				d.fatal(err)
				return nil
			}
			parts = append(parts, state.NewReadOnlyWindow(ro, ks, vs, name, def.WindowSizeMs, def.RetentionMs))
		}
		return state.MultiWindow(parts)
	}
	d.fatal(fmt.Errorf("%w: %q", stream.ErrUnknownStore, name))
	return nil
}

// SessionStore returns a read-only view of the session store called name
// (the store of a session-windowed aggregation) over all the partitions of
// its sub-topology, as stream.SessionStore does for a running App:
// Fetch(key) yields every session of key by end then start,
// FetchSession(key, start, end) returns one session, FetchAll yields every
// session, one partition after another. It reads committed data. An
// unknown store, a store that is not a session store, or types other
// than the store's fail the test.
//
//	sessions := d.SessionStore[string, int64]("sessions")
//	for s, n := range sessions.Fetch("alice") { ... }
func (d *Driver) SessionStore[K, V any](name string) state.ReadOnlySession[K, V] {
	d.helper()
	for _, def := range d.g.Stores {
		if def.Name != name {
			continue
		}
		ks, ok1 := def.KeySerde.(serde.Serde[K])
		vs, ok2 := def.ValueSerde.(serde.Serde[V])
		if !ok1 || !ok2 || !def.Session {
			d.fatal(fmt.Errorf("%w: store %q is not a session store of %T and %T", stream.ErrUnknownStore, name, *new(K), *new(V)))
			return nil
		}
		var parts []state.ReadOnlySession[K, V]
		sub := def.Node.Sub()
		for _, t := range d.tasks {
			if t.ID.Subtopology != sub {
				continue
			}
			ro, err := t.DB.ReadOnly(name)
			if err != nil {
				d.fatal(err)
				return nil
			}
			parts = append(parts, state.NewReadOnlySession(ro, ks, vs, name, def.RetentionMs))
		}
		return state.MultiSession(parts)
	}
	d.fatal(fmt.Errorf("%w: %q", stream.ErrUnknownStore, name))
	return nil
}
