package compat_test

import (
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
)

// The suppress(untilTimeLimit) topologies, twins of
// kafkastreams/src/main/java/brook/compat/SuppressTopologies.java.
func init() {
	ms := time.Millisecond
	topologies["suppress-time-limit"] = def{
		build: func(b *stream.Builder) {
			stream.Source(b, "in", serde.String(), serde.String()).
				GroupByKey().
				Count(stream.Materialized("scounts")).
				Suppress(stream.UntilTimeLimit(10*ms, stream.BufferConfig{MaxRecords: 2, MaxBytes: -1})).
				ToStream().To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strLong},
		stores:  map[string]kinds{"scounts": strLong},
	}
	topologies["suppress-table"] = def{
		build: func(b *stream.Builder) {
			stream.SourceTable(b, "in", serde.String(), serde.String(), stream.Materialized("stbl")).
				Suppress(stream.UntilTimeLimit(5*ms, stream.BufferConfig{MaxBytes: 1 << 20})).
				ToStream().To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strStr},
	}
}
