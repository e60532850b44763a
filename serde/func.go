package serde

// Func returns a Serde that calls ser to serialize and de to deserialize. It
// adapts user-written functions, or a closure over another library, to the
// Serde interface.
//
// Format and nil/empty behaviour are whatever ser and de implement; Func
// passes arguments, results and errors through unchanged. To follow the
// package's tombstone rule, ser should not return nil bytes for a present
// value, and de should return an error wrapping [ErrNull] for nil data unless
// T can represent a tombstone. ser and de must be safe for concurrent use, and
// de must not keep data after it returns.
//
// Func panics if ser or de is nil.
func Func[T any](
	ser func(topic string, v T) ([]byte, error),
	de func(topic string, data []byte) (T, error),
) Serde[T] {
	if ser == nil || de == nil {
		panic("serde.Func: nil serialize or deserialize function")
	}
	return funcSerde[T]{ser: ser, de: de}
}

type funcSerde[T any] struct {
	ser func(topic string, v T) ([]byte, error)
	de  func(topic string, data []byte) (T, error)
}

func (f funcSerde[T]) Serialize(topic string, v T) ([]byte, error) {
	return f.ser(topic, v)
}

func (f funcSerde[T]) Deserialize(topic string, data []byte) (T, error) {
	return f.de(topic, data)
}
