package stream_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The crash soak runs three instances of one app as child processes (this
// test binary, re-executed) while input flows, and every 1-4 s kills one
// with SIGKILL or stops it with SIGTERM, then restarts it on its own state
// directory or on a fresh one; a fourth instance joins and leaves now and
// then. At the end it waits for the app to catch up, stops it, and reads
// everything back with a read_committed consumer:
//   - soak-pass, a stateless copy of the input, holds every input exactly
//     once;
//   - soak-counts, a count per key behind a repartition topic, holds each
//     key's updates 1..n exactly once, and its changelog ends at n;
//   - soak-sums, a sum per key without repartition, ends at the exact sum,
//     and so does its changelog.
//
// It runs only with BROOK_SOAK set to a duration per membership kind, e.g.
// BROOK_SOAK=30s go test -run TestCrashSoak ./stream/. It runs dynamic and
// static membership in turn; BROOK_SOAK_MEMBERSHIP=dynamic or static runs
// one. It uses the in-process Kafka, or the broker of BROOK_TEST_KAFKA.
//
// BROOK_SOAK_GUARANTEE=at-least-once runs the app at-least-once: then
// nothing may be missing, and duplicates are counted and reported, not
// failed.

const soakChildEnv = "BROOK_SOAK_CHILD"

const soakKeys = 50

func soakTopology() *stream.Builder {
	b := stream.NewBuilder()
	in := stream.Source(b, "soak-in", serde.String(), serde.String())
	in.MapValues(func(v string) string { return v }, stream.Named("pass")).To("soak-pass", nil, nil)
	in.GroupBy(func(k, _ string) string { return k }, serde.String(), stream.Named("by-key")).
		Count(stream.Materialized("soak-counts")).
		ToStream().
		To("soak-counts", nil, nil)
	in.MapValues(func(v string) int64 { n, _ := strconv.ParseInt(v, 10, 64); return n }).
		WithSerdes(serde.String(), serde.Int64()).
		GroupByKey().
		Reduce(func(a, b int64) int64 { return a + b }, stream.Materialized("soak-sums")).
		ToStream().
		To("soak-sums", nil, nil)
	return b
}

func soakConfig(brokers []string, dir, instance string) stream.Config {
	cfg := stream.Config{
		AppID:      "soak",
		Brokers:    brokers,
		StateDir:   dir,
		InstanceID: instance,
		Guarantee:  soakGuarantee(),
		// Small caches: commits flush to the changelogs mid-stream.
		StoreCacheBytes: 16 << 10,
		// Standbys on: members are SIGKILLed while they hold standbys,
		// and tasks fail over to them (cooperative rebalancing is always
		// on). BROOK_SOAK_STANDBYS=0 turns them off.
		StandbyReplicas: soakStandbys(),
		// The soak's state is small: with the default acceptable lag
		// every member is caught up and tasks move at once.
		// BROOK_SOAK_RECOVERY_LAG=100 sends moves through warm-ups and
		// probing rebalances while members are killed.
		AcceptableRecoveryLag:    soakRecoveryLag(),
		ProbingRebalanceInterval: 5 * time.Second,
		ClientOpts:               []kgo.Opt{kgo.SessionTimeout(3 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond)},
	}
	if os.Getenv("BROOK_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return cfg
}

func soakStandbys() int {
	if n, err := strconv.Atoi(os.Getenv("BROOK_SOAK_STANDBYS")); err == nil {
		return n
	}
	return 1
}

func soakRecoveryLag() int64 {
	n, _ := strconv.ParseInt(os.Getenv("BROOK_SOAK_RECOVERY_LAG"), 10, 64)
	return n // 0: the default
}

func soakGuarantee() stream.Guarantee {
	if os.Getenv("BROOK_SOAK_GUARANTEE") == "at-least-once" {
		return stream.AtLeastOnce
	}
	return stream.ExactlyOnce
}

// TestSoakChild is one instance of the soak; it does nothing in a normal
// run. SIGTERM closes it gracefully.
func TestSoakChild(t *testing.T) {
	if os.Getenv(soakChildEnv) == "" {
		t.Skip("runs only as the crash soak's child process")
	}
	runChild("soak child", soakTopology(), soakConfig(strings.Split(os.Getenv("BROOK_BROKERS"), ","), os.Getenv("BROOK_STATE_DIR"), os.Getenv("BROOK_INSTANCE_ID")))
}

func TestCrashSoak(t *testing.T) {
	v := os.Getenv("BROOK_SOAK")
	if v == "" {
		t.Skip("the crash soak runs with BROOK_SOAK=<duration>, e.g. BROOK_SOAK=30s")
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, "BROOK_SOAK")
	kinds := []string{"dynamic", "static"}
	if m := os.Getenv("BROOK_SOAK_MEMBERSHIP"); m != "" {
		kinds = []string{m}
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) { soak(t, d, kind == "static") })
	}
}

// soakMember is one child process.
type soakMember struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result, set before done closes
	sent bool  // the test signalled it: its exit is expected
}

func soak(t *testing.T, d time.Duration, static bool) {
	k := kafkatest.New(t)
	for _, topic := range []string{"soak-in", "soak-pass", "soak-counts", "soak-sums"} {
		k.Topic(topic, 6)
	}
	logDir := t.TempDir()
	if d := os.Getenv("BROOK_SOAK_LOGS"); d != "" {
		logDir = d
	}
	var stats struct {
		kills, terms, restarts, fresh, joins, unexpected, stuck int
		slowestStop                                             time.Duration
	}
	var unexpected []string
	var mu sync.Mutex // guards unexpected
	nlog := 0
	spawn := func(dir, instance string) *soakMember {
		nlog++
		logf, err := os.Create(filepath.Join(logDir, fmt.Sprintf("child-%03d.log", nlog)))
		require.NoError(t, err)
		cmd := exec.Command(os.Args[0], "-test.run=^TestSoakChild$")
		cmd.Env = append(os.Environ(), soakChildEnv+"=1", "BROOK_BROKERS="+strings.Join(k.Addrs, ","),
			"BROOK_STATE_DIR="+dir, "BROOK_INSTANCE_ID="+instance)
		cmd.Stdout, cmd.Stderr = logf, logf
		require.NoError(t, cmd.Start())
		m := &soakMember{cmd: cmd, done: make(chan struct{})}
		// A test that fails half way leaves no child running.
		t.Cleanup(func() {
			mu.Lock()
			m.sent = true
			mu.Unlock()
			_ = cmd.Process.Kill()
			<-m.done
		})
		go func() {
			m.err = cmd.Wait()
			logf.Close()
			mu.Lock()
			if !m.sent {
				out, _ := os.ReadFile(logf.Name())
				unexpected = append(unexpected, fmt.Sprintf("%s exited by itself (%v): %s", instance, m.err, kafkatest.Tail(string(out), 5)))
			}
			mu.Unlock()
			close(m.done)
		}()
		return m
	}
	stopMember := func(m *soakMember, sig syscall.Signal) {
		mu.Lock()
		m.sent = true
		mu.Unlock()
		began := time.Now()
		_ = m.cmd.Process.Signal(sig)
		select {
		case <-m.done:
		case <-time.After(60 * time.Second):
			// A graceful stop that hangs: counted, reported, killed.
			stats.stuck++
			_ = m.cmd.Process.Kill()
			<-m.done
		}
		stats.slowestStop = max(stats.slowestStop, time.Since(began))
	}
	instance := func(i int) string {
		if static {
			return "soak-" + strconv.Itoa(i)
		}
		return ""
	}

	// Input: batches of 50 records, about 500 records/s, values numbered.
	var fed atomic.Int64
	stopFeed := make(chan struct{})
	var feedWG sync.WaitGroup
	feedWG.Add(1)
	go func() {
		defer feedWG.Done()
		cl := k.Client()
		for {
			select {
			case <-stopFeed:
				return
			default:
			}
			base := fed.Load()
			recs := make([]*kgo.Record, 50)
			for j := range recs {
				n := base + int64(j)
				recs[j] = rec("soak-in", "k"+strconv.Itoa(int(n%soakKeys)), strconv.FormatInt(n, 10))
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Errorf("feed: %v", err)
				return
			}
			fed.Add(int64(len(recs)))
			time.Sleep(100 * time.Millisecond)
		}
	}()

	start := time.Now()
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	members := make([]*soakMember, 3)
	for i := range members {
		members[i] = spawn(dirs[i], instance(i))
	}
	var fourth *soakMember
	nextFourth := time.Now().Add(5 * time.Second)
	for time.Since(start) < d {
		time.Sleep(time.Duration(1000+rand.IntN(3000)) * time.Millisecond)
		i := rand.IntN(3)
		if rand.IntN(2) == 0 {
			stopMember(members[i], syscall.SIGKILL)
			stats.kills++
		} else {
			stopMember(members[i], syscall.SIGTERM)
			stats.terms++
		}
		if rand.IntN(3) == 0 {
			dirs[i] = t.TempDir()
			stats.fresh++
		}
		members[i] = spawn(dirs[i], instance(i))
		stats.restarts++
		if time.Now().After(nextFourth) {
			if fourth == nil {
				fourth = spawn(t.TempDir(), instance(3))
				stats.joins++
			} else {
				stopMember(fourth, syscall.SIGTERM)
				fourth = nil
			}
			nextFourth = time.Now().Add(time.Duration(5+rand.IntN(10)) * time.Second)
		}
	}
	if fourth != nil {
		stopMember(fourth, syscall.SIGTERM)
	}
	close(stopFeed)
	feedWG.Wait()
	total := int(fed.Load())
	t.Logf("kill phase over after %v: %d records fed; catching up", time.Since(start).Round(time.Second), total)

	want := map[string]int64{}
	sums := map[string]int64{}
	for n := range int64(total) {
		key := "k" + strconv.Itoa(int(n%soakKeys))
		want[key]++
		sums[key] += n
	}
	// Catch up: every key's committed count reached its input count (with
	// at-least-once it may pass it). Then stop.
	caughtUp := func() bool {
		got := latest(t, k, "soak-counts", serde.Int64(), time.Second)
		for key, n := range want {
			if got[key] < n {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(5 * time.Minute); !caughtUp(); {
		require.True(t, time.Now().Before(deadline), "the app did not catch up within 5 minutes")
	}
	for _, m := range members {
		stopMember(m, syscall.SIGTERM)
	}
	wall := time.Since(start)

	// Verify what a read_committed consumer sees.
	quiet := 2 * time.Second
	pass := k.ReadAll("soak-pass", quiet)
	seen := map[string]int{}
	for _, r := range pass {
		seen[string(r.Value)]++
	}
	dups, missing := 0, 0
	for n := range total {
		switch c := seen[strconv.Itoa(n)]; {
		case c == 0:
			missing++
		case c > 1:
			dups += c - 1
		}
	}
	counts := k.ReadAll("soak-counts", quiet)
	countsLog := latest(t, k, "soak-soak-counts-changelog", serde.Int64(), quiet)
	sumsOut := latest(t, k, "soak-sums", serde.Int64(), quiet)
	sumsLog := latest(t, k, "soak-soak-sums-changelog", serde.Int64(), quiet)

	mu.Lock()
	stats.unexpected = len(unexpected)
	mu.Unlock()
	kind := "dynamic"
	if static {
		kind = "static"
	}
	t.Logf("soak (%s membership): %v kill phase, %v wall; %d SIGKILL, %d SIGTERM, %d restarts (%d on a fresh state dir), fourth instance joined %d times; %d records in; stateless output: %d records, %d missing, %d duplicates; %d unexpected exits; slowest stop %v, %d SIGTERMs not done in 60 s",
		kind, d, wall.Round(time.Second), stats.kills, stats.terms, stats.restarts, stats.fresh, stats.joins,
		total, len(pass), missing, dups, stats.unexpected, stats.slowestStop.Round(time.Millisecond), stats.stuck)
	require.Empty(t, unexpected, "an instance exited by itself")
	require.Zero(t, missing, "stateless output lost inputs")
	if soakGuarantee() == stream.AtLeastOnce {
		// Nothing lost: every key's count reached at least n.
		seq := countUpdates(t, counts)
		over := 0
		for key, n := range want {
			require.GreaterOrEqual(t, countsLog[key], n, "key %s: count changelog", key)
			over += len(seq[key]) - int(n)
		}
		t.Logf("at-least-once: %d duplicate stateless outputs, %d extra count updates", dups, over)
		return
	}
	require.Zero(t, dups, "stateless output repeated inputs")
	require.Len(t, pass, total)
	requireExactlyOnce(t, counts, want)
	require.Equal(t, want, countsLog, "count changelog")
	require.Equal(t, sums, sumsOut, "sums output")
	require.Equal(t, sums, sumsLog, "sum changelog")
}
