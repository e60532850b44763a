package compat_test

import (
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/window"
)

// The windowed topologies, twins of
// kafkastreams/src/main/java/brook/compat/WindowTopologies.java. Keys of
// kind "windowed-SIZE" print as "key@[start,end)"; such stores are window
// stores.
func init() {
	win := kinds{"windowed-10", "long"}
	count := func(w window.TimeWindows, emit stream.EmitStrategy, store string) func(b *stream.Builder) {
		return func(b *stream.Builder) {
			stream.WindowedBy(stream.Source(b, "in", nstr(), nstr()).GroupByKey(), w).
				Emit(emit).
				Count(stream.Materialized(store)).
				ToStream().To("out", window.TimeWindowedSerde(nstr(), 10), serde.Int64())
		}
	}
	ms := time.Millisecond
	topologies["window-tumbling-count"] = def{
		build:   count(window.Tumbling(10*ms).Grace(5*ms), stream.OnWindowUpdate(), "wcounts"),
		outputs: map[string]kinds{"out": win},
		stores:  map[string]kinds{"wcounts": win},
	}
	topologies["window-session-count"] = def{
		build: func(b *stream.Builder) {
			stream.SessionWindowedBy(stream.Source(b, "in", nstr(), nstr()).GroupByKey(), window.Session(5*ms).Grace(2*ms)).
				Count(stream.Materialized("scounts")).
				ToStream().To("out", window.SessionWindowedSerde(nstr()), serde.Int64())
		},
		outputs: map[string]kinds{"out": {"session", "long"}},
	}
	topologies["window-hopping-count"] = def{
		build:   count(window.Hopping(10*ms, 5*ms).Grace(2*ms), stream.OnWindowUpdate(), "hcounts"),
		outputs: map[string]kinds{"out": win},
		stores:  map[string]kinds{"hcounts": win},
	}
	topologies["window-tumbling-suppress"] = def{
		build:   count(window.Tumbling(10*ms).Grace(5*ms), stream.OnWindowClose(), "fcounts"),
		outputs: map[string]kinds{"out": win},
		stores:  map[string]kinds{"fcounts": win},
	}
	// brook's twin of suppress(untilWindowCloses) is the emit strategy.
	describeDivergent["window-tumbling-suppress"] = "brook has no suppress operator yet: stream.OnWindowClose gives the same records without a KTABLE-SUPPRESS node and its buffer store (decision 26)"
	topologies["window-tumbling-onclose"] = def{
		build:   count(window.Tumbling(10*ms).Grace(5*ms), stream.OnWindowClose(), "ccounts"),
		outputs: map[string]kinds{"out": win},
		stores:  map[string]kinds{"ccounts": win},
	}
}
