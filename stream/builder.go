package stream

import (
	"reflect"
	"unsafe"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Builder collects the nodes of a topology. Make one with NewBuilder, add
// sources with Source, chain operators on the streams it returns, then pass
// it to New. A Builder is not safe for concurrent use; it must not be
// changed after New.
//
// Mistakes found while building (a missing serde, a name used twice) are
// collected and returned by New and Build, so the fluent calls need no error
// checks.
type Builder struct {
	g *topo.Graph
}

// NewBuilder returns an empty topology builder.
func NewBuilder() *Builder { return &Builder{g: topo.NewGraph()} }

// Build checks the topology and returns what is wrong with it, if anything,
// as a *BuildError listing every mistake.
func (b *Builder) Build() error { return exportErr(b.g.Validate()) }

// Describe returns the topology as text in the format of Kafka Streams'
// Topology#describe(): its sub-topologies and, in each, the sources with
// their topics, the processors with their stores, the sinks with their
// topic, and the edges between them.
func (b *Builder) Describe() string { return b.g.Describe() }

// Option changes an operator. The zero set of options gives every node an
// automatic name.
type Option func(*options)

type options struct {
	name       string
	store      string
	valueSerde any // a serde.Serde of an operator's result (ValueSerde)
	extract    any // func(Record[K, V], int64) (int64, error) of a source
}

func collect(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Named sets the name of the node an operator adds, in place of the
// automatic one (such as KSTREAM-FILTER-0000000002), as Kafka Streams'
// Named.as does. Names must be unique in a topology. On GroupBy and
// GroupByKey it names the repartition topic, as Grouped.as does; on
// SourceTable the nodes ("<name>-source" and "<name>"), as Consumed.as
// does; on Split it prefixes the branch names. It does not name stores:
// see Materialized.
//
// Automatic names are numbered as Kafka Streams numbers them: every
// operator uses up a number, named or not, so naming one operator leaves
// the automatic names of the others as they were.
func Named(name string) Option { return func(o *options) { o.name = name } }

// TimestampExtractor sets the event time of the records a source reads
// (Source, SourceTopics), as Kafka Streams' Consumed.withTimestampExtractor:
// f gets the deserialized record, whose Timestamp is the one Kafka holds,
// and the partition time (the largest timestamp extracted so far from the
// record's partition, -1 before the first), and returns the record's
// timestamp in milliseconds since the epoch. Downstream operators, stream
// time, windows and sinks see that timestamp. A negative timestamp or an
// error makes the record bad: it goes to the bad-record policy
// (Config.OnBadRecord) with the topic, partition and offset, and moves no
// time. To keep records with broken timestamps instead, return the
// partition time (as Kafka Streams' UsePartitionTimeOnInvalidTimestamp).
// K and V must be the source's types; other operators ignore it. By
// default the event time is the record's timestamp, and a negative one is
// a bad record.
func TimestampExtractor[K, V any](f func(r Record[K, V], partitionTime int64) (int64, error)) Option {
	return func(o *options) { o.extract = f }
}

// Materialized names the store of an operator that keeps one (Count,
// Reduce, Aggregate and SourceTable), as Kafka Streams' Materialized.as
// does: the name App.Store and the test driver's Store take, the
// changelog topic "<app>-<store>-changelog", and, unless GroupBy or
// GroupByKey was named, the aggregation's repartition topic
// "<app>-<store>-repartition". Give the stores of a long-lived app names,
// so that their state and topics survive changes of the topology; the
// default is an automatic name such as
// KSTREAM-AGGREGATE-STATE-STORE-0000000002, whose number moves when
// operators are added before it. Other operators ignore it.
func Materialized(store string) Option { return func(o *options) { o.store = store } }

// name returns the name of a new node: given, or an automatic one made of
// prefix; either way it uses up a number, as Kafka Streams'
// NamedInternal.orElseGenerateWithPrefix does.
func (b *Builder) name(prefix, given string) string {
	auto := b.g.NewName(prefix)
	if given != "" {
		return given
	}
	return auto
}

// Header is a record header. Kafka allows several headers with one key.
type Header struct {
	Key   string
	Value []byte
}

// Record is a record inside a topology: key, value, event timestamp and
// headers. Headers are shared with the input record; copy the slice before
// changing it.
type Record[K, V any] struct {
	Key       K
	Value     V
	Timestamp int64 // milliseconds since the Unix epoch
	Headers   []Header

	// raw is the key's bytes as the source read them, while the key is
	// unchanged since (see Stream.rawKS).
	raw []byte
	// nokey marks a record read without a key (nil key bytes), while the
	// key is unchanged since.
	nokey bool
	// tomb marks a tombstone: a record without a value (see Tombstone).
	tomb bool
}

// Tombstone reports whether r is a tombstone: a record without a value,
// as Kafka Streams' null value. A source makes one from a record with a
// nil value, and Table.ToStream from a deleted row; r.Value is then the
// zero value (a nil pointer with serde.Nullable). Sinks write it with a
// nil value. How the other operators treat it depends on whether V can
// be nil:
//
//   - V a pointer or interface type (such as the *T of serde.Nullable):
//     nil is Kafka Streams' null, and operators do what Kafka Streams'
//     do with a null value. Filter, MapValues, FlatMapValues, Map and
//     FlatMap call their function with nil; a result whose value is nil
//     is a tombstone again.
//   - any other V (string, int64, a struct): the zero value would pass for
//     a real value, so Filter and FilterNot let the tombstone pass without
//     calling their function, and MapValues and FlatMapValues forward one
//     tombstone of the same key without calling theirs: deletes reach
//     sinks. Map and FlatMap call their function with the zero value and
//     forward what it returns as records with values.
//
// Either way SelectKey, Merge, Split and Peek keep the mark (their
// functions, and Foreach's, see the zero value); Count, Reduce and
// Aggregate skip it, count it and log it, as Kafka Streams skips null
// values; a Processor sees it through Tombstone, and Forward keeps it.
func (r Record[K, V]) Tombstone() bool { return r.tomb }

// nullCheck returns, when V can be nil (a pointer type, such as the *T
// that serde.Nullable reads, or an interface type), a function that
// reports whether a V is nil; for any other type it returns nil. It is
// called when a node is built, never per record.
func nullCheck[V any]() func(V) bool {
	switch reflect.TypeFor[V]().Kind() {
	case reflect.Pointer:
		var zero V
		return func(v V) bool { return any(v) == any(zero) }
	case reflect.Interface:
		return func(v V) bool { return any(v) == nil }
	}
	return nil
}

// sameValue reports whether a and b are the same serde value; serdes of
// types that cannot be compared are never the same.
func sameValue(a, b any) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// KeyValue is a key and a value, as returned by FlatMap functions.
type KeyValue[K, V any] struct {
	Key   K
	Value V
}

// KV returns a KeyValue.
func KV[K, V any](k K, v V) KeyValue[K, V] { return KeyValue[K, V]{Key: k, Value: v} }

// Header and kgo.RecordHeader have the same layout, so slices convert
// without copying.
var _ = [1]struct{}{}[unsafe.Sizeof(Header{})-unsafe.Sizeof(kgo.RecordHeader{})]

func fromKgoHeaders(h []kgo.RecordHeader) []Header { return *(*[]Header)(unsafe.Pointer(&h)) }

func toKgoHeaders(h []Header) []kgo.RecordHeader { return *(*[]kgo.RecordHeader)(unsafe.Pointer(&h)) }

// proc is a compiled processor: it handles one record for one task.
type proc[K, V any] func(t *topo.Task, r Record[K, V]) error

// fanout joins the processors of a node's children into one. It is called
// when a task is wired, never per record.
func fanout[K, V any](children []any) proc[K, V] {
	ps := make([]proc[K, V], len(children))
	for i, c := range children {
		ps[i] = c.(proc[K, V])
	}
	switch len(ps) {
	case 0:
		return func(*topo.Task, Record[K, V]) error { return nil }
	case 1:
		return ps[0]
	}
	return func(t *topo.Task, r Record[K, V]) error {
		for _, p := range ps {
			if err := p(t, r); err != nil {
				return err
			}
		}
		return nil
	}
}

// appender returns s as a serde.Appender, or nil when it is not one. Call
// it when a processor is built, not per record.
func appender[T any](s serde.Serde[T]) serde.Appender[T] {
	a, _ := s.(serde.Appender[T])
	return a
}

// cannotFail reports whether s is a built-in serde whose Deserialize never
// fails on non-nil bytes and has no effect besides its result (String,
// Bytes): a source may then skip decoding bytes that no processor reads
// without hiding a bad record. The comparison of interface values cannot
// panic: the built-ins' types are comparable, and values of other types
// compare unequal.
func cannotFail[T any](s serde.Serde[T]) bool {
	return any(s) == any(serde.String()) || any(s) == any(serde.Bytes())
}

// sameSerde returns s as a Serde[T] when the stream's type did not change,
// so an operation that keeps a type keeps its serde.
func sameSerde[T, S any](s serde.Serde[S]) serde.Serde[T] {
	if s == nil {
		return nil
	}
	t, _ := any(s).(serde.Serde[T])
	return t
}
