package streamtest_test

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

var lastSeen = stream.KeyValueStore("last-seen", serde.String(), serde.Int64())

// idleExpiry remembers when each key was last seen (wall-clock time) and,
// every second, forwards key="expired" for the keys idle for more than
// idle, and forgets them.
type idleExpiry struct {
	idle   time.Duration
	seen   state.KeyValue[string, int64]
	closed *int
}

func (p *idleExpiry) Init(ctx *stream.ProcessorContext[string, string]) error {
	kv, err := ctx.KeyValueStore(lastSeen)
	if err != nil {
		return err
	}
	p.seen = kv
	ctx.Schedule(time.Second, stream.WallClock, func(now int64) error {
		var expired []string
		for k, t := range p.seen.All() {
			if now-t > p.idle.Milliseconds() {
				expired = append(expired, k)
			}
		}
		if err := p.seen.Err(); err != nil {
			return err
		}
		for _, k := range expired {
			if err := p.seen.Delete(k); err != nil {
				return err
			}
			if err := ctx.Forward(stream.Record[string, string]{Key: k, Value: "expired", Timestamp: now}); err != nil {
				return err
			}
		}
		return nil
	})
	return nil
}

func (p *idleExpiry) Process(ctx *stream.ProcessorContext[string, string], r stream.Record[string, string]) error {
	return p.seen.Put(r.Key, ctx.WallClockTime())
}

func (p *idleExpiry) Close() error {
	*p.closed++
	return nil
}

func TestWallClockExpiry(t *testing.T) {
	closed := 0
	b := stream.NewBuilder()
	stream.Source(b, "activity", serde.String(), serde.String()).
		Process(func() stream.Processor[string, string, string, string] {
			return &idleExpiry{idle: 5 * time.Second, closed: &closed}
		}, stream.WithStores(lastSeen), stream.Named("expiry")).
		To("expired", nil, nil)
	assert.Contains(t, b.Describe(), "Processor: expiry (stores: [last-seen])")
	d := streamtest.New(t, b, streamtest.Config{Partitions: 2, StartTime: time.UnixMilli(0)})
	in := d.Input("activity", serde.String(), serde.String())
	out := d.Output("expired", serde.String(), serde.String())
	store := d.Store[string, int64]("last-seen")

	in.Pipe("a", "login") // a seen at 0
	d.AdvanceWallClock(2 * time.Second)
	in.Pipe("b", "login") // b seen at 2000
	in.Pipe("c", "login")
	d.AdvanceWallClock(2 * time.Second) // 4000: a idle 4s
	assert.True(t, out.Empty())
	assert.Equal(t, map[string]int64{"a": 0, "b": 2000, "c": 2000}, maps.Collect(store.All()))

	in.Pipe("c", "click")               // c seen at 4000
	d.AdvanceWallClock(2 * time.Second) // 6000: a idle 6s
	assert.Equal(t, []streamtest.OutputRecord[string, string]{
		{Key: "a", Value: "expired", Timestamp: 6000, Partition: partition("a", 2), Offset: 0},
	}, out.Records())
	assert.Equal(t, map[string]int64{"b": 2000, "c": 4000}, maps.Collect(store.All()))

	in.Pipe("a", "login")               // a is back, at 6000
	d.AdvanceWallClock(3 * time.Second) // 9000: b idle 7s, c 5s (not more than 5)
	assert.Equal(t, []stream.KeyValue[string, string]{stream.KV("b", "expired")}, out.ReadAll())
	assert.Equal(t, map[string]int64{"a": 6000, "c": 4000}, maps.Collect(store.All()))
	d.AdvanceWallClock(time.Second) // 10000: c idle 6s
	assert.Equal(t, []stream.KeyValue[string, string]{stream.KV("c", "expired")}, out.ReadAll())
	_, ok, err := store.Get("c")
	require.NoError(t, err)
	assert.False(t, ok)
	v, ok, err := store.Get("a")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(6000), v)

	// The store has a changelog like any DSL store; deletions are
	// tombstones in it.
	assert.Equal(t, map[string]int64{"a": 6000}, d.Output("streamtest-last-seen-changelog", serde.String(), serde.Int64()).Latest())
	require.NoError(t, d.Close())
	assert.Equal(t, 2, closed, "Close is called once per task")
}

func partition(key string, n int) int32 {
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic("").Partition(&kgo.Record{Key: []byte(key)}, n))
}

// countPerInterval counts records and forwards the count at each
// stream-time punctuation.
type countPerInterval struct{ n int64 }

func (p *countPerInterval) Init(ctx *stream.ProcessorContext[string, int64]) error {
	ctx.Schedule(10*time.Second, stream.StreamTime, func(now int64) error {
		if ctx.StreamTime() != now || ctx.Timestamp() != now || ctx.Topic() != "" || ctx.Offset() != -1 {
			return fmt.Errorf("unexpected context in a punctuator: %d %d %q %d", ctx.StreamTime(), ctx.Timestamp(), ctx.Topic(), ctx.Offset())
		}
		n := p.n
		p.n = 0
		return ctx.Forward(stream.Record[string, int64]{Key: "count", Value: n, Timestamp: now})
	})
	return nil
}

func (p *countPerInterval) Process(*stream.ProcessorContext[string, int64], stream.Record[string, string]) error {
	p.n++
	return nil
}

func (p *countPerInterval) Close() error { return nil }

func TestStreamTimePunctuator(t *testing.T) {
	b := stream.NewBuilder()
	stream.Source(b, "events", serde.String(), serde.String()).
		Process(func() stream.Processor[string, string, string, int64] { return &countPerInterval{} }).
		To("counts", serde.String(), serde.Int64())
	d := streamtest.New(t, b, streamtest.Config{})
	in := d.Input("events", serde.String(), serde.String())
	out := d.Output("counts", serde.String(), serde.Int64())
	// Stream-time punctuators fire after the first record, then at each
	// multiple of 10s of stream time; a jump fires once; a late record does
	// not move stream time; the wall clock does not matter.
	for _, ts := range []int64{1000, 5000, 9999, 10000, 25000, 3000} {
		in.PipeAt("k", "v", ts)
	}
	d.AdvanceWallClock(time.Hour)
	in.PipeAt("k", "v", 30000)
	var got []string
	for _, r := range out.Records() {
		got = append(got, fmt.Sprintf("%d@%d", r.Value, r.Timestamp))
	}
	assert.Equal(t, []string{"1@1000", "3@10000", "1@25000", "2@30000"}, got)
}

// The punctuator forwards a tick every second and cancels itself, from
// inside, after three.
func TestCancelInsidePunctuator(t *testing.T) {
	b := stream.NewBuilder()
	stream.Source(b, "in", serde.String(), serde.String()).
		Process(func() stream.Processor[string, string, string, string] {
			var ticks int
			var cancel func()
			return initFunc(func(ctx *stream.ProcessorContext[string, string]) error {
				cancel = ctx.Schedule(time.Second, stream.WallClock, func(now int64) error {
					ticks++
					if ticks == 3 {
						cancel()
					}
					return ctx.Forward(stream.Record[string, string]{Key: "tick", Value: strconv.Itoa(ticks), Timestamp: now})
				})
				return nil
			})
		}).
		To("ticks", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{})
	for range 5 {
		d.AdvanceWallClock(time.Second)
	}
	var got []string
	for _, r := range d.Output("ticks", serde.String(), serde.String()).Records() {
		got = append(got, fmt.Sprintf("%s@%d", r.Value, r.Timestamp))
	}
	assert.Equal(t, []string{"1@1000", "2@2000", "3@3000"}, got)
}

// initFunc is a Processor that only has an Init.
type initFunc func(ctx *stream.ProcessorContext[string, string]) error

func (f initFunc) Init(ctx *stream.ProcessorContext[string, string]) error { return f(ctx) }
func (initFunc) Process(*stream.ProcessorContext[string, string], stream.Record[string, string]) error {
	return nil
}
func (initFunc) Close() error { return nil }

func TestForwardToNamedChild(t *testing.T) {
	b := stream.NewBuilder()
	routed := stream.Source(b, "numbers", serde.String(), serde.Int64()).
		Process(func() stream.Processor[string, int64, string, int64] {
			return stream.ProcessorFunc[string, int64, string, int64](func(ctx *stream.ProcessorContext[string, int64], r stream.Record[string, int64]) error {
				switch {
				case r.Value == 0:
					return ctx.Forward(r) // to every child
				case r.Value < 0:
					return ctx.ForwardTo("nowhere", r)
				case r.Value%2 == 0:
					return ctx.ForwardTo("evens", r)
				default:
					return ctx.ForwardTo("odds", r)
				}
			})
		}, stream.Named("router"))
	routed.Peek(func(string, int64) {}, stream.Named("evens")).To("even", nil, nil)
	routed.MapValues(func(v int64) int64 { return v * 100 }, stream.Named("odds")).To("odd", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{})
	in := d.Input("numbers", serde.String(), serde.Int64())
	for i := range int64(6) {
		in.Pipe("n", i)
	}
	assert.Equal(t, []string{"n=0", "n=2", "n=4"}, kvs(d.Output("even", serde.String(), serde.Int64()).ReadAll()))
	assert.Equal(t, []string{"n=0", "n=100", "n=300", "n=500"}, kvs(d.Output("odd", serde.String(), serde.Int64()).ReadAll()))
	err := in.TryPipeRecord(stream.Record[string, int64]{Key: "n", Value: -1})
	var re *stream.RecordError
	require.ErrorAs(t, err, &re, "an unknown child is the processor's error, a bad record")
	assert.ErrorContains(t, err, `router: no child named "nowhere"; its children are [evens, odds]`)
}

func TestHeadersAndMetadata(t *testing.T) {
	b := stream.NewBuilder()
	stream.Source(b, "in", serde.String(), serde.String()).
		To("through", nil, nil)
	stream.Source(b, "through", serde.String(), serde.String()).
		Process(func() stream.Processor[string, string, string, string] {
			return stream.ProcessorFunc[string, string, string, string](func(ctx *stream.ProcessorContext[string, string], r stream.Record[string, string]) error {
				if !reflect.DeepEqual(ctx.Headers(), r.Headers) {
					return errors.New("ctx.Headers differs from the record's")
				}
				r.Headers = append(slices.Clone(r.Headers), stream.Header{Key: "seen-by", Value: []byte(ctx.Name())})
				r.Value = fmt.Sprintf("%s/%d/%d/%d/%s", ctx.Topic(), ctx.Partition(), ctx.Offset(), ctx.Timestamp(), ctx.TaskID())
				return ctx.Forward(r)
			})
		}, stream.Named("meta")).
		To("out", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{Partitions: 3})
	in := d.Input("in", serde.String(), serde.String())
	keys := []string{"a", "b", "c", "d", "e", "f", "a"}
	for i, k := range keys {
		in.PipeRecord(stream.Record[string, string]{Key: k, Value: "x", Timestamp: int64(100 + i),
			Headers: []stream.Header{{Key: "trace", Value: []byte(strconv.Itoa(i))}}})
	}
	recs := d.Output("out", serde.String(), serde.String()).Records()
	require.Len(t, recs, len(keys))
	offsets := map[int32]int64{}
	for i, r := range recs {
		p := partition(keys[i], 3)
		assert.Equal(t, p, r.Partition)
		want := fmt.Sprintf("through/%d/%d/%d/1_%d", p, offsets[p], 100+i, p)
		offsets[p]++
		assert.Equal(t, want, r.Value)
		assert.Equal(t, int64(100+i), r.Timestamp)
		assert.Equal(t, []stream.Header{{Key: "trace", Value: []byte(strconv.Itoa(i))}, {Key: "seen-by", Value: []byte("meta")}}, r.Headers)
	}
	// The input records kept their own headers.
	for _, r := range d.Output("through", serde.String(), serde.String()).Records() {
		assert.Len(t, r.Headers, 1)
	}
	assert.Greater(t, len(offsets), 1, "the keys are spread over several partitions")
}

// A spec connected to two processors gives them one store, and puts them
// in one sub-topology.
func TestSharedStore(t *testing.T) {
	totals := stream.KeyValueStore("totals", serde.String(), serde.Int64())
	b := stream.NewBuilder()
	stream.Source(b, "deposits", serde.String(), serde.Int64()).
		Process(func() stream.Processor[string, int64, string, int64] {
			return stream.ProcessorFunc[string, int64, string, int64](func(ctx *stream.ProcessorContext[string, int64], r stream.Record[string, int64]) error {
				kv, err := ctx.KeyValueStore(totals)
				if err != nil {
					return err
				}
				n, _, err := kv.Get(r.Key)
				if err != nil {
					return err
				}
				return kv.Put(r.Key, n+r.Value)
			})
		}, stream.WithStores(totals))
	stream.Source(b, "queries", serde.String(), serde.String()).
		Process(func() stream.Processor[string, string, string, int64] {
			return stream.ProcessorFunc[string, string, string, int64](func(ctx *stream.ProcessorContext[string, int64], r stream.Record[string, string]) error {
				kv, err := ctx.KeyValueStore(totals)
				if err != nil {
					return err
				}
				n, _, err := kv.Get(r.Key)
				if err != nil {
					return err
				}
				return ctx.Forward(stream.Record[string, int64]{Key: r.Key, Value: n, Timestamp: r.Timestamp})
			})
		}, stream.WithStores(totals)).
		To("answers", nil, serde.Int64())
	assert.NotContains(t, b.Describe(), "Sub-topology: 1")
	d := streamtest.New(t, b, streamtest.Config{Partitions: 2})
	deposits := d.Input("deposits", serde.String(), serde.Int64())
	queries := d.Input("queries", serde.String(), serde.String())
	deposits.Pipe("ann", 10)
	deposits.Pipe("bob", 5)
	deposits.Pipe("ann", 7)
	queries.Pipe("ann", "?")
	queries.Pipe("bob", "?")
	queries.Pipe("cid", "?")
	assert.Equal(t, []string{"ann=17", "bob=5", "cid=0"}, kvs(d.Output("answers", serde.String(), serde.Int64()).ReadAll()))

	// Another spec with the same name is a mistake.
	b2 := stream.NewBuilder()
	s := stream.Source(b2, "in", serde.String(), serde.Int64())
	s.Process(func() stream.Processor[string, int64, string, int64] { return nil }, stream.WithStores(totals))
	s.Process(func() stream.Processor[string, int64, string, int64] { return nil },
		stream.WithStores(stream.KeyValueStore("totals", serde.String(), serde.Int64())))
	assert.ErrorContains(t, b2.Build(), `two stores are named "totals"`)
}

func TestProcessorErrors(t *testing.T) {
	other := stream.KeyValueStore("other", serde.String(), serde.String())
	build := func(init func(ctx *stream.ProcessorContext[string, string]) error) *stream.Builder {
		b := stream.NewBuilder()
		stream.Source(b, "in", serde.String(), serde.String()).
			Process(func() stream.Processor[string, string, string, string] { return initFunc(init) }, stream.Named("p"))
		return b
	}
	// An error in Init stops the driver at New, as it stops an App.
	assert.PanicsWithError(t, "task 0_0: init: processor p: not connected: processor p: store \"other\" is not connected to it: pass its spec with stream.WithStores",
		func() {
			streamtest.New(nil, build(func(ctx *stream.ProcessorContext[string, string]) error {
				_, err := ctx.KeyValueStore(other)
				return fmt.Errorf("not connected: %w", err)
			}), streamtest.Config{})
		})

	// A punctuator's error is fatal, even when bad records are skipped.
	d := streamtest.New(t, build(func(ctx *stream.ProcessorContext[string, string]) error {
		ctx.Schedule(time.Second, stream.WallClock, func(int64) error { return errors.New("boom") })
		return nil
	}), streamtest.Config{OnBadRecord: stream.SkipBadRecord()})
	err := d.TryAdvanceWallClock(time.Second)
	var pe *stream.PunctuationError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "p", pe.Node)
	assert.Equal(t, "0_0", pe.Task)
	assert.Equal(t, int64(1000), pe.Time)
	assert.Equal(t, "wall-clock", pe.Type.String())
	assert.ErrorContains(t, d.TryAdvanceWallClock(time.Second), "the driver stopped after an error")
}
