package compat_test

import (
	"strconv"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/window"
)

// The sliding-window topologies, twins of
// kafkastreams/src/main/java/brook/compat/SlidingTopologies.java.
func init() {
	win := kinds{"windowed-10", "long"}
	ms := time.Millisecond
	count := func(w window.SlidingWindows, emit stream.EmitStrategy, store string) func(b *stream.Builder) {
		return func(b *stream.Builder) {
			stream.WindowedBy(stream.Source(b, "in", nstr(), nstr()).GroupByKey(), w).
				Emit(emit).
				Count(stream.Materialized(store)).
				ToStream().To("out", window.TimeWindowedSerde(nstr(), 10), serde.Int64())
		}
	}
	topologies["window-sliding-count"] = def{
		build:   count(window.Sliding(10*ms).Grace(5*ms), stream.OnWindowUpdate(), "slcounts"),
		outputs: map[string]kinds{"out": win},
		stores:  map[string]kinds{"slcounts": win},
	}
	topologies["window-sliding-onclose"] = def{
		build:   count(window.Sliding(10*ms).Grace(5*ms), stream.OnWindowClose(), "slccounts"),
		outputs: map[string]kinds{"out": win},
		stores:  map[string]kinds{"slccounts": win},
	}
	topologies["window-sliding-reduce"] = def{
		build: func(b *stream.Builder) {
			nums := stream.Source(b, "in", nstr(), nstr()).
				MapValues(func(v *string) int64 {
					n, _ := strconv.ParseInt(*v, 10, 64)
					return n
				}).
				WithSerdes(nil, serde.Int64())
			stream.WindowedBy(nums.GroupByKey(), window.Sliding(10*ms)).
				Reduce(func(a, v int64) int64 { return a + v }, stream.Materialized("slsums")).
				ToStream().To("out", window.TimeWindowedSerde(nstr(), 10), serde.Int64())
		},
		outputs: map[string]kinds{"out": win},
		stores:  map[string]kinds{"slsums": win},
	}
}
