// Package serde converts typed values to and from the bytes of Kafka records.
//
// # Tombstones: nil versus empty
//
// Kafka distinguishes a null record key or value from an empty one. A null
// value is a tombstone: in a compacted topic, and in every table brook builds
// from a topic, it deletes the key. In Go a null is a nil []byte and an empty
// value is a non-nil []byte of length zero. Every serde in this package keeps
// the two apart:
//
//   - Serialize never returns nil bytes for a present value, so an empty
//     value (String's "", Bytes' []byte{}) is never written as a tombstone.
//     Only Bytes(nil) and Nullable's nil pointer produce a tombstone.
//   - Deserialize of nil bytes returns an error wrapping [ErrNull] for every
//     type that has no way to say "absent". Read topics that carry tombstones
//     with [Nullable] (a nil *T is a tombstone) or with [Bytes] (a nil []byte
//     is a tombstone).
//
// # Built-in serdes
//
// [String], [Bytes], [Int64], [Int32] and [Float64] write the same bytes as
// Kafka's StringSerializer, ByteArraySerializer, LongSerializer,
// IntegerSerializer and DoubleSerializer, so topics can be shared with Java
// clients. [JSON] uses encoding/json. [Func] adapts a pair of functions, and
// [Nullable] adds tombstone support to any serde.
//
// The built-in serdes are stateless, safe for concurrent use and cheap: they
// hold no fields, the fixed-size numeric serdes do not allocate when
// deserializing, and Serialize allocates only the slice it returns.
// [String], [Int64], [Int32] and [Float64] also implement [Appender], which
// writes into a buffer the caller gives instead.
package serde

// Serde converts values of type T to and from the bytes of a Kafka record key
// or value. topic is the topic the bytes are read from or written to; most
// serdes ignore it, Schema Registry serdes use it to name the subject.
//
// A Serde must be safe for concurrent use. Serialize may return a slice that
// the caller owns; Deserialize must not keep data after it returns, since the
// caller may reuse it.
type Serde[T any] interface {
	Serialize(topic string, v T) ([]byte, error)
	Deserialize(topic string, data []byte) (T, error)
}

// Appender is implemented by serdes that can write a value's bytes at the
// end of a slice the caller gives, as encoding.BinaryAppender does, so that
// a caller that reuses a buffer serializes without allocating. brook's
// stores and sinks use it when a serde has it: a count's store and output
// then cost no allocation for the count's 8 bytes.
//
// Append appends to dst exactly the bytes Serialize(topic, v) returns and
// returns the extended slice (a new one when dst lacks the capacity); on an
// error it returns dst unchanged and the error Serialize would return.
// Since the bytes of a present value are appended, Append cannot express a
// tombstone: a serde whose Serialize can return nil bytes for a value (such
// as [Bytes] and [Nullable]) must not implement Appender. String, Int64,
// Int32 and Float64 implement it; the caller type-asserts for it once, not
// per value.
type Appender[T any] interface {
	Append(dst []byte, topic string, v T) ([]byte, error)
}
