package serde

import (
	"bytes"
	"encoding/binary"
	"math"
)

// Compile-time checks that the built-ins implement Serde.
var (
	_ Serde[string]  = stringSerde{}
	_ Serde[[]byte]  = bytesSerde{}
	_ Serde[int64]   = int64Serde{}
	_ Serde[int32]   = int32Serde{}
	_ Serde[float64] = float64Serde{}

	_ Appender[string]  = stringSerde{}
	_ Appender[int64]   = int64Serde{}
	_ Appender[int32]   = int32Serde{}
	_ Appender[float64] = float64Serde{}
)

// String returns a Serde for strings, byte-compatible with Kafka's
// StringSerializer and StringDeserializer (UTF-8).
//
// Format: the string's bytes, unchanged. Strings are not validated as UTF-8:
// invalid bytes are written and read back as they are.
//
// Nil and empty: Serialize("") returns a non-nil empty slice, never nil, so
// an empty string is never a tombstone. Deserialize of an empty slice returns
// "". Deserialize of nil returns an error wrapping [ErrNull]; wrap String in
// [Nullable] to read tombstones.
func String() Serde[string] { return stringSerde{} }

type stringSerde struct{}

func (stringSerde) Serialize(_ string, v string) ([]byte, error) {
	if v == "" {
		return []byte{}, nil
	}
	return []byte(v), nil
}

// Append implements Appender.
func (stringSerde) Append(dst []byte, _ string, v string) ([]byte, error) {
	if dst == nil {
		// Serialize("") is non-nil: so is the result here.
		dst = []byte{}
	}
	return append(dst, v...), nil
}

func (stringSerde) Deserialize(topic string, data []byte) (string, error) {
	if data == nil {
		return "", nullError("serde.String", topic)
	}
	return string(data), nil
}

// Bytes returns a Serde for raw bytes, byte-compatible with Kafka's
// ByteArraySerializer and ByteArrayDeserializer.
//
// Format: the bytes, unchanged. Both Serialize and Deserialize return a copy,
// so the caller may reuse or modify its slice afterwards.
//
// Nil and empty: nil stays nil in both directions (a tombstone), and an empty
// non-nil slice stays empty and non-nil. Bytes never returns an error, so it
// is the way to read a topic's records, tombstones included, without
// interpreting them.
func Bytes() Serde[[]byte] { return bytesSerde{} }

type bytesSerde struct{}

// bytes.Clone keeps nil as nil and an empty slice as a non-nil empty slice.

func (bytesSerde) Serialize(_ string, v []byte) ([]byte, error) {
	return bytes.Clone(v), nil
}

func (bytesSerde) Deserialize(_ string, data []byte) ([]byte, error) {
	return bytes.Clone(data), nil
}

// Int64 returns a Serde for int64, byte-compatible with Kafka's
// LongSerializer and LongDeserializer.
//
// Format: 8 bytes, big-endian two's complement; 1 is 00 00 00 00 00 00 00 01
// and -1 is ff ff ff ff ff ff ff ff.
//
// Nil and empty: Serialize always returns 8 bytes. Deserialize of nil returns
// an error wrapping [ErrNull] (wrap Int64 in [Nullable] to read tombstones);
// data of any length other than 8, including empty, returns an error wrapping
// [ErrSize]. Deserialize does not allocate.
func Int64() Serde[int64] { return int64Serde{} }

type int64Serde struct{}

func (int64Serde) Serialize(_ string, v int64) ([]byte, error) {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(v))
	return b, nil
}

// Append implements Appender.
func (int64Serde) Append(dst []byte, _ string, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, uint64(v)), nil
}

func (int64Serde) Deserialize(topic string, data []byte) (int64, error) {
	if data == nil {
		return 0, nullError("serde.Int64", topic)
	}
	if len(data) != 8 {
		return 0, sizeError("serde.Int64", topic, 8, len(data), "LongSerializer")
	}
	return int64(binary.BigEndian.Uint64(data)), nil
}

// Int32 returns a Serde for int32, byte-compatible with Kafka's
// IntegerSerializer and IntegerDeserializer.
//
// Format: 4 bytes, big-endian two's complement; 256 is 00 00 01 00 and -1 is
// ff ff ff ff.
//
// Nil and empty: Serialize always returns 4 bytes. Deserialize of nil returns
// an error wrapping [ErrNull] (wrap Int32 in [Nullable] to read tombstones);
// data of any length other than 4, including empty, returns an error wrapping
// [ErrSize]. Deserialize does not allocate.
func Int32() Serde[int32] { return int32Serde{} }

type int32Serde struct{}

func (int32Serde) Serialize(_ string, v int32) ([]byte, error) {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, uint32(v))
	return b, nil
}

// Append implements Appender.
func (int32Serde) Append(dst []byte, _ string, v int32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(dst, uint32(v)), nil
}

func (int32Serde) Deserialize(topic string, data []byte) (int32, error) {
	if data == nil {
		return 0, nullError("serde.Int32", topic)
	}
	if len(data) != 4 {
		return 0, sizeError("serde.Int32", topic, 4, len(data), "IntegerSerializer")
	}
	return int32(binary.BigEndian.Uint32(data)), nil
}

// Float64 returns a Serde for float64, byte-compatible with Kafka's
// DoubleSerializer and DoubleDeserializer.
//
// Format: the 8 bytes of the IEEE-754 binary64 bit pattern, big-endian; 1.5
// is 3f f8 00 00 00 00 00 00. The bits are copied exactly (math.Float64bits),
// so negative zero and every NaN payload survive a round trip.
//
// Nil and empty: Serialize always returns 8 bytes. Deserialize of nil returns
// an error wrapping [ErrNull] (wrap Float64 in [Nullable] to read
// tombstones); data of any length other than 8, including empty, returns an
// error wrapping [ErrSize]. Deserialize does not allocate.
func Float64() Serde[float64] { return float64Serde{} }

type float64Serde struct{}

func (float64Serde) Serialize(_ string, v float64) ([]byte, error) {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, math.Float64bits(v))
	return b, nil
}

// Append implements Appender.
func (float64Serde) Append(dst []byte, _ string, v float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(v)), nil
}

func (float64Serde) Deserialize(topic string, data []byte) (float64, error) {
	if data == nil {
		return 0, nullError("serde.Float64", topic)
	}
	if len(data) != 8 {
		return 0, sizeError("serde.Float64", topic, 8, len(data), "DoubleSerializer")
	}
	return math.Float64frombits(binary.BigEndian.Uint64(data)), nil
}
