package compat_test

import (
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/window"
)

// The windowed stream-stream join topologies: twins of
// kafkastreams/src/main/java/brook/compat/StreamJoinTopologies.java.
// Values are nullable, so that a left or outer join's missing side is
// nil and prints as "null", as Java's null.
func init() {
	ms := time.Millisecond
	plus := func(a, b *string) string { return cat(a, "+", b) }
	diff := func(d, grace time.Duration) window.JoinWindows { return window.JoinTimeDifference(d).Grace(grace) }
	sides := func(b *stream.Builder) (stream.Stream[string, *string], stream.Stream[string, *string]) {
		return stream.Source(b, "left", serde.String(), nstr()), stream.Source(b, "right", serde.String(), nstr())
	}
	out := map[string]kinds{"out": strStr}
	topologies["ss-join-inner"] = def{
		build: func(b *stream.Builder) {
			l, r := sides(b)
			l.JoinStream(r, plus, diff(10*ms, 5*ms)).To("out", nil, serde.String())
		},
		outputs: out,
	}
	topologies["ss-join-left"] = def{
		build: func(b *stream.Builder) {
			l, r := sides(b)
			l.LeftJoinStream(r, plus, diff(10*ms, 5*ms)).To("out", nil, serde.String())
		},
		outputs: out,
	}
	topologies["ss-join-outer"] = def{
		build: func(b *stream.Builder) {
			l, r := sides(b)
			l.OuterJoinStream(r, plus, diff(10*ms, 5*ms)).To("out", nil, serde.String())
		},
		outputs: out,
	}
	topologies["ss-join-asym"] = def{
		build: func(b *stream.Builder) {
			l, r := sides(b)
			l.OuterJoinStream(r, plus, diff(5*ms, 50*ms).After(20*ms)).To("out", nil, serde.String())
		},
		outputs: out,
	}
	topologies["ss-join-self"] = def{
		build: func(b *stream.Builder) {
			l := stream.Source(b, "left", serde.String(), nstr())
			l.JoinStream(l, plus, diff(10*ms, 0)).To("out", nil, serde.String())
			l.LeftJoinStream(l, plus, diff(10*ms, 0)).To("out-left", nil, serde.String())
		},
		outputs: map[string]kinds{"out": strStr, "out-left": strStr},
	}
	topologies["ss-join-rekey"] = def{
		build: func(b *stream.Builder) {
			l, r := sides(b)
			l.SelectKey(func(_ string, v *string) string {
				if v == nil {
					return "_"
				}
				return first(*v)
			}).LeftJoinStream(r, plus, diff(10*ms, 5*ms), stream.Named("j"), stream.Materialized("js")).
				To("out", nil, serde.String())
		},
		outputs: out,
	}
}
