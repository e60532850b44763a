package window

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/brookstream/brook/serde"
)

// ErrShort is returned when windowed key bytes are too short to hold the
// window's timestamps.
var ErrShort = errors.New("window: windowed key too short")

// TimeWindowedSerde returns the serde of keys of time windows (tumbling,
// hopping) and sliding windows, byte-compatible with Kafka Streams'
// TimeWindowedSerializer and TimeWindowedDeserializer. Layout:
//
//	<key bytes from ks> <window start: int64, 8 bytes big-endian>
//
// The end is not written: Deserialize sets it to start + size (size in
// milliseconds, the windows' size; for sliding windows the time
// difference). A key that ks serializes to nil is an error.
func TimeWindowedSerde[K any](ks serde.Serde[K], size int64) serde.Serde[Windowed[K]] {
	return timeSerde[K]{ks: ks, size: size}
}

type timeSerde[K any] struct {
	ks   serde.Serde[K]
	size int64
}

func (s timeSerde[K]) Serialize(topic string, w Windowed[K]) ([]byte, error) {
	kb, err := s.ks.Serialize(topic, w.Key)
	if err != nil {
		return nil, err
	}
	if kb == nil {
		return nil, fmt.Errorf("window: windowed key for topic %q: %w", topic, serde.ErrNull)
	}
	return binary.BigEndian.AppendUint64(kb[:len(kb):len(kb)], uint64(w.Window.Start)), nil
}

func (s timeSerde[K]) Deserialize(topic string, data []byte) (Windowed[K], error) {
	var w Windowed[K]
	if len(data) < 8 {
		return w, fmt.Errorf("%w: %d bytes, want at least 8", ErrShort, len(data))
	}
	n := len(data) - 8
	k, err := s.ks.Deserialize(topic, data[:n:n])
	if err != nil {
		return w, err
	}
	start := int64(binary.BigEndian.Uint64(data[n:]))
	end := start + s.size
	if end < start { // overflow, as Kafka Streams caps it
		end = 1<<63 - 1
	}
	return Windowed[K]{Key: k, Window: Window{Start: start, End: end}}, nil
}

// SessionWindowedSerde returns the serde of keys of session windows,
// byte-compatible with Kafka Streams' SessionWindowedSerializer and
// SessionWindowedDeserializer. Layout:
//
//	<key bytes from ks> <window end: int64, 8 bytes big-endian> <window start: int64, 8 bytes big-endian>
//
// A key that ks serializes to nil is an error.
func SessionWindowedSerde[K any](ks serde.Serde[K]) serde.Serde[Windowed[K]] {
	return sessionSerde[K]{ks: ks}
}

type sessionSerde[K any] struct{ ks serde.Serde[K] }

func (s sessionSerde[K]) Serialize(topic string, w Windowed[K]) ([]byte, error) {
	kb, err := s.ks.Serialize(topic, w.Key)
	if err != nil {
		return nil, err
	}
	if kb == nil {
		return nil, fmt.Errorf("window: windowed key for topic %q: %w", topic, serde.ErrNull)
	}
	out := binary.BigEndian.AppendUint64(kb[:len(kb):len(kb)], uint64(w.Window.End))
	return binary.BigEndian.AppendUint64(out, uint64(w.Window.Start)), nil
}

func (s sessionSerde[K]) Deserialize(topic string, data []byte) (Windowed[K], error) {
	var w Windowed[K]
	if len(data) < 16 {
		return w, fmt.Errorf("%w: %d bytes, want at least 16", ErrShort, len(data))
	}
	n := len(data) - 16
	k, err := s.ks.Deserialize(topic, data[:n:n])
	if err != nil {
		return w, err
	}
	return Windowed[K]{Key: k, Window: Window{
		End:   int64(binary.BigEndian.Uint64(data[n:])),
		Start: int64(binary.BigEndian.Uint64(data[n+8:])),
	}}, nil
}
