package stream

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/brookstream/brook/window"
)

// SessionGrouped is a grouped stream with session windows, ready to
// aggregate per key and session: Count, Aggregate. Make it with
// SessionWindowedBy.
type SessionGrouped[K, V any] struct {
	g    Grouped[K, V]
	w    window.SessionWindows
	emit EmitStrategy
}

// SessionWindowedBy aggregates g per key and session of w, as Kafka
// Streams' KGroupedStream#windowedBy(SessionWindows): a record starts a
// session [ts, ts], joins every session of its key that ends no more than
// the gap before it or starts no more than the gap after it, and merges
// them when it bridges several. Results are keyed by window.Windowed[K]
// (window start and end are the first and last record's timestamps, both
// inclusive) and written with window.SessionWindowedSerde. Sessions emit
// on every update by default: a merge forwards a tombstone for each
// session it replaced, then the merged one. With Emit(OnWindowClose())
// each session is forwarded once, when it closes. A record whose merged
// session ends before stream time - grace is late: dropped and counted.
// The session store is read with SessionStore (and
// streamtest.Driver.SessionStore).
func SessionWindowedBy[K, V any](g Grouped[K, V], w window.SessionWindows) SessionGrouped[K, V] {
	return SessionGrouped[K, V]{g: g, w: w}
}

// Emit returns g with emit strategy s, as Kafka Streams'
// SessionWindowedKStream#emitStrategy. Default OnWindowUpdate. With
// OnWindowClose a session's aggregate is forwarded once, with no old
// value and the session's end as timestamp, when no record can extend it
// any more: when stream time passes its end + gap + grace (end < stream
// time - grace - gap, as Kafka Streams); replaced sessions are not
// forwarded (no tombstones). The close time up to which sessions were
// forwarded is kept in the session store, so under exactly-once each
// final result is forwarded exactly once across restarts and
// rebalances. A closed session is also past the store's retention (gap +
// grace): no later record merges with it.
func (g SessionGrouped[K, V]) Emit(s EmitStrategy) SessionGrouped[K, V] {
	g.emit = s
	return g
}

// Count counts the records per key and session. Named names the node
// (default KSTREAM-AGGREGATE-<n>), Materialized the session store
// (default KSTREAM-AGGREGATE-STATE-STORE-<n>).
func (g SessionGrouped[K, V]) Count(opts ...Option) Table[window.Windowed[K], int64] {
	return sessionAggregate(g, collect(opts), func() int64 { return 0 },
		func(_ K, _ V, n int64) int64 { return n + 1 },
		func(_ K, a, b int64) int64 { return a + b }, serde.Int64())
}

// Aggregate folds the values of each key and session into an aggregate:
// init starts a session, add folds a value in, and merge combines the
// aggregates of two sessions a record bridges (Kafka Streams' Merger). as
// serializes the aggregate. Named and Materialized are as for Count.
func (g SessionGrouped[K, V]) Aggregate[A any](init func() A, add func(key K, v V, agg A) A, merge func(key K, a, b A) A, as serde.Serde[A], opts ...Option) Table[window.Windowed[K], A] {
	return sessionAggregate(g, collect(opts), init, add, merge, as)
}

func sessionAggregate[K, V, A any](sg SessionGrouped[K, V], o options, init func() A, add func(K, V, A) A, merge func(K, A, A) A, as serde.Serde[A]) Table[window.Windowed[K], A] {
	g := sg.g
	b := g.s.b
	w := sg.w
	if err := w.Validate(); err != nil {
		b.g.Errorf("session aggregation: %v", err)
	}
	store := o.store
	if store == "" {
		store = b.g.NewStoreName("KSTREAM-AGGREGATE-")
	}
	name := b.g.NewName("KSTREAM-AGGREGATE")
	if o.name != "" {
		name = o.name
	}
	s := g.s
	if g.repartition {
		s = repartition(g.s, cmpOr(g.name, store))
	}
	if as == nil || s.ks == nil {
		b.g.Errorf("%s (store %s): needs a key serde and a serde for the aggregate", name, store)
	}
	n := b.g.AddNamed(topo.KindProcessor, name, s.n)
	b.addStore(n, store, s.ks, timestampedSerde[A]{as}, true)
	def := &b.g.Stores[len(b.g.Stores)-1]
	retention := w.Retention()
	def.RetentionMs, def.Session = retention, true
	onClose := sg.emit.onClose
	grace := w.GraceMs
	segI := state.WindowSegmentInterval(retention)
	ks, reuse := s.ks, s.rawKS
	n.Build = func(t *topo.Task, children []any) (any, error) {
		st, err := t.Store(store)
		if err != nil {
			return nil, err
		}
		next := fanout[window.Windowed[K], change[A]](children)
		liveSeg := int64(-1)
		var kbuf, vbuf []byte
		type session struct {
			start, end, ts int64
			agg            A
			key            []byte
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
			ts, stime := r.Timestamp, tk.StreamTime
			// Sessions of the key with end >= ts-gap and start <= ts+gap;
			// live sessions end at or after stream time - retention.
			lo := max(ts-w.GapMs, stime-retention+1, 0)
			var found []session
			for seg := lo / segI; seg <= stime/segI; seg++ {
				// <seg> <key> <end >= lo> ... up to the key's last entry.
				from := binary.BigEndian.AppendUint64(append(binary.BigEndian.AppendUint64(nil, uint64(seg)), kb...), uint64(lo))
				to := append(append(binary.BigEndian.AppendUint64(nil, uint64(seg)), kb...), bytes.Repeat([]byte{0xff}, 17)...)
				for k, v := range st.Range(from, to) {
					if len(k) != len(kb)+24 || !bytes.Equal(k[8:8+len(kb)], kb) {
						continue
					}
					end := int64(binary.BigEndian.Uint64(k[8+len(kb):]))
					start := int64(binary.BigEndian.Uint64(k[16+len(kb):]))
					if end < ts-w.GapMs || start > ts+w.GapMs {
						continue
					}
					sts, ab, err := state.SplitTimestamped(v)
					if err != nil {
						return storeErr(store, err)
					}
					agg, err := as.Deserialize(store, ab)
					if err != nil {
						return storeErr(store, err)
					}
					found = append(found, session{start: start, end: end, ts: sts, agg: agg, key: bytes.Clone(k)})
				}
				if err := st.Err(); err != nil {
					return storeErr(store, err)
				}
			}
			merged := session{start: ts, end: ts, ts: ts, agg: init()}
			for _, f := range found {
				merged.start, merged.end, merged.ts = min(merged.start, f.start), max(merged.end, f.end), max(merged.ts, f.ts)
				merged.agg = merge(r.Key, merged.agg, f.agg)
			}
			if merged.end < stime-w.GraceMs {
				tk.Drop(name, topo.DropLate)
				if onClose {
					return emitClosedSessions(tk, st, store, segI, stime-grace-w.GapMs-1, ks, as, next)
				}
				return nil
			}
			for _, f := range found {
				if err := st.Delete(f.key); err != nil {
					return storeErr(store, err)
				}
				if onClose {
					continue
				}
				wk := window.Windowed[K]{Key: r.Key, Window: window.Window{Start: f.start, End: f.end}}
				if err := next(tk, Record[window.Windowed[K], change[A]]{Key: wk, Value: change[A]{old: f.agg, hasOld: true}, Timestamp: f.end, Headers: r.Headers}); err != nil {
					return err
				}
			}
			merged.agg = add(r.Key, r.Value, merged.agg)
			vb, err := as.Serialize(store, merged.agg)
			if err != nil {
				return &topo.SerdeError{Op: "serialize", Part: "value", Topic: store, Node: name, Err: err}
			}
			kbuf = state.AppendSessionKey(kbuf[:0], segI, kb, merged.start, merged.end)
			vbuf = state.AppendTimestamped(vbuf[:0], merged.ts, vb)
			if err := st.Put(kbuf, vbuf); err != nil {
				return storeErr(store, err)
			}
			if !onClose {
				wk := window.Windowed[K]{Key: r.Key, Window: window.Window{Start: merged.start, End: merged.end}}
				if err := next(tk, Record[window.Windowed[K], change[A]]{Key: wk, Value: change[A]{new: merged.agg, hasNew: true}, Timestamp: merged.end, Headers: r.Headers}); err != nil {
					return err
				}
			} else if err := emitClosedSessions(tk, st, store, segI, stime-grace-w.GapMs-1, ks, as, next); err != nil {
				return err
			}
			// Sessions ending before stream time - retention + 1 have
			// expired; with emit on close, one that ends right at
			// stream time - retention is not emitted yet, so keep it.
			liveFrom := stime - retention + 1
			if onClose {
				liveFrom--
			}
			if seg := liveFrom / segI; seg > liveSeg && seg > 0 {
				liveSeg = seg
				if err := st.DeleteRange(state.WindowSegmentStart(0), state.WindowSegmentStart(seg)); err != nil {
					return storeErr(store, err)
				}
			}
			return nil
		}), nil
	}
	return Table[window.Windowed[K], A]{b: b, n: n, ks: window.SessionWindowedSerde(ks), vs: as}
}

// emitClosedSessions forwards, once, every session of st that closed
// (that no record can extend any more) since the last call (end in (last, closeTime], last being the close
// time kept under emittedKey), and keeps closeTime there. Forwards carry
// the session's end as timestamp and no old value.
func emitClosedSessions[K, A any](tk *topo.Task, st *state.CachedStore, store string, segI, closeTime int64, ks serde.Serde[K], as serde.Serde[A], next proc[window.Windowed[K], change[A]]) error {
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
	type entry struct {
		kb         []byte
		start, end int64
		v          []byte
	}
	var out []entry
	lo := max(0, last+1)
	for k, v := range st.Range(state.WindowSegmentStart(lo/segI), state.WindowSegmentStart(closeTime/segI+1)) {
		kb, start, end, err := state.SplitSessionKey(k)
		if err != nil {
			return storeErr(store, err)
		}
		if end >= lo && end <= closeTime {
			// k and v are valid only in the loop body.
			out = append(out, entry{bytes.Clone(kb), start, end, bytes.Clone(v)})
		}
	}
	if err := st.Err(); err != nil {
		return storeErr(store, err)
	}
	if err := st.Put(emittedKey, state.AppendTimestamped(nil, closeTime, nil)); err != nil {
		return storeErr(store, err)
	}
	// By end, then key bytes, then start: the order sessions closed in.
	slices.SortStableFunc(out, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.end, b.end), bytes.Compare(a.kb, b.kb), cmp.Compare(a.start, b.start))
	})
	for _, e := range out {
		k, err := ks.Deserialize(store, e.kb)
		if err != nil {
			return storeErr(store, err)
		}
		_, ab, err := state.SplitTimestamped(e.v)
		if err != nil {
			return storeErr(store, err)
		}
		agg, err := as.Deserialize(store, ab)
		if err != nil {
			return storeErr(store, err)
		}
		wk := window.Windowed[K]{Key: k, Window: window.Window{Start: e.start, End: e.end}}
		if err := next(tk, Record[window.Windowed[K], change[A]]{Key: wk, Value: change[A]{new: agg, hasNew: true}, Timestamp: e.end}); err != nil {
			return err
		}
	}
	return nil
}
