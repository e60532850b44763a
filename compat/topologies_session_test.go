package compat_test

import (
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/window"
)

// Session windows with emit on close, twins of
// kafkastreams/src/main/java/brook/compat/SessionTopologies.java.
func init() {
	ms := time.Millisecond
	topologies["window-session-onclose"] = def{
		build: func(b *stream.Builder) {
			stream.SessionWindowedBy(stream.Source(b, "in", nstr(), nstr()).GroupByKey(), window.Session(5*ms).Grace(2*ms)).
				Emit(stream.OnWindowClose()).
				Count(stream.Materialized("socounts")).
				ToStream().To("out", window.SessionWindowedSerde(nstr()), serde.Int64())
		},
		outputs: map[string]kinds{"out": {"session", "long"}},
	}
}
