package stream

import (
	"fmt"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
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
	// view reads the table's current rows in a task, for joins (Kafka
	// Streams' KTableValueGetterSupplier); views are the stores it reads,
	// which a join node must be connected to.
	view  func(t *topo.Task) (getter[K, V], error)
	views []string
}

// StoreName returns the name of the store that materializes t, or "" when t
// is computed from its parent (Filter, MapValues).
func (t Table[K, V]) StoreName() string { return t.store }

// SourceTable reads topic as a table: each record upserts its key, a record
// with a nil value (a tombstone) deletes it (and is forwarded as a delete
// even when the key was absent, as in Kafka Streams), and a record without a key is
// skipped, counted and logged (see App.DroppedRecords), as Kafka Streams'
// KTableSource does. The table is materialized in a timestamped store
// (each row with the timestamp of its last update) named by the
// Materialized option (default "<topic>-STATE-STORE-<n>"), with a
// changelog topic "<app>-<store>-changelog". Nodes are named as Kafka
// Streams names them: a source KSTREAM-SOURCE-<n> and a processor
// KTABLE-SOURCE-<n+1>, or "<name>-source" and "<name>" with the Named
// option (Consumed.as).
func SourceTable[K, V any](b *Builder, topic string, ks serde.Serde[K], vs serde.Serde[V], opts ...Option) Table[K, V] {
	o := collect(opts)
	store := o.store
	if store == "" {
		store = b.g.NewStoreName(topic + "-")
	}
	srcName := b.g.NewName("KSTREAM-SOURCE")
	if o.name != "" {
		srcName = o.name + "-source"
	}
	src := b.g.AddNamed(topo.KindSource, srcName)
	src.Topics = []string{topic}
	if ks == nil || vs == nil {
		b.g.Errorf("table source %s (topic %s): a table needs a key serde and a value serde", src.Name, topic)
	}
	n := b.g.Add(topo.KindProcessor, "KTABLE-SOURCE", o.name, src)
	b.addStore(n, store, ks, timestampedSerde[V]{vs}, true)
	name := src.Name
	src.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K, *V](children)
		return topo.SourceFunc(func(t *topo.Task, r *kgo.Record) error {
			if r.Key == nil {
				t.Drop(name, topo.DropNullKey)
				return nil
			}
			k, err := ks.Deserialize(r.Topic, r.Key)
			if err != nil {
				return &topo.SerdeError{Op: "deserialize", Part: "key", Topic: r.Topic, Node: name, Err: err}
			}
			var vp *V
			if r.Value != nil {
				v, err := vs.Deserialize(r.Topic, r.Value)
				if err != nil {
					return &topo.SerdeError{Op: "deserialize", Part: "value", Topic: r.Topic, Node: name, Err: err}
				}
				vp = &v
			}
			return next(t, Record[K, *V]{Key: k, Value: vp, Timestamp: r.Timestamp.UnixMilli(), Headers: fromKgoHeaders(r.Headers), raw: r.Key})
		}), nil
	}
	n.Build = func(t *topo.Task, children []any) (any, error) {
		st, err := t.Store(store)
		if err != nil {
			return nil, err
		}
		next := fanout[K, change[V]](children)
		var buf []byte
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
				_, vb, err := state.SplitTimestamped(ob)
				if err != nil {
					return storeErr(store, err)
				}
				if c.old, err = vs.Deserialize(store, vb); err != nil {
					return storeErr(store, err)
				}
				c.hasOld = true
			}
			if r.Value == nil {
				// A delete of a key the table does not hold changes nothing
				// here, but is still forwarded, as Kafka Streams'
				// KTableSource does: ToStream writes the tombstone, and the
				// operators that forward only real changes (Filter, GroupBy)
				// drop it.
				if ok {
					if err := st.Delete(kb); err != nil {
						return storeErr(store, err)
					}
				}
			} else {
				c.new, c.hasNew = *r.Value, true
				vb, err := vs.Serialize(store, c.new)
				if err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "value", Topic: store, Node: n.Name, Err: err}
				}
				buf = state.AppendTimestamped(buf[:0], r.Timestamp, vb)
				if err := st.Put(kb, buf); err != nil {
					return storeErr(store, err)
				}
			}
			return next(t, Record[K, change[V]]{Key: r.Key, Value: c, Timestamp: r.Timestamp, Headers: r.Headers, raw: kb})
		}), nil
	}
	return materializedTable(b, n, ks, vs, store)
}

// materializedTable returns the table of node n, whose rows are kept in
// the timestamped store.
func materializedTable[K, V any](b *Builder, n *topo.Node, ks serde.Serde[K], vs serde.Serde[V], store string) Table[K, V] {
	return Table[K, V]{b: b, n: n, ks: ks, vs: vs, store: store, view: storeView(store, ks, vs), views: []string{store}}
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
// matching is deleted from the result. It forwards only real changes of
// the filtered table: nothing for an update of a row that neither matched
// before nor matches now, and a delete only for a row that was in the
// result. (Kafka Streams without a record cache also forwards deletes for
// such rows; see decision 2 in docs/ARCHITECTURE.md.)
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
	out := Table[K, V]{b: t.b, n: n, ks: t.ks, vs: t.vs, views: t.views}
	if t.view != nil {
		parent := t.view
		out.view = func(tk *topo.Task) (getter[K, V], error) {
			g, err := parent(tk)
			if err != nil {
				return nil, err
			}
			return func(k K, kb []byte) (V, int64, bool, error) {
				v, ts, ok, err := g(k, kb)
				if err != nil || !ok || !keep(k, v) {
					var zero V
					return zero, 0, false, err
				}
				return v, ts, true, nil
			}, nil
		}
	}
	return out
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
	out := Table[K, V2]{b: t.b, n: n, ks: t.ks, vs: sameSerde[V2](t.vs), views: t.views}
	if t.view != nil {
		parent := t.view
		out.view = func(tk *topo.Task) (getter[K, V2], error) {
			g, err := parent(tk)
			if err != nil {
				return nil, err
			}
			return func(k K, kb []byte) (V2, int64, bool, error) {
				v, ts, ok, err := g(k, kb)
				if err != nil || !ok {
					var zero V2
					return zero, 0, false, err
				}
				return f(v), ts, true, nil
			}, nil
		}
	}
	return out
}

// ToStream returns the stream of the table's updates, as Kafka Streams'
// KTable#toStream: one record per insert or update with the row's new
// value, and one tombstone per deleted row (see Record.Tombstone), so
// that ToStream().To(topic) keeps a compacted topic equal to the table.
// The Named option names the node (default KTABLE-TOSTREAM-<n>).
func (t Table[K, V]) ToStream(opts ...Option) Stream[K, V] {
	n := t.b.g.Add(topo.KindProcessor, "KTABLE-TOSTREAM", collect(opts).name, t.n)
	n.KeyUse = topo.Passes
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K, V](children)
		return proc[K, change[V]](func(tk *topo.Task, r Record[K, change[V]]) error {
			return next(tk, Record[K, V]{Key: r.Key, Value: r.Value.new, Timestamp: r.Timestamp, Headers: r.Headers, raw: r.raw, tomb: !r.Value.hasNew})
		}), nil
	}
	// A table's updates carry the key's bytes made with the table's key
	// serde.
	return Stream[K, V]{b: t.b, n: n, ks: t.ks, vs: t.vs, rawKS: true}
}

// To writes the table's changelog to topic: upserts with the new value,
// deletions as tombstones (nil value). A nil serde means the table's own.
// It is ToStream().To(topic, ks, vs), and adds the same two nodes
// (KTABLE-TOSTREAM-<n>, then the sink, which the Named option names).
func (t Table[K, V]) To(topic string, ks serde.Serde[K], vs serde.Serde[V], opts ...Option) {
	t.ToStream().To(topic, ks, vs, opts...)
}

// timestampedSerde reads the values of a timestamped store for queries:
// it drops the timestamp in front of the value (see state.AppendTimestamped).
type timestampedSerde[V any] struct{ vs serde.Serde[V] }

// Serialize writes v behind a zero timestamp.
func (s timestampedSerde[V]) Serialize(topic string, v V) ([]byte, error) {
	b, err := s.vs.Serialize(topic, v)
	if err != nil {
		return nil, err
	}
	return state.AppendTimestamped(nil, 0, b), nil
}

// Deserialize reads the value behind the timestamp.
func (s timestampedSerde[V]) Deserialize(topic string, b []byte) (V, error) {
	_, vb, err := state.SplitTimestamped(b)
	if err != nil {
		var zero V
		return zero, err
	}
	return s.vs.Deserialize(topic, vb)
}
