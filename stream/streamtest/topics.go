package streamtest

import (
	"fmt"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// InputTopic pipes typed records into a topic the topology reads. Make one
// with Driver.Input.
type InputTopic[K, V any] struct {
	d     *Driver
	topic string
	ks    serde.Serde[K]
	vs    serde.Serde[V]
}

// Input returns a typed writer to topic, serializing keys with ks and
// values with vs. The topology must read topic (with Source, SourceTable,
// or as an internal topic by its full name).
func (d *Driver) Input[K, V any](topic string, ks serde.Serde[K], vs serde.Serde[V]) *InputTopic[K, V] {
	return &InputTopic[K, V]{d: d, topic: topic, ks: ks, vs: vs}
}

// Pipe writes key and value with the driver's current wall-clock time as
// timestamp, and processes the record and everything it causes before it
// returns. The record's partition is chosen by hashing the serialized key
// as Kafka's default partitioner does. An error (a bad record under
// FailOnBadRecord, a fatal error) fails the test; the driver then stops,
// as an App would.
func (in *InputTopic[K, V]) Pipe(key K, value V) {
	in.d.helper()
	in.PipeRecord(stream.Record[K, V]{Key: key, Value: value, Timestamp: in.d.now.UnixMilli()})
}

// PipeAt is Pipe with the record timestamp ts, in milliseconds since the
// epoch: it drives the stream time of the task that reads it.
func (in *InputTopic[K, V]) PipeAt(key K, value V, ts int64) {
	in.d.helper()
	in.PipeRecord(stream.Record[K, V]{Key: key, Value: value, Timestamp: ts})
}

// PipeRecord is Pipe with the record's own timestamp and headers.
func (in *InputTopic[K, V]) PipeRecord(r stream.Record[K, V]) {
	in.d.helper()
	if err := in.TryPipeRecord(r); err != nil {
		in.d.fatal(err)
	}
}

// PipeTombstone writes a record with key and no value (a tombstone, which
// deletes the key from a table) at the driver's current time.
func (in *InputTopic[K, V]) PipeTombstone(key K) {
	in.d.helper()
	kb, err := in.ks.Serialize(in.topic, key)
	if err == nil {
		err = in.d.pipe(&kgo.Record{Topic: in.topic, Key: kb, Timestamp: in.d.now})
	}
	if err != nil {
		in.d.fatal(err)
	}
}

// PipeBytes writes a record with raw key and value bytes (nil for none)
// and headers, at the driver's current time, for testing what the
// topology does with input its serdes reject.
func (in *InputTopic[K, V]) PipeBytes(key, value []byte, headers ...stream.Header) {
	in.d.helper()
	if err := in.TryPipeBytes(key, value, headers...); err != nil {
		in.d.fatal(err)
	}
}

// TryPipeBytes is PipeBytes returning the error instead of failing the
// test; see TryPipeRecord.
func (in *InputTopic[K, V]) TryPipeBytes(key, value []byte, headers ...stream.Header) error {
	return in.d.pipe(&kgo.Record{Topic: in.topic, Key: key, Value: value, Timestamp: in.d.now, Headers: kgoHeaders(headers)})
}

// PipeBytesAt is PipeBytes with the record timestamp ts (milliseconds
// since the epoch), which drives stream time as PipeAt does: for input
// without a key or a value at a given time.
func (in *InputTopic[K, V]) PipeBytesAt(key, value []byte, ts int64, headers ...stream.Header) {
	in.d.helper()
	if err := in.d.pipe(&kgo.Record{Topic: in.topic, Key: key, Value: value, Timestamp: time.UnixMilli(ts), Headers: kgoHeaders(headers)}); err != nil {
		in.d.fatal(err)
	}
}

func kgoHeaders(hs []stream.Header) []kgo.RecordHeader {
	var out []kgo.RecordHeader
	for _, h := range hs {
		out = append(out, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return out
}

// TryPipeRecord is PipeRecord returning the error instead of failing the
// test, for tests of what goes wrong: a *stream.RecordError under
// FailOnBadRecord, a *stream.PunctuationError, a fatal error. After an
// error the driver is stopped, as an App would be: its stores hold what
// was last committed, and later calls fail.
func (in *InputTopic[K, V]) TryPipeRecord(r stream.Record[K, V]) error {
	kb, err := in.ks.Serialize(in.topic, r.Key)
	if err != nil {
		return fmt.Errorf("streamtest: serialize key for topic %q: %w", in.topic, err)
	}
	vb, err := in.vs.Serialize(in.topic, r.Value)
	if err != nil {
		return fmt.Errorf("streamtest: serialize value for topic %q: %w", in.topic, err)
	}
	return in.d.pipe(&kgo.Record{Topic: in.topic, Key: kb, Value: vb, Timestamp: time.UnixMilli(r.Timestamp), Headers: kgoHeaders(r.Headers)})
}

func (d *Driver) helper() {
	if d.tb != nil {
		d.tb.Helper()
	}
}

// OutputTopic reads the records written to a topic. Make one with
// Driver.Output. Each OutputTopic has its own read position, starting at
// the topic's first record: like a consumer of its own, it sees records
// written before it was made, and reading does not affect other
// OutputTopics.
type OutputTopic[K comparable, V any] struct {
	d     *Driver
	topic string
	ks    serde.Serde[K]
	vs    serde.Serde[V]
	pos   int
}

// OutputRecord is a record read from an OutputTopic.
type OutputRecord[K, V any] struct {
	Key   K
	Value V // the zero V for a tombstone
	// Tombstone is set for a record without a value (a table's deletion).
	Tombstone bool
	Timestamp int64 // ms since the epoch
	Headers   []stream.Header
	Partition int32
	Offset    int64
}

// Output returns a reader of topic that deserializes keys with ks and
// values with vs. Any topic can be read: the topology's output topics, and
// its repartition and changelog topics by their full names
// ("<AppID>-<name>-repartition", "<AppID>-<store>-changelog"). Records are
// read in the order they were written, whatever their partition. Keys must
// be comparable (for Latest): read []byte keys with serde.String().
func (d *Driver) Output[K comparable, V any](topic string, ks serde.Serde[K], vs serde.Serde[V]) *OutputTopic[K, V] {
	return &OutputTopic[K, V]{d: d, topic: topic, ks: ks, vs: vs}
}

func (o *OutputTopic[K, V]) unread() []*kgo.Record {
	l := o.d.topics[o.topic]
	if l == nil || o.pos >= len(l.recs) {
		return nil
	}
	return l.recs[o.pos:]
}

func (o *OutputTopic[K, V]) decode(r *kgo.Record) (OutputRecord[K, V], error) {
	out := OutputRecord[K, V]{Timestamp: r.Timestamp.UnixMilli(), Partition: r.Partition, Offset: r.Offset, Tombstone: r.Value == nil}
	var err error
	if r.Key != nil {
		if out.Key, err = o.ks.Deserialize(o.topic, r.Key); err != nil {
			return out, fmt.Errorf("streamtest: topic %q offset %d: deserialize key: %w", o.topic, r.Offset, err)
		}
	}
	if r.Value != nil {
		if out.Value, err = o.vs.Deserialize(o.topic, r.Value); err != nil {
			return out, fmt.Errorf("streamtest: topic %q offset %d: deserialize value: %w", o.topic, r.Offset, err)
		}
	}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, stream.Header{Key: h.Key, Value: h.Value})
	}
	return out, nil
}

// Records reads every unread record, with its timestamp, headers,
// partition and offset. A record that fails to deserialize fails the test.
func (o *OutputTopic[K, V]) Records() []OutputRecord[K, V] {
	o.d.helper()
	var out []OutputRecord[K, V]
	for _, r := range o.unread() {
		or, err := o.decode(r)
		if err != nil {
			o.d.fatal(err)
			return out
		}
		o.pos++
		out = append(out, or)
	}
	return out
}

// ReadOne reads the next unread record's key and value. It fails the test
// if there is none; see Empty.
func (o *OutputTopic[K, V]) ReadOne() stream.KeyValue[K, V] {
	o.d.helper()
	rs := o.unread()
	if len(rs) == 0 {
		o.d.fatal(fmt.Errorf("streamtest: topic %q has no unread record", o.topic))
		return stream.KeyValue[K, V]{}
	}
	or, err := o.decode(rs[0])
	if err != nil {
		o.d.fatal(err)
		return stream.KeyValue[K, V]{}
	}
	o.pos++
	return stream.KV(or.Key, or.Value)
}

// ReadAll reads the keys and values of every unread record, in order
// (tombstones with the zero value). It returns nil if there is none.
func (o *OutputTopic[K, V]) ReadAll() []stream.KeyValue[K, V] {
	o.d.helper()
	var out []stream.KeyValue[K, V]
	for _, r := range o.Records() {
		out = append(out, stream.KV(r.Key, r.Value))
	}
	return out
}

// Latest reads every unread record and returns the last value of each key,
// as a compacted topic or a table would hold it: a tombstone deletes its
// key. It returns an empty, non-nil map if there is none.
func (o *OutputTopic[K, V]) Latest() map[K]V {
	o.d.helper()
	out := map[K]V{}
	for _, r := range o.Records() {
		if r.Tombstone {
			delete(out, r.Key)
			continue
		}
		out[r.Key] = r.Value
	}
	return out
}

// Empty reports whether every record written to the topic so far was
// read.
func (o *OutputTopic[K, V]) Empty() bool { return len(o.unread()) == 0 }

// Len returns the number of unread records.
func (o *OutputTopic[K, V]) Len() int { return len(o.unread()) }
