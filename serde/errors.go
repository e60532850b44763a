package serde

import (
	"errors"
	"fmt"
)

// ErrNull is wrapped by the error Deserialize returns when it is given nil
// data (a tombstone) for a type that cannot represent an absent value. Check
// for it with errors.Is. brook's sources never hand nil value bytes to a
// value serde: a stream reads them as a tombstone (see stream.Record's
// Tombstone), a table as a delete. To see tombstones as values in your own
// code, wrap the serde in [Nullable] (a tombstone is then a nil pointer),
// or read the raw bytes with [Bytes].
var ErrNull = errors.New("serde: null data (tombstone) for a non-nullable type")

// ErrSize is wrapped by the error Deserialize returns when a fixed-size type
// ([Int64], [Int32], [Float64]) is given data of the wrong length. The
// wrapping error says the expected and the actual length. It usually means
// the topic was written with a different serde than the one reading it.
var ErrSize = errors.New("serde: data has the wrong size for the type")

// nullError returns the error for nil data given to the serde called name.
func nullError(name, topic string) error {
	return fmt.Errorf("%s: topic %q: %w; use serde.Nullable or serde.Bytes to read tombstones",
		name, topic, ErrNull)
}

// sizeError returns the error for data of the wrong length given to the
// fixed-size serde called name; writer names the Kafka serializer that writes
// the expected format.
func sizeError(name, topic string, want, got int, writer string) error {
	return fmt.Errorf("%s: topic %q: %w: expected %d bytes, got %d; "+
		"check that the topic is written with %s or Kafka's %s",
		name, topic, ErrSize, want, got, name, writer)
}
