package stream

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/twmb/franz-go/pkg/kgo"
)

// JoinForeignKey joins t with other where other's key is computed from
// t's rows, as Kafka Streams' KTable#join(KTable, foreignKeyExtractor,
// joiner) (KIP-213): the result is a table keyed like t that holds, for
// each row of t whose foreign key fk(k, v) other holds, joiner(v, other's
// row). It is updated from both sides: an update of t's row (also one
// that changes its foreign key), an update of other's row (for every row
// of t that refers to it), and a delete on either side, which deletes the
// result row (forwarded as a delete, a tombstone in ToStream). A row of t
// whose foreign key is nil (a nil pointer with serde.Nullable, or any key
// that serializes to nil bytes) has no result row. The result row's
// timestamp is the larger of the two rows' when t's row changed, and
// other's row's when other's row changed.
//
// t and other need not be co-partitioned. As in Kafka Streams, each
// change of t's row is sent, keyed by its foreign key, to the
// subscription topic "<app>-<name>-subscription-registration-topic"
// (co-partitioned with other; its records hold t's key, an instruction,
// and a hash of t's new value), where the task that holds other's row
// keeps it in a subscription store and answers on the response topic
// "<app>-<name>-subscription-response-topic" (co-partitioned with t,
// sent back to the partition of t's row) with other's row. The task of
// t's row joins the answer with the row as it is then, and drops an
// answer whose hash does not match the row's current value: it was sent
// for a value the row no longer holds, and a newer answer is on its way.
// Both topics are created at start, with the partition counts of other's
// and t's topics. The wire formats are brook's own (see docs/ARCHITECTURE.md,
// decision 27).
//
// The result is always materialized, in the store the Materialized option
// names (default KTABLE-FK-JOIN-OUTPUT-STATE-STORE-<n>), queryable with
// App.Store, with a changelog; it needs a value serde: t's when VR is V,
// else the ValueSerde option. t's value serde (for the hash), t's key
// serde, and other's key and value serdes are needed too. The Named
// option names the nodes, stores and topics as Kafka Streams'
// TableJoined.as does ("<name>-subscription-registration-processor",
// "<name>-subscription-store", "<name>-result", ...); by default they get
// automatic names (KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-<n>, ...).
func (t Table[K, V]) JoinForeignKey[KO, VO, VR any](other Table[KO, VO], fk func(k K, v V) KO, joiner func(v V, ov VO) VR, opts ...Option) Table[K, VR] {
	return fkJoin(t, other, fk, joiner, false, collect(opts))
}

// LeftJoinForeignKey is JoinForeignKey, except that the result also holds
// a row for each row of t whose foreign key other does not hold, or whose
// foreign key is nil, joined with the zero value of VO (nil for a pointer
// type, such as the *T of serde.Nullable), as Kafka Streams'
// KTable#leftJoin(KTable, foreignKeyExtractor, joiner).
func (t Table[K, V]) LeftJoinForeignKey[KO, VO, VR any](other Table[KO, VO], fk func(k K, v V) KO, joiner func(v V, ov VO) VR, opts ...Option) Table[K, VR] {
	return fkJoin(t, other, fk, joiner, true, collect(opts))
}

// fkInstruction says what the right side does with a subscription, as
// Kafka Streams' SubscriptionWrapper.Instruction.
type fkInstruction byte

const (
	// fkDeleteNoPropagate removes the subscription; nothing is answered
	// (the left row moved to another foreign key, which answers).
	fkDeleteNoPropagate fkInstruction = 0
	// fkDeleteAndPropagate removes the subscription and answers with no
	// value (the left row was deleted).
	fkDeleteAndPropagate fkInstruction = 1
	// fkPropagateNullIfNoValue keeps the subscription and answers with
	// the right row, or with no value when there is none (an update of a
	// row that had a result, which must be replaced or retracted).
	fkPropagateNullIfNoValue fkInstruction = 2
	// fkPropagateOnlyIfValue keeps the subscription and answers only when
	// the right row exists (a new left row of an inner join).
	fkPropagateOnlyIfValue fkInstruction = 3
)

// fkHash is the hash of a left row's serialized value: 128 bits of
// FNV-1a. A response carries the hash of the value its subscription was
// sent for.
type fkHash struct {
	sum [16]byte
	ok  bool // false: no value (the row was deleted)
}

func hashOf(b []byte) fkHash {
	h := fnv.New128a()
	h.Write(b)
	var out fkHash
	h.Sum(out.sum[:0])
	out.ok = true
	return out
}

// subscription is the value of a subscription-registration record. On
// the wire (brook's own format, version 1):
//
//	byte 0     version, 1
//	byte 1     instruction (fkInstruction)
//	byte 2     flags: 1 = a hash follows
//	16 bytes   the hash of the left value, if flagged
//	4 bytes    the left row's partition, int32 big-endian
//	the rest   the left row's key, serialized with the left key serde
//
// The record's key is the foreign key serialized with the right table's
// key serde (nil for a left join's nil foreign key), and its timestamp
// the left row's.
type subscription struct {
	instr     fkInstruction
	hash      fkHash
	partition int32
	pk        []byte
}

const fkWireVersion = 1

func (s subscription) encode() []byte {
	out := make([]byte, 0, 3+16+4+len(s.pk))
	out = append(out, fkWireVersion, byte(s.instr), 0)
	if s.hash.ok {
		out[2] = 1
		out = append(out, s.hash.sum[:]...)
	}
	out = binary.BigEndian.AppendUint32(out, uint32(s.partition))
	return append(out, s.pk...)
}

// errFKWire is a record of a foreign-key join's internal topic that brook
// did not write.
func errFKWire(what string, n int) error {
	return fmt.Errorf("brook: bad foreign-key join %s record (%d bytes): it was not written by this version of brook", what, n)
}

func decodeSubscription(b []byte) (subscription, error) {
	var s subscription
	if len(b) < 3 || b[0] != fkWireVersion || b[1] > byte(fkPropagateOnlyIfValue) || b[2] > 1 {
		return s, errFKWire("subscription", len(b))
	}
	s.instr = fkInstruction(b[1])
	rest := b[3:]
	if b[2] == 1 {
		if len(rest) < 16 {
			return s, errFKWire("subscription", len(b))
		}
		s.hash.ok = true
		copy(s.hash.sum[:], rest[:16])
		rest = rest[16:]
	}
	if len(rest) < 4 {
		return s, errFKWire("subscription", len(b))
	}
	s.partition = int32(binary.BigEndian.Uint32(rest))
	s.pk = rest[4:]
	return s, nil
}

// fkResponse is the value of a subscription-response record. On the wire
// (version 1):
//
//	byte 0     version, 1
//	byte 1     flags: 1 = a hash follows, 2 = the right row's value follows
//	16 bytes   the hash the subscription carried, if flagged
//	the rest   the right row's value, serialized with the right value serde
//
// The record's key is the left row's key as the subscription carried it,
// and it goes to the left row's partition (the subscription's).
type fkResponse[VO any] struct {
	hash      fkHash
	value     VO
	hasValue  bool
	partition int32
}

// subscriptionKey is the key of a subscription in the subscription store:
// uvarint(len(fk)), fk, pk. Every subscription of a foreign key shares
// the prefix before pk, so an update of the right row finds them with one
// range scan.
func subscriptionKey(dst, fk, pk []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(fk)))
	return append(append(dst, fk...), pk...)
}

// prefixEnd returns the smallest key greater than every key that starts
// with p, or nil when there is none.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// The subscription store's values (behind the timestamp of the left
// row's update): flags (1 = hash), the hash if flagged, the partition.
func encodeSubscriptionValue(dst []byte, s subscription) []byte {
	if s.hash.ok {
		dst = append(dst, 1)
		dst = append(dst, s.hash.sum[:]...)
	} else {
		dst = append(dst, 0)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(s.partition))
}

func decodeSubscriptionValue(b []byte) (fkHash, int32, error) {
	var h fkHash
	if len(b) < 1 {
		return h, 0, errFKWire("subscription store", len(b))
	}
	rest := b[1:]
	if b[0] == 1 {
		if len(rest) < 16 {
			return h, 0, errFKWire("subscription store", len(b))
		}
		h.ok = true
		copy(h.sum[:], rest)
		rest = rest[16:]
	}
	if len(rest) != 4 {
		return h, 0, errFKWire("subscription store", len(b))
	}
	return h, int32(binary.BigEndian.Uint32(rest)), nil
}

// fkResult is what the response resolver hands to the result node: the
// new result row, or none (a delete).
type fkResult[VR any] struct {
	v  VR
	ok bool
}

func fkJoin[K, V, KO, VO, VR any](t Table[K, V], other Table[KO, VO], fk func(K, V) KO, joiner func(V, VO) VR, left bool, o options) Table[K, VR] {
	b := t.b
	named := func(sfx, prefix string) string { return b.name(prefix, suffix(o.name, sfx)) }
	// Names and numbers as Kafka Streams' KTableImpl#doJoinOnForeignKey
	// makes them, in its order.
	subTopic := named("-subscription-registration", "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION") + "-topic"
	sendName := named("-subscription-registration-processor", "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION")
	subSinkName := named("-subscription-registration-sink", "KTABLE-SINK")
	subSrcName := named("-subscription-registration-source", "KTABLE-SOURCE")
	subStore := named("-subscription-store", "KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE")
	receiveName := named("-subscription-receive", "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR")
	subJoinName := named("-subscription-join-foreign", "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR")
	foreignName := named("-foreign-join-subscription", "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR")
	respTopic := named("-subscription-response", "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE") + "-topic"
	respSinkName := named("-subscription-response-sink", "KTABLE-SINK")
	respSrcName := named("-subscription-response-source", "KTABLE-SOURCE")
	resolverName := named("-subscription-response-resolver", "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR")
	resultName := named("-result", "KTABLE-FK-JOIN-OUTPUT")
	store := o.store
	if store == "" {
		store = b.g.NewStoreName("KTABLE-FK-JOIN-OUTPUT-")
	}

	if t.view == nil || other.view == nil {
		b.g.Errorf("foreign-key join %s: a table cannot be read by key", resultName)
	}
	if t.ks == nil || t.vs == nil || other.ks == nil || other.vs == nil {
		b.g.Errorf("foreign-key join %s: both tables need a key serde and a value serde (for the subscription and response topics); a table whose value type changed (MapValues) has none", resultName)
	}
	vs := sameSerde[VR](t.vs)
	if o.valueSerde != nil {
		s, ok := o.valueSerde.(serde.Serde[VR])
		if !ok {
			b.g.Errorf("foreign-key join %s: the ValueSerde option is a %T, not a serde of the join's result", resultName, o.valueSerde)
		}
		vs = s
	}
	if vs == nil {
		b.g.Errorf("foreign-key join %s (store %s): the result is kept in a store and needs a serde: give one with the ValueSerde option", resultName, store)
	}
	lks, lvs, rks, rvs := t.ks, t.vs, other.ks, other.vs

	// Left side: each change of t's row becomes subscriptions.
	sendN := b.g.AddNamed(topo.KindProcessor, sendName, t.n)
	sendN.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[KO, subscription](children)
		return proc[K, change[V]](func(tk *topo.Task, r Record[K, change[V]]) error {
			return sendSubscriptions(tk, r, sendName, fk, lks, lvs, rks, left, next)
		}), nil
	}
	subSink := b.g.AddNamed(topo.KindSink, subSinkName, sendN)
	subSink.SinkTopic = subTopic
	subSink.Internal = true
	subSink.Build = func(*topo.Task, []any) (any, error) {
		topic := subSink.SinkTopic
		return proc[KO, subscription](func(tk *topo.Task, r Record[KO, subscription]) error {
			return tk.Produce(&kgo.Record{Topic: topic, Key: r.raw, Value: r.Value.encode(), Timestamp: time.UnixMilli(r.Timestamp), Headers: toKgoHeaders(r.Headers)})
		}), nil
	}

	// Right side: the subscription store, fed by the subscription topic
	// and scanned on updates of other's rows.
	subSrc := b.g.AddNamed(topo.KindSource, subSrcName)
	subSrc.Topics = []string{subTopic}
	subSrc.Internal = true
	subSrc.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[KO, subscription](children)
		return topo.SourceFunc(func(tk *topo.Task, r *kgo.Record) error {
			var k KO
			if r.Key != nil {
				var err error
				if k, err = rks.Deserialize(r.Topic, r.Key); err != nil {
					return &topo.SerdeError{Op: "deserialize", Part: "key", Topic: r.Topic, Node: subSrcName, Err: err}
				}
			}
			s, err := decodeSubscription(r.Value)
			if err != nil {
				return &topo.SerdeError{Op: "deserialize", Part: "value", Topic: r.Topic, Node: subSrcName, Err: err}
			}
			return next(tk, Record[KO, subscription]{Key: k, Value: s, Timestamp: r.Timestamp.UnixMilli(), Headers: fromKgoHeaders(r.Headers), raw: r.Key, nokey: r.Key == nil})
		}), nil
	}
	receiveN := b.g.AddNamed(topo.KindProcessor, receiveName, subSrc)
	b.addStore(receiveN, subStore, serde.Bytes(), timestampedSerde[[]byte]{serde.Bytes()}, true)
	receiveN.Build = func(tk *topo.Task, children []any) (any, error) {
		st, err := tk.Store(subStore)
		if err != nil {
			return nil, err
		}
		next := fanout[KO, subscription](children)
		var kbuf, vbuf []byte
		return proc[KO, subscription](func(tk *topo.Task, r Record[KO, subscription]) error {
			if r.nokey {
				// A left join's row without a foreign key: answered with no
				// value, nothing to keep.
				if r.Value.instr != fkPropagateNullIfNoValue {
					tk.Drop(receiveName, topo.DropNullKey)
					return nil
				}
				return next(tk, r)
			}
			kbuf = subscriptionKey(kbuf[:0], r.raw, r.Value.pk)
			switch r.Value.instr {
			case fkDeleteNoPropagate, fkDeleteAndPropagate:
				if err := st.Delete(kbuf); err != nil {
					return storeErr(subStore, err)
				}
			default:
				vbuf = state.AppendTimestamped(vbuf[:0], r.Timestamp, nil)
				vbuf = encodeSubscriptionValue(vbuf, r.Value)
				if err := st.Put(kbuf, vbuf); err != nil {
					return storeErr(subStore, err)
				}
			}
			return next(tk, r)
		}), nil
	}
	subJoinN := b.g.AddNamed(topo.KindProcessor, subJoinName, receiveN)
	subJoinN.Stores = append(subJoinN.Stores, other.views...)
	subJoinN.Build = func(tk *topo.Task, children []any) (any, error) {
		get, err := other.view(tk)
		if err != nil {
			return nil, err
		}
		next := fanout[[]byte, fkResponse[VO]](children)
		return proc[KO, subscription](func(tk *topo.Task, r Record[KO, subscription]) error {
			var ov VO
			var ots int64
			var ok bool
			if !r.nokey {
				var err error
				if ov, ots, ok, err = get(r.Key, r.raw); err != nil {
					return err
				}
			}
			ts := r.Timestamp
			if ok {
				ts = max(ts, ots)
			}
			s := r.Value
			resp := fkResponse[VO]{hash: s.hash, partition: s.partition}
			switch s.instr {
			case fkDeleteNoPropagate:
				return nil
			case fkPropagateOnlyIfValue:
				if !ok {
					return nil
				}
				resp.value, resp.hasValue = ov, true
			case fkPropagateNullIfNoValue:
				resp.value, resp.hasValue = ov, ok
			}
			return next(tk, Record[[]byte, fkResponse[VO]]{Key: s.pk, Value: resp, Timestamp: ts, Headers: r.Headers})
		}), nil
	}
	foreignN := b.g.AddNamed(topo.KindProcessor, foreignName, other.n)
	foreignN.Stores = append(foreignN.Stores, subStore)
	rawRight := true // other's changes carry key bytes made with rks
	foreignN.Build = func(tk *topo.Task, children []any) (any, error) {
		st, err := tk.Store(subStore)
		if err != nil {
			return nil, err
		}
		next := fanout[[]byte, fkResponse[VO]](children)
		var prefix []byte
		return proc[KO, change[VO]](func(tk *topo.Task, r Record[KO, change[VO]]) error {
			kb := r.raw
			if !rawRight || kb == nil {
				var err error
				if kb, err = rks.Serialize(foreignName, r.Key); err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "key", Topic: foreignName, Node: foreignName, Err: err}
				}
				if kb == nil {
					tk.Drop(foreignName, topo.DropNullKey)
					return nil
				}
			}
			prefix = subscriptionKey(prefix[:0], kb, nil)
			// Collect first: forwarding produces records, and the
			// iteration's buffers may be reused by the store.
			type sub struct {
				pk   []byte
				hash fkHash
				part int32
			}
			var subs []sub
			for k, v := range st.Range(prefix, prefixEnd(prefix)) {
				_, vb, err := state.SplitTimestamped(v)
				if err != nil {
					return storeErr(subStore, err)
				}
				h, part, err := decodeSubscriptionValue(vb)
				if err != nil {
					return storeErr(subStore, err)
				}
				subs = append(subs, sub{pk: bytes.Clone(k[len(prefix):]), hash: h, part: part})
			}
			if err := st.Err(); err != nil {
				return storeErr(subStore, err)
			}
			for _, s := range subs {
				resp := fkResponse[VO]{hash: s.hash, value: r.Value.new, hasValue: r.Value.hasNew, partition: s.part}
				if err := next(tk, Record[[]byte, fkResponse[VO]]{Key: s.pk, Value: resp, Timestamp: r.Timestamp, Headers: r.Headers}); err != nil {
					return err
				}
			}
			return nil
		}), nil
	}
	respSink := b.g.AddNamed(topo.KindSink, respSinkName, subJoinN, foreignN)
	respSink.SinkTopic = respTopic
	respSink.Internal = true
	respSink.ManualPartition = true
	respSink.Build = func(*topo.Task, []any) (any, error) {
		topic := respSink.SinkTopic
		return proc[[]byte, fkResponse[VO]](func(tk *topo.Task, r Record[[]byte, fkResponse[VO]]) error {
			resp := r.Value
			out := []byte{fkWireVersion, 0}
			if resp.hash.ok {
				out[1] |= 1
				out = append(out, resp.hash.sum[:]...)
			}
			if resp.hasValue {
				out[1] |= 2
				vb, err := rvs.Serialize(topic, resp.value)
				if err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "value", Topic: topic, Node: respSinkName, Err: err}
				}
				out = append(out, vb...)
			}
			return tk.Produce(&kgo.Record{Topic: topic, Partition: resp.partition, Key: r.Key, Value: out, Timestamp: time.UnixMilli(r.Timestamp), Headers: toKgoHeaders(r.Headers)})
		}), nil
	}

	// Left side again: responses are checked against the row's current
	// value and joined with it.
	respSrc := b.g.AddNamed(topo.KindSource, respSrcName)
	respSrc.Topics = []string{respTopic}
	respSrc.Internal = true
	respSrc.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K, fkResponse[VO]](children)
		return topo.SourceFunc(func(tk *topo.Task, r *kgo.Record) error {
			b := r.Value
			if len(b) < 2 || b[0] != fkWireVersion || b[1] > 3 || r.Key == nil {
				return &topo.SerdeError{Op: "deserialize", Part: "value", Topic: r.Topic, Node: respSrcName, Err: errFKWire("response", len(b))}
			}
			k, err := lks.Deserialize(r.Topic, r.Key)
			if err != nil {
				return &topo.SerdeError{Op: "deserialize", Part: "key", Topic: r.Topic, Node: respSrcName, Err: err}
			}
			var resp fkResponse[VO]
			flags, rest := b[1], b[2:]
			if flags&1 != 0 {
				if len(rest) < 16 {
					return &topo.SerdeError{Op: "deserialize", Part: "value", Topic: r.Topic, Node: respSrcName, Err: errFKWire("response", len(b))}
				}
				resp.hash.ok = true
				copy(resp.hash.sum[:], rest)
				rest = rest[16:]
			}
			if flags&2 != 0 {
				if resp.value, err = rvs.Deserialize(r.Topic, rest); err != nil {
					return &topo.SerdeError{Op: "deserialize", Part: "value", Topic: r.Topic, Node: respSrcName, Err: err}
				}
				resp.hasValue = true
			}
			resp.partition = r.Partition
			return next(tk, Record[K, fkResponse[VO]]{Key: k, Value: resp, Timestamp: r.Timestamp.UnixMilli(), Headers: fromKgoHeaders(r.Headers), raw: r.Key})
		}), nil
	}
	resolverN := b.g.AddNamed(topo.KindProcessor, resolverName, respSrc)
	resolverN.Stores = append(resolverN.Stores, t.views...)
	resolverN.Build = func(tk *topo.Task, children []any) (any, error) {
		get, err := t.view(tk)
		if err != nil {
			return nil, err
		}
		next := fanout[K, fkResult[VR]](children)
		isNull := nullCheck[VR]()
		return proc[K, fkResponse[VO]](func(tk *topo.Task, r Record[K, fkResponse[VO]]) error {
			// The key is looked up by its bytes as the subscription carried
			// them, which the left side made with its own key serde.
			v, _, ok, err := get(r.Key, r.raw)
			if err != nil {
				return err
			}
			var cur fkHash
			if ok {
				vb, err := lvs.Serialize(resolverName, v)
				if err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "value", Topic: resolverName, Node: resolverName, Err: err}
				}
				cur = hashOf(vb)
			}
			if cur != r.Value.hash {
				// Sent for a value the row no longer holds: a newer
				// response follows (Kafka Streams drops it too).
				tk.Logger.Debug("foreign-key join: stale response dropped", "node", resolverName)
				return nil
			}
			var res fkResult[VR]
			if r.Value.hasValue || (left && ok) {
				res.v = joiner(v, r.Value.value)
				res.ok = isNull == nil || !isNull(res.v)
			}
			return next(tk, Record[K, fkResult[VR]]{Key: r.Key, Value: res, Timestamp: r.Timestamp, Headers: r.Headers, raw: r.raw})
		}), nil
	}
	resultN := b.g.AddNamed(topo.KindProcessor, resultName, resolverN)
	b.addStore(resultN, store, lks, timestampedSerde[VR]{vs}, true)
	resultN.Build = func(tk *topo.Task, children []any) (any, error) {
		st, err := tk.Store(store)
		if err != nil {
			return nil, err
		}
		next := fanout[K, change[VR]](children)
		var buf []byte
		return proc[K, fkResult[VR]](func(tk *topo.Task, r Record[K, fkResult[VR]]) error {
			kb := r.raw
			var c change[VR]
			ob, had, err := st.Get(kb)
			if err != nil {
				return storeErr(store, err)
			}
			if had {
				_, vb, err := state.SplitTimestamped(ob)
				if err != nil {
					return storeErr(store, err)
				}
				if c.old, err = vs.Deserialize(store, vb); err != nil {
					return storeErr(store, err)
				}
				c.hasOld = true
			}
			if r.Value.ok {
				c.new, c.hasNew = r.Value.v, true
				vb, err := vs.Serialize(store, c.new)
				if err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "value", Topic: store, Node: resultName, Err: err}
				}
				buf = state.AppendTimestamped(buf[:0], r.Timestamp, vb)
				if err := st.Put(kb, buf); err != nil {
					return storeErr(store, err)
				}
			} else if had {
				if err := st.Delete(kb); err != nil {
					return storeErr(store, err)
				}
			}
			// Forwarded even when nothing changed (a delete of an absent
			// row), as Kafka Streams' KTableSource under the join does.
			return next(tk, Record[K, change[VR]]{Key: r.Key, Value: c, Timestamp: r.Timestamp, Headers: r.Headers, raw: kb})
		}), nil
	}

	b.g.Repartitions = append(b.g.Repartitions,
		topo.Repartition{Topic: subTopic, From: sendN, Sink: subSink, Source: subSrc, Follow: true},
		topo.Repartition{Topic: respTopic, From: subJoinN, Sink: respSink, Source: respSrc, Follow: true})
	return materializedTable(b, resultN, lks, vs, store)
}

// sendSubscriptions turns one change of a left row into subscriptions, as
// Kafka Streams 4.1's SubscriptionSendProcessorSupplier: a row subscribes
// to its foreign key (an inner join's answer comes only when the right row
// exists); a row whose foreign key changed unsubscribes from the old one
// without an answer and subscribes to the new one, asking for an answer
// even without a right row, so that the old result is replaced or
// retracted. In an inner join, a deleted row, or one whose foreign key
// became nil, unsubscribes and asks for an answer that deletes the
// result; a left join subscribes the row to its (nil) foreign key
// instead, whose answer carries no right row.
func sendSubscriptions[K, V, KO any](tk *topo.Task, r Record[K, change[V]], name string, fk func(K, V) KO,
	lks serde.Serde[K], lvs serde.Serde[V], rks serde.Serde[KO], left bool, next proc[KO, subscription]) error {
	c := r.Value
	pk := r.raw
	if pk == nil {
		var err error
		if pk, err = lks.Serialize(name, r.Key); err != nil {
			return &topo.SerdeError{Op: "serialize", Part: "key", Topic: name, Node: name, Err: err}
		}
	}
	var h fkHash
	if c.hasNew {
		vb, err := lvs.Serialize(name, c.new)
		if err != nil {
			return &topo.SerdeError{Op: "serialize", Part: "value", Topic: name, Node: name, Err: err}
		}
		h = hashOf(vb)
	}
	fkBytes := func(v V) (KO, []byte, error) {
		k := fk(r.Key, v)
		kb, err := rks.Serialize(name, k)
		if err != nil {
			return k, nil, &topo.SerdeError{Op: "serialize", Part: "key", Topic: name, Node: name, Err: err}
		}
		return k, kb, nil
	}
	part := tk.ID.Partition
	send := func(k KO, kb []byte, instr fkInstruction) error {
		return next(tk, Record[KO, subscription]{Key: k, raw: kb, nokey: kb == nil, Timestamp: r.Timestamp, Headers: r.Headers,
			Value: subscription{instr: instr, hash: h, partition: part, pk: pk}})
	}
	var newK, oldK KO
	var newKB, oldKB []byte
	var err error
	if c.hasNew {
		if newK, newKB, err = fkBytes(c.new); err != nil {
			return err
		}
	}
	if c.hasOld {
		if oldK, oldKB, err = fkBytes(c.old); err != nil {
			return err
		}
	}
	if left {
		switch {
		case c.hasOld:
			if oldKB != nil && !bytes.Equal(oldKB, newKB) {
				if err := send(oldK, oldKB, fkDeleteNoPropagate); err != nil {
					return err
				}
			}
			return send(newK, newKB, fkPropagateNullIfNoValue)
		case c.hasNew:
			return send(newK, newKB, fkPropagateNullIfNoValue)
		}
		return nil
	}
	switch {
	case c.hasOld:
		switch {
		case oldKB == nil && newKB == nil:
			tk.Drop(name, topo.DropNullKey)
			return nil
		case oldKB == nil:
			return send(newK, newKB, fkPropagateOnlyIfValue)
		case newKB == nil:
			// Deleted, or no foreign key any more: the result goes.
			return send(oldK, oldKB, fkDeleteAndPropagate)
		case !bytes.Equal(oldKB, newKB):
			if err := send(oldK, oldKB, fkDeleteNoPropagate); err != nil {
				return err
			}
			return send(newK, newKB, fkPropagateNullIfNoValue)
		}
		return send(newK, newKB, fkPropagateOnlyIfValue)
	case c.hasNew:
		if newKB == nil {
			tk.Drop(name, topo.DropNullKey)
			return nil
		}
		return send(newK, newKB, fkPropagateOnlyIfValue)
	}
	return nil
}
