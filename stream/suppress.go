package stream

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
)

// Suppressed says which updates of a table Table.Suppress holds back, as
// Kafka Streams' Suppressed. Make one with UntilTimeLimit. (Kafka Streams'
// suppress(untilWindowCloses) on a windowed aggregation is
// WindowedGrouped.Emit(OnWindowClose()) here.)
type Suppressed struct {
	limitMs int64
	buf     BufferConfig
}

// UntilTimeLimit rate-limits the updates of each key, as Kafka Streams'
// Suppressed.untilTimeLimit: the first update of a key is held in a
// buffer, later updates of the key replace it, and the key's latest
// update is forwarded once stream time (the largest timestamp that
// reached the suppression) is at least limit past the timestamp of the
// update that started the wait. A limit of zero forwards every update at
// once. buf bounds the buffer and says what happens when it is full.
func UntilTimeLimit(limit time.Duration, buf BufferConfig) Suppressed {
	return Suppressed{limitMs: limit.Milliseconds(), buf: buf}
}

// BufferConfig bounds the buffer of a suppression, as Kafka Streams'
// Suppressed.BufferConfig. The buffer is a store of the task (in Pebble,
// with a changelog), so what it holds survives restarts and, under
// exactly-once, is forwarded exactly once.
type BufferConfig struct {
	// MaxRecords is the most keys the buffer holds. Default 0: no limit
	// by count.
	MaxRecords int64
	// MaxBytes is the most bytes the buffer holds, counting for each key
	// its serialized key, old and new values and 8 bytes of timestamp.
	// Default 0: DefaultSuppressBufferBytes. A negative value: no limit
	// by size.
	MaxBytes int64
	// OnFull says what happens when an update leaves the buffer over a
	// limit. Default EmitEarlyWhenFull.
	OnFull BufferFullPolicy
}

// DefaultSuppressBufferBytes is the size limit of a suppression buffer
// whose BufferConfig.MaxBytes is zero: 8 MiB.
const DefaultSuppressBufferBytes = 8 << 20

// BufferFullPolicy is what a suppression does when its buffer is over a
// limit of its BufferConfig.
type BufferFullPolicy int

const (
	// EmitEarlyWhenFull forwards the keys that have waited longest
	// (earliest first), before their time limit, until the buffer is
	// within its limits again, as Kafka Streams' emitEarlyWhenFull. The
	// default.
	EmitEarlyWhenFull BufferFullPolicy = iota
	// ShutDownWhenFull stops the App with a *SuppressBufferFullError, as
	// Kafka Streams' shutDownWhenFull: for topologies where an early
	// update would be wrong.
	ShutDownWhenFull
)

// SuppressBufferFullError is the error of a suppression whose buffer went
// over its limits with the ShutDownWhenFull policy. The App stops; raise
// the limits (or the time limit's rate) and restart it: the buffer is
// kept in the task's state as it was at the last commit.
type SuppressBufferFullError struct {
	Store                string // the buffer's store
	Task                 string // the task, as "0_3"
	Records, Bytes       int64  // what the buffer would hold
	MaxRecords, MaxBytes int64  // its limits (0 or less: none)
}

func (e *SuppressBufferFullError) Error() string {
	return fmt.Sprintf("suppression buffer %s of task %s is full: %d records, %d bytes, limits %d records, %d bytes (BufferConfig.OnFull is ShutDownWhenFull); raise BufferConfig.MaxRecords or MaxBytes, or use EmitEarlyWhenFull",
		e.Store, e.Task, e.Records, e.Bytes, e.MaxRecords, e.MaxBytes)
}

// Suppress holds back the updates of t as s says, as Kafka Streams'
// KTable#suppress: with UntilTimeLimit, at most one update per key per
// time limit goes on, each the key's latest, with the timestamp of that
// update and the key's value from before the wait as its old value.
// Headers of held updates are not kept. Named names the node (default
// KTABLE-SUPPRESS-<n>) and, unless Materialized names it, the buffer's
// store "<name>-store" (default KTABLE-SUPPRESS-STATE-STORE-<n>), which
// has a changelog. Joins that look up the suppressed table see the rows
// of t, not the held-back ones.
func (t Table[K, V]) Suppress(s Suppressed, opts ...Option) Table[K, V] {
	b := t.b
	o := collect(opts)
	name := o.name
	if name == "" {
		name = b.g.NewName("KTABLE-SUPPRESS")
	}
	store := o.store
	switch {
	case store == "" && o.name != "":
		store = o.name + "-store"
	case store == "":
		store = b.g.NewStoreName("KTABLE-SUPPRESS-")
	}
	switch {
	case s.limitMs < 0:
		b.g.Errorf("suppress %s: the time limit %dms is negative", name, s.limitMs)
	case s.buf.MaxRecords < 0:
		b.g.Errorf("suppress %s: BufferConfig.MaxRecords %d is negative", name, s.buf.MaxRecords)
	case s.buf.OnFull != EmitEarlyWhenFull && s.buf.OnFull != ShutDownWhenFull:
		b.g.Errorf("suppress %s: unknown BufferConfig.OnFull %d", name, s.buf.OnFull)
	case t.ks == nil || t.vs == nil:
		b.g.Errorf("suppress %s: the table's key or value type changed and has no serde", name)
	}
	maxBytes := s.buf.MaxBytes
	if maxBytes == 0 {
		maxBytes = DefaultSuppressBufferBytes
	}
	n := b.g.AddNamed(topo.KindProcessor, name, t.n)
	b.addStore(n, store, serde.Bytes(), serde.Bytes(), false)
	ks, vs := t.ks, t.vs
	n.Build = func(tk0 *topo.Task, children []any) (any, error) {
		st, err := tk0.Store(store)
		if err != nil {
			return nil, err
		}
		sb := &suppressBuffer[K, V]{st: st, store: store, name: name, ks: ks, vs: vs,
			next: fanout[K, change[V]](children), limit: s.limitMs,
			maxRecords: s.buf.MaxRecords, maxBytes: maxBytes, shutDown: s.buf.OnFull == ShutDownWhenFull}
		return proc[K, change[V]](sb.process), nil
	}
	return Table[K, V]{b: b, n: n, ks: t.ks, vs: t.vs, view: t.view, views: t.views}
}

// suppressBuffer is a suppression's buffer in one task, kept in a store
// under three kinds of keys:
//
//	'k' <key bytes>                      -> <buffer time> <timestamp> <flags> <old length uvarint> <old> <new>
//	't' <buffer time, sign flipped, BE> <key bytes> -> empty (the eviction order)
//	'm'                                  -> <stream time> <records> <bytes> (int64 BE each)
//
// The buffer time of a key is the timestamp of the update that started
// its wait; the timestamp is that of its latest update; flags bit 0 says
// the old value is set, bit 1 the new one. Everything is read back from
// the store for each update, so that an aborted transaction, which drops
// the store's cache, leaves nothing behind in memory.
type suppressBuffer[K, V any] struct {
	st          *state.CachedStore
	store, name string
	ks          serde.Serde[K]
	vs          serde.Serde[V]
	next        proc[K, change[V]]
	limit       int64
	maxRecords  int64
	maxBytes    int64
	shutDown    bool
	kbuf, vbuf  []byte
}

var suppressMetaKey = []byte{'m'}

func (s *suppressBuffer[K, V]) timeKey(bufTime int64, kb []byte) []byte {
	k := binary.BigEndian.AppendUint64([]byte{'t'}, uint64(bufTime)^(1<<63))
	return append(k, kb...)
}

func (s *suppressBuffer[K, V]) process(tk *topo.Task, r Record[K, change[V]]) error {
	kb := r.raw // the key's bytes made with the table's key serde, if kept
	if kb == nil {
		var err error
		if kb, err = s.ks.Serialize(s.store, r.Key); err != nil {
			return &topo.SerdeError{Op: "serialize", Part: "key", Topic: s.store, Node: s.name, Err: err}
		}
	}
	var meta [3]int64 // stream time, records, bytes
	meta[0] = -1
	if b, ok, err := s.st.Get(suppressMetaKey); err != nil {
		return storeErr(s.store, err)
	} else if ok && len(b) == 24 {
		for i := range meta {
			meta[i] = int64(binary.BigEndian.Uint64(b[i*8:]))
		}
	}
	s.kbuf = append(append(s.kbuf[:0], 'k'), kb...)
	bufTime := r.Timestamp
	var oldFlag byte
	var old []byte
	prev, held, err := s.st.Get(s.kbuf)
	if err != nil {
		return storeErr(s.store, err)
	}
	if held {
		e, err := splitSuppressed(prev)
		if err != nil {
			return storeErr(s.store, err)
		}
		bufTime, oldFlag, old = e.bufTime, e.flags&1, bytes.Clone(e.old)
		meta[2] -= int64(len(kb) + len(e.old) + len(e.new) + 8)
	} else {
		if r.Value.hasOld {
			oldFlag = 1
			if old, err = s.vs.Serialize(s.store, r.Value.old); err != nil {
				return &topo.SerdeError{Op: "serialize", Part: "value", Topic: s.store, Node: s.name, Err: err}
			}
		}
		meta[1]++
		if err := s.st.Put(s.timeKey(bufTime, kb), nil); err != nil {
			return storeErr(s.store, err)
		}
	}
	var nw []byte
	flags := oldFlag
	if r.Value.hasNew {
		flags |= 2
		if nw, err = s.vs.Serialize(s.store, r.Value.new); err != nil {
			return &topo.SerdeError{Op: "serialize", Part: "value", Topic: s.store, Node: s.name, Err: err}
		}
	}
	s.vbuf = binary.BigEndian.AppendUint64(s.vbuf[:0], uint64(bufTime))
	s.vbuf = binary.BigEndian.AppendUint64(s.vbuf, uint64(r.Timestamp))
	s.vbuf = append(s.vbuf, flags)
	s.vbuf = binary.AppendUvarint(s.vbuf, uint64(len(old)))
	s.vbuf = append(append(s.vbuf, old...), nw...)
	if err := s.st.Put(s.kbuf, s.vbuf); err != nil {
		return storeErr(s.store, err)
	}
	meta[2] += int64(len(kb) + len(old) + len(nw) + 8)
	meta[0] = max(meta[0], r.Timestamp)

	// Forward what has waited long enough, then, if the buffer is over a
	// limit, what has waited longest.
	expiry := meta[0] - s.limit
	over := func() bool {
		return (s.maxRecords > 0 && meta[1] > s.maxRecords) || (s.maxBytes > 0 && meta[2] > s.maxBytes)
	}
	for {
		tkey, ok, err := s.first()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		t := int64(binary.BigEndian.Uint64(tkey[1:9]) ^ (1 << 63))
		if t > expiry {
			if !over() {
				break
			}
			if s.shutDown {
				return &topo.FatalError{Err: &SuppressBufferFullError{Store: s.store, Task: tk.ID.String(), Records: meta[1], Bytes: meta[2], MaxRecords: s.maxRecords, MaxBytes: s.maxBytes}}
			}
		}
		size, err := s.evict(tk, tkey)
		if err != nil {
			return err
		}
		meta[1]--
		meta[2] -= size
	}
	s.vbuf = s.vbuf[:0]
	for _, m := range meta {
		s.vbuf = binary.BigEndian.AppendUint64(s.vbuf, uint64(m))
	}
	if err := s.st.Put(suppressMetaKey, s.vbuf); err != nil {
		return storeErr(s.store, err)
	}
	return nil
}

// first returns the time key of the key that has waited longest.
func (s *suppressBuffer[K, V]) first() ([]byte, bool, error) {
	var out []byte
	for k := range s.st.Range([]byte{'t'}, []byte{'u'}) {
		out = bytes.Clone(k) // valid only in the loop body
		break
	}
	if err := s.st.Err(); err != nil {
		return nil, false, storeErr(s.store, err)
	}
	if out != nil && len(out) < 9 {
		return nil, false, storeErr(s.store, fmt.Errorf("suppression buffer key of %d bytes", len(out)))
	}
	return out, out != nil, nil
}

// evict forwards and removes the key of time key tkey; it returns the
// bytes the key held.
func (s *suppressBuffer[K, V]) evict(tk *topo.Task, tkey []byte) (int64, error) {
	kb := tkey[9:]
	ekey := append([]byte{'k'}, kb...)
	v, ok, err := s.st.Get(ekey)
	if err != nil {
		return 0, storeErr(s.store, err)
	}
	if err := s.st.Delete(tkey); err != nil {
		return 0, storeErr(s.store, err)
	}
	if !ok {
		return 0, storeErr(s.store, fmt.Errorf("suppression buffer: no entry for a key in the eviction order"))
	}
	e, err := splitSuppressed(v)
	if err != nil {
		return 0, storeErr(s.store, err)
	}
	e.old, e.new = bytes.Clone(e.old), bytes.Clone(e.new)
	if err := s.st.Delete(ekey); err != nil {
		return 0, storeErr(s.store, err)
	}
	key, err := s.ks.Deserialize(s.store, bytes.Clone(kb))
	if err != nil {
		return 0, storeErr(s.store, err)
	}
	var c change[V]
	if e.flags&1 != 0 {
		c.hasOld = true
		if c.old, err = s.vs.Deserialize(s.store, e.old); err != nil {
			return 0, storeErr(s.store, err)
		}
	}
	if e.flags&2 != 0 {
		c.hasNew = true
		if c.new, err = s.vs.Deserialize(s.store, e.new); err != nil {
			return 0, storeErr(s.store, err)
		}
	}
	size := int64(len(kb) + len(e.old) + len(e.new) + 8)
	return size, s.next(tk, Record[K, change[V]]{Key: key, Value: c, Timestamp: e.ts, raw: bytes.Clone(kb)})
}

type suppressedEntry struct {
	bufTime, ts int64
	flags       byte
	old, new    []byte // alias the value
}

func splitSuppressed(v []byte) (suppressedEntry, error) {
	var e suppressedEntry
	if len(v) < 17 {
		return e, fmt.Errorf("suppression buffer entry of %d bytes, want at least 17", len(v))
	}
	e.bufTime, e.ts, e.flags = int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:])), v[16]
	n, w := binary.Uvarint(v[17:])
	if w <= 0 || uint64(len(v)-17-w) < n {
		return e, fmt.Errorf("suppression buffer entry: bad old value length")
	}
	rest := v[17+w:]
	e.old, e.new = rest[:n], rest[n:]
	return e, nil
}
