package stream

import (
	"bytes"
	"encoding/binary"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/brookstream/brook/window"
)

// EmitStrategy says when a windowed aggregation forwards its results, as
// Kafka Streams' EmitStrategy. The zero EmitStrategy is OnWindowUpdate.
type EmitStrategy struct{ onClose bool }

// OnWindowUpdate forwards every change of a window's aggregate as it
// happens (the default), as Kafka Streams' EmitStrategy.onWindowUpdate.
func OnWindowUpdate() EmitStrategy { return EmitStrategy{} }

// OnWindowClose forwards each window's aggregate once, when the window
// closes (stream time reaches its end + grace), as Kafka Streams'
// EmitStrategy.onWindowClose and suppress(untilWindowCloses): final
// results only. The time up to which windows were emitted is kept in the
// window store, so under exactly-once each final result is emitted
// exactly once across restarts and rebalances.
func OnWindowClose() EmitStrategy { return EmitStrategy{onClose: true} }

// WindowedGrouped is a grouped stream with windows, ready to aggregate per
// key and window: Count, Reduce, Aggregate. Make it with
// WindowedBy.
type WindowedGrouped[K, V any] struct {
	g    Grouped[K, V]
	w    window.Spec
	emit EmitStrategy
}

// WindowedBy aggregates g per key and window of w (see package window),
// as Kafka Streams' KGroupedStream#windowedBy: the table the aggregation
// returns is keyed by window.Windowed[K].
//
//	counts := stream.WindowedBy(views.GroupByKey(), window.Tumbling(time.Minute)).
//		Emit(stream.OnWindowClose()).
//		Count(stream.Materialized("views-per-minute"))
//
// It is a function, not a method of Grouped: as a method, Grouped[K, V]
// would reach Table[window.Windowed[K], A], whose streams group again into
// Grouped[window.Windowed[K], ...], an endless chain of instantiations
// that Go rejects. window.TimeWindows (Tumbling, Hopping) are built here;
// session windows have SessionWindowedBy; sliding windows make Build fail
// with an error that says so.
func WindowedBy[K, V any](g Grouped[K, V], w window.Spec) WindowedGrouped[K, V] {
	return WindowedGrouped[K, V]{g: g, w: w}
}

// Emit returns g with emit strategy s. Default OnWindowUpdate.
func (g WindowedGrouped[K, V]) Emit(s EmitStrategy) WindowedGrouped[K, V] {
	g.emit = s
	return g
}

// Count counts the records per key and window, as Kafka Streams'
// TimeWindowedKStream#count. Records without a key are dropped as in
// Grouped.Count; tombstones count, as Kafka Streams' windowed
// aggregations count null values (only null keys are skipped); records whose window has closed are dropped and
// counted as late (App.DroppedRecords). Named names the node (default
// KSTREAM-AGGREGATE-<n>), Materialized the window store (default
// KSTREAM-AGGREGATE-STATE-STORE-<n>), its changelog and, unless the
// grouping was named, the repartition topic.
func (g WindowedGrouped[K, V]) Count(opts ...Option) Table[window.Windowed[K], int64] {
	return windowAggregate(g, "KSTREAM-AGGREGATE", collect(opts), func(_ K, _ V, n int64, _ bool) int64 { return n + 1 }, serde.Int64())
}

// Reduce combines the values of each key and window with reduce; the
// first value of a window is its start. Named and Materialized are as for
// Count (default names KSTREAM-REDUCE-<n> and
// KSTREAM-REDUCE-STATE-STORE-<n>).
func (g WindowedGrouped[K, V]) Reduce(reduce func(agg, v V) V, opts ...Option) Table[window.Windowed[K], V] {
	o := collect(opts)
	if g.g.s.vs == nil {
		g.g.s.b.g.Errorf("windowed reduce %s: the stream's value type changed and has no serde; set it with WithSerdes", o.name)
	}
	return windowAggregate(g, "KSTREAM-REDUCE", o, func(_ K, v V, agg V, ok bool) V {
		if !ok {
			return v
		}
		return reduce(agg, v)
	}, g.g.s.vs)
}

// Aggregate folds the values of each key and window into an aggregate of
// type A: init gives the start of a new window, add folds one value in.
// as serializes the aggregate. Named and Materialized are as for Count.
func (g WindowedGrouped[K, V]) Aggregate[A any](init func() A, add func(key K, v V, agg A) A, as serde.Serde[A], opts ...Option) Table[window.Windowed[K], A] {
	return windowAggregate(g, "KSTREAM-AGGREGATE", collect(opts), func(k K, v V, agg A, ok bool) A {
		if !ok {
			agg = init()
		}
		return add(k, v, agg)
	}, as)
}

// emittedKey is the window store key under which a windowed aggregation
// emitting on close keeps the close time up to which it emitted. Its
// segment (all ones) is never reached by a window, nor expired.
var emittedKey = append(bytes.Repeat([]byte{0xff}, 8), "emitted"...)

// windowAggregate adds the repartition topic (if needed), the window store
// and the node of a windowed aggregation, named as aggregateFn names
// them.
func windowAggregate[K, V, A any](wg WindowedGrouped[K, V], prefix string, o options, f func(K, V, A, bool) A, as serde.Serde[A]) Table[window.Windowed[K], A] {
	g := wg.g
	b := g.s.b
	tw, ok := wg.w.(window.TimeWindows)
	if !ok {
		b.g.Errorf("windowed aggregation: %T windows are not built by WindowedBy: use window.Tumbling or window.Hopping, or SessionWindowedBy for sessions (sliding windows are not built yet)", wg.w)
	} else if err := tw.Validate(); err != nil {
		b.g.Errorf("windowed aggregation: %v", err)
	}
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
		s = repartition(g.s, cmpOr(g.name, store))
	}
	if as == nil {
		b.g.Errorf("%s (store %s): no serde for the aggregate", name, store)
	}
	if s.ks == nil {
		b.g.Errorf("%s (store %s): the stream's key type changed and has no serde; set it with WithSerdes", name, store)
	}
	n := b.g.AddNamed(topo.KindProcessor, name, s.n)
	b.addStore(n, store, s.ks, timestampedSerde[A]{as}, true)
	def := &b.g.Stores[len(b.g.Stores)-1]
	def.RetentionMs, def.WindowSizeMs = tw.Retention(), tw.SizeMs
	segI := state.WindowSegmentInterval(tw.Retention())
	ks, reuse := s.ks, s.rawKS
	onClose := wg.emit.onClose
	wks := window.TimeWindowedSerde(ks, tw.SizeMs)
	n.Build = func(t *topo.Task, children []any) (any, error) {
		st, err := t.Store(store)
		if err != nil {
			return nil, err
		}
		next := fanout[window.Windowed[K], change[A]](children)
		var kbuf, vbuf []byte
		liveSeg := int64(-1)
		// expire drops the segments whose windows are all past retention,
		// as one range delete from the first segment (it covers a range
		// an aborted transaction dropped, too).
		expire := func(streamTime int64) error {
			seg := (streamTime - tw.Retention() + 1) / segI
			if seg <= liveSeg || seg <= 0 {
				return nil
			}
			liveSeg = seg
			if err := st.DeleteRange(state.WindowSegmentStart(0), state.WindowSegmentStart(seg)); err != nil {
				return storeErr(store, err)
			}
			return nil
		}
		// emitClosed forwards, once, every window that closed since the
		// last time, and records the new close time in the store.
		emitClosed := func(tk *topo.Task) error {
			closeTime := tk.StreamTime - tw.GraceMs
			last := int64(-1)
			if b, ok, err := st.Get(emittedKey); err != nil {
				return storeErr(store, err)
			} else if ok {
				if last, _, err = state.SplitTimestamped(b); err != nil {
					return storeErr(store, err)
				}
			}
			if closeTime <= last {
				return nil
			}
			// Windows with last < end <= closeTime.
			lo, hi := max(0, last-tw.SizeMs+1), closeTime-tw.SizeMs
			type entry struct {
				kb    []byte
				start int64
				v     []byte
			}
			var out []entry
			if hi >= lo {
				// One scan over the segments that can hold such windows:
				// empty segments cost nothing.
				for k, v := range st.Range(state.WindowSegmentStart(lo/segI), state.WindowSegmentStart(hi/segI+1)) {
					kb, start, err := state.SplitWindowKey(k)
					if err != nil {
						return storeErr(store, err)
					}
					if start >= lo && start <= hi {
						// k and v are valid only in the loop body.
						out = append(out, entry{bytes.Clone(kb), start, bytes.Clone(v)})
					}
				}
				if err := st.Err(); err != nil {
					return storeErr(store, err)
				}
			}
			vbuf = state.AppendTimestamped(vbuf[:0], closeTime, nil)
			if err := st.Put(emittedKey, vbuf); err != nil {
				return storeErr(store, err)
			}
			for _, e := range out {
				k, err := ks.Deserialize(store, e.kb)
				if err != nil {
					return storeErr(store, err)
				}
				ts, ab, err := state.SplitTimestamped(e.v)
				if err != nil {
					return storeErr(store, err)
				}
				agg, err := as.Deserialize(store, ab)
				if err != nil {
					return storeErr(store, err)
				}
				wk := window.Windowed[K]{Key: k, Window: window.Window{Start: e.start, End: e.start + tw.SizeMs}}
				if err := next(tk, Record[window.Windowed[K], change[A]]{Key: wk, Value: change[A]{new: agg, hasNew: true}, Timestamp: ts}); err != nil {
					return err
				}
			}
			return nil
		}
		return proc[K, V](func(tk *topo.Task, r Record[K, V]) error {
			if r.nokey {
				tk.Drop(name, topo.DropNullKey)
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
			closeTime := tk.StreamTime - tw.GraceMs
			late := false
			for _, w := range tw.For(r.Timestamp) {
				if w.End <= closeTime {
					late = true
					continue
				}
				kbuf = state.AppendWindowKey(kbuf[:0], segI, kb, w.Start)
				var c change[A]
				ts := r.Timestamp
				ob, ok, err := st.Get(kbuf)
				if err != nil {
					return storeErr(store, err)
				}
				if ok {
					oldTs, vb, err := state.SplitTimestamped(ob)
					if err != nil {
						return storeErr(store, err)
					}
					if c.old, err = as.Deserialize(store, vb); err != nil {
						return storeErr(store, err)
					}
					c.hasOld = true
					ts = max(ts, oldTs)
				}
				c.new, c.hasNew = f(r.Key, r.Value, c.old, ok), true
				vb, err := as.Serialize(store, c.new)
				if err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "value", Topic: store, Node: name, Err: err}
				}
				vbuf = state.AppendTimestamped(vbuf[:0], ts, vb)
				if err := st.Put(kbuf, vbuf); err != nil {
					return storeErr(store, err)
				}
				if !onClose {
					wk := window.Windowed[K]{Key: r.Key, Window: w}
					if err := next(tk, Record[window.Windowed[K], change[A]]{Key: wk, Value: c, Timestamp: ts, Headers: r.Headers}); err != nil {
						return err
					}
				}
			}
			if late {
				tk.Drop(name, topo.DropLate)
			}
			if onClose {
				if err := emitClosed(tk); err != nil {
					return err
				}
			}
			// Reads hide expired windows by the stream time the store
			// holds (state.WindowStreamTimeKey). It is read back rather
			// than remembered, so that an aborted transaction, which drops
			// the store's cache, cannot leave it behind.
			observed := int64(-1)
			if b, ok, err := st.Get(state.WindowStreamTimeKey); err != nil {
				return storeErr(store, err)
			} else if ok && len(b) >= 8 {
				observed = int64(binary.BigEndian.Uint64(b))
			}
			if tk.StreamTime > observed {
				vbuf = state.AppendTimestamped(vbuf[:0], tk.StreamTime, nil)
				if err := st.Put(state.WindowStreamTimeKey, vbuf); err != nil {
					return storeErr(store, err)
				}
			}
			return expire(tk.StreamTime)
		}), nil
	}
	return Table[window.Windowed[K], A]{b: b, n: n, ks: wks, vs: as}
}

// cmpOr returns the first of a, b that is not empty.
func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
