package stream

import (
	"testing"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sourceNode returns the source node of b that reads topic.
func sourceNode(t *testing.T, b *Builder, topic string) *topo.Node {
	t.Helper()
	for _, n := range b.g.Nodes {
		if n.Kind == topo.KindSource && len(n.Topics) == 1 && n.Topics[0] == topic {
			return n
		}
	}
	t.Fatalf("no source reads %q", topic)
	return nil
}

// TestSourceReads checks which sources leave the key or the value
// undecoded (decision 52): only where no processor downstream reads it and
// decoding it cannot fail.
func TestSourceReads(t *testing.T) {
	count := func(s Stream[string, string]) Table[string, int64] {
		return s.GroupByKey().Count(Materialized("counts"))
	}
	tests := []struct {
		name string
		// build adds the topology and returns what the source to check
		// decodes, as its Build decides.
		build            func(b *Builder) (key, value bool)
		wantKey, wantVal bool
	}{
		{"count to a sink with the table's serdes reads neither", func(b *Builder) (bool, bool) {
			count(Source(b, "in", serde.String(), serde.String())).ToStream().To("out", nil, nil)
			return sourceReads(sourceNode(t, b, "in"), serde.String(), serde.String())
		}, false, false},
		{"Table.To is ToStream().To", func(b *Builder) (bool, bool) {
			count(Source(b, "in", serde.String(), serde.String())).To("out", nil, nil)
			return sourceReads(sourceNode(t, b, "in"), serde.String(), serde.String())
		}, false, false},
		{"count alone (a queried table) reads neither", func(b *Builder) (bool, bool) {
			count(Source(b, "in", serde.String(), serde.String()))
			return sourceReads(sourceNode(t, b, "in"), serde.String(), serde.String())
		}, false, false},
		{"Bytes values are not decoded either", func(b *Builder) (bool, bool) {
			Source(b, "in", serde.String(), serde.Bytes()).GroupByKey().Count().ToStream().To("out", nil, nil)
			return sourceReads(sourceNode(t, b, "in"), serde.String(), serde.Bytes())
		}, false, false},
		{"a value serde that can fail decodes every value", func(b *Builder) (bool, bool) {
			Source(b, "in", serde.String(), serde.JSON[map[string]int]()).GroupByKey().Count().ToStream().To("out", nil, nil)
			return sourceReads(sourceNode(t, b, "in"), serde.String(), serde.JSON[map[string]int]())
		}, false, true},
		{"a key serde that can fail decodes every key", func(b *Builder) (bool, bool) {
			Source(b, "in", serde.Int64(), serde.String()).GroupByKey().Count().ToStream().To("out", nil, nil)
			return sourceReads(sourceNode(t, b, "in"), serde.Int64(), serde.String())
		}, true, false},
		{"a sink with its own key serde reads the key", func(b *Builder) (bool, bool) {
			count(Source(b, "in", serde.String(), serde.String())).ToStream().To("out", serde.String(), nil)
			return sourceReads(sourceNode(t, b, "in"), serde.String(), serde.String())
		}, true, false},
		{"a sink choosing its topic reads the key", func(b *Builder) (bool, bool) {
			count(Source(b, "in", serde.String(), serde.String())).ToStream().
				ToTopicFunc(func(k string, _ int64) string { return "out-" + k }, nil, nil)
			return sourceReads(sourceNode(t, b, "in"), serde.String(), serde.String())
		}, true, false},
		{"an operator after the count reads the key", func(b *Builder) (bool, bool) {
			count(Source(b, "in", serde.String(), serde.String())).ToStream().
				Filter(func(k string, _ int64) bool { return k != "" }).To("out", nil, nil)
			return sourceReads(sourceNode(t, b, "in"), serde.String(), serde.String())
		}, true, false},
		{"a second branch reads both", func(b *Builder) (bool, bool) {
			s := Source(b, "in", serde.String(), serde.String())
			count(s).ToStream().To("out", nil, nil)
			s.MapValues(func(v string) string { return v + "!" }).To("out2", nil, nil)
			return sourceReads(sourceNode(t, b, "in"), serde.String(), serde.String())
		}, true, true},
		{"reduce reads both", func(b *Builder) (bool, bool) {
			Source(b, "in", serde.String(), serde.String()).GroupByKey().
				Reduce(func(a, v string) string { return a + v }).ToStream().To("out", nil, nil)
			return sourceReads(sourceNode(t, b, "in"), serde.String(), serde.String())
		}, true, true},
		{"a timestamp extractor reads both", func(b *Builder) (bool, bool) {
			s := Source(b, "in", serde.String(), serde.String(),
				TimestampExtractor(func(r Record[string, string], _ int64) (int64, error) { return r.Timestamp, nil }))
			count(s).ToStream().To("out", nil, nil)
			return sourceReads(sourceNode(t, b, "in"), serde.String(), serde.String())
		}, true, true},
		{"a pass-through sink reads the value", func(b *Builder) (bool, bool) {
			Source(b, "in", serde.String(), serde.String()).To("out", nil, nil)
			return sourceReads(sourceNode(t, b, "in"), serde.String(), serde.String())
		}, false, true},
		{"the repartition topic's source of a count reads neither", func(b *Builder) (bool, bool) {
			Source(b, "in", serde.String(), serde.String()).
				GroupBy(func(_, v string) string { return v }, serde.String(), Named("by-value")).
				Count().ToStream().To("out", nil, nil)
			return sourceReads(sourceNode(t, b, "by-value-repartition"), serde.String(), serde.String())
		}, false, false},
		{"the key-selecting side of a repartition reads both", func(b *Builder) (bool, bool) {
			Source(b, "in", serde.String(), serde.String()).
				GroupBy(func(_, v string) string { return v }, serde.String(), Named("by-value")).
				Count().ToStream().To("out", nil, nil)
			return sourceReads(sourceNode(t, b, "in"), serde.String(), serde.String())
		}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder()
			key, val := tc.build(b)
			require.NoError(t, b.Build())
			assert.Equal(t, tc.wantKey, key, "key decoded")
			assert.Equal(t, tc.wantVal, val, "value decoded")
		})
	}
}
