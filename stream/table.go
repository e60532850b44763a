package stream

import (
	"fmt"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/twmb/franz-go/pkg/kgo"
)

// change is one update of a table row: its value before and after.
type change[V any] struct {
	old, new       V
	hasOld, hasNew bool
}

// Table is a changelog read as the latest value per key, as a KTable in
// Kafka Streams. A table made by SourceTable or an aggregation is
// materialized in a store that App.Store can query; tables derived with
// Filter or MapValues are computed on the fly from their parent's updates.
//
// A table forwards every update downstream as it happens (Kafka Streams'
// behaviour with its record cache off); the store's write-back cache still
// turns repeated updates of a key into one store write and one changelog
// record per commit.
type Table[K, V any] struct {
	b     *Builder
	n     *topo.Node // emits proc[K, change[V]]
	ks    serde.Serde[K]
	vs    serde.Serde[V]
	store string // "" unless materialized
}

// StoreName returns the name of the store that materializes t, or "" when t
// is computed from its parent (Filter, MapValues).
func (t Table[K, V]) StoreName() string { return t.store }

// SourceTable reads topic as a table: each record upserts its key, a record
// with a nil value (a tombstone) deletes it. The table is materialized in a
// store named by the Named option (default "<topic>-STATE-STORE-<n>") with a
// changelog topic "<app>-<store>-changelog".
func SourceTable[K, V any](b *Builder, topic string, ks serde.Serde[K], vs serde.Serde[V], opts ...Option) Table[K, V] {
	o := collect(opts)
	src := b.g.Add(topo.KindSource, "KTABLE-SOURCE", suffix(o.name, "-source"))
	src.Topics = []string{topic}
	if ks == nil || vs == nil {
		b.g.Errorf("table source %s (topic %s): a table needs a key serde and a value serde", src.Name, topic)
	}
	store := o.name
	if store == "" {
		store = fmt.Sprintf("%s-STATE-STORE-%010d", topic, len(b.g.Nodes))
	}
	n := b.g.Add(topo.KindProcessor, "KTABLE-SOURCE-STORE", o.name, src)
	b.addStore(n, store, ks, vs)
	name := src.Name
	src.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K, *V](children)
		return topo.SourceFunc(func(t *topo.Task, r *kgo.Record) error {
			var k K
			if r.Key != nil {
				var err error
				if k, err = ks.Deserialize(r.Topic, r.Key); err != nil {
					return &topo.SerdeError{Op: "deserialize", Part: "key", Topic: r.Topic, Node: name, Err: err}
				}
			}
			var vp *V
			if r.Value != nil {
				v, err := vs.Deserialize(r.Topic, r.Value)
				if err != nil {
					return &topo.SerdeError{Op: "deserialize", Part: "value", Topic: r.Topic, Node: name, Err: err}
				}
				vp = &v
			}
			return next(t, Record[K, *V]{Key: k, Value: vp, Timestamp: r.Timestamp.UnixMilli(), Headers: fromKgoHeaders(r.Headers)})
		}), nil
	}
	n.Build = func(t *topo.Task, children []any) (any, error) {
		st, err := t.Store(store)
		if err != nil {
			return nil, err
		}
		next := fanout[K, change[V]](children)
		return proc[K, *V](func(t *topo.Task, r Record[K, *V]) error {
			kb, err := ks.Serialize(store, r.Key)
			if err != nil {
				return &topo.SerdeError{Op: "serialize", Part: "key", Topic: store, Node: n.Name, Err: err}
			}
			c := change[V]{}
			ob, ok, err := st.Get(kb)
			if err != nil {
				return storeErr(store, err)
			}
			if ok {
				if c.old, err = vs.Deserialize(store, ob); err != nil {
					return storeErr(store, err)
				}
				c.hasOld = true
			}
			if r.Value == nil {
				if !ok {
					return nil
				}
				if err := st.Delete(kb); err != nil {
					return storeErr(store, err)
				}
			} else {
				c.new, c.hasNew = *r.Value, true
				vb, err := vs.Serialize(store, c.new)
				if err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "value", Topic: store, Node: n.Name, Err: err}
				}
				if err := st.Put(kb, vb); err != nil {
					return storeErr(store, err)
				}
			}
			return next(t, Record[K, change[V]]{Key: r.Key, Value: c, Timestamp: r.Timestamp, Headers: r.Headers, raw: kb})
		}), nil
	}
	return Table[K, V]{b: b, n: n, ks: ks, vs: vs, store: store}
}

func suffix(name, s string) string {
	if name == "" {
		return ""
	}
	return name + s
}

func storeErr(store string, err error) error {
	return &topo.FatalError{Err: fmt.Errorf("store %q: %w", store, err)}
}

// Filter keeps the rows for which keep returns true; a row that stops
// matching is deleted from the result.
func (t Table[K, V]) Filter(keep func(K, V) bool, opts ...Option) Table[K, V] {
	n := t.b.g.Add(topo.KindProcessor, "KTABLE-FILTER", collect(opts).name, t.n)
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K, change[V]](children)
		return proc[K, change[V]](func(tk *topo.Task, r Record[K, change[V]]) error {
			c := r.Value
			c.hasOld = c.hasOld && keep(r.Key, c.old)
			c.hasNew = c.hasNew && keep(r.Key, c.new)
			if !c.hasOld && !c.hasNew {
				return nil
			}
			r.Value = c
			return next(tk, r)
		}), nil
	}
	return Table[K, V]{b: t.b, n: n, ks: t.ks, vs: t.vs}
}

// MapValues computes a new value for every row.
func (t Table[K, V]) MapValues[V2 any](f func(V) V2, opts ...Option) Table[K, V2] {
	n := t.b.g.Add(topo.KindProcessor, "KTABLE-MAPVALUES", collect(opts).name, t.n)
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K, change[V2]](children)
		return proc[K, change[V]](func(tk *topo.Task, r Record[K, change[V]]) error {
			c := change[V2]{hasOld: r.Value.hasOld, hasNew: r.Value.hasNew}
			if c.hasOld {
				c.old = f(r.Value.old)
			}
			if c.hasNew {
				c.new = f(r.Value.new)
			}
			return next(tk, Record[K, change[V2]]{Key: r.Key, Value: c, Timestamp: r.Timestamp, Headers: r.Headers, raw: r.raw})
		}), nil
	}
	return Table[K, V2]{b: t.b, n: n, ks: t.ks, vs: sameSerde[V2](t.vs)}
}

// ToStream returns the stream of the table's updates: one record per
// insert or update with the row's new value. Deletions have no value to
// carry and are not forwarded; Table.To writes them as tombstones.
func (t Table[K, V]) ToStream(opts ...Option) Stream[K, V] {
	n := t.b.g.Add(topo.KindProcessor, "KTABLE-TOSTREAM", collect(opts).name, t.n)
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K, V](children)
		return proc[K, change[V]](func(tk *topo.Task, r Record[K, change[V]]) error {
			if !r.Value.hasNew {
				return nil
			}
			return next(tk, Record[K, V]{Key: r.Key, Value: r.Value.new, Timestamp: r.Timestamp, Headers: r.Headers, raw: r.raw})
		}), nil
	}
	// A table's updates carry the key's bytes made with the table's key
	// serde.
	return Stream[K, V]{b: t.b, n: n, ks: t.ks, vs: t.vs, rawKS: true}
}

// To writes the table's changelog to topic: upserts with the new value,
// deletions as tombstones (nil value). A nil serde means the table's own.
func (t Table[K, V]) To(topic string, ks serde.Serde[K], vs serde.Serde[V], opts ...Option) {
	o := collect(opts)
	n := t.b.g.Add(topo.KindSink, "KTABLE-SINK", o.name, t.n)
	n.SinkTopic = topic
	reuse := ks == nil
	if ks == nil {
		ks = t.ks
	}
	if vs == nil {
		vs = t.vs
	}
	if ks == nil || vs == nil {
		t.b.g.Errorf("sink %s (topic %s): the table's type changed, so To needs a key serde and a value serde", n.Name, topic)
	}
	n.Build = func(*topo.Task, []any) (any, error) {
		return proc[K, change[V]](func(tk *topo.Task, r Record[K, change[V]]) error {
			kb := r.raw
			if !reuse || kb == nil {
				var err error
				if kb, err = ks.Serialize(topic, r.Key); err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "key", Topic: topic, Node: n.Name, Err: err}
				}
			}
			var vb []byte
			var err error
			if r.Value.hasNew {
				if vb, err = vs.Serialize(topic, r.Value.new); err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "value", Topic: topic, Node: n.Name, Err: err}
				}
			}
			return tk.Produce(&kgo.Record{Topic: topic, Key: kb, Value: vb, Timestamp: time.UnixMilli(r.Timestamp), Headers: toKgoHeaders(r.Headers)})
		}), nil
	}
}
