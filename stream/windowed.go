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
// that Go rejects. window.TimeWindows (Tumbling, Hopping) and
// window.SlidingWindows (Sliding, as Kafka Streams' SlidingWindows of
// KIP-450: a window per record, [ts-d, ts], and one just after it,
// [ts+1, ts+1+d], when a later record falls in it; both bounds included,
// so a window closes once its end < stream time - grace) are built here;
// session windows have SessionWindowedBy, and a SessionWindows spec here
// makes Build fail with an error that says so.
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
// them. Time windows (tumbling, hopping) and sliding windows share the
// store layout, expiry and emit on close; they differ in which windows a
// record creates and updates (windowOps.time, windowOps.slide).
func windowAggregate[K, V, A any](wg WindowedGrouped[K, V], prefix string, o options, f func(K, V, A, bool) A, as serde.Serde[A]) Table[window.Windowed[K], A] {
	g := wg.g
	b := g.s.b
	var tw window.TimeWindows
	var size, grace int64
	sliding := false
	switch w := wg.w.(type) {
	case window.TimeWindows:
		if err := w.Validate(); err != nil {
			b.g.Errorf("windowed aggregation: %v", err)
		}
		tw, size, grace = w, w.SizeMs, w.GraceMs
	case window.SlidingWindows:
		if err := w.Validate(); err != nil {
			b.g.Errorf("windowed aggregation: %v", err)
		}
		size, grace, sliding = w.DifferenceMs, w.GraceMs, true
	default:
		b.g.Errorf("windowed aggregation: %T windows are not built by WindowedBy: use window.Tumbling, window.Hopping or window.Sliding, or SessionWindowedBy for sessions", wg.w)
		size = 1
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
	retention := wg.w.Retention()
	def.RetentionMs, def.WindowSizeMs = retention, size
	ks, reuse := s.ks, s.rawKS
	onClose := wg.emit.onClose
	wks := window.TimeWindowedSerde(ks, size)
	n.Build = func(t *topo.Task, children []any) (any, error) {
		st, err := t.Store(store)
		if err != nil {
			return nil, err
		}
		ops := &windowOps[K, V, A]{
			st: st, store: store, name: name, ks: ks, as: as, f: f,
			next:    fanout[window.Windowed[K], change[A]](children),
			segI:    state.WindowSegmentInterval(retention),
			size:    size,
			grace:   grace,
			retain:  retention,
			liveSeg: -1,
			onClose: onClose,
		}
		process := ops.time(tw)
		ops.advance = tw.AdvanceMs
		if sliding {
			// A sliding window [start, end] holds its end: it closes
			// once end < stream time - grace.
			ops.inclusive, ops.advance = 1, 0
			process = ops.slide
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
			if err := ops.load(); err != nil {
				return err
			}
			if err := process(tk, r, kb); err != nil {
				return err
			}
			if onClose {
				if err := ops.emitClosed(tk); err != nil {
					return err
				}
			}
			return ops.observe(tk)
		}), nil
	}
	return Table[window.Windowed[K], A]{b: b, n: n, ks: wks, vs: as}
}

// windowOps is a windowed aggregation's work on its window store, for one
// task: the store keys of state/window.go, windows of size ms (end =
// start + size), expiry by segment and emit on close.
type windowOps[K, V, A any] struct {
	st          *state.CachedStore
	store, name string
	ks          serde.Serde[K]
	as          serde.Serde[A]
	f           func(K, V, A, bool) A
	next        proc[window.Windowed[K], change[A]]
	segI, size  int64
	grace       int64
	retain      int64
	// inclusive is 1 when a window holds its end (sliding windows), so
	// that it closes only once stream time - grace passes its end.
	inclusive int64
	advance   int64 // time windows: starts are its multiples; 0 for sliding windows
	onClose   bool  // forward windows when they close, not on update
	// observed and latest are the stream time and latest window start
	// the store holds (latest moves on as windows are written); stored is
	// the latest start written to the store; they are valid while loaded
	// and the store's Resets count is resets (see load).
	observed, latest, stored int64
	loaded                   bool
	resets                   uint64
	liveSeg                  int64
	kbuf, vbuf               []byte
}

// time returns the processing of a record for time windows tw: it
// updates every window of tw that holds the record and has not closed.
func (o *windowOps[K, V, A]) time(tw window.TimeWindows) func(*topo.Task, Record[K, V], []byte) error {
	return func(tk *topo.Task, r Record[K, V], kb []byte) error {
		closeTime := tk.StreamTime - o.grace
		late := false
		// The windows of tw that hold the record, earliest first, as
		// tw.For, without making a slice.
		first := max(0, r.Timestamp-tw.SizeMs+tw.AdvanceMs)
		first -= first % tw.AdvanceMs
		for start := first; start <= r.Timestamp; start += tw.AdvanceMs {
			w := window.Window{Start: start, End: start + tw.SizeMs}
			if w.End <= closeTime {
				late = true
				continue
			}
			ob, ok, err := o.st.Get(o.key(kb, w.Start))
			if err != nil {
				return storeErr(o.store, err)
			}
			sl := slot{start: w.Start, ts: r.Timestamp, exists: ok, hasAgg: ok}
			if ok {
				if sl.ts, sl.agg, err = state.SplitTimestamped(ob); err != nil {
					return storeErr(o.store, err)
				}
			}
			if err := o.update(tk, r, kb, sl); err != nil {
				return err
			}
		}
		if late {
			tk.Drop(o.name, topo.DropLate)
		}
		return nil
	}
}

// slot is one window of a key as read from the store (or about to be
// created): its start, the timestamp of its aggregate and the
// aggregate's bytes (owned by the slot).
type slot struct {
	start, ts int64
	agg       []byte
	hasAgg    bool // agg is set: the window is folded on from it
	exists    bool // the window is in the store (and hasAgg)
}

// key returns the store key of kb's window starting at start, in a
// buffer reused by the next call.
func (o *windowOps[K, V, A]) key(kb []byte, start int64) []byte {
	o.kbuf = state.AppendWindowKey(o.kbuf[:0], o.segI, kb, start)
	return o.kbuf
}

// update folds r into the window of sl (from sl.agg when sl.hasAgg, else
// from nothing: init), with timestamp the larger of r's and sl.ts, writes
// it and forwards the change unless emitting on close. The change has an
// old value only when the window was in the store.
func (o *windowOps[K, V, A]) update(tk *topo.Task, r Record[K, V], kb []byte, sl slot) error {
	var c change[A]
	hasAgg := sl.hasAgg
	if hasAgg {
		var err error
		if c.old, err = o.as.Deserialize(o.store, sl.agg); err != nil {
			return storeErr(o.store, err)
		}
		c.hasOld = sl.exists
	}
	ts := max(r.Timestamp, sl.ts)
	c.new, c.hasNew = o.f(r.Key, r.Value, c.old, hasAgg), true
	if !sl.exists {
		c.old = *new(A)
	}
	vb, err := o.as.Serialize(o.store, c.new)
	if err != nil {
		return &topo.SerdeError{Op: "serialize", Part: "value", Topic: o.store, Node: o.name, Err: err}
	}
	o.vbuf = state.AppendTimestamped(o.vbuf[:0], ts, vb)
	o.latest = max(o.latest, sl.start)
	if err := o.st.Put(o.key(kb, sl.start), o.vbuf); err != nil {
		return storeErr(o.store, err)
	}
	return o.forward(tk, r, sl.start, c, ts)
}

func (o *windowOps[K, V, A]) forward(tk *topo.Task, r Record[K, V], start int64, c change[A], ts int64) error {
	if o.onClose {
		return nil
	}
	wk := window.Windowed[K]{Key: r.Key, Window: window.Window{Start: start, End: start + o.size}}
	return o.next(tk, Record[window.Windowed[K], change[A]]{Key: wk, Value: c, Timestamp: ts, Headers: r.Headers})
}

// emitClosed forwards, once, every window that closed since the last
// time, and records the new close time in the store.
func (o *windowOps[K, V, A]) emitClosed(tk *topo.Task) error {
	// Windows with end <= closeTime have closed.
	closeTime := tk.StreamTime - o.grace - o.inclusive
	last := int64(-1)
	if b, ok, err := o.st.Get(emittedKey); err != nil {
		return storeErr(o.store, err)
	} else if ok {
		if last, _, err = state.SplitTimestamped(b); err != nil {
			return storeErr(o.store, err)
		}
	}
	if closeTime <= last {
		return nil
	}
	// Windows with last < end <= closeTime.
	lo, hi := max(0, last-o.size+1), closeTime-o.size
	if o.advance > 0 && (lo+o.advance-1)/o.advance*o.advance > hi {
		// Time windows start at multiples of advance: none ends in
		// (last, closeTime], so there is nothing to scan, and last can
		// stay as it is.
		return nil
	}
	type entry struct {
		kb    []byte
		start int64
		v     []byte
	}
	var out []entry
	if hi >= lo {
		// One scan over the segments that can hold such windows: empty
		// segments cost nothing.
		for k, v := range o.st.Range(state.WindowSegmentStart(lo/o.segI), state.WindowSegmentStart(hi/o.segI+1)) {
			kb, start, err := state.SplitWindowKey(k)
			if err != nil {
				return storeErr(o.store, err)
			}
			if start >= lo && start <= hi {
				// k and v are valid only in the loop body.
				out = append(out, entry{bytes.Clone(kb), start, bytes.Clone(v)})
			}
		}
		if err := o.st.Err(); err != nil {
			return storeErr(o.store, err)
		}
	}
	o.vbuf = state.AppendTimestamped(o.vbuf[:0], closeTime, nil)
	if err := o.st.Put(emittedKey, o.vbuf); err != nil {
		return storeErr(o.store, err)
	}
	for _, e := range out {
		k, err := o.ks.Deserialize(o.store, e.kb)
		if err != nil {
			return storeErr(o.store, err)
		}
		ts, ab, err := state.SplitTimestamped(e.v)
		if err != nil {
			return storeErr(o.store, err)
		}
		agg, err := o.as.Deserialize(o.store, ab)
		if err != nil {
			return storeErr(o.store, err)
		}
		wk := window.Windowed[K]{Key: k, Window: window.Window{Start: e.start, End: e.start + o.size}}
		if err := o.next(tk, Record[window.Windowed[K], change[A]]{Key: wk, Value: change[A]{new: agg, hasNew: true}, Timestamp: ts}); err != nil {
			return err
		}
	}
	return nil
}

// load makes sure o holds what the store observed
// (state.WindowStreamTimeKey) before a record: the stream time and the
// latest window start written. It reads them from the store at the first
// record and whenever the store dropped its uncommitted writes since (an
// aborted transaction), so that o is never ahead of the store.
func (o *windowOps[K, V, A]) load() error {
	if o.loaded && o.st.Resets() == o.resets {
		return nil
	}
	o.observed, o.latest = -1, -1
	if b, ok, err := o.st.Get(state.WindowStreamTimeKey); err != nil {
		return storeErr(o.store, err)
	} else if ok {
		o.observed, o.latest = state.WindowObserved(b)
	}
	o.stored, o.loaded, o.resets, o.liveSeg = o.latest, true, o.st.Resets(), -1
	return nil
}

// observe writes the latest window start written to the store when it
// moved (reads hide expired windows by it), with the task's stream time
// as the entry's timestamp, and drops the segments whose windows are all
// past retention. Stream time alone is not written on every record: the
// window entries carry it (each has the largest timestamp of its
// records), and a restore takes stream time from them (decision 25).
func (o *windowOps[K, V, A]) observe(tk *topo.Task) error {
	if o.latest > o.stored {
		o.observed = max(o.observed, tk.StreamTime)
		o.vbuf = state.AppendTimestamped(o.vbuf[:0], o.observed, binary.BigEndian.AppendUint64(nil, uint64(o.latest)))
		if err := o.st.Put(state.WindowStreamTimeKey, o.vbuf); err != nil {
			return storeErr(o.store, err)
		}
		o.stored = o.latest
	}
	// One range delete from the first segment (it covers a range an
	// aborted transaction dropped, too).
	seg := (o.latest - o.retain + 1) / o.segI
	if seg <= o.liveSeg || seg <= 0 {
		return nil
	}
	o.liveSeg = seg
	if err := o.st.DeleteRange(state.WindowSegmentStart(0), state.WindowSegmentStart(seg)); err != nil {
		return storeErr(o.store, err)
	}
	return nil
}

// cmpOr returns the first of a, b that is not empty.
func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
