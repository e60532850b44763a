package stream

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/brookstream/brook/window"
)

// JoinStream joins s with the stream other on their keys within the join
// windows w, as Kafka Streams' KStream#join(KStream, ValueJoiner,
// JoinWindows): a record of s at time t and a record of other with the
// same key at a time in [t - w.BeforeMs, t + w.AfterMs] make one result,
// joiner(s's value, other's value), whichever of the two arrives second.
// The result has the key, the larger of the two timestamps and the
// headers of the record that arrived second.
//
// Both streams are buffered in window stores with changelogs, each record
// for w.Retention() (BeforeMs + AfterMs + GraceMs) of stream time. The
// join's stream time is the largest timestamp either side has seen. A
// record whose own window has closed when it arrives (t + AfterMs +
// GraceMs < stream time for a record of s, t + BeforeMs + GraceMs for one
// of other) is late: dropped and counted (App.DroppedRecords), never
// joined; and a buffered record stops joining once its window has closed.
// Records without a key or with a tombstone are dropped and counted, as
// Kafka Streams skips them.
//
// s and other must be co-partitioned (see Stream.Join); a side whose key
// may have changed since its source is first written to a repartition
// topic, named "<name>-left" and "<name>-right" with the Named option,
// else after that side's last node, as Kafka Streams does. The window
// stores need the serdes of both sides (see WithSerdes). A stream may be
// joined with itself.
//
// The Named option names the nodes: "<name>-this-windowed",
// "<name>-other-windowed", "<name>-this-join", "<name>-other-join" and
// "<name>-merge" (default KSTREAM-WINDOWED-<n>, KSTREAM-WINDOWED-<n+1>,
// KSTREAM-JOINTHIS-<n+2>, KSTREAM-JOINOTHER-<n+3>, KSTREAM-MERGE-<n+4>).
// The Materialized option names the stores, as Kafka Streams'
// StreamJoined.withStoreName: "<store>-this-join-store" and
// "<store>-other-join-store" (default "<this join node>-store" and "<other
// join node>-store"). The result's value serde is s's when VR is V.
func (s Stream[K, V]) JoinStream[VO, VR any](other Stream[K, VO], joiner func(v V, ov VO) VR, w window.JoinWindows, opts ...Option) Stream[K, VR] {
	return streamStreamJoin(s, other, joiner, w, innerJoin, collect(opts))
}

// LeftJoinStream is JoinStream, except that a record of s that joined no
// record of other by the time its window closed (stream time passed t +
// AfterMs + GraceMs) is then emitted once, joined with the zero value of
// VO (nil for a pointer type, such as the *T of serde.Nullable), with its
// own timestamp, as Kafka Streams' KStream#leftJoin(KStream) since 3.1:
// never early, so never followed by a match. Such records wait in a third
// store with a changelog, "<store>-left-shared-join-store" (default
// KSTREAM-OUTERSHARED-<n+2>-store). A record of s without a key is
// emitted at once, joined with the zero value (KIP-962). The nodes are
// named as for JoinStream, except "<name>-outer-other-join" (default
// KSTREAM-OUTEROTHER-<n+3>), as Kafka Streams names them.
func (s Stream[K, V]) LeftJoinStream[VO, VR any](other Stream[K, VO], joiner func(v V, ov VO) VR, w window.JoinWindows, opts ...Option) Stream[K, VR] {
	return streamStreamJoin(s, other, joiner, w, leftJoin, collect(opts))
}

// OuterJoinStream is LeftJoinStream on both sides: an unmatched record of
// other is emitted too, once its window has closed (t + BeforeMs +
// GraceMs), joined as joiner(zero V, other's value), as Kafka Streams'
// KStream#outerJoin(KStream). The shared store is
// "<store>-outer-shared-join-store" (default
// KSTREAM-OUTERSHARED-<n+2>-store) and the nodes "<name>-outer-this-join"
// and "<name>-outer-other-join" (default KSTREAM-OUTERTHIS-<n+2> and
// KSTREAM-OUTEROTHER-<n+3>).
func (s Stream[K, V]) OuterJoinStream[VO, VR any](other Stream[K, VO], joiner func(v V, ov VO) VR, w window.JoinWindows, opts ...Option) Stream[K, VR] {
	return streamStreamJoin(s, other, joiner, w, outerJoin, collect(opts))
}

// The outer store of a left or outer stream-stream join (Kafka Streams'
// shared outer join store) holds the records that have not joined yet,
// under keys
//
//	<timestamp: int64 BE> <side: 0 other (right), 1 this (left)> <key bytes>
//
// so that they are read in time order, a right record before a left one
// of the same time, as Kafka Streams orders them. A value is a list of
// values (see appendJoinValue): records of one key, side and time. The
// key ssMinTimeKey, after every record, holds the bookkeeping of when to
// look for closed windows.
var ssMinTimeKey = append(bytes.Repeat([]byte{0xff}, 8), "min-time"...)

// ssStreamTimeKey holds the join's stream time in the this-side window
// store: the largest timestamp either side has seen. It is kept in the
// store, not in memory, so that an aborted transaction rolls it back and a
// restart finds it.
var ssStreamTimeKey = state.WindowStreamTimeKey

// appendJoinValue appends one value to a list of values: uvarint(len+1)
// then the bytes (0 for nil bytes).
func appendJoinValue(dst, v []byte) []byte {
	if v == nil {
		return binary.AppendUvarint(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(v))+1)
	return append(dst, v...)
}

// joinValues yields the values of a list made by appendJoinValue; the
// slices alias b.
func joinValues(b []byte, yield func([]byte) error) error {
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < max(n, 1)-1 {
			return errCorruptJoinValue
		}
		b = b[w:]
		if n == 0 {
			if err := yield(nil); err != nil {
				return err
			}
			continue
		}
		if err := yield(b[:n-1]); err != nil {
			return err
		}
		b = b[n-1:]
	}
	return nil
}

type joinError string

func (e joinError) Error() string { return string(e) }

const errCorruptJoinValue = joinError("stream-stream join: a stored list of values is corrupt")

// readInt64 reads the 8-byte big-endian number stored under key, or def.
func readInt64(st *state.CachedStore, key []byte, def int64) (int64, error) {
	b, ok, err := st.Get(key)
	if err != nil {
		return 0, err
	}
	if !ok || len(b) < 8 {
		return def, nil
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func writeInt64(st *state.CachedStore, key []byte, v int64) error {
	return st.Put(key, binary.BigEndian.AppendUint64(nil, uint64(v)))
}

func streamStreamJoin[K, V, VO, VR any](s Stream[K, V], other Stream[K, VO], joiner func(V, VO) VR, w window.JoinWindows, kind tableJoinKind, o options) Stream[K, VR] {
	b := s.b
	if err := w.Validate(); err != nil {
		b.g.Errorf("stream-stream join: %v", err)
	}
	// Co-partitioning: a side whose key may have changed is repartitioned
	// first, as Kafka Streams' KStreamImpl#doJoin does. A re-keyed stream
	// joined with itself is repartitioned once.
	self := s.n == other.n
	if s.rekeyed {
		s = repartition(s, suffixOr(o.name, "-left", s.n.Name))
	}
	if self && o.name == "" && other.rekeyed {
		other = Stream[K, VO]{b: b, n: s.n, ks: sameSerde[K](s.ks), vs: other.vs, rawKS: s.rawKS}
		if os, ok := any(s.vs).(serde.Serde[VO]); ok {
			other.vs = os
		}
	} else if other.rekeyed {
		other = repartition(other, suffixOr(o.name, "-right", other.n.Name))
	}

	leftOuter := kind == leftJoin || kind == outerJoin
	rightOuter := kind == outerJoin
	thisWinName := b.name("KSTREAM-WINDOWED", suffix(o.name, "-this-windowed"))
	otherWinName := b.name("KSTREAM-WINDOWED", suffix(o.name, "-other-windowed"))
	thisPrefix, otherPrefix := "KSTREAM-JOINTHIS", "KSTREAM-JOINOTHER"
	if rightOuter {
		thisPrefix = "KSTREAM-OUTERTHIS"
	}
	if leftOuter {
		otherPrefix = "KSTREAM-OUTEROTHER"
	}
	thisGen, otherGen := b.g.NewName(thisPrefix), b.g.NewName(otherPrefix)
	thisSuffix, otherSuffix := "-this-join", "-other-join"
	if rightOuter {
		thisSuffix = "-outer-this-join"
	}
	if leftOuter {
		otherSuffix = "-outer-other-join"
	}
	joinThisName, joinOtherName := thisGen, otherGen
	if o.name != "" {
		joinThisName, joinOtherName = o.name+thisSuffix, o.name+otherSuffix
	}
	mergeName := b.name("KSTREAM-MERGE", suffix(o.name, "-merge"))

	thisStore, otherStore := thisGen+"-store", otherGen+"-store"
	if o.store != "" {
		thisStore, otherStore = o.store+thisSuffix+"-store", o.store+otherSuffix+"-store"
	}
	outerStore := ""
	if leftOuter {
		switch {
		case o.store != "" && rightOuter:
			outerStore = o.store + "-outer-shared-join-store"
		case o.store != "":
			outerStore = o.store + "-left-shared-join-store"
		default:
			outerStore = "KSTREAM-OUTERSHARED" + thisGen[len(thisPrefix):] + "-store"
		}
	}

	ks := s.ks
	if ks == nil {
		ks = sameSerde[K](other.ks)
	}
	if ks == nil {
		b.g.Errorf("stream-stream join %s: the streams' key type changed and has no serde; set it with WithSerdes", mergeName)
	}
	if s.vs == nil || other.vs == nil {
		b.g.Errorf("stream-stream join %s: the window stores need the value serdes of both streams; set them with WithSerdes", mergeName)
	}

	thisWin := b.g.AddNamed(topo.KindProcessor, thisWinName, s.n)
	otherWin := b.g.AddNamed(topo.KindProcessor, otherWinName, other.n)
	b.addStore(thisWin, thisStore, ks, s.vs, false)
	b.g.Stores[len(b.g.Stores)-1].RetentionMs, b.g.Stores[len(b.g.Stores)-1].WindowSizeMs = max(w.Retention(), 1), w.SizeMs()
	b.addStore(otherWin, otherStore, ks, other.vs, false)
	b.g.Stores[len(b.g.Stores)-1].RetentionMs, b.g.Stores[len(b.g.Stores)-1].WindowSizeMs = max(w.Retention(), 1), w.SizeMs()
	joinThis := b.g.AddNamed(topo.KindProcessor, joinThisName, thisWin)
	joinOther := b.g.AddNamed(topo.KindProcessor, joinOtherName, otherWin)
	joinThis.Stores = append(joinThis.Stores, otherStore)
	joinOther.Stores = append(joinOther.Stores, thisStore)
	if outerStore != "" {
		b.addStore(joinThis, outerStore, ks, nil, false)
		joinOther.Stores = append(joinOther.Stores, outerStore)
	}
	merge := b.g.AddNamed(topo.KindProcessor, mergeName, joinThis, joinOther)

	cfg := &ssConfig{
		thisStore: thisStore, otherStore: otherStore, outerStore: outerStore,
		before: w.BeforeMs, after: w.AfterMs, grace: w.GraceMs,
		retention: max(w.Retention(), 1),
	}
	cfg.segI = state.WindowSegmentInterval(cfg.retention)
	reuseThis := s.rawKS && sameValue(s.ks, ks)
	reuseOther := other.rawKS && sameValue(other.ks, ks)
	thisVS, otherVS := s.vs, other.vs
	reversed := func(ov VO, v V) VR { return joiner(v, ov) }

	thisWin.Build = func(tk *topo.Task, children []any) (any, error) {
		return windowSide(tk, cfg, thisWinName, thisStore, ks, thisVS, reuseThis, cfg.after, fanout[K, V](children))
	}
	otherWin.Build = func(tk *topo.Task, children []any) (any, error) {
		return windowSide(tk, cfg, otherWinName, otherStore, ks, otherVS, reuseOther, cfg.before, fanout[K, VO](children))
	}
	// Unmatched records are emitted by whichever side's record closes
	// their window; both sides emit them as joiner(left, right).
	emitter := func(tk *topo.Task) func(kb, vb []byte, left bool, ts int64, next proc[K, VR]) error {
		isNull := nullCheck[VR]()
		return func(kb, vb []byte, left bool, ts int64, next proc[K, VR]) error {
			k, err := ks.Deserialize(outerStore, kb)
			if err != nil {
				return storeErr(outerStore, err)
			}
			var out VR
			if left {
				v, err := thisVS.Deserialize(outerStore, vb)
				if err != nil {
					return storeErr(outerStore, err)
				}
				var zero VO
				out = joiner(v, zero)
			} else {
				ov, err := otherVS.Deserialize(outerStore, vb)
				if err != nil {
					return storeErr(outerStore, err)
				}
				var zero V
				out = joiner(zero, ov)
			}
			return next(tk, Record[K, VR]{Key: k, Value: out, Timestamp: ts, tomb: isNull != nil && isNull(out)})
		}
	}
	joinThis.Build = func(tk *topo.Task, children []any) (any, error) {
		return joinSideSS(tk, cfg, joinThisName, true, leftOuter, cfg.before, cfg.after, ks, reuseThis, otherVS, thisVS, joiner, emitter(tk), fanout[K, VR](children))
	}
	joinOther.Build = func(tk *topo.Task, children []any) (any, error) {
		return joinSideSS(tk, cfg, joinOtherName, false, rightOuter, cfg.after, cfg.before, ks, reuseOther, thisVS, otherVS, reversed, emitter(tk), fanout[K, VR](children))
	}
	merge.Build = func(_ *topo.Task, children []any) (any, error) { return fanout[K, VR](children), nil }
	return Stream[K, VR]{b: b, n: merge, ks: ks, vs: sameSerde[VR](s.vs)}
}

// suffixOr returns name+sfx when name is set, else def.
func suffixOr(name, sfx, def string) string {
	if name != "" {
		return name + sfx
	}
	return def
}

// ssConfig is the configuration both sides of a stream-stream join share.
type ssConfig struct {
	thisStore, otherStore, outerStore string
	before, after, grace              int64
	retention, segI                   int64
}

// closed reports whether the window of a record at ts, which ends at ts
// + own, has closed by stream time st.
func (c *ssConfig) closed(ts, own, st int64) bool { return ts+own+c.grace < st }

// streamTime reads the join's stream time from the this-side store.
func ssStreamTime(st *state.CachedStore, store string) (int64, error) {
	t, err := readInt64(st, ssStreamTimeKey, -1)
	if err != nil {
		return 0, storeErr(store, err)
	}
	return t, nil
}

// windowSide is the processor of a KSTREAM-WINDOWED node: it forwards
// the record to its join node, then buffers it in its side's window store
// unless it has no key, no value, or its window had closed (late).
func windowSide[K, V any](tk *topo.Task, c *ssConfig, name, store string, ks serde.Serde[K], vs serde.Serde[V], reuse bool, own int64, next proc[K, V]) (any, error) {
	st, err := tk.Store(store)
	if err != nil {
		return nil, err
	}
	timeSt, err := tk.Store(c.thisStore)
	if err != nil {
		return nil, err
	}
	var kbuf, vbuf []byte
	liveSeg := int64(-1)
	return proc[K, V](func(tk *topo.Task, r Record[K, V]) error {
		if err := next(tk, r); err != nil {
			return err
		}
		if r.nokey || r.tomb {
			return nil
		}
		now, err := ssStreamTime(timeSt, c.thisStore)
		if err != nil {
			return err
		}
		if c.closed(r.Timestamp, own, now) {
			return nil // late: the join node counted it
		}
		kb := r.raw
		if !reuse || kb == nil {
			if kb, err = ks.Serialize(store, r.Key); err != nil {
				return &topo.SerdeError{Op: "serialize", Part: "key", Topic: store, Node: name, Err: err}
			}
			if kb == nil {
				return nil
			}
		}
		vb, err := vs.Serialize(store, r.Value)
		if err != nil {
			return &topo.SerdeError{Op: "serialize", Part: "value", Topic: store, Node: name, Err: err}
		}
		kbuf = state.AppendWindowKey(kbuf[:0], c.segI, kb, max(0, r.Timestamp))
		old, _, err := st.Get(kbuf)
		if err != nil {
			return storeErr(store, err)
		}
		vbuf = appendJoinValue(append(vbuf[:0], old...), vb)
		if err := st.Put(kbuf, vbuf); err != nil {
			return storeErr(store, err)
		}
		// Expire whole segments past retention (nothing there is read:
		// closed records never join).
		if seg := (now - c.retention + 1) / c.segI; seg > liveSeg && seg > 0 {
			liveSeg = seg
			if err := st.DeleteRange(state.WindowSegmentStart(0), state.WindowSegmentStart(seg)); err != nil {
				return storeErr(store, err)
			}
		}
		return nil
	}), nil
}

// joinSideSS is the processor of one join node of a stream-stream join
// (Kafka Streams' KStreamKStreamJoinLeftSide and RightSide). It looks a
// record up in the other side's window store, [ts - before, ts + after]
// seen from its own side, and forwards a result per match; with outer,
// an unmatched record waits in the outer store until its window closes.
// isLeft says which side it is; joiner takes this side's value first.
func joinSideSS[K, VT, VO, VR any](tk *topo.Task, c *ssConfig, name string, isLeft, outer bool, before, after int64,
	ks serde.Serde[K], reuse bool, ovs serde.Serde[VO], tvs serde.Serde[VT], joiner func(VT, VO) VR,
	emit func(kb, vb []byte, left bool, ts int64, next proc[K, VR]) error, next proc[K, VR]) (any, error) {
	otherName := c.otherStore
	if !isLeft {
		otherName = c.thisStore
	}
	otherSt, err := tk.Store(otherName)
	if err != nil {
		return nil, err
	}
	timeSt, err := tk.Store(c.thisStore)
	if err != nil {
		return nil, err
	}
	var outerSt *state.CachedStore
	if c.outerStore != "" {
		if outerSt, err = tk.Store(c.outerStore); err != nil {
			return nil, err
		}
	}
	isNull := nullCheck[VR]()
	side := byte(0)
	if isLeft {
		side = 1
	}
	var okey, vbuf []byte
	outerKey := func(dst []byte, ts int64, side byte, kb []byte) []byte {
		dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
		dst = append(dst, side)
		return append(dst, kb...)
	}
	// emitClosed forwards and deletes every unmatched record whose window
	// has closed, as Kafka Streams' emitNonJoinedOuterRecords: in time
	// order, a record of the left side closing at ts + AfterMs + grace,
	// one of the right side at ts + BeforeMs + grace, stopping once both
	// sides have met an open window.
	emitClosed := func(tk *topo.Task, now int64) error {
		minTime, err := readInt64(outerSt, ssMinTimeKey, math.MaxInt64)
		if err != nil {
			return storeErr(c.outerStore, err)
		}
		// Kafka Streams' shortcut, with its arithmetic: nothing can have
		// closed since the earliest record went in.
		if minTime+after+c.grace >= now {
			return nil
		}
		minTime = math.MaxInt64
		type entry struct {
			ts   int64
			left bool
			kb   []byte
			vs   []byte
			key  []byte
		}
		var out []entry
		leftOpen, rightOpen := false, false
		for k, v := range outerSt.Range(nil, ssMinTimeKey) {
			if len(k) < 9 {
				return storeErr(c.outerStore, errCorruptJoinValue)
			}
			ts := int64(binary.BigEndian.Uint64(k))
			minTime = ts
			if leftOpen && rightOpen {
				break
			}
			left := k[8] == 1
			look := c.before
			if left {
				look = c.after
			}
			if ts+look+c.grace >= now {
				if left {
					leftOpen = true
				} else {
					rightOpen = true
				}
				continue
			}
			out = append(out, entry{ts: ts, left: left, kb: bytes.Clone(k[9:]), vs: bytes.Clone(v), key: bytes.Clone(k)})
		}
		if err := outerSt.Err(); err != nil {
			return storeErr(c.outerStore, err)
		}
		if err := writeInt64(outerSt, ssMinTimeKey, minTime); err != nil {
			return storeErr(c.outerStore, err)
		}
		for _, e := range out {
			if err := outerSt.Delete(e.key); err != nil {
				return storeErr(c.outerStore, err)
			}
			if err := joinValues(e.vs, func(vb []byte) error { return emit(e.kb, vb, e.left, e.ts, next) }); err != nil {
				return err
			}
		}
		return nil
	}
	return proc[K, VT](func(tk *topo.Task, r Record[K, VT]) error {
		now, err := ssStreamTime(timeSt, c.thisStore)
		if err != nil {
			return err
		}
		if r.Timestamp > now {
			now = r.Timestamp
			if err := writeInt64(timeSt, ssStreamTimeKey, now); err != nil {
				return storeErr(c.thisStore, err)
			}
		}
		if r.nokey && outer && !r.tomb {
			var zero VO
			v := joiner(r.Value, zero)
			return next(tk, Record[K, VR]{Key: r.Key, Value: v, Timestamp: r.Timestamp, Headers: r.Headers, nokey: true, tomb: isNull != nil && isNull(v)})
		}
		if r.nokey {
			tk.Drop(name, topo.DropNullKey)
			return nil
		}
		if r.tomb {
			tk.Drop(name, topo.DropNullValue)
			return nil
		}
		if c.closed(r.Timestamp, after, now) {
			tk.Drop(name, topo.DropLate)
			return nil
		}
		kb := r.raw
		if !reuse || kb == nil {
			if kb, err = ks.Serialize(otherName, r.Key); err != nil {
				return &topo.SerdeError{Op: "serialize", Part: "key", Topic: otherName, Node: name, Err: err}
			}
			if kb == nil {
				tk.Drop(name, topo.DropNullKey)
				return nil
			}
		}
		if outerSt != nil && r.Timestamp == now {
			if err := emitClosed(tk, now); err != nil {
				return err
			}
		}
		// The other side's records in [ts - before, ts + after] whose own
		// window is still open (ts' + before + grace >= now: seen from this
		// side, the other's window ends "before" after it).
		from := max(0, r.Timestamp-before, now-before-c.grace)
		to := max(0, r.Timestamp+after)
		matched := false
		if from <= to {
			type match struct {
				ts int64
				vs []byte
			}
			var ms []match
			for seg := from / c.segI; seg <= to/c.segI; seg++ {
				// Keys of segment seg with kb and a time in the range; the
				// segment is given, not computed from the time, since the
				// upper bound may be the next segment's first time.
				lo := binary.BigEndian.AppendUint64(append(binary.BigEndian.AppendUint64(nil, uint64(seg)), kb...), uint64(max(from, seg*c.segI)))
				hi := binary.BigEndian.AppendUint64(append(binary.BigEndian.AppendUint64(nil, uint64(seg)), kb...), uint64(min(to, seg*c.segI+c.segI-1)+1))
				for k, v := range otherSt.Range(lo, hi) {
					if len(k) != len(kb)+16 {
						continue // a longer key that shares kb's prefix
					}
					_, ts, err := state.SplitWindowKey(k)
					if err != nil {
						return storeErr(otherName, err)
					}
					ms = append(ms, match{ts, bytes.Clone(v)})
				}
				if err := otherSt.Err(); err != nil {
					return storeErr(otherName, err)
				}
			}
			for _, m := range ms {
				if outerSt != nil {
					// The other record joined: it is no longer unmatched.
					okey = outerKey(okey[:0], m.ts, 1-side, kb)
					if err := outerSt.Delete(okey); err != nil {
						return storeErr(c.outerStore, err)
					}
				}
				err := joinValues(m.vs, func(vb []byte) error {
					ov, err := ovs.Deserialize(otherName, vb)
					if err != nil {
						return storeErr(otherName, err)
					}
					matched = true
					v := joiner(r.Value, ov)
					return next(tk, Record[K, VR]{Key: r.Key, Value: v, Timestamp: max(r.Timestamp, m.ts), Headers: r.Headers,
						raw: r.raw, tomb: isNull != nil && isNull(v)})
				})
				if err != nil {
					return err
				}
			}
		}
		if matched || outerSt == nil || !outer {
			return nil
		}
		// Unmatched: wait for the window to close.
		vb, err := tvs.Serialize(c.outerStore, r.Value)
		if err != nil {
			return &topo.SerdeError{Op: "serialize", Part: "value", Topic: c.outerStore, Node: name, Err: err}
		}
		okey = outerKey(okey[:0], r.Timestamp, side, kb)
		old, _, err := outerSt.Get(okey)
		if err != nil {
			return storeErr(c.outerStore, err)
		}
		vbuf = appendJoinValue(append(vbuf[:0], old...), vb)
		if err := outerSt.Put(okey, vbuf); err != nil {
			return storeErr(c.outerStore, err)
		}
		minTime, err := readInt64(outerSt, ssMinTimeKey, math.MaxInt64)
		if err != nil {
			return storeErr(c.outerStore, err)
		}
		if r.Timestamp < minTime {
			if err := writeInt64(outerSt, ssMinTimeKey, r.Timestamp); err != nil {
				return storeErr(c.outerStore, err)
			}
		}
		return nil
	}), nil
}
