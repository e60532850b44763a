package topo

import (
	"fmt"
	"sync/atomic"

	"github.com/brookstream/brook/state"
	"github.com/twmb/franz-go/pkg/kgo"
)

// GlobalDef is a global table: every instance reads all partitions of
// its topic into a store of its own, outside any task, and the tasks read
// that store. It has no changelog: the topic is its changelog, as in
// Kafka Streams.
type GlobalDef struct {
	Topic string
	Store string
	// SourceName and ProcName are the names of its two nodes in Describe
	// (Kafka Streams' KSTREAM-SOURCE-<n> and KTABLE-SOURCE-<n+1>).
	SourceName, ProcName string
	// Pos is the number of nodes the graph had when the global table was
	// added: where Describe places it among the sub-topologies.
	Pos int
	// KeySerde and ValueSerde are the store's serde.Serde values, for
	// typed queries; ValueSerde reads a timestamped value.
	KeySerde, ValueSerde any
	// Check deserializes a record's key and value, so that a record that
	// the joins could not read fails the load with its coordinates.
	Check func(r *kgo.Record) error

	// data is the store, set by the runtime (or the test driver) once
	// loaded, before any task is built; safe for concurrent reads.
	data atomic.Pointer[state.ReadOnlyStore]
	// Skipped counts records skipped for having no key.
	Skipped atomic.Int64

	gen atomic.Uint64
}

// Updated marks that writes were made visible in the store: readers that
// cache what they read drop their caches (see Generation).
func (d *GlobalDef) Updated() { d.gen.Add(1) }

// Generation counts the batches of writes made visible in the store.
func (d *GlobalDef) Generation() uint64 { return d.gen.Load() }

// SetData sets the store that holds the global table, once it is loaded.
func (d *GlobalDef) SetData(s state.ReadOnlyStore) { d.data.Store(&s) }

// Data returns the store that holds the global table, or nil before it is
// loaded.
func (d *GlobalDef) Data() state.ReadOnlyStore {
	if p := d.data.Load(); p != nil {
		return *p
	}
	return nil
}

// Apply writes one record of the global topic through w: its value, with
// the record's timestamp in front (the store is timestamped), or a delete
// for a nil value. A record without a key is skipped and counted, as Kafka
// Streams' global table source skips it. A record that does not
// deserialize is a *RecordError naming its topic, partition and offset.
func (d *GlobalDef) Apply(w state.Restorer, r *kgo.Record, buf []byte) ([]byte, error) {
	if r.Key == nil {
		d.Skipped.Add(1)
		return buf, nil
	}
	if err := d.Check(r); err != nil {
		return buf, &RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Task: "global",
			Err: fmt.Errorf("global table %s (a global table has no bad-record policy: the record stops the load): %w", d.Store, err)}
	}
	if r.Value == nil {
		return buf, w.Apply(r.Key, nil, r.Offset)
	}
	buf = state.AppendTimestamped(buf[:0], r.Timestamp.UnixMilli(), r.Value)
	return buf, w.Apply(r.Key, buf, r.Offset)
}
