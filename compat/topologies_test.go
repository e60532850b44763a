package compat_test

import (
	"strings"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
)

// def is a brook topology under differential test: the twin of the Kafka
// Streams topology of the same name in
// kafkastreams/src/main/java/brook/compat/Topologies.java. Every input
// topic has string keys and values; outputs and stores hold "string" or
// "long" keys and values.
type def struct {
	build   func(b *stream.Builder)
	outputs map[string]kinds // topic -> kinds
	stores  map[string]kinds // store -> kinds
}

// kinds are the types of keys and values: "string" (a Go string),
// "nstring" (a *string, nil for null) or "long" (an int64). All print the
// same way; they differ in the Go types a store is read with.
type kinds struct{ key, value string }

var (
	strStr  = kinds{"string", "string"}
	strLong = kinds{"string", "long"}
)

func str(s string) *string { return &s }

func first(s string) string {
	if s == "" {
		return "_"
	}
	return s[:1]
}

func words(v *string) []string {
	if v == nil {
		return nil
	}
	return strings.Fields(*v)
}

// nstr reads and writes nullable strings: what Kafka Streams' String serde
// is, where a nil byte slice is a null.
func nstr() serde.Serde[*string] { return serde.Nullable(serde.String()) }

var topologies = map[string]def{
	"map-filter": {
		build: func(b *stream.Builder) {
			stream.Source(b, "in", nstr(), nstr()).
				Filter(func(_, v *string) bool { return v != nil && !strings.HasPrefix(*v, "x") }).
				Map(func(k, v *string) (*string, *string) { return v, k }).
				MapValues(func(v *string) *string {
					if v == nil {
						return str("nokey")
					}
					return str(strings.ToUpper(*v))
				}).
				To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strStr},
	},
	"flatmap-selectkey": {
		build: func(b *stream.Builder) {
			stream.Source(b, "in", nstr(), nstr()).
				FlatMapValues(words).
				SelectKey(func(_ *string, v string) string { return first(v) }).
				FilterNot(func(_, v string) bool { return v == "drop" }).
				To("out", serde.String(), serde.String())
		},
		outputs: map[string]kinds{"out": strStr},
	},
	"split-merge": {
		build: func(b *stream.Builder) {
			br := stream.Source(b, "in", nstr(), nstr()).
				Split(stream.Named("route-")).
				Branch("a", func(_, v *string) bool { return v != nil && strings.HasPrefix(*v, "a") }).
				Branch("b", func(_, v *string) bool { return v != nil && strings.HasPrefix(*v, "b") }).
				Default("rest")
			br["route-b"].To("out-b", nil, nil)
			tag := func(t string) func(*string) *string {
				return func(v *string) *string {
					if v == nil {
						return str(t + "null")
					}
					return str(t + *v)
				}
			}
			br["route-a"].MapValues(tag("A:")).
				Merge(br["route-rest"].MapValues(tag("R:"))).
				To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strStr, "out-b": strStr},
	},
	"count-by-key": {
		build: func(b *stream.Builder) {
			stream.Source(b, "in", serde.String(), serde.String()).
				GroupByKey().
				Count(stream.Materialized("counts")).
				ToStream().To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strLong},
		stores:  map[string]kinds{"counts": strLong},
	},
	"word-count": {
		build: func(b *stream.Builder) {
			stream.Source(b, "in", nstr(), nstr()).
				FlatMapValues(words).
				WithSerdes(nstr(), serde.String()).
				GroupBy(func(_ *string, w string) string { return w }, serde.String()).
				Count(stream.Materialized("word-counts")).
				ToStream().To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strLong},
		stores:  map[string]kinds{"word-counts": strLong},
	},
	"selectkey-count": {
		build: func(b *stream.Builder) {
			stream.Source(b, "in", nstr(), nstr()).
				SelectKey(func(_, v *string) *string { return v }).
				WithSerdes(nstr(), nstr()).
				GroupByKey().
				Count(stream.Materialized("counts")).
				ToStream().To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strLong},
		stores:  map[string]kinds{"counts": {"nstring", "long"}},
	},
	"reduce-concat": {
		build: func(b *stream.Builder) {
			stream.Source(b, "in", serde.String(), serde.String()).
				GroupByKey().
				Reduce(func(agg, v string) string { return agg + "|" + v }, stream.Materialized("reduced")).
				ToStream().To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strStr},
		stores:  map[string]kinds{"reduced": strStr},
	},
	"aggregate-len": {
		build: func(b *stream.Builder) {
			stream.Source(b, "in", serde.String(), serde.String()).
				GroupByKey().
				Aggregate(func() int64 { return 0 }, func(_ string, v string, a int64) int64 { return a + int64(len(v)) },
					serde.Int64(), stream.Materialized("lens")).
				ToStream().To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strLong},
		stores:  map[string]kinds{"lens": strLong},
	},
	"table-source": {
		build: func(b *stream.Builder) {
			stream.SourceTable(b, "in", serde.String(), serde.String(), stream.Materialized("tbl")).
				ToStream().To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strStr},
		stores:  map[string]kinds{"tbl": strStr},
	},
	"table-filter-map": {
		build: func(b *stream.Builder) {
			stream.SourceTable(b, "in", serde.String(), serde.String(), stream.Materialized("tbl")).
				Filter(func(_, v string) bool { return len(v) > 2 }).
				MapValues(strings.ToUpper).
				ToStream().To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strStr},
		stores:  map[string]kinds{"tbl": strStr},
	},
	"table-groupby-count": {
		build: func(b *stream.Builder) {
			stream.SourceTable(b, "in", serde.String(), serde.String(), stream.Materialized("tbl")).
				GroupBy(func(k, v string) (string, string) { return v, k }, serde.String(), serde.String()).
				Count(stream.Materialized("by-value")).
				ToStream().To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strLong},
		stores:  map[string]kinds{"tbl": strStr, "by-value": strLong},
	},
	"named-fanout": {
		build: func(b *stream.Builder) {
			in := stream.Source(b, "in", nstr(), nstr())
			in.Filter(func(_, v *string) bool { return v != nil && len(*v) > 3 }, stream.Named("zz")).To("o1", nil, nil)
			in.Filter(func(_, _ *string) bool { return true }, stream.Named("aa")).
				Filter(func(k, _ *string) bool { return k != nil }, stream.Named("bb")).To("o2", nil, nil)
			in.FilterNot(func(_, v *string) bool { return v == nil }, stream.Named("mm")).To("o3", nil, nil)
		},
		outputs: map[string]kinds{"o1": strStr, "o2": strStr, "o3": strStr},
	},
	"table-groupby-aggregate": {
		build: func(b *stream.Builder) {
			stream.SourceTable(b, "in", serde.String(), serde.String(), stream.Materialized("tbl")).
				GroupBy(func(_, v string) (string, string) { return first(v), v }, serde.String(), serde.String()).
				Aggregate(func() int64 { return 0 },
					func(_ string, v string, a int64) int64 { return a + int64(len(v)) },
					func(_ string, v string, a int64) int64 { return a - int64(len(v)) },
					serde.Int64(), stream.Materialized("lens")).
				ToStream().To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strLong},
		stores:  map[string]kinds{"tbl": strStr, "lens": strLong},
	},
}
