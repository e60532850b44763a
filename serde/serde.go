// Package serde converts typed values to and from the bytes of Kafka records.
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
