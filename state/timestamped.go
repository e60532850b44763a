package state

import (
	"encoding/binary"
	"errors"
)

// Timestamped value layout.
//
// The stores of brook's DSL tables and aggregations are timestamped, as
// Kafka Streams' timestamped key-value stores are: each value is the
// timestamp of the row's last update (8 bytes, big-endian milliseconds
// since the epoch) followed by the serialized value. The changelog of such
// a store holds the plain serialized value, with the timestamp as the
// record's timestamp, as Kafka Streams writes it; SplitTimestamped and
// AppendTimestamped convert between the two when a store is flushed and
// restored.

// TimestampSize is the length of the timestamp in front of a timestamped
// value.
const TimestampSize = 8

// ErrShortTimestamped is returned for a timestamped value shorter than its
// timestamp.
var ErrShortTimestamped = errors.New("state: timestamped value shorter than its 8-byte timestamp")

// AppendTimestamped appends ts and value in the timestamped layout to dst
// and returns the result.
func AppendTimestamped(dst []byte, ts int64, value []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	return append(dst, value...)
}

// SplitTimestamped returns the timestamp and the value of a timestamped
// value b. The value aliases b.
func SplitTimestamped(b []byte) (ts int64, value []byte, err error) {
	if len(b) < TimestampSize {
		return 0, nil, ErrShortTimestamped
	}
	return int64(binary.BigEndian.Uint64(b)), b[TimestampSize:], nil
}
