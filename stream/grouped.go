package stream

import (
	"fmt"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
)

// Grouped is a stream grouped by key, ready to aggregate: Count, Reduce,
// Aggregate. Records with the same key meet in the same task, which holds
// the key's aggregate in a store.
type Grouped[K, V any] struct {
	s           Stream[K, V]
	repartition bool
}

// GroupByKey groups the stream by its current key. If an operator may have
// changed the key since the source (Map, FlatMap, SelectKey, Process), the stream is
// first written to a repartition topic so that each key meets in one task,
// as in Kafka Streams; this needs the stream's serdes (see WithSerdes).
func (s Stream[K, V]) GroupByKey() Grouped[K, V] {
	return Grouped[K, V]{s: s, repartition: s.rekeyed}
}

// GroupBy groups the stream by the key that f computes. The stream is
// written to the repartition topic "<app>-<name>-repartition" with ks and
// the stream's value serde, and read back by a new sub-topology.
func (s Stream[K, V]) GroupBy[K2 any](f func(K, V) K2, ks serde.Serde[K2], opts ...Option) Grouped[K2, V] {
	k := s.SelectKey(f, opts...).WithSerdes(ks, nil)
	return Grouped[K2, V]{s: k, repartition: true}
}

// source returns the stream the aggregation reads: g's stream, or, when
// it must be repartitioned, the stream read back from the repartition topic
// named after the aggregation.
func (g Grouped[K, V]) source(name string) Stream[K, V] {
	if !g.repartition {
		return g.s
	}
	return repartition(g.s, name)
}

// repartition writes s to the internal topic <app>-<name>-repartition and
// reads it back as the source of a new sub-topology.
func repartition[K, V any](s Stream[K, V], name string) Stream[K, V] {
	b := s.b
	topic := name + "-repartition"
	if s.ks == nil || s.vs == nil {
		b.g.Errorf("repartition topic %s: the stream's key or value type changed and has no serde; set them with WithSerdes before grouping", topic)
	}
	sink := s.to(topic, nil, s.ks, s.vs, []Option{Named(topic + "-sink")})
	sink.Internal = true
	src := source(b, []string{topic}, s.ks, s.vs, topic+"-source")
	src.n.Internal = true
	b.g.Repartitions = append(b.g.Repartitions, topo.Repartition{Topic: topic, From: s.n, Sink: sink, Source: src.n})
	return src
}

func (b *Builder) storeName(o options, prefix string) string {
	if o.name != "" {
		return o.name
	}
	return fmt.Sprintf("%s-STATE-STORE-%010d", prefix, len(b.g.Nodes))
}

// Count counts the records per key. The store is named by the Named option
// (default KSTREAM-AGGREGATE-STATE-STORE-<n>), and so are the changelog and
// any repartition topic.
func (g Grouped[K, V]) Count(opts ...Option) Table[K, int64] {
	return aggregate(g, "KSTREAM-COUNT", collect(opts),
		func() int64 { return 0 },
		func(_ K, _ V, n int64) int64 { return n + 1 },
		serde.Int64())
}

// Reduce combines the values of each key: the first value is the start,
// each later one is combined with reduce(aggregate, value).
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
// store and changelog.
func (g Grouped[K, V]) Aggregate[A any](init func() A, add func(key K, v V, agg A) A, as serde.Serde[A], opts ...Option) Table[K, A] {
	return aggregate(g, "KSTREAM-AGGREGATE", collect(opts), init, add, as)
}

func aggregate[K, V, A any](g Grouped[K, V], prefix string, o options, init func() A, add func(K, V, A) A, as serde.Serde[A]) Table[K, A] {
	return aggregateFn(g, prefix, o, func(k K, v V, agg A, ok bool) A {
		if !ok {
			agg = init()
		}
		return add(k, v, agg)
	}, as)
}

// aggregateFn adds the stateful node of Count, Reduce and Aggregate. f
// gets the key's current aggregate and whether there is one.
func aggregateFn[K, V, A any](g Grouped[K, V], prefix string, o options, f func(K, V, A, bool) A, as serde.Serde[A]) Table[K, A] {
	b := g.s.b
	store := b.storeName(o, "KSTREAM-AGGREGATE")
	s := g.source(store)
	if as == nil {
		b.g.Errorf("%s %s: no serde for the aggregate", prefix, store)
	}
	if s.ks == nil {
		b.g.Errorf("%s %s: the stream's key type changed and has no serde; set it with WithSerdes", prefix, store)
	}
	n := s.add(prefix, o)
	b.addStore(n, store, s.ks, as)
	ks, reuse := s.ks, s.rawKS
	n.Build = func(t *topo.Task, children []any) (any, error) {
		st, err := t.Store(store)
		if err != nil {
			return nil, err
		}
		next := fanout[K, change[A]](children)
		return proc[K, V](func(tk *topo.Task, r Record[K, V]) error {
			kb := r.raw
			if !reuse || kb == nil {
				var err error
				if kb, err = ks.Serialize(store, r.Key); err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "key", Topic: store, Node: n.Name, Err: err}
				}
			}
			var c change[A]
			ob, ok, err := st.Get(kb)
			if err != nil {
				return storeErr(store, err)
			}
			if ok {
				if c.old, err = as.Deserialize(store, ob); err != nil {
					return storeErr(store, err)
				}
				c.hasOld = true
			}
			c.new, c.hasNew = f(r.Key, r.Value, c.old, ok), true
			nb, err := as.Serialize(store, c.new)
			if err != nil {
				return &topo.SerdeError{Op: "serialize", Part: "value", Topic: store, Node: n.Name, Err: err}
			}
			if err := st.Put(kb, nb); err != nil {
				return storeErr(store, err)
			}
			return next(tk, Record[K, change[A]]{Key: r.Key, Value: c, Timestamp: r.Timestamp, Headers: r.Headers, raw: kb})
		}), nil
	}
	return Table[K, A]{b: b, n: n, ks: ks, vs: as, store: store}
}

func (b *Builder) addStore(n *topo.Node, name string, ks, vs any) {
	for _, s := range b.g.Stores {
		if s.Name == name {
			b.g.Errorf("two stores are named %q: store names must be unique", name)
		}
	}
	n.Stores = append(n.Stores, name)
	b.g.Stores = append(b.g.Stores, topo.StoreDef{Name: name, Node: n, KeySerde: ks, ValueSerde: vs})
}

// GroupedTable is a table regrouped by a new key, ready for an aggregation
// with an adder and a subtractor.
type GroupedTable[K, V any] struct {
	b  *Builder
	n  *topo.Node // emits proc[K, tableOp[V]]
	ks serde.Serde[K]
	vs serde.Serde[V]
}

// tableOp is a row entering (add) or leaving (subtract) a group.
type tableOp[V any] struct {
	v   V
	sub bool
}

// GroupBy regroups the table's rows by the key f computes from each row,
// with f's value as the row's contribution. When a row changes, its old
// contribution is subtracted from its old group and the new one added to
// its new group (which may be the same), through the repartition topic
// "<app>-<name>-repartition".
func (t Table[K, V]) GroupBy[K2, V2 any](f func(K, V) (K2, V2), ks serde.Serde[K2], vs serde.Serde[V2], opts ...Option) GroupedTable[K2, V2] {
	n := t.b.g.Add(topo.KindProcessor, "KTABLE-SELECT", collect(opts).name, t.n)
	if ks == nil || vs == nil {
		t.b.g.Errorf("table group-by %s: needs a key serde and a value serde for the repartition topic", n.Name)
	}
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K2, tableOp[V2]](children)
		return proc[K, change[V]](func(tk *topo.Task, r Record[K, change[V]]) error {
			if r.Value.hasOld {
				k2, v2 := f(r.Key, r.Value.old)
				if err := next(tk, Record[K2, tableOp[V2]]{Key: k2, Value: tableOp[V2]{v: v2, sub: true}, Timestamp: r.Timestamp, Headers: r.Headers}); err != nil {
					return err
				}
			}
			if r.Value.hasNew {
				k2, v2 := f(r.Key, r.Value.new)
				return next(tk, Record[K2, tableOp[V2]]{Key: k2, Value: tableOp[V2]{v: v2}, Timestamp: r.Timestamp, Headers: r.Headers})
			}
			return nil
		}), nil
	}
	return GroupedTable[K2, V2]{b: t.b, n: n, ks: ks, vs: vs}
}

// opSerde encodes a tableOp as one flag byte (0 add, 1 subtract) followed
// by the value's bytes.
type opSerde[V any] struct{ vs serde.Serde[V] }

func (s opSerde[V]) Serialize(topic string, op tableOp[V]) ([]byte, error) {
	vb, err := s.vs.Serialize(topic, op.v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+len(vb))
	if op.sub {
		out[0] = 1
	}
	copy(out[1:], vb)
	return out, nil
}

func (s opSerde[V]) Deserialize(topic string, data []byte) (tableOp[V], error) {
	if len(data) < 1 || data[0] > 1 {
		return tableOp[V]{}, fmt.Errorf("brook: bad table repartition record (%d bytes): it was not written by brook", len(data))
	}
	v, err := s.vs.Deserialize(topic, data[1:])
	return tableOp[V]{v: v, sub: data[0] == 1}, err
}

// Aggregate folds the rows of each group into an aggregate: add when a row
// joins the group, subtract when it leaves (or before it changes). init
// gives the start for a new group; as serializes the aggregate.
func (g GroupedTable[K, V]) Aggregate[A any](init func() A, add, subtract func(key K, v V, agg A) A, as serde.Serde[A], opts ...Option) Table[K, A] {
	o := collect(opts)
	s := Stream[K, tableOp[V]]{b: g.b, n: g.n, ks: g.ks, vs: opSerde[V]{g.vs}, rekeyed: true}
	return aggregateFn(Grouped[K, tableOp[V]]{s: s, repartition: true}, "KTABLE-AGGREGATE", o,
		func(k K, op tableOp[V], agg A, ok bool) A {
			if !ok {
				agg = init()
			}
			if op.sub {
				return subtract(k, op.v, agg)
			}
			return add(k, op.v, agg)
		}, as)
}

// Count counts the rows in each group.
func (g GroupedTable[K, V]) Count(opts ...Option) Table[K, int64] {
	return g.Aggregate(func() int64 { return 0 },
		func(_ K, _ V, n int64) int64 { return n + 1 },
		func(_ K, _ V, n int64) int64 { return n - 1 },
		serde.Int64(), opts...)
}

// Reduce combines the rows of each group with add, and takes a row out
// with subtract.
func (g GroupedTable[K, V]) Reduce(add, subtract func(agg, v V) V, opts ...Option) Table[K, V] {
	o := collect(opts)
	s := Stream[K, tableOp[V]]{b: g.b, n: g.n, ks: g.ks, vs: opSerde[V]{g.vs}, rekeyed: true}
	return aggregateFn(Grouped[K, tableOp[V]]{s: s, repartition: true}, "KTABLE-REDUCE", o,
		func(_ K, op tableOp[V], agg V, ok bool) V {
			switch {
			case op.sub:
				return subtract(agg, op.v)
			case !ok:
				return op.v
			}
			return add(agg, op.v)
		}, g.vs)
}
