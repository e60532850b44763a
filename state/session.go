package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/window"
)

// A session store keeps one value per key and session in a byte-level
// Store, under keys laid out as
//
//	<segment: uint64 BE> <key bytes> <session end: int64 BE> <session start: int64 BE>
//
// where segment = end / segment interval (WindowSegmentInterval of the
// store's retention). Sessions expire by the segment of their end, with
// one range delete, as windows do. Within a segment the sessions of a key
// are in order of end, then start, as in Kafka Streams' session stores.
// Keys whose segment is all ones (such as the close time up to which an
// aggregation emitted final results) are bookkeeping, never sessions.

// AppendSessionKey appends the store key of key's session [start, end]
// to dst and returns it.
func AppendSessionKey(dst []byte, segInterval int64, key []byte, start, end int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(end/segInterval))
	dst = append(dst, key...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(end))
	return binary.BigEndian.AppendUint64(dst, uint64(start))
}

// SplitSessionKey returns the key bytes, start and end of the session of
// a session store key. The key bytes alias k.
func SplitSessionKey(k []byte) (key []byte, start, end int64, err error) {
	if len(k) < 24 {
		return nil, 0, 0, fmt.Errorf("state: session store key of %d bytes, want at least 24", len(k))
	}
	n := len(k)
	return k[8 : n-16], int64(binary.BigEndian.Uint64(k[n-8:])), int64(binary.BigEndian.Uint64(k[n-16 : n-8])), nil
}

// bookkeepingSegment is the segment of keys that are not sessions.
const bookkeepingSegment = ^uint64(0)

// ReadOnlySession is the read side of a typed session store: the
// aggregates of a session-windowed aggregation, by key and session, as
// Kafka Streams' ReadOnlySessionStore. Its sequences can be ranged over
// many times; each range reads the store as it is then.
type ReadOnlySession[K, V any] interface {
	// Fetch yields every session of key that the store holds, by end,
	// then start (Kafka Streams' fetch(key)). A session's Window holds
	// its first and last record's timestamps, both inclusive.
	Fetch(key K) iter.Seq2[window.Windowed[K], V]
	// FetchSession returns the aggregate of key's session [start, end]
	// (Kafka Streams' fetchSession); ok is false if there is no such
	// session.
	FetchSession(key K, start, end int64) (v V, ok bool, err error)
	// FetchAll yields the sessions of every key, by segment of their
	// end, then key bytes, then end and start.
	FetchAll() iter.Seq2[window.Windowed[K], V]
	// Err returns the first error met by an iteration, which stopped it
	// early; nil otherwise. Once set it stays set.
	Err() error
}

// NewReadOnlySession returns a typed session view of s, a store laid out
// as described above for a store of retention ms. ks and vs
// (de)serialize keys and values; topic is passed to them. Sessions whose
// segment has not yet been dropped are yielded even when their end is
// past retention.
func NewReadOnlySession[K, V any](s ReadOnlyStore, ks serde.Serde[K], vs serde.Serde[V], topic string, retention int64) ReadOnlySession[K, V] {
	return &sessionRO[K, V]{s: s, ks: ks, vs: vs, topic: topic, seg: WindowSegmentInterval(retention)}
}

type sessionRO[K, V any] struct {
	s     ReadOnlyStore
	ks    serde.Serde[K]
	vs    serde.Serde[V]
	topic string
	seg   int64
	err   stickyErr // the first failure of an iteration
}

func (w *sessionRO[K, V]) fail(err error) { w.err.set(err) }

// Err implements ReadOnlySession.
func (w *sessionRO[K, V]) Err() error {
	if err := w.err.get(); err != nil {
		return err
	}
	return w.s.Err()
}

func (w *sessionRO[K, V]) Fetch(key K) iter.Seq2[window.Windowed[K], V] {
	return func(yield func(window.Windowed[K], V) bool) {
		kb, err := w.ks.Serialize(w.topic, key)
		if err != nil {
			w.fail(err)
			return
		}
		// One seek per segment that holds an entry.
		for seg := uint64(0); seg < bookkeepingSegment; {
			next := uint64(0)
			found := false
			for k := range w.s.Range(WindowSegmentStart(int64(seg)), bookkeepingStart) {
				next, found = binary.BigEndian.Uint64(k[:8]), true
				break
			}
			if !found {
				return
			}
			prefix := append(binary.BigEndian.AppendUint64(nil, next), kb...)
			for k, v := range w.s.Range(prefix, append(bytes.Clone(prefix), bytes.Repeat([]byte{0xff}, 17)...)) {
				if len(k) != len(kb)+24 {
					continue // a longer key that shares kb's prefix
				}
				if !w.emit(k, v, yield) {
					return
				}
			}
			seg = next + 1
		}
	}
}

// bookkeepingStart is the first key of the bookkeeping segment.
var bookkeepingStart = binary.BigEndian.AppendUint64(nil, bookkeepingSegment)

func (w *sessionRO[K, V]) FetchSession(key K, start, end int64) (V, bool, error) {
	var zero V
	kb, err := w.ks.Serialize(w.topic, key)
	if err != nil {
		return zero, false, err
	}
	if start < 0 || end < start {
		return zero, false, nil
	}
	b, ok, err := w.s.Get(AppendSessionKey(nil, w.seg, kb, start, end))
	if err != nil || !ok {
		return zero, false, err
	}
	v, err := w.vs.Deserialize(w.topic, b)
	if err != nil {
		return zero, false, err
	}
	return v, true, nil
}

func (w *sessionRO[K, V]) FetchAll() iter.Seq2[window.Windowed[K], V] {
	return func(yield func(window.Windowed[K], V) bool) {
		for k, v := range w.s.Range(nil, bookkeepingStart) {
			if !w.emit(k, v, yield) {
				return
			}
		}
	}
}

func (w *sessionRO[K, V]) emit(k, v []byte, yield func(window.Windowed[K], V) bool) bool {
	kb, start, end, err := SplitSessionKey(k)
	if err != nil {
		w.fail(err)
		return false
	}
	key, err := w.ks.Deserialize(w.topic, bytes.Clone(kb))
	if err != nil {
		w.fail(err)
		return false
	}
	val, err := w.vs.Deserialize(w.topic, v)
	if err != nil {
		w.fail(err)
		return false
	}
	return yield(window.Windowed[K]{Key: key, Window: window.Window{Start: start, End: end}}, val)
}

// MultiSession returns a view over the session stores of several
// partitions, read one after another.
func MultiSession[K, V any](parts []ReadOnlySession[K, V]) ReadOnlySession[K, V] {
	return multiSession[K, V](parts)
}

type multiSession[K, V any] []ReadOnlySession[K, V]

func (m multiSession[K, V]) Fetch(key K) iter.Seq2[window.Windowed[K], V] {
	return func(yield func(window.Windowed[K], V) bool) {
		for _, p := range m {
			for k, v := range p.Fetch(key) {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

func (m multiSession[K, V]) FetchSession(key K, start, end int64) (V, bool, error) {
	for _, p := range m {
		if v, ok, err := p.FetchSession(key, start, end); err != nil || ok {
			return v, ok, err
		}
	}
	var zero V
	return zero, false, nil
}

func (m multiSession[K, V]) FetchAll() iter.Seq2[window.Windowed[K], V] {
	return func(yield func(window.Windowed[K], V) bool) {
		for _, p := range m {
			for k, v := range p.FetchAll() {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

func (m multiSession[K, V]) Err() error {
	for _, p := range m {
		if err := p.Err(); err != nil {
			return err
		}
	}
	return nil
}
