package serde

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// JSON returns a Serde that encodes values of type T as JSON with
// encoding/json (json.Marshal and json.Unmarshal), so struct tags and the
// json.Marshaler and json.Unmarshaler interfaces apply.
//
// Format: the JSON text produced by json.Marshal, without a trailing newline.
//
// Nil and empty: Serialize never returns nil bytes; a nil pointer, map or
// slice inside T is written as the JSON text null, which is a present value,
// not a tombstone. Deserialize of nil returns an error wrapping [ErrNull];
// wrap the serde in [Nullable] to read tombstones. Deserialize of an empty
// slice is invalid JSON and returns an error.
//
// Errors from encoding/json are wrapped, so errors.As finds a
// *json.SyntaxError or *json.UnmarshalTypeError.
func JSON[T any]() Serde[T] { return jsonSerde[T]{} }

type jsonSerde[T any] struct{}

func (jsonSerde[T]) Serialize(topic string, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("serde.JSON[%s]: topic %q: encode: %w", reflect.TypeFor[T](), topic, err)
	}
	return b, nil
}

func (jsonSerde[T]) Deserialize(topic string, data []byte) (T, error) {
	var v T
	if data == nil {
		return v, nullError(fmt.Sprintf("serde.JSON[%s]", reflect.TypeFor[T]()), topic)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("serde.JSON[%s]: topic %q: decode: %w", reflect.TypeFor[T](), topic, err)
	}
	return v, nil
}
