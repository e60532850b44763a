package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

var lastValue = stream.KeyValueStore("last-value", serde.String(), serde.String())

// dedupe forwards a record only when its value differs from the key's
// last value, kept in a store, to the child "changes". Every 10s of stream
// time it forwards its task id to the child "ticks".
type dedupe struct {
	last state.KeyValue[string, string]
}

func (d *dedupe) Init(ctx *stream.ProcessorContext[string, string]) error {
	kv, err := ctx.KeyValueStore(lastValue)
	if err != nil {
		return err
	}
	d.last = kv
	ctx.Schedule(10*time.Second, stream.StreamTime, func(now int64) error {
		return ctx.ForwardTo("ticks", stream.Record[string, string]{Key: "tick", Value: ctx.TaskID().String(), Timestamp: now})
	})
	return nil
}

func (d *dedupe) Process(ctx *stream.ProcessorContext[string, string], r stream.Record[string, string]) error {
	old, ok, err := d.last.Get(r.Key)
	if err != nil || (ok && old == r.Value) {
		return err
	}
	if err := d.last.Put(r.Key, r.Value); err != nil {
		return err
	}
	return ctx.ForwardTo("changes", r)
}

func (d *dedupe) Close() error { return nil }

// TestProcessorWithStore runs a Processor API topology with a store on
// Kafka: the runtime creates the store's changelog, commits it and serves
// queries on it; stream-time punctuators fire under the runtime as they do
// under the test driver.
func TestProcessorWithStore(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("p-in", 2)
	k.Topic("p-out", 2)
	k.Topic("p-ticks", 2)
	var recs []*kgo.Record
	for round := range 3 {
		for i := range 10 {
			recs = append(recs, &kgo.Record{Topic: "p-in", Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", round/2),
				Timestamp: time.UnixMilli(int64(round*10000 + i))})
		}
	}
	k.Produce(false, recs...)
	b := stream.NewBuilder()
	p := stream.Source(b, "p-in", serde.String(), serde.String()).
		Process(func() stream.Processor[string, string, string, string] { return &dedupe{} },
			stream.WithStores(lastValue), stream.Named("dedupe"))
	p.Filter(func(string, string) bool { return true }, stream.Named("changes")).To("p-out", nil, nil)
	p.Filter(func(string, string) bool { return true }, stream.Named("ticks")).To("p-ticks", nil, nil)
	assert.Contains(t, b.Describe(), "Processor: dedupe (stores: [last-value])")
	app, err := stream.New(b, stream.Config{AppID: "proc", Brokers: k.Addrs, StateDir: t.TempDir()})
	require.NoError(t, err)
	go app.Run(context.Background())
	defer app.Close()

	// Round 1 repeats round 0's values: only rounds 0 and 2 come out.
	out := k.Read("p-out", 20, 20*time.Second)
	require.Len(t, out, 20)
	want := map[string]string{}
	for i := range 10 {
		want[fmt.Sprintf("k%d", i)] = "v1"
	}
	waitLatest(t, k, "p-out", serde.String(), want)

	// The changelog exists, with a partition per task.
	adm := newAdm(k.Client())
	td, err := adm.ListTopics(context.Background(), "proc-last-value-changelog")
	require.NoError(t, err)
	assert.Len(t, td["proc-last-value-changelog"].Partitions, 2)
	waitLatest(t, k, "proc-last-value-changelog", serde.String(), want)

	// Queries see the processor's store.
	view, err := app.Store[string, string]("last-value")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got := map[string]string{}
		for k, v := range view.All() {
			got[k] = v
		}
		return assert.ObjectsAreEqual(want, got)
	}, 10*time.Second, 50*time.Millisecond)
	v, ok, err := view.Get("k3")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "v1", v)

	// Both tasks punctuated on stream time: at their first record, at 10s
	// and at 20s.
	ticks := map[string]int{}
	for _, r := range k.Read("p-ticks", 6, 10*time.Second) {
		ticks[string(r.Value)]++
	}
	assert.Equal(t, map[string]int{"0_0": 3, "0_1": 3}, ticks)
}

// TestWallClockPunctuationRuntime checks that the runtime ticks wall-clock
// punctuators: each task forwards one record from a punctuator that
// cancels itself, inside an exactly-once transaction.
func TestWallClockPunctuationRuntime(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("wc-in", 2)
	k.Topic("wc-ticks", 2)
	b := stream.NewBuilder()
	stream.Source(b, "wc-in", serde.String(), serde.String()).
		Process(func() stream.Processor[string, string, string, string] { return &ticker{} }).
		To("wc-ticks", nil, nil)
	start(t, k, b, stream.Config{})
	got := k.Read("wc-ticks", 2, 15*time.Second)
	require.Len(t, got, 2)
	assert.ElementsMatch(t, []string{"tick=0_0", "tick=0_1"}, kvs(got))
}

type ticker struct{}

func (*ticker) Init(ctx *stream.ProcessorContext[string, string]) error {
	var cancel func()
	cancel = ctx.Schedule(50*time.Millisecond, stream.WallClock, func(now int64) error {
		cancel()
		return ctx.Forward(stream.Record[string, string]{Key: "tick", Value: ctx.TaskID().String(), Timestamp: now})
	})
	return nil
}

func (*ticker) Process(*stream.ProcessorContext[string, string], stream.Record[string, string]) error {
	return nil
}

func (*ticker) Close() error { return nil }
