package compat_test

import (
	"strings"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
)

// The join topologies: twins of kafkastreams/src/main/java/brook/compat/JoinTopologies.java.
// Streams read String keys and values (a null key is a keyless record, a
// null value a tombstone); tables read nullable values, so that a left or
// outer join's missing side is nil, as Kafka Streams' null.

// cat joins two values as Java's a + sep + b does: null prints as "null".
func cat(a *string, sep string, b *string) string {
	s := func(p *string) string {
		if p == nil {
			return "null"
		}
		return *p
	}
	return s(a) + sep + s(b)
}

// table reads topic as a table with String keys and nullable String
// values, in the store named store.
func table(b *stream.Builder, topic, store string) stream.Table[string, *string] {
	return stream.SourceTable(b, topic, serde.String(), nstr(), stream.Materialized(store))
}

func init() {
	topologies["stream-table-join"] = def{
		build: func(b *stream.Builder) {
			in := stream.Source(b, "in", serde.String(), serde.String())
			tab := table(b, "tab", "tab-store")
			join := func(v string, tv *string) string { return cat(&v, "/", tv) }
			in.Join(tab, join).To("out", nil, nil)
			in.LeftJoin(tab, join).To("out-left", nil, nil)
		},
		outputs: map[string]kinds{"out": strStr, "out-left": strStr},
	}
	topologies["stream-table-rekey"] = def{
		build: func(b *stream.Builder) {
			in := stream.Source(b, "in", serde.String(), serde.String())
			tab := table(b, "tab", "tab-store")
			in.Filter(func(_, v string) bool { return true }).
				SelectKey(func(_, v string) string { return first(v) }).
				LeftJoin(tab, func(v string, tv *string) string { return cat(&v, "/", tv) }).
				To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strStr},
	}
	topologies["stream-table-filtered"] = def{
		build: func(b *stream.Builder) {
			in := stream.Source(b, "in", serde.String(), serde.String())
			tab := table(b, "tab", "tab-store").
				Filter(func(_ string, v *string) bool { return !strings.HasPrefix(*v, "x") }).
				MapValues(func(v *string) *string { return str(strings.ToUpper(*v)) })
			in.Join(tab, func(v string, tv *string) string { return cat(&v, "/", tv) }).To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strStr},
	}
	topologies["table-table-join"] = def{
		build: func(b *stream.Builder) {
			ta := table(b, "ta", "ta-store")
			tb := table(b, "tb", "tb-store")
			join := func(x, y *string) string { return cat(x, "+", y) }
			ta.Join(tb, join, stream.Materialized("inner-store"), stream.ValueSerde(serde.String())).ToStream().To("out-inner", nil, nil)
			ta.LeftJoin(tb, join).ToStream().To("out-left", nil, serde.String())
			ta.OuterJoin(tb, join, stream.Materialized("outer-store"), stream.ValueSerde(serde.String())).ToStream().To("out-outer", nil, nil)
		},
		outputs: map[string]kinds{"out-inner": strStr, "out-left": strStr, "out-outer": strStr},
		stores:  map[string]kinds{"inner-store": strStr, "outer-store": strStr},
	}
	topologies["table-table-chain"] = def{
		build: func(b *stream.Builder) {
			ta := table(b, "ta", "ta-store")
			tb := table(b, "tb", "tb-store")
			tc := table(b, "tc", "tc-store")
			ab := ta.LeftJoin(tb, func(x, y *string) string { return cat(x, "+", y) })
			ab.Join(tc, func(x string, y *string) string { return cat(&x, "*", y) }).
				MapValues(strings.ToUpper).
				ToStream().To("out", nil, serde.String())
		},
		outputs: map[string]kinds{"out": strStr},
	}
	topologies["stream-global-join"] = def{
		build: func(b *stream.Builder) {
			in := stream.Source(b, "in", serde.String(), serde.String())
			g := stream.GlobalTable(b, "glob", serde.String(), nstr(), stream.Materialized("glob-store"))
			byValue := func(_, v string) string { return v }
			join := func(v string, gv *string) string { return cat(&v, "/", gv) }
			in.JoinGlobal(g, byValue, join).To("out", nil, nil)
			in.LeftJoinGlobal(g, byValue, join).To("out-left", nil, nil)
		},
		outputs: map[string]kinds{"out": strStr, "out-left": strStr},
	}
	// Kafka Streams lists a node's predecessors and successors, and the
	// stores of a join node, in an order that comes from Java hash sets
	// and tree sets; brook's Describe replays it (decision 23), so these
	// topologies print the same.
}
