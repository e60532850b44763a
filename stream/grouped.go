package stream

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
)

// Grouped is a stream grouped by key, ready to aggregate: Count, Reduce,
// Aggregate. Records with the same key meet in the same task, which holds
// the key's aggregate in a store.
type Grouped[K, V any] struct {
	s           Stream[K, V]
	repartition bool
	// name names the repartition topic (Kafka Streams' Grouped.as): set by
	// the Named option of GroupBy and GroupByKey.
	name string
}

// GroupByKey groups the stream by its current key. If an operator may
// have changed the key since the source (Map, FlatMap, SelectKey,
// Process), the stream is first written to a repartition topic so that
// each key meets in one task, as in Kafka Streams; this needs the stream's
// serdes (see WithSerdes). The Named option names that topic,
// "<app>-<name>-repartition", as Kafka Streams' Grouped.as does; by
// default it is named after the aggregation's store.
func (s Stream[K, V]) GroupByKey(opts ...Option) Grouped[K, V] {
	return Grouped[K, V]{s: s, repartition: s.rekeyed, name: collect(opts).name}
}

// GroupBy groups the stream by the key that f computes. The stream is
// written to a repartition topic with ks and the stream's value serde, and
// read back by a new sub-topology. The Named option names both the
// key-selecting node and the topic, "<app>-<name>-repartition", as Kafka
// Streams' Grouped.as does; by default the topic is named after the
// aggregation's store.
func (s Stream[K, V]) GroupBy[K2 any](f func(K, V) K2, ks serde.Serde[K2], opts ...Option) Grouped[K2, V] {
	o := collect(opts)
	k := s.SelectKey(f, opts...).WithSerdes(ks, nil)
	return Grouped[K2, V]{s: k, repartition: true, name: o.name}
}

// generatedName matches the names Kafka Streams generates for operators
// (KSTREAM-AGGREGATE-STATE-STORE-0000000002): a repartition topic named
// after one gets generated node names too.
var generatedName = regexp.MustCompile(`^KSTREAM.*-[0-9]{10}$`)

// repartition writes s to the internal topic <app>-<prefix>-repartition
// and reads it back as the source of a new sub-topology, as Kafka Streams'
// KStreamImpl.createRepartitionedSource: a filter node that drops records
// without a key, the sink, and the source. Their names use up three
// numbers; they are generated unless the topic's name was given.
func repartition[K, V any](s Stream[K, V], prefix string) Stream[K, V] {
	b := s.b
	topic := prefix
	if !strings.HasSuffix(topic, "-repartition") {
		topic += "-repartition"
	}
	sinkName, filterName, srcName := b.g.NewName("KSTREAM-SINK"), b.g.NewName("KSTREAM-FILTER"), b.g.NewName("KSTREAM-SOURCE")
	if !generatedName.MatchString(prefix) {
		sinkName, filterName, srcName = topic+"-sink", topic+"-filter", topic+"-source"
	}
	if s.ks == nil || s.vs == nil {
		b.g.Errorf("repartition topic %s: the stream's key or value type changed and has no serde; set them with WithSerdes before grouping", topic)
	}
	f := b.g.AddNamed(topo.KindProcessor, filterName, s.n)
	ks, reuse := s.ks, s.rawKS
	f.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K, V](children)
		return proc[K, V](func(t *topo.Task, r Record[K, V]) error {
			if r.nokey {
				t.Drop(filterName, topo.DropNullKey)
				return nil
			}
			if !reuse || r.raw == nil {
				kb, err := ks.Serialize(topic, r.Key)
				if err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "key", Topic: topic, Node: filterName, Err: err}
				}
				if kb == nil {
					t.Drop(filterName, topo.DropNullKey)
					return nil
				}
				r.raw = kb
			}
			return next(t, r)
		}), nil
	}
	// The filter hands the key's bytes, made with ks, to the sink.
	fs := Stream[K, V]{b: b, n: f, ks: s.ks, vs: s.vs, rawKS: true}
	sink := fs.to(topic, nil, nil, nil, nil, sinkName)
	sink.Internal = true
	src := source(b, []string{topic}, s.ks, s.vs, srcName)
	src.n.Internal = true
	b.g.Repartitions = append(b.g.Repartitions, topo.Repartition{Topic: topic, From: s.n, Sink: sink, Source: src.n})
	return src
}

// Count counts the records per key, as Kafka Streams' count: records
// without a key or with a nil value (a tombstone) are skipped, counted
// and logged (see App.DroppedRecords). The Named option names the node
// (default KSTREAM-AGGREGATE-<n>); Materialized names the store (default
// KSTREAM-AGGREGATE-STATE-STORE-<n>), its changelog and, unless the
// grouping was named, the repartition topic.
func (g Grouped[K, V]) Count(opts ...Option) Table[K, int64] {
	t := g.aggregate("KSTREAM-AGGREGATE", collect(opts),
		func() int64 { return 0 },
		func(_ K, _ V, n int64) int64 { return n + 1 },
		serde.Int64())
	// The count reads no value, only whether there is one, and finds the
	// key's bytes in the record when its input still has the source's key
	// (aggregateNode's reuse; a repartition topic's source does): it then
	// only hands the key on, with its bytes (decision 52).
	t.n.ValueUse = topo.Ignores
	if g.repartition || g.s.rawKS {
		t.n.KeyUse = topo.Passes
	}
	return t
}

// Reduce combines the values of each key: the first value is the start,
// each later one is combined with reduce(aggregate, value). Records
// without a key or value are skipped as in Count. Named names the node
// (default KSTREAM-REDUCE-<n>), Materialized the store (default
// KSTREAM-REDUCE-STATE-STORE-<n>).
func (g Grouped[K, V]) Reduce(reduce func(agg, v V) V, opts ...Option) Table[K, V] {
	o := collect(opts)
	if g.s.vs == nil {
		g.s.b.g.Errorf("reduce %s: the stream's value type changed and has no serde; set it with WithSerdes", o.name)
	}
	return aggregateFn(g, "KSTREAM-REDUCE", o, func(_ K, v V, agg V, ok bool) V {
		if !ok {
			return v
		}
		return reduce(agg, v)
	}, g.s.vs)
}

// Aggregate folds the values of each key into an aggregate of type A:
// init gives the start for a new key, add folds one value in. add may
// change agg in place and return it. as serializes the aggregate in the
// store and changelog. Records without a key or value are skipped as in
// Count. Named names the node (default KSTREAM-AGGREGATE-<n>),
// Materialized the store (default KSTREAM-AGGREGATE-STATE-STORE-<n>).
func (g Grouped[K, V]) Aggregate[A any](init func() A, add func(key K, v V, agg A) A, as serde.Serde[A], opts ...Option) Table[K, A] {
	return g.aggregate("KSTREAM-AGGREGATE", collect(opts), init, add, as)
}

func (g Grouped[K, V]) aggregate[A any](prefix string, o options, init func() A, add func(K, V, A) A, as serde.Serde[A]) Table[K, A] {
	return aggregateFn(g, prefix, o, func(k K, v V, agg A, ok bool) A {
		if !ok {
			agg = init()
		}
		return add(k, v, agg)
	}, as)
}

// aggregateFn adds the stateful node of Count, Reduce and Aggregate, named
// as Kafka Streams names them (KGroupedStreamImpl): the store first, then
// the node, then the repartition nodes. f gets the key's current aggregate
// and whether there is one. The result's timestamp is the larger of the
// record's and the aggregate's previous one (KStreamAggregate,
// KStreamReduce).
func aggregateFn[K, V, A any](g Grouped[K, V], prefix string, o options, f func(K, V, A, bool) A, as serde.Serde[A]) Table[K, A] {
	b := g.s.b
	store := o.store
	if store == "" {
		store = b.g.NewStoreName(prefix + "-")
	}
	name := b.g.NewName(prefix)
	if o.name != "" {
		name = o.name
	}
	s := g.s
	if g.repartition {
		s = repartition(g.s, cmp.Or(g.name, store))
	}
	return aggregateNode(s, name, store, as, true, func(k K, r Record[K, V], old A, oldTs int64, ok bool) (A, int64, bool) {
		ts := r.Timestamp
		if ok {
			ts = max(ts, oldTs)
		}
		return f(k, r.Value, old, ok), ts, true
	})
}

// aggregateNode adds a node that keeps one aggregate of type A per key in
// a timestamped store and forwards each change of it. step gets the record,
// the current aggregate and its timestamp, and whether there is one; it
// returns the new aggregate and its timestamp, or false to change nothing.
// Records without a key are dropped and counted; so are tombstones when
// skipNullValues is set.
func aggregateNode[K, V, A any](s Stream[K, V], name, store string, as serde.Serde[A], skipNullValues bool,
	step func(k K, r Record[K, V], old A, oldTs int64, ok bool) (A, int64, bool)) Table[K, A] {
	b := s.b
	if as == nil {
		b.g.Errorf("%s (store %s): no serde for the aggregate", name, store)
	}
	if s.ks == nil {
		b.g.Errorf("%s (store %s): the stream's key type changed and has no serde; set it with WithSerdes", name, store)
	}
	n := b.g.AddNamed(topo.KindProcessor, name, s.n)
	b.addStore(n, store, s.ks, timestampedSerde[A]{as}, true)
	ks, reuse := s.ks, s.rawKS
	n.Build = func(t *topo.Task, children []any) (any, error) {
		st, err := t.Store(store)
		if err != nil {
			return nil, err
		}
		next := fanout[K, change[A]](children)
		var buf []byte
		app := appender(as)
		return proc[K, V](func(tk *topo.Task, r Record[K, V]) error {
			if r.nokey {
				tk.Drop(name, topo.DropNullKey)
				return nil
			}
			if r.tomb && skipNullValues {
				tk.Drop(name, topo.DropNullValue)
				return nil
			}
			kb := r.raw
			if !reuse || kb == nil {
				var err error
				if kb, err = ks.Serialize(store, r.Key); err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "key", Topic: store, Node: name, Err: err}
				}
				if kb == nil {
					tk.Drop(name, topo.DropNullKey)
					return nil
				}
			}
			var c change[A]
			var oldTs int64
			ob, ok, err := st.Get(kb)
			if err != nil {
				return storeErr(store, err)
			}
			if ok {
				var vb []byte
				if oldTs, vb, err = state.SplitTimestamped(ob); err != nil {
					return storeErr(store, err)
				}
				if c.old, err = as.Deserialize(store, vb); err != nil {
					return storeErr(store, err)
				}
				c.hasOld = true
			}
			nv, ts, changed := step(r.Key, r, c.old, oldTs, ok)
			if !changed {
				return nil
			}
			c.new, c.hasNew = nv, true
			if app != nil {
				buf, err = app.Append(state.AppendTimestamped(buf[:0], ts, nil), store, c.new)
			} else {
				var vb []byte
				vb, err = as.Serialize(store, c.new)
				buf = state.AppendTimestamped(buf[:0], ts, vb)
			}
			if err != nil {
				return &topo.SerdeError{Op: "serialize", Part: "value", Topic: store, Node: name, Err: err}
			}
			if err := st.Put(kb, buf); err != nil {
				return storeErr(store, err)
			}
			return next(tk, Record[K, change[A]]{Key: r.Key, Value: c, Timestamp: ts, Headers: r.Headers, raw: kb})
		}), nil
	}
	return materializedTable(b, n, ks, as, store)
}

// addStore adds the store name, used by node n, to the topology. A
// timestamped store holds each value behind its timestamp; its vs then
// reads such values (timestampedSerde), so queries see the plain value.
func (b *Builder) addStore(n *topo.Node, name string, ks, vs any, timestamped bool) {
	b.checkStoreName(name)
	n.Stores = append(n.Stores, name)
	b.g.Stores = append(b.g.Stores, topo.StoreDef{Name: name, Node: n, KeySerde: ks, ValueSerde: vs, Timestamped: timestamped})
}

// GroupedTable is a table regrouped by a new key, ready for an aggregation
// with an adder and a subtractor.
type GroupedTable[K, V any] struct {
	b    *Builder
	n    *topo.Node // emits proc[K, tableOp[V]]
	ks   serde.Serde[K]
	vs   serde.Serde[V]
	name string // names the repartition topic (Grouped.as)
}

// tableOp is a row's contribution leaving (old) and entering (new) a
// group: both when the row changed and stays in the group.
type tableOp[V any] struct {
	old, new       V
	hasOld, hasNew bool
}

// GroupBy regroups the table's rows by the key f computes from each row,
// with f's value as the row's contribution, as Kafka Streams'
// KTable#groupBy. When a row changes and stays in its group, the group
// gets one update that subtracts the old contribution and adds the new
// one (KIP-904); when it moves, its old group is updated first (subtract)
// and then its new group (add). A key that serializes to nil bytes (a nil
// pointer with serde.Nullable) drops that contribution. The Named option
// names the key-selecting node (default KTABLE-SELECT-<n>) and the
// repartition topic "<app>-<name>-repartition" (default: named after the
// aggregation's store), as Kafka Streams' Grouped.as.
func (t Table[K, V]) GroupBy[K2, V2 any](f func(K, V) (K2, V2), ks serde.Serde[K2], vs serde.Serde[V2], opts ...Option) GroupedTable[K2, V2] {
	o := collect(opts)
	n := t.b.g.Add(topo.KindProcessor, "KTABLE-SELECT", o.name, t.n)
	if ks == nil || vs == nil {
		t.b.g.Errorf("table group-by %s: needs a key serde and a value serde for the repartition topic", n.Name)
	}
	name := n.Name
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K2, tableOp[V2]](children)
		return proc[K, change[V]](func(tk *topo.Task, r Record[K, change[V]]) error {
			var oldK, newK K2
			var oldV, newV V2
			var oldKB, newKB []byte
			if r.Value.hasOld {
				oldK, oldV = f(r.Key, r.Value.old)
				kb, err := ks.Serialize(name, oldK)
				if err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "key", Topic: name, Node: name, Err: err}
				}
				oldKB = kb
			}
			if r.Value.hasNew {
				newK, newV = f(r.Key, r.Value.new)
				kb, err := ks.Serialize(name, newK)
				if err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "key", Topic: name, Node: name, Err: err}
				}
				newKB = kb
				if kb == nil {
					tk.Drop(name, topo.DropNullKey)
				}
			}
			if oldKB != nil && newKB != nil && bytes.Equal(oldKB, newKB) {
				op := tableOp[V2]{old: oldV, new: newV, hasOld: true, hasNew: true}
				return next(tk, Record[K2, tableOp[V2]]{Key: newK, Value: op, Timestamp: r.Timestamp, Headers: r.Headers, raw: newKB})
			}
			if oldKB != nil {
				op := tableOp[V2]{old: oldV, hasOld: true}
				if err := next(tk, Record[K2, tableOp[V2]]{Key: oldK, Value: op, Timestamp: r.Timestamp, Headers: r.Headers, raw: oldKB}); err != nil {
					return err
				}
			}
			if newKB != nil {
				op := tableOp[V2]{new: newV, hasNew: true}
				return next(tk, Record[K2, tableOp[V2]]{Key: newK, Value: op, Timestamp: r.Timestamp, Headers: r.Headers, raw: newKB})
			}
			return nil
		}), nil
	}
	return GroupedTable[K2, V2]{b: t.b, n: n, ks: ks, vs: vs, name: o.name}
}

// opSerde encodes a tableOp for the repartition topic: one flag byte, 0
// for an add (the new value's bytes follow), 1 for a subtract (the old
// value's bytes follow), 2 for both (uvarint length of the old value's
// bytes, those bytes, then the new value's bytes).
type opSerde[V any] struct{ vs serde.Serde[V] }

func (s opSerde[V]) Serialize(topic string, op tableOp[V]) ([]byte, error) {
	switch {
	case op.hasOld && op.hasNew:
		ob, err := s.vs.Serialize(topic, op.old)
		if err != nil {
			return nil, err
		}
		nb, err := s.vs.Serialize(topic, op.new)
		if err != nil {
			return nil, err
		}
		out := binary.AppendUvarint([]byte{2}, uint64(len(ob)))
		return append(append(out, ob...), nb...), nil
	case op.hasOld:
		ob, err := s.vs.Serialize(topic, op.old)
		if err != nil {
			return nil, err
		}
		return append([]byte{1}, ob...), nil
	default:
		nb, err := s.vs.Serialize(topic, op.new)
		if err != nil {
			return nil, err
		}
		return append([]byte{0}, nb...), nil
	}
}

func (s opSerde[V]) Deserialize(topic string, data []byte) (tableOp[V], error) {
	var op tableOp[V]
	var err error
	if len(data) < 1 || data[0] > 2 {
		return op, fmt.Errorf("brook: bad table repartition record (%d bytes): it was not written by brook", len(data))
	}
	switch data[0] {
	case 0:
		op.new, err = s.vs.Deserialize(topic, data[1:])
		op.hasNew = true
	case 1:
		op.old, err = s.vs.Deserialize(topic, data[1:])
		op.hasOld = true
	case 2:
		l, n := binary.Uvarint(data[1:])
		if n <= 0 || uint64(len(data)-1-n) < l {
			return op, fmt.Errorf("brook: bad table repartition record (%d bytes): it was not written by brook", len(data))
		}
		rest := data[1+n:]
		if op.old, err = s.vs.Deserialize(topic, rest[:l]); err != nil {
			return op, err
		}
		op.new, err = s.vs.Deserialize(topic, rest[l:])
		op.hasOld, op.hasNew = true, true
	}
	return op, err
}

// Aggregate folds the rows of each group into an aggregate, as Kafka
// Streams' KGroupedTable#aggregate (KTableAggregate): subtract takes a
// row's old contribution out, add puts its new one in, in that order and
// as one update when the row stays in the group. init gives the start
// for a new group; as serializes the aggregate. The result's timestamp is
// the larger of the record's and the aggregate's previous one. Named names
// the node (default KTABLE-AGGREGATE-<n>) and the repartition nodes
// ("<name>-sink", "<name>-source"); Materialized the store (default
// KTABLE-AGGREGATE-STATE-STORE-<n>).
func (g GroupedTable[K, V]) Aggregate[A any](init func() A, add, subtract func(key K, v V, agg A) A, as serde.Serde[A], opts ...Option) Table[K, A] {
	return g.aggregate("KTABLE-AGGREGATE", collect(opts), as, func(k K, op tableOp[V], agg A, ok bool) (A, bool) {
		changed := false
		if op.hasOld && ok {
			agg, changed = subtract(k, op.old, agg), true
		}
		if op.hasNew {
			if !ok && !changed {
				agg = init()
			}
			agg, changed = add(k, op.new, agg), true
		}
		return agg, changed
	})
}

// Count counts the rows in each group. Named and Materialized are as for
// Aggregate.
func (g GroupedTable[K, V]) Count(opts ...Option) Table[K, int64] {
	return g.Aggregate(func() int64 { return 0 },
		func(_ K, _ V, n int64) int64 { return n + 1 },
		func(_ K, _ V, n int64) int64 { return n - 1 },
		serde.Int64(), opts...)
}

// Reduce combines the rows of each group with add, and takes a row out
// with subtract (KTableReduce): the first row of a group is its start.
// Named names the node (default KTABLE-REDUCE-<n>), Materialized the
// store (default KTABLE-REDUCE-STATE-STORE-<n>).
func (g GroupedTable[K, V]) Reduce(add, subtract func(agg, v V) V, opts ...Option) Table[K, V] {
	return g.aggregate("KTABLE-REDUCE", collect(opts), g.vs, func(_ K, op tableOp[V], agg V, ok bool) (V, bool) {
		changed := false
		if op.hasOld && ok {
			agg, changed = subtract(agg, op.old), true
		}
		if op.hasNew {
			if !ok && !changed {
				return op.new, true
			}
			agg, changed = add(agg, op.new), true
		}
		return agg, changed
	})
}

// aggregate adds the repartition topic and the stateful node of a table
// aggregation, named as Kafka Streams' KGroupedTableImpl names them: the
// store, then the sink, the source and the node.
func (g GroupedTable[K, V]) aggregate[A any](prefix string, o options, as serde.Serde[A], f func(K, tableOp[V], A, bool) (A, bool)) Table[K, A] {
	b := g.b
	store := o.store
	if store == "" {
		store = b.g.NewStoreName(prefix + "-")
	}
	sinkName, srcName, name := b.g.NewName("KSTREAM-SINK"), b.g.NewName("KSTREAM-SOURCE"), b.g.NewName(prefix)
	if o.name != "" {
		sinkName, srcName, name = o.name+"-sink", o.name+"-source", o.name
	}
	topic := cmp.Or(g.name, store) + "-repartition"
	sel := Stream[K, tableOp[V]]{b: b, n: g.n, ks: g.ks, vs: opSerde[V]{g.vs}, rawKS: true}
	sink := sel.to(topic, nil, nil, nil, nil, sinkName)
	sink.Internal = true
	src := source(b, []string{topic}, g.ks, serde.Serde[tableOp[V]](opSerde[V]{g.vs}), srcName)
	src.n.Internal = true
	b.g.Repartitions = append(b.g.Repartitions, topo.Repartition{Topic: topic, From: g.n, Sink: sink, Source: src.n})
	return aggregateNode(src, name, store, as, false, func(k K, r Record[K, tableOp[V]], old A, oldTs int64, ok bool) (A, int64, bool) {
		agg, changed := f(k, r.Value, old, ok)
		ts := r.Timestamp
		if ok {
			ts = max(ts, oldTs)
		}
		return agg, ts, changed
	})
}
