package stream

import (
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
	name string
}

func collect(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Named sets the name of the node an operator adds, in place of the
// automatic one (such as KSTREAM-FILTER-0000000002). Names must be unique in
// a topology. Stateful operators and internal topics take their names from
// it, so naming them keeps their state across changes of the topology.
func Named(name string) Option { return func(o *options) { o.name = name } }

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

// sameSerde returns s as a Serde[T] when the stream's type did not change,
// so an operation that keeps a type keeps its serde.
func sameSerde[T, S any](s serde.Serde[S]) serde.Serde[T] {
	if s == nil {
		return nil
	}
	t, _ := any(s).(serde.Serde[T])
	return t
}
