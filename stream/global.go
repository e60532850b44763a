package stream

import (
	"fmt"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Global is a global table, made by GlobalTable: a full copy of a topic,
// by key, on every instance of the app, as Kafka Streams' GlobalKTable.
// Streams join it with JoinGlobal and LeftJoinGlobal.
type Global[K, V any] struct {
	b   *Builder
	def *topo.GlobalDef
	ks  serde.Serde[K]
	vs  serde.Serde[V]
}

// StoreName returns the name of the global table's store, which App.Store
// and the test driver's Store read.
func (g Global[K, V]) StoreName() string { return g.def.Store }

// GlobalTable reads every partition of topic into a table that every
// instance of the app holds in full, as Kafka Streams' GlobalKTable: a
// record upserts its key, a nil value (tombstone) deletes it, a record
// without a key is skipped. Before the app processes its first record it
// loads the topic to its end (read_committed); then a consumer of its own
// (no consumer group, all partitions) keeps the copy up to date while the
// app runs. Updates reach the joins as they are read, with no ordering
// against the records of the stream being joined.
//
// The store has no changelog: the topic is its changelog, so give global
// tables compacted topics. It is reloaded from the topic's start at every
// start of the app (see Known gaps in docs/ARCHITECTURE.md). Because every
// instance reads the whole topic, a global table needs no co-partitioning:
// a stream of any partitioning can join it, by a key computed from each
// record.
//
// Materialized names the store (default "<topic>-STATE-STORE-<n>"),
// which App.Store reads; Named names the nodes as for SourceTable. A
// record whose key or value does not deserialize stops the app with an
// error naming its topic, partition and offset: a global table has no
// bad-record policy.
func GlobalTable[K, V any](b *Builder, topic string, ks serde.Serde[K], vs serde.Serde[V], opts ...Option) Global[K, V] {
	o := collect(opts)
	store := o.store
	if store == "" {
		store = b.g.NewStoreName(topic + "-")
	}
	src, proc := b.g.NewName("KSTREAM-SOURCE"), b.g.NewName("KTABLE-SOURCE")
	if o.name != "" {
		src, proc = o.name+"-source", o.name
	}
	if ks == nil || vs == nil {
		b.g.Errorf("global table %s (topic %s): a global table needs a key serde and a value serde", store, topic)
	}
	b.checkStoreName(store)
	def := &topo.GlobalDef{Topic: topic, Store: store, SourceName: src, ProcName: proc, Pos: len(b.g.Nodes),
		KeySerde: ks, ValueSerde: timestampedSerde[V]{vs}}
	def.Check = func(r *kgo.Record) error {
		if _, err := ks.Deserialize(r.Topic, r.Key); err != nil {
			return &topo.SerdeError{Op: "deserialize", Part: "key", Topic: r.Topic, Node: proc, Err: err}
		}
		if r.Value != nil {
			if _, err := vs.Deserialize(r.Topic, r.Value); err != nil {
				return &topo.SerdeError{Op: "deserialize", Part: "value", Topic: r.Topic, Node: proc, Err: err}
			}
		}
		return nil
	}
	b.g.Globals = append(b.g.Globals, def)
	return Global[K, V]{b: b, def: def, ks: ks, vs: vs}
}

// checkStoreName records a build error if a store is already called name.
func (b *Builder) checkStoreName(name string) {
	for _, s := range b.g.Stores {
		if s.Name == name {
			b.g.Errorf("two stores are named %q: store names must be unique", name)
		}
	}
	for _, g := range b.g.Globals {
		if g.Store == name {
			b.g.Errorf("two stores are named %q: store names must be unique", name)
		}
	}
}

// JoinGlobal joins each record of s with the row of the global table g
// whose key keyOf computes from the record, as Kafka Streams'
// KStream#join(GlobalKTable, KeyValueMapper, ValueJoiner): when g holds
// that key, joiner gets the record's value and the row's value, and the
// result is forwarded with the record's key, timestamp and headers; when
// it does not, nothing is forwarded. The lookup sees g as this instance
// holds it when the record is processed. A tombstone, or a record whose
// computed key serializes to nil (a nil pointer with serde.Nullable), is
// skipped, counted and logged (see App.DroppedRecords), as Kafka Streams
// skips a null value or a null mapped key. s needs no repartition.
//
// The Named option names the node (default KSTREAM-LEFTJOIN-<n>: Kafka
// Streams names inner global joins so too).
func (s Stream[K, V]) JoinGlobal[KG, VG, VR any](g Global[KG, VG], keyOf func(K, V) KG, joiner func(v V, gv VG) VR, opts ...Option) Stream[K, VR] {
	return streamGlobalJoin(s, g, keyOf, joiner, false, collect(opts))
}

// LeftJoinGlobal is JoinGlobal, except that a record whose computed key g
// does not hold is joined too, with the zero value of VG (nil for a
// pointer type such as the *T of serde.Nullable). A record without a key
// is joined (keyOf sees the zero key), as Kafka Streams' KIP-962. The
// Named option names the node (default KSTREAM-LEFTJOIN-<n>).
func (s Stream[K, V]) LeftJoinGlobal[KG, VG, VR any](g Global[KG, VG], keyOf func(K, V) KG, joiner func(v V, gv VG) VR, opts ...Option) Stream[K, VR] {
	return streamGlobalJoin(s, g, keyOf, joiner, true, collect(opts))
}

// globalCacheBytes bounds the read cache that each task's stream-global
// join keeps in front of the global store (a point read in Pebble costs
// microseconds); the cache is dropped when it grows past it and whenever
// the global table is updated.
const globalCacheBytes = 4 << 20

func streamGlobalJoin[K, V, KG, VG, VR any](s Stream[K, V], g Global[KG, VG], keyOf func(K, V) KG, joiner func(V, VG) VR, left bool, o options) Stream[K, VR] {
	b := s.b
	// Kafka Streams names both kinds KSTREAM-LEFTJOIN (KStreamImpl#globalTableJoin).
	name := b.name("KSTREAM-LEFTJOIN", o.name)
	n := b.g.AddNamed(topo.KindProcessor, name, s.n)
	def := g.def
	ks, vs := g.ks, g.vs
	n.Build = func(tk *topo.Task, children []any) (any, error) {
		data := def.Data()
		if data == nil {
			return nil, fmt.Errorf("global table %s (topic %s) is not loaded", def.Store, def.Topic)
		}
		next := fanout[K, VR](children)
		isNull := nullCheck[VR]()
		type entry struct {
			v  VG
			ok bool
		}
		cache := map[string]entry{}
		var gen uint64
		var cached int // about the bytes the cache holds
		return proc[K, V](func(tk *topo.Task, r Record[K, V]) error {
			if r.tomb {
				tk.Drop(name, topo.DropNullValue)
				return nil
			}
			var gv VG
			kb, err := ks.Serialize(def.Store, keyOf(r.Key, r.Value))
			if err != nil {
				return &topo.SerdeError{Op: "serialize", Part: "key", Topic: def.Store, Node: name, Err: err}
			}
			if kb == nil && !(left && r.nokey) {
				tk.Drop(name, topo.DropNullKey)
				return nil
			}
			if kb != nil {
				// The task's read cache is dropped whenever the global
				// consumer made new writes visible.
				if g := def.Generation(); g != gen {
					clear(cache)
					gen, cached = g, 0
				}
				e, hit := cache[string(kb)]
				if !hit {
					vb, ok, err := data.Get(kb)
					if err != nil {
						return storeErr(def.Store, err)
					}
					if ok {
						_, raw, err := state.SplitTimestamped(vb)
						if err != nil {
							return storeErr(def.Store, err)
						}
						if e.v, err = vs.Deserialize(def.Topic, raw); err != nil {
							return storeErr(def.Store, err)
						}
					}
					e.ok = ok
					if cached += len(kb) + len(vb) + 64; cached > globalCacheBytes {
						clear(cache)
						cached = len(kb) + len(vb) + 64
					}
					cache[string(kb)] = e
				}
				if !e.ok && !left {
					return nil
				}
				gv = e.v
			}
			v := joiner(r.Value, gv)
			return next(tk, Record[K, VR]{Key: r.Key, Value: v, Timestamp: r.Timestamp, Headers: r.Headers, raw: r.raw, nokey: r.nokey,
				tomb: isNull != nil && isNull(v)})
		}), nil
	}
	return Stream[K, VR]{b: b, n: n, ks: s.ks, vs: sameSerde[VR](s.vs), rekeyed: s.rekeyed, rawKS: s.rawKS}
}
