package stream_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
