package stream

import (
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
)

// A Processor handles the records of one task, as a Processor of Kafka
// Streams' Processor API: it can keep state in stores, forward any number of
// records (to all its children or to one by name) and schedule
// punctuators. The DSL's operators are built on the same nodes.
//
// Each task (one partition of the sub-topology) gets its own Processor from
// the supplier given to Stream.Process, and uses it from one goroutine at a
// time: a Processor needs no locks for its own fields.
//
// Init is called once per task, after the task's stores are restored and
// before its first record or punctuation; it typically opens stores and
// schedules punctuators. Process is called for each record, in offset order
// per input partition. Close is called when the task is closed (its
// partition is revoked, or the App or test driver stops); it must not
// forward records.
//
// An error returned by Process, or a panic, makes the record a bad record
// handled by Config.OnBadRecord (fail, skip or dead-letter); errors of the
// stores themselves (not of their serdes) are fatal whatever the policy.
// An error from Init is fatal.
type Processor[KIn, VIn, KOut, VOut any] interface {
	Init(ctx *ProcessorContext[KOut, VOut]) error
	Process(ctx *ProcessorContext[KOut, VOut], r Record[KIn, VIn]) error
	Close() error
}

// ProcessorFunc is a Processor made of a function, for processors with no
// setup: its Init and Close do nothing.
type ProcessorFunc[KIn, VIn, KOut, VOut any] func(ctx *ProcessorContext[KOut, VOut], r Record[KIn, VIn]) error

// Init does nothing.
func (ProcessorFunc[KIn, VIn, KOut, VOut]) Init(*ProcessorContext[KOut, VOut]) error { return nil }

// Process calls f.
func (f ProcessorFunc[KIn, VIn, KOut, VOut]) Process(ctx *ProcessorContext[KOut, VOut], r Record[KIn, VIn]) error {
	return f(ctx, r)
}

// Close does nothing.
func (ProcessorFunc[KIn, VIn, KOut, VOut]) Close() error { return nil }

// ProcessOption changes a Process operator: Named, or WithStores.
type ProcessOption interface{ applyProcess(*processOptions) }

type processOptions struct {
	options
	stores []StoreSpec
}

func (o Option) applyProcess(p *processOptions) { o(&p.options) }

type storesOption []StoreSpec

func (s storesOption) applyProcess(p *processOptions) { p.stores = append(p.stores, s...) }

// WithStores connects stores to a processor: they are created for each of
// its tasks, backed by changelog topics "<app>-<store>-changelog" and
// restored like the stores of DSL operators, and reachable from its
// ProcessorContext (see ProcessorContext.KeyValueStore). The same spec may
// be connected to several processors; they then share the store, and are
// placed in one sub-topology (their inputs must be co-partitioned).
func WithStores(specs ...StoreSpec) ProcessOption { return storesOption(specs) }

// StoreSpec describes a store that processors can use. KeyValueStore makes
// one; window and session store specs will follow. A spec registers
// nothing by itself: pass it to WithStores.
type StoreSpec interface {
	// StoreName returns the store's name.
	StoreName() string
	connect(b *Builder, n *topo.Node)
}

// KeyValueStoreSpec describes a key-value store; make one with
// KeyValueStore.
type KeyValueStoreSpec[K, V any] struct {
	name string
	ks   serde.Serde[K]
	vs   serde.Serde[V]
}

// KeyValueStore describes a key-value store named name whose keys and
// values are serialized with ks and vs, in the store and in its changelog.
// The name must be unique among the topology's stores; it names the
// changelog topic, "<app>-<name>-changelog", and the store for queries
// (App.Store). Iteration order is the order of the serialized keys.
func KeyValueStore[K, V any](name string, ks serde.Serde[K], vs serde.Serde[V]) *KeyValueStoreSpec[K, V] {
	return &KeyValueStoreSpec[K, V]{name: name, ks: ks, vs: vs}
}

// StoreName returns the store's name.
func (s *KeyValueStoreSpec[K, V]) StoreName() string { return s.name }

func (s *KeyValueStoreSpec[K, V]) connect(b *Builder, n *topo.Node) {
	if s.name == "" {
		b.g.Errorf("processor %s: a store needs a name", n.Name)
		return
	}
	if s.ks == nil || s.vs == nil {
		b.g.Errorf("processor %s: store %q needs a key serde and a value serde", n.Name, s.name)
	}
	for _, d := range b.g.Stores {
		if d.Name == s.name && d.Owner == any(s) {
			n.Stores = append(n.Stores, s.name)
			return
		}
	}
	b.addStore(n, s.name, s.ks, s.vs, false)
	b.g.Stores[len(b.g.Stores)-1].Owner = s
}

// Process runs a processor made by supplier on every record of s, and
// returns the stream of the records it forwards. supplier is called once
// per task. Stores passed with WithStores are connected to the processor;
// Named names its node (default KSTREAM-PROCESSOR-<n>).
//
// The processor may forward records with any key, so grouping the result
// by key repartitions it first, as after Map. The result keeps s's serdes
// where the types did not change; set others with WithSerdes.
func (s Stream[K, V]) Process[KOut, VOut any](supplier func() Processor[K, V, KOut, VOut], opts ...ProcessOption) Stream[KOut, VOut] {
	var o processOptions
	for _, opt := range opts {
		opt.applyProcess(&o)
	}
	n := s.add("KSTREAM-PROCESSOR", o.options)
	s.b.g.UserProcessors = true
	if supplier == nil {
		s.b.g.Errorf("processor %s: the processor supplier is nil", n.Name)
	}
	var stores []string
	for _, sp := range o.stores {
		sp.connect(s.b, n)
		stores = append(stores, sp.StoreName())
	}
	name := n.Name
	n.Build = func(t *topo.Task, children []any) (any, error) {
		ctx := &ProcessorContext[KOut, VOut]{t: t, name: name, next: fanout[KOut, VOut](children),
			named: make(map[string]proc[KOut, VOut], len(children)), stores: stores}
		for i, c := range n.Children {
			ctx.named[c.Name] = children[i].(proc[KOut, VOut])
			ctx.children = append(ctx.children, c.Name)
		}
		p := supplier()
		if p == nil {
			return nil, fmt.Errorf("processor %s: the supplier returned a nil Processor", name)
		}
		t.OnInit(func() error {
			if err := p.Init(ctx); err != nil {
				return fmt.Errorf("processor %s: %w", name, err)
			}
			return nil
		})
		t.OnClose(func() error {
			if err := p.Close(); err != nil {
				return fmt.Errorf("processor %s: %w", name, err)
			}
			return nil
		})
		return proc[K, V](func(_ *topo.Task, r Record[K, V]) error { return p.Process(ctx, r) }), nil
	}
	return Stream[KOut, VOut]{b: s.b, n: n, ks: sameSerde[KOut](s.ks), vs: sameSerde[VOut](s.vs), rekeyed: true}
}

// TaskID names a task: its sub-topology and partition, printed "1_3" as in
// Kafka Streams.
type TaskID = topo.TaskID

// PunctuationType says which clock drives a punctuator: StreamTime or
// WallClock.
type PunctuationType int

const (
	// StreamTime punctuators follow the task's stream time, the largest
	// record timestamp the task has seen. They are aligned to multiples of
	// the interval since the epoch: a punctuator fires after the first record
	// the task processes once it is scheduled, then each time stream time
	// reaches the next multiple of the interval. They are checked after each
	// record, so they do not fire while no records come.
	StreamTime PunctuationType = iota
	// WallClock punctuators follow the system clock (the test driver's clock
	// under streamtest): the first fires one interval after it is scheduled,
	// then one every interval, whether or not records come. The App checks
	// them between records; expect a delay of up to Config.CommitInterval.
	WallClock
)

// String returns the name of the value, as written in Go.
func (p PunctuationType) String() string { return topo.PunctuationType(p).String() }

// ProcessorContext is what a Processor sees of its task: the metadata of
// the record being processed, its stores, its children to forward to, and
// its clocks and punctuators. Each task has its own context; it is valid
// from Init to Close and must not be used from other goroutines.
type ProcessorContext[K, V any] struct {
	t        *topo.Task
	name     string
	next     proc[K, V]
	named    map[string]proc[K, V]
	children []string
	stores   []string
	kvs      map[string]any
}

// Forward sends r to every child of the processor, in the order they were
// added, and returns the first error of a child (a serialization error in a
// sink, an error of a downstream processor). It may be called any number of
// times per record, and from punctuators. r.Headers are handed over as is:
// to add a header to the input's, copy them first (slices.Clone).
func (c *ProcessorContext[K, V]) Forward(r Record[K, V]) error {
	r.raw, r.nokey = nil, false // the processor may have changed the key
	return c.next(c.t, r)
}

// ForwardTo sends r to the child named child only: the name given with
// Named to the operator that follows the processor (or its automatic name,
// see Children). It fails if the processor has no such child.
func (c *ProcessorContext[K, V]) ForwardTo(child string, r Record[K, V]) error {
	p, ok := c.named[child]
	if !ok {
		return fmt.Errorf("processor %s: no child named %q; its children are [%s] (name them with stream.Named)", c.name, child, strings.Join(c.children, ", "))
	}
	r.raw, r.nokey = nil, false
	return p(c.t, r)
}

// Children returns the names of the processor's children, in order. The
// caller may modify the slice.
func (c *ProcessorContext[K, V]) Children() []string { return append([]string(nil), c.children...) }

// Name returns the name of the processor's node.
func (c *ProcessorContext[K, V]) Name() string { return c.name }

// TaskID returns the id of the task the processor runs in.
func (c *ProcessorContext[K, V]) TaskID() TaskID { return c.t.ID }

// Topic returns the topic of the input record being processed (for a
// repartition topic its full name, "<app>-<name>-repartition"), or "" in
// Init and punctuators.
func (c *ProcessorContext[K, V]) Topic() string {
	if c.t.Rec == nil {
		return ""
	}
	return c.t.Rec.Topic
}

// Partition returns the partition of the input record being processed,
// which is also the task's partition; -1 in Init and punctuators.
func (c *ProcessorContext[K, V]) Partition() int32 {
	if c.t.Rec == nil {
		return -1
	}
	return c.t.Rec.Partition
}

// Offset returns the offset of the input record being processed, or -1 in
// Init and punctuators.
func (c *ProcessorContext[K, V]) Offset() int64 {
	if c.t.Rec == nil {
		return -1
	}
	return c.t.Rec.Offset
}

// Timestamp returns the timestamp of the input record being processed, in
// milliseconds since the epoch; in a punctuator, the punctuation's time;
// -1 in Init. An upstream operator does not change it: Record.Timestamp is
// the timestamp the processor forwards by default.
func (c *ProcessorContext[K, V]) Timestamp() int64 { return c.t.Timestamp() }

// Headers returns the headers of the input record being processed (nil in
// Init and punctuators). They must not be modified; copy them to change
// them.
func (c *ProcessorContext[K, V]) Headers() []Header {
	if c.t.Rec == nil {
		return nil
	}
	return fromKgoHeaders(c.t.Rec.Headers)
}

// StreamTime returns the task's stream time: the largest record timestamp
// it has seen, in milliseconds; -1 before its first record.
func (c *ProcessorContext[K, V]) StreamTime() int64 { return c.t.StreamTime }

// WallClockTime returns the current wall-clock time in milliseconds: the
// system clock under an App, the driver's clock under streamtest. Use it
// rather than time.Now, so that tests control it.
func (c *ProcessorContext[K, V]) WallClockTime() int64 { return c.t.Clock().UnixMilli() }

// Schedule calls fn every interval of the clock typ (StreamTime or
// WallClock), with the clock's time in milliseconds, until cancel is
// called; cancel may be called from inside fn. fn runs on the task's
// goroutine between records, so it may use the processor's stores and
// Forward; the records it forwards carry the timestamp fn gives them.
//
// When the clock jumps over several intervals fn is called once, as in
// Kafka Streams. An interval under a millisecond counts as one millisecond.
// An error returned by fn, or a panic, stops the App with a
// *PunctuationError (see there why no bad-record policy applies).
func (c *ProcessorContext[K, V]) Schedule(interval time.Duration, typ PunctuationType, fn func(now int64) error) (cancel func()) {
	return c.t.Schedule(topo.PunctuationType(typ), interval, c.name, fn)
}

// KeyValueStore returns the key-value store of spec for this task. The
// spec must have been connected to the processor with WithStores. The
// store's writes go to a write-back cache that is flushed to the changelog
// and committed with the task's input offsets; reads see the processor's
// own writes at once. Errors of the store itself (not of its serdes) are
// fatal whatever the bad-record policy, also when the processor returns
// them wrapped.
func (c *ProcessorContext[K, V]) KeyValueStore[SK, SV any](spec *KeyValueStoreSpec[SK, SV]) (state.KeyValue[SK, SV], error) {
	if kv, ok := c.kvs[spec.name]; ok {
		if kv, ok := kv.(state.KeyValue[SK, SV]); ok {
			return kv, nil
		}
	}
	connected := false
	for _, s := range c.stores {
		connected = connected || s == spec.name
	}
	if !connected {
		return nil, fmt.Errorf("processor %s: store %q is not connected to it: pass its spec with stream.WithStores", c.name, spec.name)
	}
	st, err := c.t.Store(spec.name)
	if err != nil {
		return nil, &topo.FatalError{Err: err}
	}
	kv := state.NewKeyValue(fatalStore{st}, spec.ks, spec.vs, spec.name)
	if c.kvs == nil {
		c.kvs = map[string]any{}
	}
	c.kvs[spec.name] = kv
	return kv, nil
}

// fatalStore marks the errors of a task's store as fatal, so that a
// processor that returns them does not get them skipped as bad records.
type fatalStore struct{ s *state.CachedStore }

func (f fatalStore) fatal(err error) error {
	if err == nil {
		return nil
	}
	return storeErr(f.s.Name(), err)
}

func (f fatalStore) Name() string { return f.s.Name() }
func (f fatalStore) Get(key []byte) ([]byte, bool, error) {
	v, ok, err := f.s.Get(key)
	return v, ok, f.fatal(err)
}
func (f fatalStore) Range(from, to []byte) iter.Seq2[[]byte, []byte] { return f.s.Range(from, to) }
func (f fatalStore) All() iter.Seq2[[]byte, []byte]                  { return f.s.All() }
func (f fatalStore) ApproximateCount() int64                         { return f.s.ApproximateCount() }
func (f fatalStore) Err() error                                      { return f.fatal(f.s.Err()) }
func (f fatalStore) Put(key, value []byte) error                     { return f.fatal(f.s.Put(key, value)) }
func (f fatalStore) Delete(key []byte) error                         { return f.fatal(f.s.Delete(key)) }
