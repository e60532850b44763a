package stream

import (
	"cmp"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
)

// getter reads one row of a table in a task: the value of key k, the
// timestamp of the row's last update, and whether the table holds k. kb,
// when not nil, is k serialized with the table's key serde, so the
// getter need not serialize it again.
//
// A getter reads the store through the task's write-back cache, so it
// sees every update the task made so far, committed or not: a lookup
// sees the table as of the record being processed. This is the place a
// versioned table (Kafka Streams' KIP-914: rows kept per timestamp, and
// lookups "as of" the stream record's timestamp) would plug in: a getter
// that also takes the record's timestamp. See "Joins" in
// docs/ARCHITECTURE.md.
type getter[K, V any] func(k K, kb []byte) (v V, ts int64, ok bool, err error)

// storeView reads the rows of a timestamped store.
func storeView[K, V any](store string, ks serde.Serde[K], vs serde.Serde[V]) func(*topo.Task) (getter[K, V], error) {
	return func(t *topo.Task) (getter[K, V], error) {
		st, err := t.Store(store)
		if err != nil {
			return nil, err
		}
		return func(k K, kb []byte) (V, int64, bool, error) {
			var zero V
			if kb == nil {
				var err error
				if kb, err = ks.Serialize(store, k); err != nil {
					return zero, 0, false, &topo.SerdeError{Op: "serialize", Part: "key", Topic: store, Node: store, Err: err}
				}
				if kb == nil {
					return zero, 0, false, nil
				}
			}
			b, ok, err := st.Get(kb)
			if err != nil {
				return zero, 0, false, storeErr(store, err)
			}
			if !ok {
				return zero, 0, false, nil
			}
			ts, vb, err := state.SplitTimestamped(b)
			if err != nil {
				return zero, 0, false, storeErr(store, err)
			}
			v, err := vs.Deserialize(store, vb)
			if err != nil {
				return zero, 0, false, storeErr(store, err)
			}
			return v, ts, true, nil
		}, nil
	}
}

// ValueSerde gives the value serde of an operator's result where the
// result's value type differs from its inputs': the store of a
// materialized table-table join (see Table.Join). It must be a
// serde.Serde of the result's value type; another type is a build error.
// Other operators ignore it.
func ValueSerde[V any](s serde.Serde[V]) Option { return func(o *options) { o.valueSerde = s } }

// Join joins each record of s with the row of table t that has the
// record's key, as Kafka Streams' KStream#join(KTable): when t holds the
// key, joiner gets the record's value and the row's value and the result
// is forwarded with the record's key, timestamp and headers; when it does
// not, nothing is forwarded. Only stream records trigger a join: an
// update of t forwards nothing, and a lookup sees t as the task holds it
// when the stream record is processed. A stream record without a key or
// with a tombstone is skipped, counted and logged (see
// App.DroppedRecords), as Kafka Streams' KStreamKTableJoin does.
//
// s and t must be co-partitioned: their topics need the same number of
// partitions (checked at start, *CopartitionError) and keys written with
// the same partitioner. When an operator may have changed s's key since
// its source (Map, SelectKey, ...), s is first written to a repartition
// topic "<app>-<name>-repartition" named after the Named option or, by
// default, after s's last node, as Kafka Streams does; this needs s's
// serdes (see WithSerdes).
//
// The Named option names the node (default KSTREAM-JOIN-<n>). The
// result's value serde is s's when VR is V, else none: give one to To.
func (s Stream[K, V]) Join[VT, VR any](t Table[K, VT], joiner func(v V, tv VT) VR, opts ...Option) Stream[K, VR] {
	return streamTableJoin(s, t, joiner, false, collect(opts))
}

// LeftJoin is Join, except that a stream record whose key t does not
// hold is joined too, with the zero value of VT (nil when VT is a pointer
// type, such as the *T of serde.Nullable: use one to tell "no row" from
// a row holding the zero value). A stream record without a key is joined
// with the zero value too (Kafka Streams' KIP-962); a tombstone is
// skipped and counted. The Named option names the node (default
// KSTREAM-LEFTJOIN-<n>).
func (s Stream[K, V]) LeftJoin[VT, VR any](t Table[K, VT], joiner func(v V, tv VT) VR, opts ...Option) Stream[K, VR] {
	return streamTableJoin(s, t, joiner, true, collect(opts))
}

func streamTableJoin[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], joiner func(V, VT) VR, left bool, o options) Stream[K, VR] {
	b := s.b
	if s.rekeyed {
		s = repartition(s, cmp.Or(o.name, s.n.Name))
	}
	prefix := "KSTREAM-JOIN"
	if left {
		prefix = "KSTREAM-LEFTJOIN"
	}
	name := b.name(prefix, o.name)
	n := b.g.AddNamed(topo.KindProcessor, name, s.n)
	if t.view == nil {
		b.g.Errorf("join %s: the table cannot be read by key", name)
	}
	n.Stores = append(n.Stores, t.views...)
	n.Build = func(tk *topo.Task, children []any) (any, error) {
		get, err := t.view(tk)
		if err != nil {
			return nil, err
		}
		next := fanout[K, VR](children)
		isNull := nullCheck[VR]()
		return proc[K, V](func(tk *topo.Task, r Record[K, V]) error {
			if r.tomb {
				tk.Drop(name, topo.DropNullValue)
				return nil
			}
			var tv VT
			var ok bool
			if r.nokey {
				if !left {
					tk.Drop(name, topo.DropNullKey)
					return nil
				}
			} else {
				// The key is serialized for the lookup even when the record
				// carries its source's bytes: a serde that is not canonical
				// (JSON with other spacing) would otherwise miss the row the
				// table stored under its own serialization.
				var err error
				if tv, _, ok, err = get(r.Key, nil); err != nil {
					return err
				}
				if !ok && !left {
					return nil
				}
			}
			v := joiner(r.Value, tv)
			return next(tk, Record[K, VR]{Key: r.Key, Value: v, Timestamp: r.Timestamp, Headers: r.Headers, raw: r.raw, nokey: r.nokey,
				tomb: isNull != nil && isNull(v)})
		}), nil
	}
	return Stream[K, VR]{b: b, n: n, ks: s.ks, vs: sameSerde[VR](s.vs), rawKS: s.rawKS}
}

// tableJoinKind is the kind of a table-table join.
type tableJoinKind int

const (
	innerJoin tableJoinKind = iota
	leftJoin
	outerJoin
	// rightJoin is the other side of a left join.
	rightJoin
)

// Join joins t with other on their keys, as Kafka Streams'
// KTable#join(KTable) (KTableKTableInnerJoin): the result holds a row for
// each key both tables hold, joiner(t's value, other's value), and is
// updated from both sides: an update of either table recomputes the
// key's row, and a delete on either side deletes it. Each result row
// carries the larger of the two rows' timestamps.
//
// t and other must be co-partitioned (see Stream.Join). The result is
// computed on the fly unless the Materialized option names a store for it
// (queryable with App.Store, with a changelog); a materialized result
// needs a value serde: t's when VR is V, else the ValueSerde option.
// The Named option names the nodes: the merge node "<name>" and the two
// join nodes "<name>-join-this" and "<name>-join-other" (default
// KTABLE-MERGE-<n>, KTABLE-JOINTHIS-<n+1> and KTABLE-JOINOTHER-<n+2>).
func (t Table[K, V]) Join[VO, VR any](other Table[K, VO], joiner func(v V, ov VO) VR, opts ...Option) Table[K, VR] {
	return tableTableJoin(t, other, joiner, innerJoin, collect(opts))
}

// LeftJoin is Join, except that the result also holds a row for each key
// that only t holds, joined with the zero value of VO (nil for a pointer
// type, such as the *T of serde.Nullable), as KTableKTableLeftJoin.
func (t Table[K, V]) LeftJoin[VO, VR any](other Table[K, VO], joiner func(v V, ov VO) VR, opts ...Option) Table[K, VR] {
	return tableTableJoin(t, other, joiner, leftJoin, collect(opts))
}

// OuterJoin is Join, except that the result holds a row for each key
// that either table holds, the missing side given as its zero value (nil
// for a pointer type), as KTableKTableOuterJoin.
func (t Table[K, V]) OuterJoin[VO, VR any](other Table[K, VO], joiner func(v V, ov VO) VR, opts ...Option) Table[K, VR] {
	return tableTableJoin(t, other, joiner, outerJoin, collect(opts))
}

// joinRow computes the result row of a table-table join from the two
// sides' values, or false when the join has no row for them.
func joinRow[V, VO, VR any](kind tableJoinKind, joiner func(V, VO) VR, isNull func(VR) bool,
	v V, hasV bool, ov VO, hasOV bool) (VR, bool) {
	var zero VR
	switch {
	case hasV && hasOV, hasV && kind != innerJoin, hasOV && kind == outerJoin:
		r := joiner(v, ov)
		if isNull != nil && isNull(r) {
			return zero, false
		}
		return r, true
	}
	return zero, false
}

func tableTableJoin[K, V, VO, VR any](t Table[K, V], other Table[K, VO], joiner func(V, VO) VR, kind tableJoinKind, o options) Table[K, VR] {
	b := t.b
	mergeName := b.name("KTABLE-MERGE", o.name)
	thisName := b.name("KTABLE-JOINTHIS", suffix(o.name, "-join-this"))
	otherName := b.name("KTABLE-JOINOTHER", suffix(o.name, "-join-other"))
	if t.view == nil || other.view == nil {
		b.g.Errorf("join %s: a table cannot be read by key", mergeName)
	}
	thisN := b.g.AddNamed(topo.KindProcessor, thisName, t.n)
	thisN.Stores = append(thisN.Stores, other.views...)
	otherN := b.g.AddNamed(topo.KindProcessor, otherName, other.n)
	otherN.Stores = append(otherN.Stores, t.views...)
	mergeN := b.g.AddNamed(topo.KindProcessor, mergeName, thisN, otherN)

	ks := t.ks
	vs := sameSerde[VR](t.vs)
	if o.valueSerde != nil {
		s, ok := o.valueSerde.(serde.Serde[VR])
		if !ok {
			b.g.Errorf("join %s: the ValueSerde option is a %T, not a serde of the join's result", mergeName, o.valueSerde)
		}
		vs = s
	}
	store := o.store
	if store != "" {
		if vs == nil {
			b.g.Errorf("join %s (store %s): a materialized join needs a serde for its result: give one with the ValueSerde option", mergeName, store)
		}
		b.addStore(mergeN, store, ks, timestampedSerde[VR]{vs}, true)
	}
	// Changes of t carry key bytes made with t's key serde; the lookups
	// in other reuse them when other's key serde is the same.
	reuse := sameValue(t.ks, other.ks)
	reversed := func(ov VO, v V) VR { return joiner(v, ov) }
	rkind := kind
	if kind == leftJoin {
		rkind = rightJoin
	}
	thisN.Build = func(tk *topo.Task, children []any) (any, error) {
		get, err := other.view(tk)
		if err != nil {
			return nil, err
		}
		return joinSide(thisName, kind, joiner, get, reuse, fanout[K, change[VR]](children)), nil
	}
	otherN.Build = func(tk *topo.Task, children []any) (any, error) {
		get, err := t.view(tk)
		if err != nil {
			return nil, err
		}
		return joinSide(otherName, rkind, reversed, get, reuse, fanout[K, change[VR]](children)), nil
	}
	mergeN.Build = func(tk *topo.Task, children []any) (any, error) {
		next := fanout[K, change[VR]](children)
		if store == "" {
			return next, nil
		}
		st, err := tk.Store(store)
		if err != nil {
			return nil, err
		}
		var buf []byte
		return proc[K, change[VR]](func(tk *topo.Task, r Record[K, change[VR]]) error {
			kb := r.raw
			if kb == nil {
				var err error
				if kb, err = ks.Serialize(store, r.Key); err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "key", Topic: store, Node: mergeName, Err: err}
				}
			}
			if r.Value.hasNew {
				vb, err := vs.Serialize(store, r.Value.new)
				if err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "value", Topic: store, Node: mergeName, Err: err}
				}
				buf = state.AppendTimestamped(buf[:0], r.Timestamp, vb)
				if err := st.Put(kb, buf); err != nil {
					return storeErr(store, err)
				}
			} else if err := st.Delete(kb); err != nil {
				return storeErr(store, err)
			}
			return next(tk, r)
		}), nil
	}
	if store != "" {
		return materializedTable(b, mergeN, ks, vs, store)
	}
	views := append(append([]string(nil), t.views...), other.views...)
	return Table[K, VR]{b: b, n: mergeN, ks: ks, vs: vs, views: views, view: func(tk *topo.Task) (getter[K, VR], error) {
		g1, err := t.view(tk)
		if err != nil {
			return nil, err
		}
		g2, err := other.view(tk)
		if err != nil {
			return nil, err
		}
		isNull := nullCheck[VR]()
		return func(k K, kb []byte) (VR, int64, bool, error) {
			var zero VR
			v, ts1, ok1, err := g1(k, kb)
			if err != nil {
				return zero, 0, false, err
			}
			if !ok1 && kind != outerJoin {
				return zero, 0, false, nil
			}
			var ov VO
			var ts2 int64
			var ok2 bool
			if reuse {
				ov, ts2, ok2, err = g2(k, kb)
			} else {
				ov, ts2, ok2, err = g2(k, nil)
			}
			if err != nil {
				return zero, 0, false, err
			}
			r, ok := joinRow(kind, joiner, isNull, v, ok1, ov, ok2)
			if !ok {
				return zero, 0, false, nil
			}
			switch {
			case ok1 && ok2:
				return r, max(ts1, ts2), true, nil
			case ok1:
				return r, ts1, true, nil
			}
			return r, ts2, true, nil
		}, nil
	}}
}

// joinSide is the processor of one side of a table-table join (Kafka
// Streams' KTableKTableInnerJoin, LeftJoin, RightJoin and OuterJoin
// processors): for each change of its side it looks the key up in the
// other side and forwards the change of the result row, with the larger
// of the two rows' timestamps. kind is seen from this side: the other
// side of a left join is a right join.
func joinSide[K, V, VO, VR any](name string, kind tableJoinKind, joiner func(V, VO) VR, get getter[K, VO], reuse bool,
	next proc[K, change[VR]]) proc[K, change[V]] {
	isNull := nullCheck[VR]()
	// The join function seen from this side: a right join is a left join
	// whose row exists only while the other side holds the key.
	rowKind := kind
	if kind == rightJoin {
		rowKind = leftJoin
	}
	return func(tk *topo.Task, r Record[K, change[V]]) error {
		var kb []byte
		if reuse {
			kb = r.raw
		}
		ov, ots, ok, err := get(r.Key, kb)
		if err != nil {
			return err
		}
		c := r.Value
		switch kind {
		case innerJoin, rightJoin:
			if !ok {
				return nil
			}
		default:
			if !ok && !c.hasNew && !c.hasOld {
				return nil
			}
		}
		ts := r.Timestamp
		if ok {
			ts = max(ts, ots)
		}
		var out change[VR]
		if kind == rightJoin {
			// The row exists while the other (left) side holds the key:
			// this side's value, present or not, is joined with it.
			out.new = joiner(c.new, ov)
			out.hasNew = isNull == nil || !isNull(out.new)
			out.old = joiner(c.old, ov)
			out.hasOld = isNull == nil || !isNull(out.old)
		} else {
			out.new, out.hasNew = joinRow(rowKind, joiner, isNull, c.new, c.hasNew, ov, ok)
			out.old, out.hasOld = joinRow(rowKind, joiner, isNull, c.old, c.hasOld, ov, ok)
		}
		return next(tk, Record[K, change[VR]]{Key: r.Key, Value: out, Timestamp: ts, Headers: r.Headers, raw: r.raw})
	}
}
