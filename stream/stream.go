package stream

import (
	"fmt"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Stream is an unbounded sequence of records with keys of type K and values
// of type V, as a KStream in Kafka Streams. Operators return new streams; a
// stream can feed several operators, each then sees every record.
//
// A stream remembers the serdes it was read with; operators that keep a type
// keep its serde, so sinks and later stateful operators ask for a serde only
// where the type changed.
type Stream[K, V any] struct {
	b  *Builder
	n  *topo.Node
	ks serde.Serde[K]
	vs serde.Serde[V]
	// rekeyed is set once an operator may have changed the key: grouping
	// by key then repartitions first, as in Kafka Streams.
	rekeyed bool
	// rawKS is set while ks is the serde of the source whose key bytes the
	// records carry (Record.raw): sinks and stores then reuse those bytes
	// instead of serializing the key again.
	rawKS bool
}

// WithSerdes returns s with its key and value serdes set, for the
// operators after a type change that need them (To, GroupByKey and the
// like). A nil serde keeps the current one.
func (s Stream[K, V]) WithSerdes(ks serde.Serde[K], vs serde.Serde[V]) Stream[K, V] {
	if ks != nil {
		s.ks = ks
		s.rawKS = false
	}
	if vs != nil {
		s.vs = vs
	}
	return s
}

// Source reads topic as a stream, deserializing keys with ks and values with
// vs. A record without a key (nil key bytes) gets the zero key and is
// marked keyless: aggregations and repartition topics drop it, as Kafka
// Streams drops null keys. A record with a nil value (a tombstone) gets
// the zero value without calling vs (a nil pointer with serde.Nullable)
// and stays a tombstone: see Record.Tombstone for how operators treat
// it. The Named option names the node (default KSTREAM-SOURCE-<n>).
func Source[K, V any](b *Builder, topic string, ks serde.Serde[K], vs serde.Serde[V], opts ...Option) Stream[K, V] {
	return SourceTopics(b, []string{topic}, ks, vs, opts...)
}

// SourceTopics reads several topics as one stream. The topics must have the
// same number of partitions: partition p of every topic is processed by the
// same task.
func SourceTopics[K, V any](b *Builder, topics []string, ks serde.Serde[K], vs serde.Serde[V], opts ...Option) Stream[K, V] {
	o := collect(opts)
	s := source(b, topics, ks, vs, b.name("KSTREAM-SOURCE", o.name))
	if o.extract != nil {
		f, ok := o.extract.(func(Record[K, V], int64) (int64, error))
		if !ok {
			b.g.Errorf("source %s: the timestamp extractor's record type %T does not match the source's %T", s.n.Name, o.extract, Record[K, V]{})
		} else {
			s.extract(f)
		}
	}
	return s
}

// extract makes the source node of s run f on every record before its
// children see it (see TimestampExtractor).
func (s Stream[K, V]) extract(f func(Record[K, V], int64) (int64, error)) {
	n := s.n
	n.ExtractsTime = true
	build := n.Build
	n.Build = func(t *topo.Task, children []any) (any, error) {
		next := fanout[K, V](children)
		stamp := proc[K, V](func(t *topo.Task, r Record[K, V]) error {
			topic := t.Rec.Topic
			ts, err := f(r, t.PartitionTime(topic))
			if err != nil {
				return fmt.Errorf("%s: timestamp extractor: %w", n.Name, err)
			}
			if err := t.ObserveTimestamp(topic, ts, true); err != nil {
				return err
			}
			r.Timestamp = ts
			t.Rec.Timestamp = time.UnixMilli(ts)
			return next(t, r)
		})
		return build(t, []any{stamp})
	}
}

// source adds a source node called name.
func source[K, V any](b *Builder, topics []string, ks serde.Serde[K], vs serde.Serde[V], name string) Stream[K, V] {
	n := b.g.AddNamed(topo.KindSource, name)
	n.Topics = append([]string(nil), topics...)
	if len(topics) == 0 {
		b.g.Errorf("source %s: no topic given", n.Name)
	}
	if ks == nil || vs == nil {
		b.g.Errorf("source %s (topics %v): a source needs a key serde and a value serde", n.Name, topics)
	}
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K, V](children)
		readKey, readValue := sourceReads(n, ks, vs)
		return topo.SourceFunc(func(t *topo.Task, r *kgo.Record) error {
			var k K
			if r.Key != nil && readKey {
				var err error
				if k, err = ks.Deserialize(r.Topic, r.Key); err != nil {
					return &topo.SerdeError{Op: "deserialize", Part: "key", Topic: r.Topic, Node: name, Err: err}
				}
			}
			var v V
			if r.Value != nil && readValue {
				var err error
				if v, err = vs.Deserialize(r.Topic, r.Value); err != nil {
					return &topo.SerdeError{Op: "deserialize", Part: "value", Topic: r.Topic, Node: name, Err: err}
				}
			}
			return next(t, Record[K, V]{Key: k, Value: v, Timestamp: r.Timestamp.UnixMilli(), Headers: fromKgoHeaders(r.Headers),
				raw: r.Key, nokey: r.Key == nil, tomb: r.Value == nil})
		}), nil
	}
	return Stream[K, V]{b: b, n: n, ks: ks, vs: vs, rawKS: true}
}

// sourceReads says whether the source node n decodes the keys and the
// values of its records. A key or value that no processor reads is left
// undecoded (the zero value) when decoding it cannot fail, so that leaving
// it hides no bad record (decision 52): a count by key with string keys and
// values reads neither. A timestamp extractor reads both.
func sourceReads[K, V any](n *topo.Node, ks serde.Serde[K], vs serde.Serde[V]) (key, value bool) {
	key = n.ExtractsTime || topo.NeedsKey(n) || !cannotFail(ks)
	value = n.ExtractsTime || topo.NeedsValue(n) || !cannotFail(vs)
	return key, value
}

// add appends a processor node fed by s and returns it.
func (s Stream[K, V]) add(prefix string, o options) *topo.Node {
	return s.b.g.Add(topo.KindProcessor, prefix, o.name, s.n)
}

// Filter keeps the records for which keep returns true. A tombstone (see
// Record.Tombstone) is judged by keep like any record when V can be nil (a
// pointer, such as the *T of serde.Nullable: keep sees nil, as Kafka
// Streams' predicates see null, so `v != nil` drops deletes). When V cannot
// be nil (string, int64, a struct), its zero value would pass for a real
// value, so a tombstone passes without calling keep: a delete that reaches
// a sink keeps a compacted topic true.
func (s Stream[K, V]) Filter(keep func(K, V) bool, opts ...Option) Stream[K, V] {
	n := s.add("KSTREAM-FILTER", collect(opts))
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K, V](children)
		judge := nullCheck[V]() != nil
		return proc[K, V](func(t *topo.Task, r Record[K, V]) error {
			if (r.tomb && !judge) || keep(r.Key, r.Value) {
				return next(t, r)
			}
			return nil
		}), nil
	}
	return Stream[K, V]{b: s.b, n: n, ks: s.ks, vs: s.vs, rekeyed: s.rekeyed, rawKS: s.rawKS}
}

// FilterNot drops the records for which drop returns true; tombstones are
// treated as in Filter.
func (s Stream[K, V]) FilterNot(drop func(K, V) bool, opts ...Option) Stream[K, V] {
	return s.Filter(func(k K, v V) bool { return !drop(k, v) }, opts...)
}

// Map replaces each record's key and value with those f returns. The new
// key may send the record to another partition once it is written. For a
// tombstone f gets the zero value (nil when V can be nil). The result is a
// tombstone when V2 can be nil and f returns nil, as a null value is in
// Kafka Streams; else a record with a value.
func (s Stream[K, V]) Map[K2, V2 any](f func(K, V) (K2, V2), opts ...Option) Stream[K2, V2] {
	n := s.add("KSTREAM-MAP", collect(opts))
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K2, V2](children)
		isNull := nullCheck[V2]()
		return proc[K, V](func(t *topo.Task, r Record[K, V]) error {
			k, v := f(r.Key, r.Value)
			return next(t, Record[K2, V2]{Key: k, Value: v, Timestamp: r.Timestamp, Headers: r.Headers, tomb: isNull != nil && isNull(v)})
		}), nil
	}
	return Stream[K2, V2]{b: s.b, n: n, ks: sameSerde[K2](s.ks), vs: sameSerde[V2](s.vs), rekeyed: true}
}

// MapValues replaces each record's value with f of it; the key is kept.
// When V can be nil (a pointer, such as the *T of serde.Nullable), a
// tombstone (see Record.Tombstone) is mapped like any record, f getting
// nil as Kafka Streams' mappers get null; when V cannot be nil, a
// tombstone stays a tombstone of the same key without calling f. A result
// is a tombstone when V2 can be nil and f returns nil.
func (s Stream[K, V]) MapValues[V2 any](f func(V) V2, opts ...Option) Stream[K, V2] {
	n := s.add("KSTREAM-MAPVALUES", collect(opts))
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K, V2](children)
		judge := nullCheck[V]() != nil
		isNull := nullCheck[V2]()
		return proc[K, V](func(t *topo.Task, r Record[K, V]) error {
			if r.tomb && !judge {
				return next(t, Record[K, V2]{Key: r.Key, Timestamp: r.Timestamp, Headers: r.Headers, raw: r.raw, nokey: r.nokey, tomb: true})
			}
			v := f(r.Value)
			return next(t, Record[K, V2]{Key: r.Key, Value: v, Timestamp: r.Timestamp, Headers: r.Headers, raw: r.raw, nokey: r.nokey, tomb: isNull != nil && isNull(v)})
		}), nil
	}
	return Stream[K, V2]{b: s.b, n: n, ks: s.ks, vs: sameSerde[V2](s.vs), rekeyed: s.rekeyed, rawKS: s.rawKS}
}

// FlatMap replaces each record with the records f returns, in order; an
// empty result drops the record. For a tombstone f gets the zero value;
// a result is a tombstone when V2 can be nil and its value is nil.
func (s Stream[K, V]) FlatMap[K2, V2 any](f func(K, V) []KeyValue[K2, V2], opts ...Option) Stream[K2, V2] {
	n := s.add("KSTREAM-FLATMAP", collect(opts))
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K2, V2](children)
		isNull := nullCheck[V2]()
		return proc[K, V](func(t *topo.Task, r Record[K, V]) error {
			for _, kv := range f(r.Key, r.Value) {
				if err := next(t, Record[K2, V2]{Key: kv.Key, Value: kv.Value, Timestamp: r.Timestamp, Headers: r.Headers, tomb: isNull != nil && isNull(kv.Value)}); err != nil {
					return err
				}
			}
			return nil
		}), nil
	}
	return Stream[K2, V2]{b: s.b, n: n, ks: sameSerde[K2](s.ks), vs: sameSerde[V2](s.vs), rekeyed: true}
}

// FlatMapValues replaces each record with one record per value f returns,
// all with the input's key. Tombstones (see Record.Tombstone) are treated
// as in MapValues: given to f as nil when V can be nil, else forwarded as
// one tombstone of the same key without calling f.
func (s Stream[K, V]) FlatMapValues[V2 any](f func(V) []V2, opts ...Option) Stream[K, V2] {
	n := s.add("KSTREAM-FLATMAPVALUES", collect(opts))
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K, V2](children)
		judge := nullCheck[V]() != nil
		isNull := nullCheck[V2]()
		return proc[K, V](func(t *topo.Task, r Record[K, V]) error {
			if r.tomb && !judge {
				return next(t, Record[K, V2]{Key: r.Key, Timestamp: r.Timestamp, Headers: r.Headers, raw: r.raw, nokey: r.nokey, tomb: true})
			}
			for _, v := range f(r.Value) {
				if err := next(t, Record[K, V2]{Key: r.Key, Value: v, Timestamp: r.Timestamp, Headers: r.Headers, raw: r.raw, nokey: r.nokey, tomb: isNull != nil && isNull(v)}); err != nil {
					return err
				}
			}
			return nil
		}), nil
	}
	return Stream[K, V2]{b: s.b, n: n, ks: s.ks, vs: sameSerde[V2](s.vs), rekeyed: s.rekeyed, rawKS: s.rawKS}
}

// SelectKey replaces each record's key with f of the record. A tombstone
// stays a tombstone (of the new key); f sees the zero value.
func (s Stream[K, V]) SelectKey[K2 any](f func(K, V) K2, opts ...Option) Stream[K2, V] {
	n := s.add("KSTREAM-KEY-SELECT", collect(opts))
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K2, V](children)
		return proc[K, V](func(t *topo.Task, r Record[K, V]) error {
			return next(t, Record[K2, V]{Key: f(r.Key, r.Value), Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers, tomb: r.tomb})
		}), nil
	}
	return Stream[K2, V]{b: s.b, n: n, ks: sameSerde[K2](s.ks), vs: s.vs, rekeyed: true}
}

// Peek calls f for each record and passes the record on unchanged.
func (s Stream[K, V]) Peek(f func(K, V), opts ...Option) Stream[K, V] {
	n := s.add("KSTREAM-PEEK", collect(opts))
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := fanout[K, V](children)
		return proc[K, V](func(t *topo.Task, r Record[K, V]) error {
			f(r.Key, r.Value)
			return next(t, r)
		}), nil
	}
	return Stream[K, V]{b: s.b, n: n, ks: s.ks, vs: s.vs, rekeyed: s.rekeyed, rawKS: s.rawKS}
}

// Foreach calls f for each record; it ends the stream. f runs on the task's
// worker goroutine: it must be safe to call from several workers at once.
func (s Stream[K, V]) Foreach(f func(K, V), opts ...Option) {
	n := s.add("KSTREAM-FOREACH", collect(opts))
	n.Build = func(*topo.Task, []any) (any, error) {
		return proc[K, V](func(_ *topo.Task, r Record[K, V]) error {
			f(r.Key, r.Value)
			return nil
		}), nil
	}
}

// Merge returns a stream with the records of s and other. Records of one
// input keep their order; the two inputs interleave as they arrive. Both
// streams' sources are processed by one task per partition, so their topics
// must have the same number of partitions.
func (s Stream[K, V]) Merge(other Stream[K, V], opts ...Option) Stream[K, V] {
	o := collect(opts)
	n := s.b.g.Add(topo.KindProcessor, "KSTREAM-MERGE", o.name, s.n, other.n)
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		return fanout[K, V](children), nil
	}
	ks, vs := s.ks, s.vs
	if ks == nil {
		ks = other.ks
	}
	if vs == nil {
		vs = other.vs
	}
	return Stream[K, V]{b: s.b, n: n, ks: ks, vs: vs, rekeyed: s.rekeyed || other.rekeyed,
		rawKS: s.rawKS && other.rawKS && sameValue(s.ks, other.ks)}
}

// To writes the stream to topic, serializing keys with ks and values with
// vs; a nil serde means the stream's own. The record's partition is chosen
// by hashing the serialized key as Kafka's default partitioner does
// (murmur2), so keys land where Java clients would put them. The topic must
// exist.
//
// A tombstone (see Record.Tombstone) is written with a nil value, so the
// deletes of a table's ToStream delete the key in a compacted topic. The
// Named option names the node (default KSTREAM-SINK-<n>).
func (s Stream[K, V]) To(topic string, ks serde.Serde[K], vs serde.Serde[V], opts ...Option) {
	s.to(topic, nil, ks, vs, opts, "")
}

// ToTopicFunc writes each record to the topic that topic returns for it,
// as To does. Every topic it returns must exist.
func (s Stream[K, V]) ToTopicFunc(topic func(K, V) string, ks serde.Serde[K], vs serde.Serde[V], opts ...Option) {
	s.to("", topic, ks, vs, opts, "")
}

// to adds a sink node, called name if that is not empty (and then using
// up no number), else by the Named option or an automatic name.
func (s Stream[K, V]) to(topic string, choose func(K, V) string, ks serde.Serde[K], vs serde.Serde[V], opts []Option, name string) *topo.Node {
	if name == "" {
		name = s.b.name("KSTREAM-SINK", collect(opts).name)
	}
	n := s.b.g.AddNamed(topo.KindSink, name, s.n)
	n.SinkTopic = topic
	if choose != nil {
		n.SinkTopic = "<chosen per record>"
	}
	reuse := ks == nil && s.rawKS
	if ks == nil {
		ks = s.ks
	}
	if vs == nil {
		vs = s.vs
	}
	if ks == nil || vs == nil {
		s.b.g.Errorf("sink %s (topic %s): the stream's type changed since its source, so To needs a key serde and a value serde", n.Name, n.SinkTopic)
	}
	if choose == nil && topic == "" {
		s.b.g.Errorf("sink %s: empty topic name", n.Name)
	}
	if reuse && choose == nil {
		// The key's bytes come with the record (see topo.Ignores).
		n.KeyUse = topo.Ignores
	}
	n.Build = func(*topo.Task, []any) (any, error) {
		topic := n.SinkTopic // internal topics get the app's prefix before tasks are built
		vapp := appender(vs)
		var slab []sinkRecord
		return proc[K, V](func(t *topo.Task, r Record[K, V]) error {
			dst := topic
			if choose != nil {
				dst = choose(r.Key, r.Value)
				if dst == "" {
					return fmt.Errorf("%s: topic function returned an empty topic", name)
				}
			}
			kb := r.raw
			if (!reuse || kb == nil) && !r.nokey {
				var err error
				if kb, err = ks.Serialize(dst, r.Key); err != nil {
					return &topo.SerdeError{Op: "serialize", Part: "key", Topic: dst, Node: name, Err: err}
				}
			}
			if len(slab) == 0 {
				slab = make([]sinkRecord, sinkSlab)
			}
			o := &slab[0]
			var vb []byte
			var err error
			switch {
			case r.tomb:
			case vapp != nil:
				vb, err = vapp.Append(o.buf[:0], dst, r.Value)
			default:
				vb, err = vs.Serialize(dst, r.Value)
			}
			if err != nil {
				return &topo.SerdeError{Op: "serialize", Part: "value", Topic: dst, Node: name, Err: err}
			}
			slab = slab[1:]
			out := &o.Record
			out.Topic, out.Key, out.Value, out.Timestamp, out.Headers = dst, kb, vb, time.UnixMilli(r.Timestamp), toKgoHeaders(r.Headers)
			return t.Produce(out)
		}), nil
	}
	return n
}

// sinkRecord is an output record with room for a small value (a count's 8
// bytes), where a sink whose value serde is a serde.Appender writes it.
// A sink takes its records from slabs of sinkSlab (decision 53): one
// allocation per 64 output records instead of two per record. The
// producer owns each record, as any produced record; a slab is garbage
// once the last of its records is acknowledged (within a commit
// interval), so a sink holds at most one slab beyond the records in flight.
type sinkRecord struct {
	kgo.Record
	buf [16]byte
}

// sinkSlab is the number of records of a sink's slab (11 KiB).
const sinkSlab = 64
