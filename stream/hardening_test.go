package stream_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testLogger logs at Info to stderr when BROOK_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("BROOK_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// producesTo returns a function that reports whether a request is a
// produce request with records for topic (named, or by its topic id).
func producesTo(t *testing.T, k *kafkatest.Kafka, topic string) func(kmsg.Request) bool {
	td, err := newAdm(k.Client()).ListTopics(context.Background(), topic)
	require.NoError(t, err)
	id := td[topic].ID
	return func(req kmsg.Request) bool {
		pr, ok := req.(*kmsg.ProduceRequest)
		if !ok {
			return false
		}
		for _, pt := range pr.Topics {
			if pt.Topic == topic || pt.TopicID == id {
				return true
			}
		}
		return false
	}
}

// TestAtLeastOnceFlushDeadlineKeepsStore: under at-least-once, the first
// produce of a commit is held by the broker past the commit deadline
// (TransactionTimeout), so Flush fails and the App stops. The commit that
// Run makes on the way out, once the broker answers, must write the store
// and its changelog checkpoint together: after a restart the store holds
// every update (3), none skipped by a checkpoint that ran ahead of the
// data.
func TestAtLeastOnceFlushDeadlineKeepsStore(t *testing.T) {
	k := kafkatest.New(t)
	kf := k.Kfake("holds a produce request with ControlKey")
	k.Topic("fd-in", 1)
	k.Topic("fd-out", 1)
	cfg := stream.Config{AppID: "fd", Brokers: k.Addrs, StateDir: t.TempDir(), Guarantee: stream.AtLeastOnce, TransactionTimeout: time.Second, Logger: testLogger()}
	app, err := stream.New(countByKey("fd-in", "fd-counts", "fd-out"), cfg)
	require.NoError(t, err)
	runErr := make(chan error, 1)
	go func() { runErr <- app.Run(context.Background()) }()
	k.Produce(false, rec("fd-in", "k", "a"))
	require.Len(t, k.Read("fd-out", 1, 20*time.Second), 1)
	time.Sleep(500 * time.Millisecond) // a commit of the first record

	// Hold the App's next produce (output and changelog) for 1.6s.
	var held atomic.Bool
	toOut := producesTo(t, k, "fd-out")
	kf.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if toOut(req) && held.CompareAndSwap(false, true) {
			t.Logf("holding %v", time.Now())
			kf.SleepControl(func() { time.Sleep(1600 * time.Millisecond) })
			t.Logf("released %v", time.Now())
		}
		return nil, nil, false
	})
	k.Produce(false, rec("fd-in", "k", "b"))
	select {
	case err = <-runErr:
	case <-time.After(30 * time.Second):
		t.Fatal("the App did not stop at the commit deadline")
	}
	t.Logf("first run: %v", err)
	require.True(t, held.Load())

	app, err = stream.New(countByKey("fd-in", "fd-counts", "fd-out"), cfg)
	require.NoError(t, err)
	go app.Run(context.Background())
	defer app.Close()
	k.Produce(false, rec("fd-in", "k", "c"))
	view, err := app.Store[string, int64]("fd-counts")
	require.NoError(t, err)
	requireStore(t, view, map[string]int64{"k": 3}, 20*time.Second)
	out := k.ReadAll("fd-out", time.Second)
	assert.Equal(t, []int64{1, 2, 3}, countUpdates(t, out)["k"])
}

// stampProcessor forwards, for every record, the stream time it sees, and
// every 10s of stream time a tick with the punctuation's time.
type stampProcessor struct{}

func (stampProcessor) Init(ctx *stream.ProcessorContext[string, string]) error {
	ctx.Schedule(10*time.Second, stream.StreamTime, func(now int64) error {
		return ctx.Forward(stream.Record[string, string]{Key: "tick", Value: fmt.Sprint(now), Timestamp: now})
	})
	return nil
}

func (stampProcessor) Process(ctx *stream.ProcessorContext[string, string], r stream.Record[string, string]) error {
	return ctx.Forward(stream.Record[string, string]{Key: r.Key, Value: fmt.Sprint(ctx.StreamTime()), Timestamp: r.Timestamp})
}

func (stampProcessor) Close() error { return nil }

// TestAbortRollsBackStreamTime: under exactly-once the first transaction
// that commits offsets is aborted by the broker (TxnOffsetCommit fails with
// an abortable error). The records are processed again from the committed
// offsets, and must meet the stream time and the punctuation schedule they
// met the first time: the committed output is exactly what a run without
// the abort writes, the first punctuation included.
func TestAbortRollsBackStreamTime(t *testing.T) {
	k := kafkatest.New(t)
	kf := k.Kfake("fails a TxnOffsetCommit with a kfake fault")
	k.Topic("st-in", 1)
	k.Topic("st-out", 1)
	var recs []*kgo.Record
	for _, ts := range []int64{1000, 2000, 12000, 5000, 21000} {
		r := rec("st-in", fmt.Sprint("r", ts), "x")
		r.Timestamp = time.UnixMilli(ts)
		recs = append(recs, r)
	}
	k.Produce(false, recs...)
	fault := kf.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.TxnOffsetCommit}, Topic: "st-in", Err: kerr.UnknownServerError})
	defer fault.Remove()

	b := stream.NewBuilder()
	stream.Source(b, "st-in", serde.String(), serde.String()).
		Process(func() stream.Processor[string, string, string, string] { return stampProcessor{} }).
		To("st-out", nil, nil)
	start(t, k, b, stream.Config{})
	want := []string{
		"r1000=1000", "tick=1000", "r2000=2000", "r12000=12000", "tick=12000",
		"r5000=12000", "r21000=21000", "tick=21000",
	}
	out := k.Read("st-out", len(want), 20*time.Second)
	require.Equal(t, 1, fault.Hits(), "no transaction was aborted")
	assert.Equal(t, want, kvs(out))
	assert.Len(t, k.ReadAll("st-out", time.Second), len(want))
}

// TestCloseWhileBrokerStalls: the broker holds every produce request of the
// App, and its producer buffer fills, so workers block in Produce. Close
// must return within about two commit deadlines (TransactionTimeout 1s),
// not when the broker recovers (40s later), and Run must say why it
// failed.
func TestCloseWhileBrokerStalls(t *testing.T) {
	for _, g := range []stream.Guarantee{stream.ExactlyOnce, stream.AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) {
			k := kafkatest.New(t)
			kf := k.Kfake("stalls produce requests with ControlKey")
			k.Topic("stall-in", 1)
			k.Topic("stall-out", 1)
			b := stream.NewBuilder()
			stream.Source(b, "stall-in", serde.String(), serde.String()).To("stall-out", nil, nil)
			cfg := stream.Config{AppID: "stall", Brokers: k.Addrs, StateDir: t.TempDir(), Guarantee: g, TransactionTimeout: time.Second,
				ClientOpts: []kgo.Opt{kgo.MaxBufferedRecords(10)}}
			app, err := stream.New(b, cfg)
			require.NoError(t, err)
			runErr := make(chan error, 1)
			go func() { runErr <- app.Run(context.Background()) }()
			k.Produce(false, rec("stall-in", "k", "0"))
			require.Len(t, k.Read("stall-out", 1, 20*time.Second), 1)

			var recs []*kgo.Record
			for i := range 200 {
				recs = append(recs, rec("stall-in", "k", fmt.Sprint(i+1)))
			}
			// The worker blocks in Produce; no commit deadline has passed
			// yet when Close is called.
			closeWhileStalled(t, k, kf, app, runErr, "stall-out", recs, 300*time.Millisecond)
		})
	}
}

// TestCloseWhileChangelogStalls: the broker holds every produce request of
// the App's changelog, and a commit flushes more changelog records than
// the producer's buffer holds, so the commit itself blocks in Produce (a
// count with no output topic: only commits produce). Close must return
// within about two commit deadlines, not when the broker recovers (40s
// later), and Run must say why it failed.
func TestCloseWhileChangelogStalls(t *testing.T) {
	for _, g := range []stream.Guarantee{stream.ExactlyOnce, stream.AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) {
			k := kafkatest.New(t)
			kf := k.Kfake("stalls produce requests with ControlKey")
			k.Topic("cstall-in", 1)
			b := stream.NewBuilder()
			stream.Source(b, "cstall-in", serde.String(), serde.String()).GroupByKey().Count(stream.Materialized("n"))
			cfg := stream.Config{AppID: "cstall", Brokers: k.Addrs, StateDir: t.TempDir(), Guarantee: g, TransactionTimeout: time.Second,
				ClientOpts: []kgo.Opt{kgo.MaxBufferedRecords(10)}}
			app, err := stream.New(b, cfg)
			require.NoError(t, err)
			runErr := make(chan error, 1)
			go func() { runErr <- app.Run(context.Background()) }()
			k.Produce(false, rec("cstall-in", "k", "0"))
			require.Len(t, k.Read("cstall-n-changelog", 1, 20*time.Second), 1)

			var recs []*kgo.Record
			for i := range 200 {
				recs = append(recs, rec("cstall-in", fmt.Sprint("k", i), "x"))
			}
			// A commit starts and blocks in Produce.
			closeWhileStalled(t, k, kf, app, runErr, "cstall-n-changelog", recs, 500*time.Millisecond)
		})
	}
}

// closeWhileStalled makes the broker hold every produce request to topic
// (for 40 s), produces recs, waits settle, and closes app: Close must
// return within about two commit deadlines (5 s), not when the broker
// recovers, and Run (whose result runErr gives) must fail.
func closeWhileStalled(t *testing.T, k *kafkatest.Kafka, kf *kfake.Cluster, app *stream.App, runErr <-chan error, topic string, recs []*kgo.Record, settle time.Duration) {
	t.Helper()
	release := make(chan struct{})
	stall := time.AfterFunc(40*time.Second, func() { close(release) })
	defer func() {
		if stall.Stop() {
			close(release)
		}
	}()
	held := producesTo(t, k, topic)
	kf.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if held(req) {
			kf.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	k.Produce(false, recs...)
	time.Sleep(settle)

	begin := time.Now()
	closed := make(chan struct{})
	go func() { app.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatalf("Close did not return within 15s while the broker stalls produce requests to %q", topic)
	}
	took := time.Since(begin)
	err := <-runErr
	t.Logf("Close took %v; Run: %v", took, err)
	assert.Less(t, took, 5*time.Second)
	require.Error(t, err)
}

// TestFailedRecordNotHalfCommitted: under at-least-once with
// FailOnBadRecord, a record updates the store and then fails in a later
// operator. Its offset is not committed, so the update must not be either:
// after a restart the record is processed once more and the count is 2,
// not 3.
func TestFailedRecordNotHalfCommitted(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("half-in", 1)
	k.Topic("half-out", 1)
	var boom atomic.Bool
	boom.Store(true)
	topology := func() *stream.Builder {
		b := stream.NewBuilder()
		stream.Source(b, "half-in", serde.String(), serde.String()).
			GroupByKey().
			Count(stream.Materialized("half-counts")).
			ToStream().
			Peek(func(_ string, n int64) {
				if n == 2 && boom.Load() {
					panic("boom")
				}
			}).
			To("half-out", nil, nil)
		return b
	}
	cfg := stream.Config{AppID: "half", Brokers: k.Addrs, StateDir: t.TempDir(), Guarantee: stream.AtLeastOnce}
	app, err := stream.New(topology(), cfg)
	require.NoError(t, err)
	runErr := make(chan error, 1)
	go func() { runErr <- app.Run(context.Background()) }()
	k.Produce(false, rec("half-in", "k", "a"))
	require.Len(t, k.Read("half-out", 1, 20*time.Second), 1)
	time.Sleep(500 * time.Millisecond) // a commit of the first record
	k.Produce(false, rec("half-in", "k", "b"))
	err = <-runErr
	var re *stream.RecordError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, int64(1), re.Offset)

	boom.Store(false)
	app, err = stream.New(topology(), cfg)
	require.NoError(t, err)
	go app.Run(context.Background())
	defer app.Close()
	view, err := app.Store[string, int64]("half-counts")
	require.NoError(t, err)
	requireStore(t, view, map[string]int64{"k": 2}, 20*time.Second)
	assert.Equal(t, []int64{1, 2}, countUpdates(t, k.ReadAll("half-out", time.Second))["k"])
}

// TestRunTwice: a second Run, after the first returned or while it runs,
// returns ErrClosed; it neither panics nor takes over the first Run's
// stop function, so Close still stops the first Run.
func TestRunTwice(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("twice-in", 1)
	k.Topic("twice-out", 1)
	b := func() *stream.Builder {
		b := stream.NewBuilder()
		stream.Source(b, "twice-in", serde.String(), serde.String()).To("twice-out", nil, nil)
		return b
	}
	cfg := stream.Config{AppID: "twice", Brokers: k.Addrs, StateDir: t.TempDir()}

	// After the first Run returned.
	app, err := stream.New(b(), cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	k.Produce(false, rec("twice-in", "k", "1"))
	require.Len(t, k.Read("twice-out", 1, 20*time.Second), 1)
	cancel()
	require.NoError(t, <-done)
	require.ErrorIs(t, app.Run(context.Background()), stream.ErrClosed)
	app.Close()

	// While the first Run runs.
	app, err = stream.New(b(), cfg)
	require.NoError(t, err)
	go func() { done <- app.Run(context.Background()) }()
	k.Produce(false, rec("twice-in", "k", "2"))
	require.Len(t, k.Read("twice-out", 2, 20*time.Second), 2)
	second := make(chan error, 1)
	go func() { second <- app.Run(context.Background()) }()
	select {
	case err := <-second:
		require.ErrorIs(t, err, stream.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("a concurrent Run did not return")
	}
	app.Close()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not stop the first Run")
	}
}

// cancelWithin cancels Run after wait and fails unless Run returns nil
// within limit of the cancel.
func cancelWithin(t *testing.T, app *stream.App, wait, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	time.Sleep(wait)
	begin := time.Now()
	cancel()
	select {
	case err := <-done:
		took := time.Since(begin)
		t.Logf("Run returned %v after %v", err, took)
		assert.NoError(t, err)
		assert.Less(t, took, limit)
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60s of the cancel")
	}
}

// TestCancelDuringJoinAfterCrash: a member of the group is killed, and a
// new instance starts while the group still waits for the dead member
// (30s session timeout). Cancelling Run during that join must end it
// within about a second plus one commit, with nil.
func TestCancelDuringJoinAfterCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	k := kafkatest.New(t)
	k.Topic("crash-in", 4)
	k.Topic("crash-out", 4)
	child := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	child.Env = append(os.Environ(), crashChildEnv+"=1", "BROOK_CHILD_DYNAMIC=1", "BROOK_CHILD_SESSION=30s",
		"BROOK_BROKERS="+strings.Join(k.Addrs, ","), "BROOK_STATE_DIR="+t.TempDir())
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	require.NoError(t, child.Start())
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	k.Produce(false, rec("crash-in", "k", "1"))
	require.Len(t, k.Read("crash-out", 1, 30*time.Second), 1)
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()

	cfg := crashConfig(k.Addrs, t.TempDir())
	cfg.InstanceID = ""
	app, err := stream.New(crashTopology(), cfg)
	require.NoError(t, err)
	cancelWithin(t, app, 2*time.Second, 4*time.Second)
}

// TestCancelWithSilentBroker: the broker accepts connections and never
// answers. Cancelling Run must end it within about a second, with nil.
func TestCancelWithSilentBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	for _, g := range []stream.Guarantee{stream.ExactlyOnce, stream.AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) {
			app, err := stream.New(countByKey("silent-in", "silent-counts", "silent-out"),
				stream.Config{AppID: "silent", Brokers: []string{ln.Addr().String()}, StateDir: t.TempDir(), Guarantee: g})
			require.NoError(t, err)
			cancelWithin(t, app, time.Second, 2*time.Second)
		})
	}
}
