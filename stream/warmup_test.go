package stream_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// logEvent is one log record of an App: its time, message and task.
type logEvent struct {
	at   time.Time
	msg  string
	task string
}

// eventLog is a slog.Handler that keeps the Info records of an App, to
// tell when it did what.
type eventLog struct {
	mu     sync.Mutex
	events []logEvent
}

func (l *eventLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }
func (l *eventLog) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *eventLog) WithGroup(string) slog.Handler                 { return l }

func (l *eventLog) Handle(_ context.Context, r slog.Record) error {
	ev := logEvent{at: time.Now(), msg: r.Message}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "task" {
			ev.task = a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
	return nil
}

// first returns when msg was first logged for task, and whether it was.
func (l *eventLog) first(msg, task string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.events {
		if ev.msg == msg && ev.task == task {
			return ev.at, true
		}
	}
	return time.Time{}, false
}

// runApp starts app in the background; the returned func closes it and
// returns Run's error.
func runApp(t *testing.T, b *stream.Builder, cfg stream.Config) (*stream.App, func() error) {
	t.Helper()
	app, err := stream.New(b, cfg)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { errc <- app.Run(context.Background()) }()
	var once sync.Once
	var res error
	stop := func() error {
		once.Do(func() { app.Close(); res = <-errc })
		return res
	}
	t.Cleanup(func() { _ = stop() })
	return app, stop
}

// TestWarmupProbing: one instance counts two partitions under
// exactly-once; partition 1 holds many more keys than
// AcceptableRecoveryLag. A second instance joins. The balance wants task
// 0_1 on it, but it has no state: the task stays on the first instance,
// which keeps committing its output, and the second gets a warm-up
// replica. When the warm-up has caught up, a probing rebalance moves the
// task, and its new owner restores at most the tail (less than
// AcceptableRecoveryLag), not the whole changelog. The output is exact.
func TestWarmupProbing(t *testing.T) {
	if testing.Short() {
		t.Skip("warm-up test skipped in -short mode")
	}
	n := 60_000 // keys of task 0_1: 6 x the acceptable lag
	if raceEnabled {
		n = 30_000
	}
	k := kafkatest.New(t)
	k.Topic("wu-in", 2)
	k.Topic("wu-out", 2)
	cfg := func(id string) stream.Config {
		return stream.Config{AppID: "warmup", Brokers: k.Addrs, StateDir: t.TempDir(),
			ProbingRebalanceInterval: 2 * time.Second,
			ClientOpts:               []kgo.Opt{kgo.ClientID(id), kgo.HeartbeatInterval(100 * time.Millisecond)}}
	}
	topo := func() *stream.Builder { return countByKey("wu-in", "wu-counts", "wu-out") }

	want := map[string]int64{}
	pcl := k.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	var wg sync.WaitGroup
	var perr error
	var pmu sync.Mutex
	produce := func(p int32, key string) {
		want[key]++
		wg.Add(1)
		pcl.Produce(context.Background(), &kgo.Record{Topic: "wu-in", Partition: p, Key: []byte(key), Value: []byte("x")}, func(_ *kgo.Record, err error) {
			if err != nil {
				pmu.Lock()
				perr = err
				pmu.Unlock()
			}
			wg.Done()
		})
	}
	for i := range n {
		produce(1, "a"+strconv.Itoa(i))
	}
	for i := range 1_000 {
		produce(0, "b"+strconv.Itoa(i))
	}
	wg.Wait()
	require.NoError(t, perr)

	app1, stop1 := runApp(t, topo(), cfg("i1"))
	adm := kadm.NewClient(k.Client())
	waitProcessed(t, adm, "warmup", "wu-in", 3*time.Minute)

	// The committed output of the steady key t1 (task 0_1): when each
	// became visible.
	wctx, wstop := context.WithCancel(context.Background())
	defer wstop()
	var amu sync.Mutex
	var seen []*kgo.Record
	var arrivals []time.Time
	wcl := k.Client(kgo.ConsumeTopics("wu-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(20*time.Millisecond))
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		for wctx.Err() == nil {
			fs := wcl.PollFetches(wctx)
			now := time.Now()
			amu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				seen = append(seen, r)
				if string(r.Key) == "t1" {
					arrivals = append(arrivals, now)
				}
			})
			amu.Unlock()
		}
	}()
	// One record per partition every 10 ms.
	stopFeed := feedSteadily(pcl, "wu-in", 2)
	time.Sleep(time.Second)

	// The second instance joins.
	var log2 eventLog
	var rmu sync.Mutex
	restored := int64(-1) // records restored into 0_1 by the second instance
	cfg2 := cfg("i2")
	cfg2.Logger = slog.New(&log2)
	cfg2.OnRestore = func(p stream.RestoreProgress) {
		if p.Done && p.Task == "0_1" {
			rmu.Lock()
			restored = max(restored, 0) + p.Restored
			rmu.Unlock()
		}
	}
	app2, stop2 := runApp(t, topo(), cfg2)
	require.Eventually(t, func() bool {
		rmu.Lock()
		defer rmu.Unlock()
		return restored >= 0
	}, 3*time.Minute, 50*time.Millisecond, "task 0_1 never moved to the second instance")
	time.Sleep(time.Second)
	fed := stopFeed()
	for key, c := range fed {
		want[key] += c
	}
	total := 0
	for _, c := range want {
		total += int(c)
	}
	require.Eventually(t, func() bool {
		amu.Lock()
		defer amu.Unlock()
		return len(seen) >= total
	}, 3*time.Minute, 100*time.Millisecond)
	time.Sleep(time.Second)
	wstop()
	<-wdone

	// The warm-up came first, the task later.
	warmAt, ok := log2.first("warm-up replica assigned", "0_1")
	require.True(t, ok, "the second instance got no warm-up replica of 0_1")
	moveAt, ok := log2.first("restoring store", "0_1")
	require.True(t, ok)
	require.True(t, warmAt.Before(moveAt), "the task moved before its warm-up")
	_, ok = log2.first("restoring store", "0_0")
	require.False(t, ok, "task 0_0 moved")
	// Meanwhile the first instance kept committing 0_1's output.
	amu.Lock()
	var during int
	for _, a := range arrivals {
		if a.After(warmAt) && a.Before(moveAt) {
			during++
		}
	}
	amu.Unlock()
	require.Positive(t, during, "no committed output of task 0_1 while its warm-up ran")
	m1, m2 := app1.Metrics(), app2.Metrics()
	require.Positive(t, m2.Probes, "the second instance never asked for a probing rebalance")
	require.Empty(t, m2.Warmups, "the warm-up is still listed after the move")
	assigned := func(m stream.Metrics) []string {
		var out []string
		for _, tm := range m.Tasks {
			if tm.Assigned {
				out = append(out, tm.Task)
			}
		}
		return out
	}
	require.Equal(t, []string{"0_0"}, assigned(m1))
	require.Equal(t, []string{"0_1"}, assigned(m2))
	rmu.Lock()
	tail := restored
	rmu.Unlock()
	require.Less(t, tail, int64(stream.DefaultAcceptableRecoveryLag+1_000), "the new owner restored more than the tail")

	require.NoError(t, stop2())
	require.NoError(t, stop1())
	amu.Lock()
	defer amu.Unlock()
	requireExactlyOnce(t, seen, want)
	t.Logf("%d keys in task 0_1: warm-up assigned to move %v, %d committed outputs of 0_1 by the old owner in between; new owner restored %d records (acceptable lag %d); %d probing rebalances asked",
		n, moveAt.Sub(warmAt).Round(time.Millisecond), during, tail, stream.DefaultAcceptableRecoveryLag, m2.Probes)
}
