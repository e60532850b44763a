package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/window"
)

// A window store keeps one value per key and window in a byte-level Store,
// under keys laid out as
//
//	<segment: uint64 BE> <key bytes> <window start: int64 BE>
//
// where segment = start / segment interval. Each segment is a contiguous
// key range, so the windows of a segment expire together with one range
// delete (CachedStore.DeleteRange), not key by key. Within a segment,
// entries are in key-bytes order and then by start, so the windows of one
// key in one segment are one short range scan. The segment interval is
// WindowSegmentInterval(retention), as in Kafka Streams.
//
// The changelog of a window store carries these keys as they are.

// WindowSegmentInterval returns the segment interval of a window store
// with retention ms: retention/2, at least one minute, as Kafka Streams'
// segmented window stores.
func WindowSegmentInterval(retention int64) int64 { return max(retention/2, 60_000) }

// AppendWindowKey appends the store key of key's window starting at start
// to dst and returns it.
func AppendWindowKey(dst []byte, segInterval int64, key []byte, start int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(start/segInterval))
	dst = append(dst, key...)
	return binary.BigEndian.AppendUint64(dst, uint64(start))
}

// SplitWindowKey returns the key bytes and window start of a store key.
// The key bytes alias k.
func SplitWindowKey(k []byte) (key []byte, start int64, err error) {
	if len(k) < 16 {
		return nil, 0, fmt.Errorf("state: window store key of %d bytes, want at least 16", len(k))
	}
	return k[8 : len(k)-8], int64(binary.BigEndian.Uint64(k[len(k)-8:])), nil
}

// WindowStreamTimeKey is the key under which a window store keeps what
// its operator observed: the 8-byte timestamp prefix of a timestamped
// store holds the task's stream time, and the value the latest window
// start written to the store (8 bytes, big-endian). Its segment (all
// ones) is never reached by a window. Reads hide windows that start
// before that latest start - retention + 1, which may still be on disk
// until their segment is dropped, as Kafka Streams' segmented window
// stores hide windows by the latest window start put into them.
var WindowStreamTimeKey = append(bytes.Repeat([]byte{0xff}, 8), "stream-time"...)

// WindowObserved returns the stream time and the latest window start
// held in the value of WindowStreamTimeKey; a value without a latest
// start (written before the start was kept) gives the stream time for
// both.
func WindowObserved(v []byte) (streamTime, latest int64) {
	if len(v) < 8 {
		return -1, -1
	}
	streamTime = int64(binary.BigEndian.Uint64(v))
	if len(v) < 16 {
		return streamTime, streamTime
	}
	return streamTime, int64(binary.BigEndian.Uint64(v[8:16]))
}

// WindowSegmentStart returns the first store key of segment seg.
func WindowSegmentStart(seg int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(seg)) }

// ReadOnlyWindow is the read side of a typed window store: the aggregates
// of a windowed aggregation, by key and window. Its sequences can be
// ranged over many times; each range reads the store as it is then.
type ReadOnlyWindow[K, V any] interface {
	// Fetch yields the windows of key whose start is in [from, to]
	// (milliseconds, inclusive as Kafka Streams' fetch), earliest first.
	Fetch(key K, from, to int64) iter.Seq2[window.Windowed[K], V]
	// FetchAll yields the windows of every key whose start is in [from,
	// to], by segment, then key bytes, then start.
	FetchAll(from, to int64) iter.Seq2[window.Windowed[K], V]
	// Err returns the first error met by an iteration, which stopped it
	// early; nil otherwise. Once set it stays set.
	Err() error
}

// NewReadOnlyWindow returns a typed window view of s, a store laid out as
// described above with windows of size ms (the End of each window is start
// + size) and segments of segInterval ms. ks and vs (de)serialize keys and
// values; topic is passed to them.
// Windows that start before the latest window start the store holds (see
// WindowStreamTimeKey) minus retention, plus one, are expired: never
// yielded.
func NewReadOnlyWindow[K, V any](s ReadOnlyStore, ks serde.Serde[K], vs serde.Serde[V], topic string, size, retention int64) ReadOnlyWindow[K, V] {
	return &windowRO[K, V]{s: s, ks: ks, vs: vs, topic: topic, size: size, seg: WindowSegmentInterval(retention), retention: retention}
}

// minLive returns the earliest start of a window that has not expired.
func (w *windowRO[K, V]) minLive() int64 {
	b, ok, err := w.s.Get(WindowStreamTimeKey)
	if err != nil || !ok {
		return 0
	}
	_, latest := WindowObserved(b)
	return max(0, latest-w.retention+1)
}

type windowRO[K, V any] struct {
	s         ReadOnlyStore
	ks        serde.Serde[K]
	vs        serde.Serde[V]
	topic     string
	size, seg int64
	retention int64
	err       stickyErr // the first failure of an iteration
}

func (w *windowRO[K, V]) fail(err error) { w.err.set(err) }

// Err implements ReadOnlyWindow.
func (w *windowRO[K, V]) Err() error {
	if err := w.err.get(); err != nil {
		return err
	}
	return w.s.Err()
}

// segments yields the segments in [lo, hi] that hold an entry, skipping
// empty ones with one seek each.
func (w *windowRO[K, V]) segments(lo, hi int64) iter.Seq[int64] {
	return func(yield func(int64) bool) {
		for seg := lo; seg <= hi; {
			next := int64(-1)
			for k := range w.s.Range(WindowSegmentStart(seg), WindowSegmentStart(hi+1)) {
				next = int64(binary.BigEndian.Uint64(k[:8]))
				break
			}
			if next < 0 || !yield(next) {
				return
			}
			seg = next + 1
		}
	}
}

func (w *windowRO[K, V]) Fetch(key K, from, to int64) iter.Seq2[window.Windowed[K], V] {
	return func(yield func(window.Windowed[K], V) bool) {
		kb, err := w.ks.Serialize(w.topic, key)
		if err != nil {
			w.fail(err)
			return
		}
		from = max(from, w.minLive())
		if to < from {
			return
		}
		for seg := range w.segments(from/w.seg, to/w.seg) {
			lo := AppendWindowKey(nil, w.seg, kb, max(from, seg*w.seg))
			hi := binary.BigEndian.AppendUint64(append(binary.BigEndian.AppendUint64(nil, uint64(seg)), kb...), uint64(min(to, seg*w.seg+w.seg-1)+1))
			for k, v := range w.s.Range(lo, hi) {
				if len(k) != len(kb)+16 {
					continue // a longer key that shares kb's prefix
				}
				if !w.emit(k, v, yield) {
					return
				}
			}
		}
	}
}

func (w *windowRO[K, V]) FetchAll(from, to int64) iter.Seq2[window.Windowed[K], V] {
	return func(yield func(window.Windowed[K], V) bool) {
		from = max(from, w.minLive())
		if to < from {
			return
		}
		for k, v := range w.s.Range(WindowSegmentStart(from/w.seg), WindowSegmentStart(to/w.seg+1)) {
			_, start, err := SplitWindowKey(k)
			if err != nil {
				w.fail(err)
				return
			}
			if start < from || start > to {
				continue
			}
			if !w.emit(k, v, yield) {
				return
			}
		}
	}
}

func (w *windowRO[K, V]) emit(k, v []byte, yield func(window.Windowed[K], V) bool) bool {
	kb, start, err := SplitWindowKey(k)
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
	return yield(window.Windowed[K]{Key: key, Window: window.Window{Start: start, End: start + w.size}}, val)
}

// MultiWindow returns a view over the window stores of several partitions,
// read one after another.
func MultiWindow[K, V any](parts []ReadOnlyWindow[K, V]) ReadOnlyWindow[K, V] {
	return multiWindow[K, V](parts)
}

type multiWindow[K, V any] []ReadOnlyWindow[K, V]

func (m multiWindow[K, V]) Fetch(key K, from, to int64) iter.Seq2[window.Windowed[K], V] {
	return func(yield func(window.Windowed[K], V) bool) {
		for _, p := range m {
			for k, v := range p.Fetch(key, from, to) {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

func (m multiWindow[K, V]) FetchAll(from, to int64) iter.Seq2[window.Windowed[K], V] {
	return func(yield func(window.Windowed[K], V) bool) {
		for _, p := range m {
			for k, v := range p.FetchAll(from, to) {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

func (m multiWindow[K, V]) Err() error {
	for _, p := range m {
		if err := p.Err(); err != nil {
			return err
		}
	}
	return nil
}
