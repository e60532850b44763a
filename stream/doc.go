// Package stream is brook's public API: a typed DSL that builds a topology of
// Kafka topics, the Processor API underneath it, and App, which runs a
// topology as one member of a Kafka consumer group.
//
// # Building a topology
//
// A Builder collects the topology. Source (or SourceTopics, SourceTable)
// reads topics with the serdes you give it; operators on the resulting
// Stream, Table, Grouped and GroupedTable values add nodes. These are
// concrete generic structs: an operator that changes a type (Map, MapValues,
// Aggregate, Process) is a generic method, checked by the compiler.
//
//	b := stream.NewBuilder()
//	stream.Source(b, "text-lines", serde.String(), serde.String()).
//		FlatMapValues(strings.Fields).
//		GroupBy(func(_, word string) string { return word }, serde.String()).
//		Count(stream.Materialized("word-counts")).
//		ToStream().
//		To("word-counts", nil, nil) // nil: the table's serdes
//
// Serdes are asked for only where bytes are made: sources, sinks,
// repartition topics and stores. A stream keeps the serdes it was read
// with while its types stay the same; after a type change, give them to To,
// or set them with Stream.WithSerdes before an operator that needs them.
// Mistakes (a missing serde, a name used twice) are collected by the
// builder and returned together by New or Builder.Build as a *BuildError.
//
// # Names
//
// Every node has a name. Without the Named option it gets an automatic one
// numbered as Kafka Streams numbers it, such as KSTREAM-MAP-0000000003, so
// that Builder.Describe prints what Kafka Streams' Topology#describe()
// prints for the same topology. Named names a node (Kafka Streams' Named);
// Materialized names a store (Materialized.as), and with it the store's
// changelog topic "<AppID>-<store>-changelog" and, when the aggregation
// repartitions, the repartition topic "<AppID>-<store>-repartition", unless
// GroupBy or GroupByKey was named (Grouped.as), which names that topic.
// Name the stores: an automatic name shifts when the topology changes, and
// the state kept under it is then not found. Builder.Describe prints the
// topology as Kafka Streams' Topology#describe() does; DescribeDOT and
// DescribeMermaid draw it. Before New, internal topics show without the
// "<AppID>-" prefix; New adds it.
//
// # Repartitioning and tables
//
// GroupBy always writes the stream to a repartition topic so that each key
// meets in one task. GroupByKey does so only when an operator may have
// changed the key since the source (Map, FlatMap, SelectKey, Process).
//
// A Table is a changelog read as the latest value per key. Tables made by
// SourceTable and by aggregations are materialized in stores; a nil value
// read by SourceTable deletes its key. A table forwards every update
// downstream as it happens, as Kafka Streams does with its record cache
// off; the store's write-back cache still turns repeated updates of a key
// within a commit interval into one store write and one changelog record.
// Table.ToStream forwards inserts and updates, and deletes as tombstones,
// which To writes with a nil value; Table.To is ToStream().To. Table.GroupBy
// then Count, Reduce or Aggregate keeps an aggregate per group with an adder
// and a subtractor; a row that changes within its group gives one update
// (Kafka Streams' KIP-904). Aggregates are stored with a timestamp: the
// largest of the timestamps of the records that made them, which their
// updates carry.
//
// # Null keys and values
//
// As in Kafka Streams: a record with a nil key gets the zero value of K
// (the key serde is not called) and is dropped by aggregations, before
// repartition topics and by SourceTable. A record with a nil value is a
// tombstone (Record.Tombstone) with the zero value of V (a nil pointer with
// serde.Nullable; the value serde is not called): stream aggregations drop
// it, sinks write it as a tombstone. Dropped records are counted per task
// (App.DroppedRecords) and logged at Warn, at most one summary every few
// seconds.
//
// # The Processor API
//
// Stream.Process runs a user Processor on every record, with a
// ProcessorContext that forwards records, reaches the stores connected
// with WithStores (see KeyValueStore), exposes the input record's topic,
// partition, offset, timestamp and headers, and schedules punctuators on
// stream time or wall-clock time. The DSL's operators compile to the same
// nodes.
//
// # Running
//
// New checks the topology and a Config and returns an App; Run joins the
// consumer group Config.AppID and processes until its context is cancelled
// or Close is called, then makes a final commit. Start more Apps with the
// same AppID, in other processes or in this one with another StateDir, to
// spread the tasks (one per sub-topology and partition) over them. The
// default guarantee is ExactlyOnce; AtLeastOnce is the other choice. Records
// that fail to deserialize, or whose processing panics or returns an error,
// are handled by Config.OnBadRecord: FailOnBadRecord (the default),
// SkipBadRecord or DeadLetterTopic. App.Store gives read-only, typed access
// to the committed state of a store on the tasks this instance holds
// (interactive queries). With Config.ApplicationServer set on each
// instance, App.KeyOwner tells which instance holds a key of a store and
// App.StoreOwners which hold any part of it, so that a service can route a
// query to the instance that can answer it (Kafka Streams'
// queryMetadataForKey and streamsMetadataForStore).
//
// To test a topology without Kafka, use package
// github.com/brookstream/brook/stream/streamtest.
package stream
