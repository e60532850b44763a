package benchmarks

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/embedded"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	flagLatRate   = flag.Int("latency-rate", 50000, "BenchmarkLatency: input records per second, paced")
	flagLatDur    = flag.Duration("latency-duration", 5*time.Second, "BenchmarkLatency: how long each pipeline's latencies are measured")
	flagLatWarm   = flag.Duration("latency-warmup", time.Second, "BenchmarkLatency: paced input before the measurement, whose latencies are not counted")
	flagLatLinger = flag.Duration("latency-linger", 0, "BenchmarkLatency: kgo.ProducerLinger of every pipeline's producer (brook through Config.ClientOpts); franz-go's default is 10ms")
)

// BenchmarkLatency measures end-to-end latency at a fixed input rate: a
// producer paces itself at -latency-rate records per second (default 50k)
// into a 4-partition topic, each value carrying its send time (Unix
// nanoseconds, 8 bytes, then 40 bytes of padding); a pipeline turns each
// input record into one output record that carries the same send time; a
// consumer of the output (read_committed, in this process) takes, for each
// record, the time it received it minus the send time. The input producer
// does not linger (kgo.ProducerLinger(0)); the pipelines' producers linger
// -latency-linger (default 0; franz-go's default is 10ms, which adds up to
// that much to every figure).
//
// Sub-benchmarks, each running the raw franz-go pipe and brook one after
// the other on the same in-process Kafka:
//
//	stateless/at-least-once   rawPipe vs Source -> MapValues -> To, AtLeastOnce
//	stateless/exactly-once    rawPipeTxn vs the same, ExactlyOnce
//	count/at-least-once       rawPipe counting in a Go map vs GroupByKey ->
//	                          Aggregate (count and latest send time, in a
//	                          Pebble store with a changelog), AtLeastOnce
//	count/exactly-once        rawPipeTxn vs the same, ExactlyOnce
//
// Both commit every 100ms (brook's default CommitInterval). Under
// exactly-once an output record is visible to read_committed consumers
// only when its transaction commits, so latency includes the wait for the
// next commit: about half the commit interval on average, up to all of it.
//
// Each pipeline starts, processes one priming record end to end (so group
// join and start-up are not measured), then gets -latency-warmup of paced
// input (not counted) and -latency-duration of paced input (counted). It
// reports raw-p50-ms, raw-p99-ms, raw-p999-ms, raw-max-ms and the same
// for brook, and in-rec/s, the input rate achieved (the producer runs in
// this process too and may fall behind on a loaded machine; -v logs each
// run). Run it alone, once:
//
//	GOTOOLCHAIN=auto go test -run '^$' -bench Latency -benchtime 1x ./internal/benchmarks/
func BenchmarkLatency(b *testing.B) {
	base, _ := goroutines()
	b.Cleanup(func() { checkGoroutines(b, base) })
	c, err := embedded.Start()
	if err != nil {
		b.Fatalf("start in-process kafka: %v", err)
	}
	b.Cleanup(c.Close)
	for _, tc := range latencyCases() {
		b.Run(tc.name, func(b *testing.B) {
			res := map[string]*latResult{}
			iter := 0
			for b.Loop() {
				for _, p := range tc.pipes {
					r, err := runLatency(b, c.Addrs(), tc.name, p, iter, *flagLatRate, *flagLatWarm, *flagLatDur)
					if err != nil {
						b.Fatalf("%s, %s: %v", tc.name, p.name, err)
					}
					b.Logf("%-26s %-5s %v", tc.name, p.name, r)
					if res[p.name] == nil {
						res[p.name] = &latResult{}
					}
					res[p.name].merge(r)
				}
				iter++
			}
			for _, p := range tc.pipes {
				r := res[p.name]
				b.ReportMetric(r.pct(0.50), p.name+"-p50-ms")
				b.ReportMetric(r.pct(0.99), p.name+"-p99-ms")
				b.ReportMetric(r.pct(0.999), p.name+"-p999-ms")
				b.ReportMetric(r.pct(1), p.name+"-max-ms")
			}
			b.ReportMetric(res[tc.pipes[0].name].rate(), "in-rec/s")
		})
	}
}

// TestLatencyHarness runs every latency pipeline briefly at a low rate: each
// must deliver every record, and the figures must be sane.
func TestLatencyHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("latency harness skipped in -short mode")
	}
	c, err := embedded.Start()
	if err != nil {
		t.Fatalf("start in-process kafka: %v", err)
	}
	t.Cleanup(c.Close)
	for _, tc := range latencyCases() {
		for _, p := range tc.pipes {
			r, err := runLatency(t, c.Addrs(), tc.name, p, 0, 2000, 100*time.Millisecond, 300*time.Millisecond)
			if err != nil {
				t.Fatalf("%s, %s: %v", tc.name, p.name, err)
			}
			if len(r.lat) < 500 || r.pct(0.5) <= 0 || r.pct(1) > 10000 {
				t.Errorf("%s, %s: implausible: %v", tc.name, p.name, r)
			}
			t.Logf("%-26s %-5s %v", tc.name, p.name, r)
		}
	}
}

// latCase is a sub-benchmark: a topology under one guarantee, its raw pipe
// and brook.
type latCase struct {
	name  string
	pipes []latPipe
}

// latPipe is one pipeline of a latency case. run runs it from input to
// output until ctx is done (a raw pipe may return once it has consumed n
// records); sentAt extracts the send time from an output value.
type latPipe struct {
	name   string
	run    func(ctx context.Context, addrs []string, input, output, id string, n int) error
	sentAt func(value []byte) (int64, bool)
}

func latencyCases() []latCase {
	var cases []latCase
	for _, topo := range []string{"stateless", "count"} {
		for _, eos := range []bool{false, true} {
			g, gname := stream.AtLeastOnce, "at-least-once"
			if eos {
				g, gname = stream.ExactlyOnce, "exactly-once"
			}
			work, build, sentAt := latPass, latStatelessTopology, latSentStateless
			if topo == "count" {
				work, build, sentAt = latCounter, latCountTopology, latSentCount
			}
			raw := latPipe{name: "raw", sentAt: sentAt, run: func(ctx context.Context, addrs []string, input, output, id string, n int) error {
				linger := kgo.ProducerLinger(*flagLatLinger)
				var err error
				if eos {
					_, err = rawPipeTxn(ctx, addrs, input, id, id, n, commitInterval, work(output), linger)
				} else {
					_, err = rawPipe(ctx, addrs, input, id, n, commitInterval, work(output), linger)
				}
				return err
			}}
			brook := latPipe{name: "brook", sentAt: sentAt, run: func(ctx context.Context, addrs []string, input, output, id string, _ int) error {
				dir, err := os.MkdirTemp("", "brook-latency-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				app, err := stream.New(build(input, output), stream.Config{
					AppID:      id,
					Brokers:    addrs,
					Guarantee:  g,
					StateDir:   dir,
					ClientOpts: []kgo.Opt{kgo.ProducerLinger(*flagLatLinger)},
				})
				if err != nil {
					return err
				}
				return app.Run(ctx)
			}}
			cases = append(cases, latCase{name: topo + "/" + gname, pipes: []latPipe{raw, brook}})
		}
	}
	return cases
}

// latValueSize is the size of an input value: 8 bytes of send time, then
// padding.
const latValueSize = 48

// latPass is the raw stateless work: the record as it came, to output.
func latPass(output string) recordFunc {
	return func(r *kgo.Record, produce func(*kgo.Record)) bool {
		produce(&kgo.Record{Topic: output, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp})
		return true
	}
}

// latCounter is the raw count: per key, the count and the latest send
// time, 16 bytes, as latCountTopology's aggregate.
func latCounter(output string) recordFunc {
	counts := map[string]uint64{}
	return func(r *kgo.Record, produce func(*kgo.Record)) bool {
		k := string(r.Key)
		n := counts[k] + 1
		counts[k] = n
		v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), n)
		v = append(v, r.Value[:8]...)
		produce(&kgo.Record{Topic: output, Key: r.Key, Value: v, Timestamp: r.Timestamp})
		return true
	}
}

// latStatelessTopology passes values through a MapValues (a copy).
func latStatelessTopology(input, output string) *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, input, serde.String(), serde.Bytes()).
		MapValues(func(v []byte) []byte { return slices.Clone(v) }).
		To(output, nil, nil)
	return b
}

// latCountTopology counts by key, the aggregate also holding the latest
// input's send time: 8 bytes of count, 8 of send time.
func latCountTopology(input, output string) *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, input, serde.String(), serde.Bytes()).
		GroupByKey().
		Aggregate(func() []byte { return make([]byte, 16) }, func(_ string, v, agg []byte) []byte {
			out := binary.BigEndian.AppendUint64(make([]byte, 0, 16), binary.BigEndian.Uint64(agg)+1)
			return append(out, v[:8]...)
		}, serde.Bytes(), stream.Materialized("latency-counts")).
		ToStream().
		To(output, nil, nil)
	return b
}

func latSentStateless(v []byte) (int64, bool) {
	if len(v) != latValueSize {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), true
}

func latSentCount(v []byte) (int64, bool) {
	if len(v) != 16 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v[8:])), true
}

// latResult holds the latencies of one or more runs.
type latResult struct {
	lat      []time.Duration // sorted by pct
	sent     int             // records paced (warm-up and measured)
	paceTime time.Duration   // how long pacing them took
}

func (r *latResult) merge(o latResult) {
	r.lat = append(r.lat, o.lat...)
	r.sent += o.sent
	r.paceTime += o.paceTime
	slices.Sort(r.lat)
}

// pct returns the q-quantile of the latencies in milliseconds.
func (r *latResult) pct(q float64) float64 {
	if len(r.lat) == 0 {
		return 0
	}
	i := min(int(q*float64(len(r.lat))), len(r.lat)-1)
	return float64(r.lat[i].Microseconds()) / 1000
}

// rate is the input rate achieved, records per second.
func (r *latResult) rate() float64 { return float64(r.sent) / r.paceTime.Seconds() }

func (r latResult) String() string {
	return fmt.Sprintf("p50 %6.2fms  p99 %6.2fms  p999 %6.2fms  max %6.2fms  (%d records measured, input %.0f rec/s)",
		r.pct(0.5), r.pct(0.99), r.pct(0.999), r.pct(1), len(r.lat), r.rate())
}

// runLatency runs pipeline p once: fresh input and output topics, the
// pipeline started, one priming record waited for at the output, then
// warm+measure of input paced at rate; it returns the latencies of the
// records sent during measure, once every record has arrived.
func runLatency(tb testing.TB, addrs []string, name string, p latPipe, iter, rate int, warm, measure time.Duration) (res latResult, err error) {
	tb.Helper()
	id := fmt.Sprintf("lat-%s-%s-%d", strings.ReplaceAll(name, "/", "-"), p.name, iter)
	input, output := id+"-in", id+"-out"
	setup, cancelSetup := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelSetup()
	for _, t := range []string{input, output} {
		if err := embedded.CreateTopic(setup, addrs, t, int32(*flagPartitions), nil); err != nil {
			return res, err
		}
	}
	defer func() {
		cl, cerr := kgo.NewClient(kgo.SeedBrokers(addrs...))
		if cerr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			kadm.NewClient(cl).DeleteTopics(ctx, input, output)
			cancel()
			cl.Close()
		}
	}()
	n := 1 + int(float64(rate)*(warm+measure).Seconds())

	// The reader, started first, reads the output from its start.
	rd, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.ConsumeTopics(output),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return res, err
	}
	defer rd.Close()
	var measureFrom atomic.Int64 // send times from here on are counted
	measureFrom.Store(1<<63 - 1)
	var (
		mu      sync.Mutex
		lat     []time.Duration
		got     int
		primed  = make(chan struct{})
		all     = make(chan struct{})
		readErr error
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second+2*(warm+measure))
	defer cancel()
	readDone := make(chan struct{})
	defer func() { cancel(); <-readDone }()
	go func() {
		defer close(readDone)
		for ctx.Err() == nil {
			fs := rd.PollFetches(ctx)
			now := time.Now().UnixNano()
			fs.EachError(func(t string, part int32, err error) {
				if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					mu.Lock()
					readErr = fmt.Errorf("read %s/%d: %w", t, part, err)
					mu.Unlock()
				}
			})
			mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				sent, ok := p.sentAt(r.Value)
				if !ok {
					readErr = fmt.Errorf("output record at %s/%d@%d has a value of %d bytes", r.Topic, r.Partition, r.Offset, len(r.Value))
					return
				}
				got++
				if got == 1 {
					close(primed)
				}
				if sent >= measureFrom.Load() {
					lat = append(lat, time.Duration(now-sent))
				}
				if got == n {
					close(all)
				}
			})
			mu.Unlock()
		}
	}()

	// The pipeline.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runc := make(chan error, 1)
	// The label separates the pipelines in a CPU profile (see doc.go).
	go pprof.Do(runCtx, pprof.Labels("pipeline", p.name), func(ctx context.Context) { runc <- p.run(ctx, addrs, input, output, id, n) })
	defer func() {
		stop()
		select {
		case rerr := <-runc:
			if rerr != nil && !errors.Is(rerr, context.Canceled) && err == nil {
				err = fmt.Errorf("pipeline: %w", rerr)
			}
		case <-time.After(30 * time.Second):
			if err == nil {
				err = errors.New("the pipeline did not stop within 30s")
			}
		}
	}()

	// The paced producer.
	pr, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(input), kgo.ProducerLinger(0))
	if err != nil {
		return res, err
	}
	defer pr.Close()
	var perr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			perr.CompareAndSwap(nil, &err)
		}
	}
	rng := rand.New(rand.NewPCG(inputSeed, uint64(iter)))
	send := func() {
		v := make([]byte, latValueSize)
		binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
		pr.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%04d", rng.IntN(keyCount)), Value: v}, promise)
	}
	send() // the priming record
	select {
	case <-primed:
	case rerr := <-runc:
		runc <- rerr
		return res, fmt.Errorf("the pipeline stopped before its first output: %v", rerr)
	case <-ctx.Done():
		return res, errors.New("no output for the priming record")
	}
	start := time.Now()
	measureFrom.Store(start.Add(warm).UnixNano())
	total := n - 1
	sent := 0
	tick := time.NewTicker(time.Millisecond)
	for sent < total && ctx.Err() == nil {
		<-tick.C
		due := min(total, int(time.Since(start).Seconds()*float64(rate)))
		for ; sent < due; sent++ {
			send()
		}
	}
	tick.Stop()
	res.paceTime = time.Since(start)
	res.sent = sent
	if p := perr.Load(); p != nil {
		return res, fmt.Errorf("produce input: %w", *p)
	}
	select {
	case <-all:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		return res, fmt.Errorf("%d of %d output records arrived (read error: %v)", got, n, readErr)
	}
	mu.Lock()
	defer mu.Unlock()
	if readErr != nil {
		return res, readErr
	}
	res.lat = slices.Clone(lat)
	slices.Sort(res.lat)
	return res, nil
}
