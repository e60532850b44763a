package stream

import (
	"bytes"
	"encoding/binary"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/state"
)

// Sliding windows (KIP-450), as Kafka Streams' KStreamSlidingWindowAggregate
// builds them. With time difference d, a window [start, start+d] holds
// both its bounds. The store keeps, per key, only windows whose contents
// differ: the left window of every record r, [r-d, r], and the right
// window [r+1, r+1+d] of a record when a later record falls in it. A
// record at ts:
//
//   - is late when even its right window has closed: ts+1+d < stream time
//     - grace, that is ts+1+d <= stream time - grace (dropped, counted);
//   - updates every stored window that holds it, from the latest start
//     down (the order Kafka Streams' reverse iteration forwards them in);
//   - creates the right window of the record before it, when that window
//     holds ts and does not exist, from nothing;
//   - creates its own left window, from the aggregate of the latest window
//     that ended before ts when the record before it falls in [ts-d, ts],
//     else from nothing;
//   - creates its own right window, holding the later records, from the
//     aggregate of the earliest-ending window that holds ts and a later
//     record, without adding itself to it.
//
// A window is updated only while it is open (end >= stream time - grace);
// a record that reaches only closed windows is counted as late. Records
// before d (whose left window would start before zero) share the window
// [0, d], as in Kafka Streams.

// windows returns kb's windows with start in [lo, hi] that have not
// expired (by the latest start written before this record), earliest
// first, each with its aggregate copied out of the
// store.
func (o *windowOps[K, V, A]) windows(tk *topo.Task, kb []byte, lo, hi int64) ([]slot, error) {
	lo = max(lo, o.latest-o.retain+1, 0)
	var out []slot
	for seg := lo / o.segI; seg <= hi/o.segI; seg++ {
		from := state.AppendWindowKey(nil, o.segI, kb, max(lo, seg*o.segI))
		to := binary.BigEndian.AppendUint64(append(binary.BigEndian.AppendUint64(nil, uint64(seg)), kb...), uint64(min(hi, seg*o.segI+o.segI-1)+1))
		for k, v := range o.st.Range(from, to) {
			if len(k) != len(kb)+16 {
				continue // a longer key that shares kb's prefix
			}
			_, start, err := state.SplitWindowKey(k)
			if err != nil {
				return nil, storeErr(o.store, err)
			}
			ts, agg, err := state.SplitTimestamped(v)
			if err != nil {
				return nil, storeErr(o.store, err)
			}
			out = append(out, slot{start: start, ts: ts, agg: bytes.Clone(agg), hasAgg: true, exists: true})
		}
		if err := o.st.Err(); err != nil {
			return nil, storeErr(o.store, err)
		}
	}
	return out, nil
}

// slide processes a record of a sliding-window aggregation; see above.
func (o *windowOps[K, V, A]) slide(tk *topo.Task, r Record[K, V], kb []byte) error {
	ts, d := r.Timestamp, o.size
	closeTime := tk.StreamTime - o.grace
	if ts+1+d <= closeTime {
		tk.Drop(o.name, topo.DropLate)
		return nil
	}
	late := false
	// put updates one window if it is still open.
	put := func(sl slot) error {
		if sl.start+d < closeTime {
			late = true
			return nil
		}
		return o.update(tk, r, kb, sl)
	}
	if ts < d {
		if err := o.slideEarly(tk, r, kb, put); err != nil {
			return err
		}
	} else if err := o.slideOn(tk, r, kb, put); err != nil {
		return err
	}
	if late {
		tk.Drop(o.name, topo.DropLate)
	}
	return nil
}

func (o *windowOps[K, V, A]) slideOn(tk *topo.Task, r Record[K, V], kb []byte, put func(slot) error) error {
	ts, d := r.Timestamp, o.size
	ws, err := o.windows(tk, kb, ts-2*d, ts+1)
	if err != nil {
		return err
	}
	seen := map[int64]bool{}
	var left, right *slot // the aggregates for the record's own windows
	leftExists, rightExists := false, false
	prev, hasPrev := int64(0), false // the timestamp of the record before
walk:
	for i := len(ws) - 1; i >= 0; i-- {
		w := &ws[i]
		seen[w.start] = true
		end := w.start + d
		switch {
		case w.start == ts+1:
			rightExists = true
		case end > ts:
			if right == nil {
				right = w
			}
			if err := put(*w); err != nil {
				return err
			}
		case end == ts:
			leftExists = true
			if err := put(*w); err != nil {
				return err
			}
			if w.ts >= ts {
				return nil // a record at ts came before: every window exists
			}
			prev, hasPrev = w.ts, true
		default: // end < ts: the left window of the record before
			left, prev, hasPrev = w, w.ts, true
			break walk
		}
	}
	if hasPrev && !seen[prev+1] && prev+1+d >= ts {
		if err := put(slot{start: prev + 1, ts: ts}); err != nil {
			return err
		}
	}
	if !leftExists {
		sl := slot{start: ts - d, ts: ts}
		if hasPrev && ts-d <= prev && left != nil {
			sl.agg, sl.hasAgg = left.agg, true
		}
		if err := put(sl); err != nil {
			return err
		}
	}
	if !rightExists && right != nil && right.ts > ts {
		return o.createRight(tk, r, kb, *right)
	}
	return nil
}

// slideEarly processes a record before d: its left window is [0, d],
// shared by all such records.
func (o *windowOps[K, V, A]) slideEarly(tk *topo.Task, r Record[K, V], kb []byte, put func(slot) error) error {
	ts := r.Timestamp
	ws, err := o.windows(tk, kb, 0, ts+1)
	if err != nil {
		return err
	}
	seen := map[int64]bool{}
	var combined, right *slot
	rightExists := false
	prev, hasPrev := int64(0), false
	for i := range ws {
		w := &ws[i]
		seen[w.start] = true
		switch {
		case w.start == 0:
			combined = w
			if w.ts < ts {
				prev, hasPrev = w.ts, true
			}
		case w.start <= ts:
			right = w
			if err := put(*w); err != nil {
				return err
			}
		case w.start == ts+1:
			rightExists = true
		}
	}
	if right == nil && combined != nil && combined.ts > ts {
		right = combined
	}
	if !rightExists && right != nil && right.ts > ts {
		if err := o.createRight(tk, r, kb, *right); err != nil {
			return err
		}
	}
	if hasPrev && !seen[prev+1] {
		if err := put(slot{start: prev + 1, ts: ts}); err != nil {
			return err
		}
	}
	if combined == nil {
		return put(slot{start: 0, ts: ts})
	}
	return put(*combined)
}

// createRight creates the right window of r, [ts+1, ts+1+d], with the
// aggregate and timestamp of from (the later records), r not added.
func (o *windowOps[K, V, A]) createRight(tk *topo.Task, r Record[K, V], kb []byte, from slot) error {
	start := r.Timestamp + 1
	o.vbuf = state.AppendTimestamped(o.vbuf[:0], from.ts, from.agg)
	o.latest = max(o.latest, start)
	if err := o.st.Put(o.key(kb, start), o.vbuf); err != nil {
		return storeErr(o.store, err)
	}
	agg, err := o.as.Deserialize(o.store, from.agg)
	if err != nil {
		return storeErr(o.store, err)
	}
	return o.forward(tk, r, start, change[A]{new: agg, hasNew: true}, from.ts)
}
