package stream_test

import (
	"testing"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDescribeMermaid(t *testing.T) {
	want := `flowchart TB
    subgraph sub0 ["Sub-topology: 0"]
        n0["KSTREAM-SOURCE-0000000000"]
        n1["KSTREAM-FLATMAPVALUES-0000000001"]
        n2["KSTREAM-KEY-SELECT-0000000002"]
        n3["word-counts-repartition-filter"]
        n4["word-counts-repartition-sink"]
    end
    subgraph sub1 ["Sub-topology: 1"]
        n5["word-counts-repartition-source"]
        n6["KSTREAM-AGGREGATE-0000000003"]
        n7["KTABLE-TOSTREAM-0000000007"]
        n8["KSTREAM-SINK-0000000008"]
        s0[("word-counts")]
    end
    t0[/"lines"/]
    t1[/"word-counts-repartition"/]
    t2[/"counts"/]
    t0 --> n0
    n0 --> n1
    n1 --> n2
    n2 --> n3
    n3 --> n4
    n4 --> t1
    t1 --> n5
    n5 --> n6
    n6 --> n7
    n6 -.- s0
    n7 --> n8
    n8 --> t2
`
	assert.Equal(t, want, wordCount("lines", "counts").DescribeMermaid())
}

func TestDescribeDOT(t *testing.T) {
	want := `digraph topology {
	node [shape=box];
	subgraph cluster_0 {
		label="Sub-topology: 0";
		n0 [label="KSTREAM-SOURCE-0000000000"];
		n1 [label="KSTREAM-FLATMAPVALUES-0000000001"];
		n2 [label="KSTREAM-KEY-SELECT-0000000002"];
		n3 [label="word-counts-repartition-filter"];
		n4 [label="word-counts-repartition-sink"];
	}
	subgraph cluster_1 {
		label="Sub-topology: 1";
		n5 [label="word-counts-repartition-source"];
		n6 [label="KSTREAM-AGGREGATE-0000000003"];
		n7 [label="KTABLE-TOSTREAM-0000000007"];
		n8 [label="KSTREAM-SINK-0000000008"];
		s0 [label="word-counts", shape=cylinder];
	}
	t0 [label="lines", shape=parallelogram];
	t1 [label="word-counts-repartition", shape=parallelogram];
	t2 [label="counts", shape=parallelogram];
	t0 -> n0;
	n0 -> n1;
	n1 -> n2;
	n2 -> n3;
	n3 -> n4;
	n4 -> t1;
	t1 -> n5;
	n5 -> n6;
	n6 -> n7;
	n6 -> s0 [dir=none, style=dashed];
	n7 -> n8;
	n8 -> t2;
}
`
	assert.Equal(t, want, wordCount("lines", "counts").DescribeDOT())
}

// Describe of the same topologies equals, string for string, what Kafka
// Streams' Topology#describe() prints for them.
func TestDescribeAsKafkaStreams(t *testing.T) {
	str := serde.String()
	byValue := func(k, v string) (string, string) { return v, k }
	tests := []struct {
		name  string
		build func(b *stream.Builder)
		want  string
	}{{
		// TopologyTest#kGroupedStreamZeroArgCountShouldPreserveTopologyStructure:
		// the store is numbered before its processor.
		name: "stream count",
		build: func(b *stream.Builder) {
			stream.Source(b, "input-topic", str, str).GroupByKey().Count()
		},
		want: "Topologies:\n" +
			"   Sub-topology: 0\n" +
			"    Source: KSTREAM-SOURCE-0000000000 (topics: [input-topic])\n" +
			"      --> KSTREAM-AGGREGATE-0000000002\n" +
			"    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000001])\n" +
			"      --> none\n" +
			"      <-- KSTREAM-SOURCE-0000000000\n\n",
	}, {
		// TopologyTest#kGroupedStreamNamedMaterializedCountShouldPreserveTopologyStructure:
		// a named store uses up no number.
		name: "stream count materialized",
		build: func(b *stream.Builder) {
			stream.Source(b, "input-topic", str, str).GroupByKey().Count(stream.Materialized("count-store"))
		},
		want: "Topologies:\n" +
			"   Sub-topology: 0\n" +
			"    Source: KSTREAM-SOURCE-0000000000 (topics: [input-topic])\n" +
			"      --> KSTREAM-AGGREGATE-0000000001\n" +
			"    Processor: KSTREAM-AGGREGATE-0000000001 (stores: [count-store])\n" +
			"      --> none\n" +
			"      <-- KSTREAM-SOURCE-0000000000\n\n",
	}, {
		// TopologyTest#tableZeroArgCountShouldPreserveTopologyStructure:
		// KSTREAM-SOURCE + KTABLE-SOURCE with the store numbered first,
		// KTABLE- names for the table aggregation, generated repartition
		// sink and source, and the second sub-topology's header indented
		// two spaces.
		name: "table count",
		build: func(b *stream.Builder) {
			stream.SourceTable(b, "input-topic", str, str).GroupBy(byValue, str, str).Count()
		},
		want: "Topologies:\n" +
			"   Sub-topology: 0\n" +
			"    Source: KSTREAM-SOURCE-0000000001 (topics: [input-topic])\n" +
			"      --> KTABLE-SOURCE-0000000002\n" +
			"    Processor: KTABLE-SOURCE-0000000002 (stores: [input-topic-STATE-STORE-0000000000])\n" +
			"      --> KTABLE-SELECT-0000000003\n" +
			"      <-- KSTREAM-SOURCE-0000000001\n" +
			"    Processor: KTABLE-SELECT-0000000003 (stores: [])\n" +
			"      --> KSTREAM-SINK-0000000005\n" +
			"      <-- KTABLE-SOURCE-0000000002\n" +
			"    Sink: KSTREAM-SINK-0000000005 (topic: KTABLE-AGGREGATE-STATE-STORE-0000000004-repartition)\n" +
			"      <-- KTABLE-SELECT-0000000003\n" +
			"\n" +
			"  Sub-topology: 1\n" +
			"    Source: KSTREAM-SOURCE-0000000006 (topics: [KTABLE-AGGREGATE-STATE-STORE-0000000004-repartition])\n" +
			"      --> KTABLE-AGGREGATE-0000000007\n" +
			"    Processor: KTABLE-AGGREGATE-0000000007 (stores: [KTABLE-AGGREGATE-STATE-STORE-0000000004])\n" +
			"      --> none\n" +
			"      <-- KSTREAM-SOURCE-0000000006\n" +
			"\n",
	}, {
		// TopologyTest#tableNamedMaterializedCountShouldPreserveTopologyStructure.
		name: "table count materialized",
		build: func(b *stream.Builder) {
			stream.SourceTable(b, "input-topic", str, str).GroupBy(byValue, str, str).Count(stream.Materialized("count-store"))
		},
		want: "Topologies:\n" +
			"   Sub-topology: 0\n" +
			"    Source: KSTREAM-SOURCE-0000000001 (topics: [input-topic])\n" +
			"      --> KTABLE-SOURCE-0000000002\n" +
			"    Processor: KTABLE-SOURCE-0000000002 (stores: [input-topic-STATE-STORE-0000000000])\n" +
			"      --> KTABLE-SELECT-0000000003\n" +
			"      <-- KSTREAM-SOURCE-0000000001\n" +
			"    Processor: KTABLE-SELECT-0000000003 (stores: [])\n" +
			"      --> KSTREAM-SINK-0000000004\n" +
			"      <-- KTABLE-SOURCE-0000000002\n" +
			"    Sink: KSTREAM-SINK-0000000004 (topic: count-store-repartition)\n" +
			"      <-- KTABLE-SELECT-0000000003\n" +
			"\n" +
			"  Sub-topology: 1\n" +
			"    Source: KSTREAM-SOURCE-0000000005 (topics: [count-store-repartition])\n" +
			"      --> KTABLE-AGGREGATE-0000000006\n" +
			"    Processor: KTABLE-AGGREGATE-0000000006 (stores: [count-store])\n" +
			"      --> none\n" +
			"      <-- KSTREAM-SOURCE-0000000005\n" +
			"\n",
	}, {
		// StreamsGraphTest#expectedComplexMergeOptimizeTopology (its first
		// sub-topology, and the aggregation of its second) and
		// KStreamImplTest#shouldSupportKeyChangeKTableFromKStream: an
		// unnamed repartition topic is named after the store, and its
		// sink, filter and source get generated names, numbered sink,
		// filter, source after the aggregation.
		name: "stream group-by count",
		build: func(b *stream.Builder) {
			stream.Source(b, "input", str, str).
				GroupBy(func(_, v string) string { return v }, str).
				Count().
				ToStream().To("output", nil, nil)
		},
		want: "Topologies:\n" +
			"   Sub-topology: 0\n" +
			"    Source: KSTREAM-SOURCE-0000000000 (topics: [input])\n" +
			"      --> KSTREAM-KEY-SELECT-0000000001\n" +
			"    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])\n" +
			"      --> KSTREAM-FILTER-0000000005\n" +
			"      <-- KSTREAM-SOURCE-0000000000\n" +
			"    Processor: KSTREAM-FILTER-0000000005 (stores: [])\n" +
			"      --> KSTREAM-SINK-0000000004\n" +
			"      <-- KSTREAM-KEY-SELECT-0000000001\n" +
			"    Sink: KSTREAM-SINK-0000000004 (topic: KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition)\n" +
			"      <-- KSTREAM-FILTER-0000000005\n" +
			"\n" +
			"  Sub-topology: 1\n" +
			"    Source: KSTREAM-SOURCE-0000000006 (topics: [KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition])\n" +
			"      --> KSTREAM-AGGREGATE-0000000003\n" +
			"    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000002])\n" +
			"      --> KTABLE-TOSTREAM-0000000007\n" +
			"      <-- KSTREAM-SOURCE-0000000006\n" +
			"    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])\n" +
			"      --> KSTREAM-SINK-0000000008\n" +
			"      <-- KSTREAM-AGGREGATE-0000000003\n" +
			"    Sink: KSTREAM-SINK-0000000008 (topic: output)\n" +
			"      <-- KTABLE-TOSTREAM-0000000007\n\n",
	}, {
		// RepartitionTopicNamingTest: a named grouping (Grouped.as) names
		// the repartition topic and its nodes "<name>-repartition-sink",
		// "-filter" and "-source"; the key selector takes the name too.
		name: "named grouping",
		build: func(b *stream.Builder) {
			stream.Source(b, "input", str, str).
				GroupBy(func(_, v string) string { return v }, str, stream.Named("count-stream")).
				Count(stream.Named("counter"), stream.Materialized("counts"))
		},
		want: "Topologies:\n" +
			"   Sub-topology: 0\n" +
			"    Source: KSTREAM-SOURCE-0000000000 (topics: [input])\n" +
			"      --> count-stream\n" +
			"    Processor: count-stream (stores: [])\n" +
			"      --> count-stream-repartition-filter\n" +
			"      <-- KSTREAM-SOURCE-0000000000\n" +
			"    Processor: count-stream-repartition-filter (stores: [])\n" +
			"      --> count-stream-repartition-sink\n" +
			"      <-- count-stream\n" +
			"    Sink: count-stream-repartition-sink (topic: count-stream-repartition)\n" +
			"      <-- count-stream-repartition-filter\n" +
			"\n" +
			"  Sub-topology: 1\n" +
			"    Source: count-stream-repartition-source (topics: [count-stream-repartition])\n" +
			"      --> counter\n" +
			"    Processor: counter (stores: [counts])\n" +
			"      --> none\n" +
			"      <-- count-stream-repartition-source\n\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := stream.NewBuilder()
			tt.build(b)
			require.NoError(t, b.Build())
			assert.Equal(t, tt.want, b.Describe())
		})
	}
}
