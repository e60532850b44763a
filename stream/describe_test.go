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
        n3["word-counts-repartition-sink"]
    end
    subgraph sub1 ["Sub-topology: 1"]
        n4["word-counts-repartition-source"]
        n5["word-counts"]
        n6["KTABLE-TOSTREAM-0000000006"]
        n7["KSTREAM-SINK-0000000007"]
        s0[("word-counts")]
    end
    t0[/"lines"/]
    t1[/"word-counts-repartition"/]
    t2[/"counts"/]
    t0 --> n0
    n0 --> n1
    n1 --> n2
    n2 --> n3
    n3 --> t1
    t1 --> n4
    n4 --> n5
    n5 --> n6
    n5 -.- s0
    n6 --> n7
    n7 --> t2
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
		n3 [label="word-counts-repartition-sink"];
	}
	subgraph cluster_1 {
		label="Sub-topology: 1";
		n4 [label="word-counts-repartition-source"];
		n5 [label="word-counts"];
		n6 [label="KTABLE-TOSTREAM-0000000006"];
		n7 [label="KSTREAM-SINK-0000000007"];
		s0 [label="word-counts", shape=cylinder];
	}
	t0 [label="lines", shape=parallelogram];
	t1 [label="word-counts-repartition", shape=parallelogram];
	t2 [label="counts", shape=parallelogram];
	t0 -> n0;
	n0 -> n1;
	n1 -> n2;
	n2 -> n3;
	n3 -> t1;
	t1 -> n4;
	n4 -> n5;
	n5 -> n6;
	n5 -> s0 [dir=none, style=dashed];
	n6 -> n7;
	n7 -> t2;
}
`
	assert.Equal(t, want, wordCount("lines", "counts").DescribeDOT())
}
