package stream_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
)

// onChange forwards a reading only when it differs from the sensor's last
// reading, which it keeps in a key-value store.
type onChange struct {
	spec *stream.KeyValueStoreSpec[string, string]
	last state.KeyValue[string, string]
}

func (p *onChange) Init(ctx *stream.ProcessorContext[string, string]) error {
	var err error
	p.last, err = ctx.KeyValueStore(p.spec)
	return err
}

func (p *onChange) Process(ctx *stream.ProcessorContext[string, string], r stream.Record[string, string]) error {
	old, ok, err := p.last.Get(r.Key)
	if err != nil || (ok && old == r.Value) {
		return err
	}
	if err := p.last.Put(r.Key, r.Value); err != nil {
		return err
	}
	return ctx.Forward(r)
}

func (p *onChange) Close() error { return nil }

// A processor with a store, run by the test driver.
func ExampleStream_Process() {
	last := stream.KeyValueStore("last-reading", serde.String(), serde.String())
	b := stream.NewBuilder()
	stream.Source(b, "readings", serde.String(), serde.String()).
		Process(func() stream.Processor[string, string, string, string] { return &onChange{spec: last} },
			stream.WithStores(last)).
		To("changes", nil, nil)

	d := streamtest.New(nil, b, streamtest.Config{})
	defer d.Close()
	in := d.Input("readings", serde.String(), serde.String())
	for _, r := range []string{"door=open", "door=open", "light=on", "door=closed", "light=on"} {
		k, v, _ := strings.Cut(r, "=")
		in.Pipe(k, v)
	}
	for _, kv := range d.Output("changes", serde.String(), serde.String()).ReadAll() {
		fmt.Println(kv.Key, kv.Value)
	}
	// Output:
	// door open
	// light on
	// door closed
}

// batcher collects values and forwards them together every 10 seconds of
// wall-clock time, from a punctuator scheduled in Init.
type batcher struct{ batch []string }

func (p *batcher) Init(ctx *stream.ProcessorContext[string, string]) error {
	ctx.Schedule(10*time.Second, stream.WallClock, func(now int64) error {
		if len(p.batch) == 0 {
			return nil
		}
		out := strings.Join(p.batch, " ")
		p.batch = p.batch[:0]
		return ctx.Forward(stream.Record[string, string]{Key: "batch", Value: out, Timestamp: now})
	})
	return nil
}

func (p *batcher) Process(_ *stream.ProcessorContext[string, string], r stream.Record[string, string]) error {
	p.batch = append(p.batch, r.Value)
	return nil
}

func (p *batcher) Close() error { return nil }

// A wall-clock punctuator, driven by the test driver's clock.
func ExampleProcessorContext_Schedule() {
	b := stream.NewBuilder()
	stream.Source(b, "words", serde.String(), serde.String()).
		Process(func() stream.Processor[string, string, string, string] { return &batcher{} }).
		To("batches", nil, nil)

	d := streamtest.New(nil, b, streamtest.Config{})
	defer d.Close()
	in := d.Input("words", serde.String(), serde.String())
	out := d.Output("batches", serde.String(), serde.String())
	in.Pipe("", "hello")
	in.Pipe("", "brook")
	d.AdvanceWallClock(5 * time.Second)
	fmt.Println("after 5s:", out.Len(), "batches")
	d.AdvanceWallClock(5 * time.Second)
	in.Pipe("", "bye")
	d.AdvanceWallClock(10 * time.Second)
	for _, r := range out.Records() {
		fmt.Printf("%s at %ds\n", r.Value, r.Timestamp/1000)
	}
	// Output:
	// after 5s: 0 batches
	// hello brook at 10s
	// bye at 20s
}
