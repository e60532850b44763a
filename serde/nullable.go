package serde

// Nullable returns a Serde for *T that supports tombstones: a nil *T is
// written as nil bytes (a tombstone), and nil bytes are read as a nil *T.
// Every other value is delegated to s: Serialize(&v) is s.Serialize(v), and
// Deserialize of non-nil data returns a pointer to a new value decoded by s.
// Use it for record values of topics and tables where a tombstone deletes a
// key.
//
// Format: that of s for present values; nil for a tombstone.
//
// Nil and empty: only a nil pointer or nil data is a tombstone. Empty non-nil
// data is passed to s (so Nullable(String()) reads it as a pointer to "").
// If s itself returns nil bytes for a present value, as Bytes does for a nil
// slice, that value is written as a tombstone and reads back as a nil
// pointer.
//
// Nullable panics if s is nil.
func Nullable[T any](s Serde[T]) Serde[*T] {
	if s == nil {
		panic("serde.Nullable: nil Serde")
	}
	return nullableSerde[T]{inner: s}
}

type nullableSerde[T any] struct {
	inner Serde[T]
}

func (n nullableSerde[T]) Serialize(topic string, v *T) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return n.inner.Serialize(topic, *v)
}

func (n nullableSerde[T]) Deserialize(topic string, data []byte) (*T, error) {
	if data == nil {
		return nil, nil
	}
	v, err := n.inner.Deserialize(topic, data)
	if err != nil {
		return nil, err
	}
	return &v, nil
}
