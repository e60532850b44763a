package stream_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const failoverChildEnv = "BROOK_FAILOVER_CHILD"

func failoverConfig(brokers []string, dir string, standbys int, inMemory bool) stream.Config {
	return stream.Config{
		AppID:           "failover",
		Brokers:         brokers,
		StateDir:        dir,
		InMemoryState:   inMemory,
		StandbyReplicas: standbys,
		ClientOpts:      []kgo.Opt{kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100 * time.Millisecond)},
	}
}

// TestFailoverChild is the failover test's child process; it does nothing
// in a normal run.
func TestFailoverChild(t *testing.T) {
	if os.Getenv(failoverChildEnv) == "" {
		t.Skip("runs only as the failover test's child process")
	}
	standbys, _ := strconv.Atoi(os.Getenv("BROOK_STANDBYS"))
	inMemory := os.Getenv("BROOK_IN_MEMORY") != ""
	app, err := stream.New(countByKey("fo-in", "fo-counts", "fo-out"), failoverConfig(strings.Split(os.Getenv("BROOK_BROKERS"), ","), os.Getenv("BROOK_STATE_DIR"), standbys, inMemory))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := app.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
}

// TestFailoverStandby: a child process owns the only task, whose store
// holds many keys; an in-process App joins the group. The child is
// SIGKILLed and the App takes the task over. With one standby replica the
// App kept a shadow copy of the store and restores only the tail (here
// nothing or a few records); without, it restores the whole changelog.
// The output is exact either way. With InMemoryState the standby keeps
// its copy in memory and hands it to the task. The test logs the records restored and
// the failover time (from the kill to the first output of a record
// produced right after it).
func TestFailoverStandby(t *testing.T) {
	if testing.Short() {
		t.Skip("failover test skipped in -short mode")
	}
	n := 50_000
	if raceEnabled {
		n = 10_000
	}
	if s := os.Getenv("BROOK_FAILOVER_KEYS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for _, tc := range []struct {
		standbys int
		inMemory bool
	}{{1, false}, {0, false}, {1, true}} {
		standbys := tc.standbys
		name := fmt.Sprintf("standbys=%d", standbys)
		if tc.inMemory {
			name += "/in-memory"
		}
		t.Run(name, func(t *testing.T) {
			restored, took := testFailover(t, n, standbys, tc.inMemory)
			if standbys > 0 {
				require.Less(t, restored, int64(n/10), "with a standby the new owner must restore only the tail")
			} else {
				require.GreaterOrEqual(t, restored, int64(n), "without a standby the new owner restores the whole changelog")
			}
			t.Logf("%s: %d keys of state, %d records restored by the new owner, failover %v", name, n, restored, took.Round(time.Millisecond))
		})
	}
}

func testFailover(t *testing.T, n, standbys int, inMemory bool) (int64, time.Duration) {
	k := kafkatest.New(t)
	k.Topic("fo-in", 1)
	k.Topic("fo-out", 1)
	cl := k.Client(kgo.ProducerLinger(5 * time.Millisecond))
	want := map[string]int64{}
	var wg sync.WaitGroup
	for i := range n {
		key := "k" + strconv.Itoa(i)
		want[key] = 1
		wg.Add(1)
		cl.Produce(context.Background(), rec("fo-in", key, "x"), func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
			wg.Done()
		})
	}
	wg.Wait()

	cmd := exec.Command(os.Args[0], "-test.run=^TestFailoverChild$")
	cmd.Env = append(os.Environ(), failoverChildEnv+"=1", "BROOK_BROKERS="+strings.Join(k.Addrs, ","), "BROOK_STATE_DIR="+t.TempDir(), "BROOK_STANDBYS="+strconv.Itoa(standbys))
	if inMemory {
		cmd.Env = append(cmd.Env, "BROOK_IN_MEMORY=1")
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	adm := kadm.NewClient(k.Client())
	caughtUp := func() bool {
		ends, err := adm.ListEndOffsets(context.Background(), "fo-in")
		if err != nil {
			return false
		}
		got, err := adm.FetchOffsets(context.Background(), "failover")
		if err != nil {
			return false
		}
		o, _ := ends.Lookup("fo-in", 0)
		c, ok := got.Lookup("fo-in", 0)
		return ok && c.At == o.Offset
	}
	require.Eventually(t, caughtUp, 3*time.Minute, 100*time.Millisecond, "the child did not process the input")

	// The App joins; the task stays with the child (sticky), the App
	// keeps a standby when asked to.
	var mu sync.Mutex
	restored := int64(-1)
	cfg := failoverConfig(k.Addrs, t.TempDir(), standbys, inMemory)
	cfg.OnRestore = func(p stream.RestoreProgress) {
		if p.Done && p.Task == "0_0" {
			mu.Lock()
			restored = max(restored, 0) + p.Restored
			mu.Unlock()
		}
	}
	app, stop := startApp(t, k, countByKey("fo-in", "fo-counts", "fo-out"), cfg)
	time.Sleep(3 * time.Second)
	// A tail the child processes after the App joined.
	for i := range 100 {
		key := "t" + strconv.Itoa(i)
		want[key] = 1
		k.Produce(false, rec("fo-in", key, "x"))
	}
	require.Eventually(t, caughtUp, time.Minute, 100*time.Millisecond)
	time.Sleep(2 * time.Second) // the standby reads the tail too
	mu.Lock()
	require.Equal(t, int64(-1), restored, "the task moved before the kill")
	mu.Unlock()
	if standbys > 0 {
		require.Eventually(t, func() bool {
			lag, ok := app.Metrics().ReplicaLag["0_0"]
			return ok && lag == 0
		}, 30*time.Second, 50*time.Millisecond, "the standby's lag, once caught up")
	} else {
		require.Empty(t, app.Metrics().ReplicaLag)
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	killed := time.Now()
	k.Produce(false, rec("fo-in", "after", "x"))
	want["after"] = 1
	ocl := k.Client(kgo.ConsumeTopics("fo-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var took time.Duration
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for took == 0 && ctx.Err() == nil {
		ocl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if string(r.Key) == "after" && took == 0 {
				took = time.Since(killed)
			}
		})
	}
	require.NotZero(t, took, "the App never took the task over")
	total := 0
	for _, c := range want {
		total += int(c)
	}
	out := k.Read("fo-out", total, time.Minute)
	require.NoError(t, stop())
	requireExactlyOnce(t, out, want)
	mu.Lock()
	defer mu.Unlock()
	return restored, took
}
