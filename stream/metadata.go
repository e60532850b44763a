package stream

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Queries across instances.
//
// A store is split over the App's instances by partition: each instance
// holds the tasks the group assigned it. To serve a query for any key from
// any instance, give each instance an endpoint it serves queries on
// (Config.ApplicationServer, Kafka Streams' application.server); the
// instances advertise it in the consumer group, and after each rebalance
// every instance knows which endpoint holds which partitions. Then, for a
// key, App.KeyOwner says whether this instance holds it (read it with
// App.Store) or which endpoint to ask; App.StoreOwners lists the instances
// that hold any part of a store (to gather a range or a whole store).
// brook sends nothing between instances itself: the service forwards or
// redirects the query over its own protocol (see examples/query-service).

// ErrOwnerUnknown is returned by KeyOwner and StoreOwners when this
// instance does not know the instance that holds a key or a store: before
// its first rebalance has ended, after Run returned, or when the owner
// advertises no endpoint (Config.ApplicationServer). It is Kafka Streams'
// KeyQueryMetadata.NOT_AVAILABLE. Retry after a moment.
var ErrOwnerUnknown = errors.New("brook: the instance that holds the key is not known")

// HostInfo is the endpoint of an instance of the App, as it advertises it
// in Config.ApplicationServer: Kafka Streams' HostInfo. The zero HostInfo
// stands for an instance that advertises no endpoint.
type HostInfo struct {
	Host string
	Port int
}

// String returns the endpoint as host:port (IPv6 hosts in brackets), or ""
// for the zero HostInfo.
func (h HostInfo) String() string {
	if h == (HostInfo{}) {
		return ""
	}
	return net.JoinHostPort(h.Host, strconv.Itoa(h.Port))
}

// parseHostInfo parses a host:port that Config validation or a member's
// metadata gave; ok is false when it is not one.
func parseHostInfo(s string) (HostInfo, bool) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return HostInfo{}, false
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return HostInfo{}, false
	}
	return HostInfo{Host: host, Port: n}, true
}

// KeyQueryMetadata says which instance holds a key of a store: Kafka
// Streams' KeyQueryMetadata, from App.KeyOwner.
type KeyQueryMetadata struct {
	// Active is the endpoint of the instance whose task holds the key's
	// partition; this instance's own endpoint (zero if it advertises none)
	// when Local is set.
	Active HostInfo
	// Partition is the key's partition: the task "<sub-topology>_<partition>"
	// that holds it. -1 for the store of a global table, which every
	// instance holds in full.
	Partition int32
	// Local is set when this instance holds the key's partition: read the
	// key with App.Store (it may still be restoring: Get then returns a
	// *NotLocalError; retry after a moment).
	Local bool
}

// StreamsMetadata describes an instance of the App: Kafka Streams'
// StreamsMetadata, from App.StoreOwners and App.AllMetadata.
type StreamsMetadata struct {
	// Host is the instance's endpoint; zero for this instance when it
	// advertises none.
	Host HostInfo
	// Stores are the stores the instance holds a part of, sorted; global
	// stores included.
	Stores []string
	// Tasks are the tasks it runs ("0_3"), sorted.
	Tasks []string
	// TopicPartitions are the partitions of the tasks' source topics
	// (repartition topics included), sorted.
	TopicPartitions []TopicPartition
	// Local is set for this instance.
	Local bool
}

// TopicPartition is a partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String returns "topic-partition", as Kafka prints a TopicPartition.
func (tp TopicPartition) String() string { return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)) }

// KeyOwner says which instance holds key in the store called name: its
// partition is the one Kafka's default partitioner (murmur2) gives the key
// serialized with the store's key serde, over the partition count of the
// store's source topics, as the App's repartition topics and sinks
// partition records. It is Kafka Streams' queryMetadataForKey. This holds
// for every DSL store (window and session stores included: pass the plain
// key) and for a Processor API store keyed by the record key; a source
// topic written with another partitioner places its keys elsewhere.
//
// It fails with ErrUnknownStore if the topology has no store called name
// or its keys are not K, and with ErrOwnerUnknown (wrapped, with the
// partition in the message and in the returned metadata) when the owner is
// not known: see ErrOwnerUnknown. What it returns reflects the last
// rebalance; a query sent to an owner that lost the key since gets a
// *NotLocalError from StoreView.Get there.
//
//	md, err := app.KeyOwner[string]("word-counts", "fox")
//	if err == nil && !md.Local {
//		// ask http://md.Active/count/fox
//	}
func (a *App) KeyOwner[K any](name string, key K) (KeyQueryMetadata, error) {
	self, _ := parseHostInfo(a.cfg.ApplicationServer)
	ks, global, err := storeKeySerde[K](a, name)
	if err != nil {
		return KeyQueryMetadata{}, err
	}
	p := a.eng.Placement()
	if p == nil {
		return KeyQueryMetadata{Partition: -1}, fmt.Errorf("%w: the App is not running, or its first rebalance has not ended", ErrOwnerUnknown)
	}
	if global {
		return KeyQueryMetadata{Active: self, Partition: -1, Local: true}, nil
	}
	kb, err := ks.Serialize(name, key)
	if err != nil {
		return KeyQueryMetadata{Partition: -1}, fmt.Errorf("brook: store %q: serializing the key: %w", name, err)
	}
	if kb == nil {
		return KeyQueryMetadata{Partition: -1}, fmt.Errorf("brook: store %q: the key serializes to null, which has no partition", name)
	}
	sub, _ := a.eng.StoreSubtopology(name)
	n := p.Tasks[sub]
	if n <= 0 {
		return KeyQueryMetadata{Partition: -1}, fmt.Errorf("%w: the group leader sent no task placement (a leader of an older version?)", ErrOwnerUnknown)
	}
	part := int32(keyPartitioner.Partition(&kgo.Record{Key: kb}, int(n)))
	id := topo.TaskID{Subtopology: sub, Partition: part}
	if p.Local[id] {
		return KeyQueryMetadata{Active: self, Partition: part, Local: true}, nil
	}
	if h, ok := p.Owner(id); ok {
		if hi, ok := parseHostInfo(h); ok {
			return KeyQueryMetadata{Active: hi, Partition: part}, nil
		}
	}
	return KeyQueryMetadata{Partition: part}, fmt.Errorf("%w: store %q, partition %d (task %s): no instance that advertises an endpoint holds it (the group is rebalancing, or its owner has no Config.ApplicationServer)", ErrOwnerUnknown, name, part, id)
}

// keyPartitioner hashes keys as Kafka's default partitioner (murmur2).
var keyPartitioner = kgo.StickyKeyPartitioner(nil).ForTopic("")

// StoreOwners lists the instances that hold any part of the store called
// name, sorted by endpoint, with the parts they hold: Kafka Streams'
// streamsMetadataForStore. Every instance holds the store of a global
// table. Instances that advertise no endpoint are not listed, except this
// one (Local set). It fails with ErrUnknownStore if the topology has no
// store called name, and with ErrOwnerUnknown before the first rebalance
// ends and after Run returned.
func (a *App) StoreOwners(name string) ([]StreamsMetadata, error) {
	if !a.hasStore(name) {
		return nil, fmt.Errorf("%w: %q; the topology's stores are named by stream.Materialized on their operators, or automatically (see Builder.Describe)", ErrUnknownStore, name)
	}
	all, err := a.AllMetadata()
	if err != nil {
		return nil, err
	}
	var out []StreamsMetadata
	for _, m := range all {
		if slices.Contains(m.Stores, name) {
			out = append(out, m)
		}
	}
	return out, nil
}

// AllMetadata describes every instance of the App that advertises an
// endpoint, and this one, as this instance learnt at the last rebalance,
// sorted by endpoint: Kafka Streams' metadataForAllStreamsClients. It
// fails with ErrOwnerUnknown before the first rebalance ends and after Run
// returned.
func (a *App) AllMetadata() ([]StreamsMetadata, error) {
	p := a.eng.Placement()
	if p == nil {
		return nil, fmt.Errorf("%w: the App is not running, or its first rebalance has not ended", ErrOwnerUnknown)
	}
	self := a.cfg.ApplicationServer
	hosts := map[string][]topo.TaskID{}
	for h, ts := range p.Hosts {
		hosts[h] = ts
	}
	// This instance, as it knows itself: its own assignment.
	hosts[self] = slices.SortedFunc(maps.Keys(p.Local), func(x, y topo.TaskID) int {
		return cmp.Or(cmp.Compare(x.Subtopology, y.Subtopology), cmp.Compare(x.Partition, y.Partition))
	})
	var globals []string
	for _, d := range a.b.g.Globals {
		globals = append(globals, d.Store)
	}
	subs := map[int]*topo.Subtopology{}
	for _, s := range a.eng.Subtopologies() {
		subs[s.ID] = s
	}
	out := make([]StreamsMetadata, 0, len(hosts))
	for _, h := range slices.Sorted(maps.Keys(hosts)) {
		hi, _ := parseHostInfo(h)
		m := StreamsMetadata{Host: hi, Local: h == self}
		stores := map[string]bool{}
		for _, g := range globals {
			stores[g] = true
		}
		for _, id := range hosts[h] {
			m.Tasks = append(m.Tasks, id.String())
			s := subs[id.Subtopology]
			if s == nil {
				continue
			}
			for _, st := range s.Stores {
				stores[st] = true
			}
			for _, t := range s.Topics {
				m.TopicPartitions = append(m.TopicPartitions, TopicPartition{Topic: t, Partition: id.Partition})
			}
		}
		m.Stores = slices.Sorted(maps.Keys(stores))
		slices.SortFunc(m.TopicPartitions, func(x, y TopicPartition) int {
			return cmp.Or(cmp.Compare(x.Topic, y.Topic), cmp.Compare(x.Partition, y.Partition))
		})
		out = append(out, m)
	}
	return out, nil
}

// hasStore reports whether the topology has a store (global or not)
// called name.
func (a *App) hasStore(name string) bool {
	for _, d := range a.b.g.Stores {
		if d.Name == name {
			return true
		}
	}
	for _, d := range a.b.g.Globals {
		if d.Store == name {
			return true
		}
	}
	return false
}

// storeKeySerde returns the key serde of the store called name, and
// whether it is the store of a global table.
func storeKeySerde[K any](a *App, name string) (serde.Serde[K], bool, error) {
	for _, d := range a.b.g.Stores {
		if d.Name == name {
			ks, ok := d.KeySerde.(serde.Serde[K])
			if !ok {
				return nil, false, fmt.Errorf("%w: store %q has other keys than %T", ErrUnknownStore, name, *new(K))
			}
			return ks, false, nil
		}
	}
	for _, d := range a.b.g.Globals {
		if d.Store == name {
			ks, ok := d.KeySerde.(serde.Serde[K])
			if !ok {
				return nil, false, fmt.Errorf("%w: store %q has other keys than %T", ErrUnknownStore, name, *new(K))
			}
			return ks, true, nil
		}
	}
	return nil, false, fmt.Errorf("%w: %q; the topology's stores are named by stream.Materialized on their operators, or automatically (see Builder.Describe)", ErrUnknownStore, name)
}

// ownerOf returns the endpoint that holds partition part of the store
// called name at the last rebalance, or the zero HostInfo when unknown.
func (a *App) ownerOf(name string, part int32) HostInfo {
	p := a.eng.Placement()
	sub, ok := a.eng.StoreSubtopology(name)
	if p == nil || !ok || part < 0 {
		return HostInfo{}
	}
	id := topo.TaskID{Subtopology: sub, Partition: part}
	if p.Local[id] {
		hi, _ := parseHostInfo(a.cfg.ApplicationServer)
		return hi
	}
	h, _ := p.Owner(id)
	hi, _ := parseHostInfo(h)
	return hi
}
