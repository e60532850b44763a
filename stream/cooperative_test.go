package stream_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// scaleKeys is the number of keys of state the scale-out test loads
// before it scales: BROOK_SCALE_KEYS, default 100,000 (20,000 under the
// race detector; the note was measured with 1,000,000).
func scaleKeys(t *testing.T) int {
	if s := os.Getenv("BROOK_SCALE_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		return n
	}
	if raceEnabled {
		return 20_000
	}
	return 100_000
}

// TestScaleOutCooperative scales an exactly-once counting App holding
// scaleKeys keys of state from one instance to three while records flow
// into every partition. With cooperative rebalancing the tasks that stay
// on the first instance keep committing through the rebalance: the test
// measures, per task, the longest time between two of its commits (the
// commit markers on its partition of the store's changelog, stamped by
// the broker) and between two committed outputs as a read_committed
// consumer sees them, and reports both for the unmoved tasks in commit
// intervals. The final output is exact: every key's updates are 1..n,
// once each, and nothing else. The two new instances are processes of
// their own (TestScaleChild), as instances are deployed; the first runs
// in the test's process, beside the in-process broker (decision 68).
func TestScaleOutCooperative(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test skipped in -short mode")
	}
	const parts = 6
	const interval = 100 * time.Millisecond
	k := kafkatest.New(t)
	k.Topic("co-in", parts)
	k.Topic("co-out", parts)
	topo := scaleTopology
	cfg := func(id string) stream.Config { return scaleConfig(id, nil, "") }

	// State: n keys, spread over the partitions.
	n := scaleKeys(t)
	pcl := k.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	var wg sync.WaitGroup
	var perr error
	var pmu sync.Mutex
	for i := range n {
		wg.Add(1)
		p := int32(i % parts)
		pcl.Produce(context.Background(), &kgo.Record{Topic: "co-in", Partition: p, Key: fmt.Appendf(nil, "k%d_%d", p, i), Value: []byte("x")}, func(_ *kgo.Record, err error) {
			if err != nil {
				pmu.Lock()
				perr = err
				pmu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	require.NoError(t, perr)

	loadStart := time.Now()
	stop1 := start(t, k, topo(), cfg("i1"))
	adm := kadm.NewClient(k.Client())
	waitProcessed(t, adm, "coop", "co-in", 5*time.Minute)
	t.Logf("%d keys of state loaded by one instance in %v", n, time.Since(loadStart).Round(time.Millisecond))

	// Watch the committed output of the steady keys t<p>: the time each
	// becomes visible is the time of a commit of task 0_p.
	wctx, wstop := context.WithCancel(context.Background())
	defer wstop()
	var amu sync.Mutex
	arrivals := map[int32][]time.Time{}
	var seen []*kgo.Record
	wcl := k.Client(kgo.ConsumeTopics("co-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
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
				if key := string(r.Key); strings.HasPrefix(key, "t") {
					p, _ := strconv.Atoi(key[1:])
					if a := arrivals[int32(p)]; len(a) == 0 || now.Sub(a[len(a)-1]) > time.Millisecond {
						arrivals[int32(p)] = append(a, now)
					}
				}
			})
			amu.Unlock()
		}
	}()

	// Watch the commits of each task: a commit of task 0_p ends a
	// transaction that wrote to partition p of the store's changelog, so
	// the commit marker on that partition, stamped by the broker when the
	// transaction ended, is the time of the commit.
	var cmu sync.Mutex
	commits := map[int32][]time.Time{}
	aborts := map[int32][]time.Time{}
	clog := "coop-co-counts-changelog"
	ends, err := adm.ListEndOffsets(context.Background(), clog)
	require.NoError(t, err)
	from := map[string]map[int32]kgo.Offset{clog: {}}
	ends.Each(func(o kadm.ListedOffset) { from[clog][o.Partition] = kgo.NewOffset().At(o.Offset) })
	ccl := k.Client(kgo.ConsumePartitions(from), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.FetchMaxWait(20*time.Millisecond))
	cdone := make(chan struct{})
	go func() {
		defer close(cdone)
		for wctx.Err() == nil {
			fs := ccl.PollFetches(wctx)
			cmu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				// A control record's key: version, then type (0: abort,
				// 1: commit).
				if r.Attrs.IsControl() && len(r.Key) >= 4 {
					switch binary.BigEndian.Uint16(r.Key[2:4]) {
					case 0:
						aborts[r.Partition] = append(aborts[r.Partition], r.Timestamp)
					case 1:
						commits[r.Partition] = append(commits[r.Partition], r.Timestamp)
					}
				}
			})
			cmu.Unlock()
		}
	}()

	// Feed one record per partition every 10 ms.
	stopFeed := feedSteadily(pcl, "co-in", parts)
	time.Sleep(2 * time.Second)
	scaleAt := time.Now()
	// The new instances run as processes of their own, as they would in
	// a deployment: their restores then compete with the first instance
	// for the cores under the OS scheduler, not inside one Go scheduler
	// that has no notion of which goroutine is waiting on a commit.
	stop2 := startScaleChild(t, k, "i2")
	stop3 := startScaleChild(t, k, "i3")

	// Wait until the group has three members each with tasks, and the
	// moved tasks produce again.
	owners := map[string][]int32{}
	require.Eventually(t, func() bool {
		gs, err := adm.DescribeGroups(context.Background(), "coop")
		if err != nil {
			return false
		}
		clear(owners)
		for _, m := range gs["coop"].Members {
			ca, ok := m.Assigned.AsConsumer()
			if !ok {
				continue
			}
			for _, tp := range ca.Topics {
				owners[m.ClientID] = append(owners[m.ClientID], tp.Partitions...)
			}
		}
		return len(owners) == 3 && len(owners["i1"]) == 2 && len(owners["i2"]) == 2 && len(owners["i3"]) == 2
	}, 2*time.Minute, 50*time.Millisecond)
	settled := time.Now()
	require.Eventually(t, func() bool {
		amu.Lock()
		defer amu.Unlock()
		for p := range int32(parts) {
			a := arrivals[p]
			if len(a) == 0 || a[len(a)-1].Before(settled) {
				return false
			}
		}
		return true
	}, 3*time.Minute, 50*time.Millisecond, "moved tasks never produced again")
	resumed := time.Now()
	time.Sleep(2 * time.Second)
	fed := stopFeed()

	want := map[string]int64{}
	for i := range n {
		want[fmt.Sprintf("k%d_%d", i%parts, i)] = 1
	}
	for key, c := range fed {
		want[key] = c
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
	<-cdone
	require.NoError(t, stop2())
	require.NoError(t, stop3())
	require.NoError(t, stop1())

	amu.Lock()
	defer amu.Unlock()
	requireExactlyOnce(t, seen, want)
	cmu.Lock()
	defer cmu.Unlock()
	// longestGap is the longest time between two of the times a around
	// the rebalance, from the scale-out until all tasks resumed.
	// It also returns when the gap began, from the scale-out.
	longestGap := func(a []time.Time) (time.Duration, time.Duration) {
		var longest, at time.Duration
		for i := 1; i < len(a); i++ {
			if a[i].After(scaleAt) && a[i-1].Before(resumed) && a[i].Sub(a[i-1]) > longest {
				longest, at = a[i].Sub(a[i-1]), a[i-1].Sub(scaleAt)
			}
		}
		return longest, at
	}
	gap := func(p int32) time.Duration { g, _ := longestGap(arrivals[p]); return g }
	var unmoved, unmovedCommit, commitAt time.Duration
	slices.Sort(owners["i1"])
	for _, p := range owners["i1"] {
		unmoved = max(unmoved, gap(p))
		if g, at := longestGap(commits[p]); g > unmovedCommit {
			unmovedCommit, commitAt = g, at
		}
		require.NotEmpty(t, commits[p], "no commit of task 0_%d seen", p)
	}
	t.Logf("the longest gap between commits of an unmoved task began %v after the scale-out began", commitAt.Round(time.Millisecond))
	// The unmoved tasks commit before their member's revoke: their
	// transactions abort only in a race the design tolerates (decision 65).
	nAborts := 0
	for _, p := range owners["i1"] {
		for _, at := range aborts[p] {
			if at.After(scaleAt) && at.Before(resumed) {
				nAborts++
			}
		}
	}
	t.Logf("transactions of the unmoved tasks aborted during the rebalance: %d", nAborts)
	var moved []string
	for _, id := range []string{"i2", "i3"} {
		for _, p := range owners[id] {
			moved = append(moved, fmt.Sprintf("0_%d: %v", p, gap(p).Round(time.Millisecond)))
		}
	}
	t.Logf("scale-out 1 -> 3 with %d keys of state, commit interval %v: longest gap between two commits of an unmoved task (%v on i1): %v (%.1f commit intervals) by the commit markers, %v (%.1f) by the output a read_committed consumer sees; moved tasks: %s; rebalance to resumed output: %v",
		n, interval, owners["i1"], unmovedCommit.Round(time.Millisecond), float64(unmovedCommit)/float64(interval),
		unmoved.Round(time.Millisecond), float64(unmoved)/float64(interval), strings.Join(moved, ", "), resumed.Sub(scaleAt).Round(time.Millisecond))
	// The target is 3 commit intervals, which the log reports; the bound
	// asserted only catches an unmoved task that stopped for good: on a
	// loaded shared 2-core machine the new instances' restores slow every
	// commit (decisions 51 and 68 in docs/ARCHITECTURE.md).
	assert.Less(t, unmovedCommit, 60*interval, "an unmoved task stopped committing during the rebalance")
}

// feedSteadily produces one record to each of topic's first parts
// partitions, keyed "t<p>", every 10 ms, until the returned stop is
// called; stop returns how many records of each key the broker
// acknowledged.
func feedSteadily(pcl *kgo.Client, topic string, parts int) (stop func() map[string]int64) {
	fed := map[string]int64{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var recs []*kgo.Record
			for p := range int32(parts) {
				key := "t" + strconv.Itoa(int(p))
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte(key), Value: []byte("x")})
			}
			if err := pcl.ProduceSync(context.Background(), recs...).FirstErr(); err == nil {
				for _, r := range recs {
					fed[string(r.Key)]++
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() map[string]int64 {
		cancel()
		<-done
		return fed
	}
}

const scaleChildEnv = "BROOK_SCALE_CHILD"

func scaleTopology() *stream.Builder { return countByKey("co-in", "co-counts", "co-out") }

// scaleConfig is the scale-out test's App configuration for the instance
// with client id id.
func scaleConfig(id string, brokers []string, dir string) stream.Config {
	return stream.Config{AppID: "coop", CommitInterval: 100 * time.Millisecond, Brokers: brokers, StateDir: dir,
		ClientOpts: []kgo.Opt{kgo.ClientID(id), kgo.HeartbeatInterval(100 * time.Millisecond)}}
}

// TestScaleChild is an instance of the scale-out test run as a process
// of its own; it does nothing in a normal run. SIGTERM stops it.
func TestScaleChild(t *testing.T) {
	if os.Getenv(scaleChildEnv) == "" {
		t.Skip("runs only as the scale-out test's child process")
	}
	runChild("scale child", scaleTopology(), scaleConfig(os.Getenv(scaleChildEnv), strings.Split(os.Getenv("BROOK_BROKERS"), ","), os.Getenv("BROOK_STATE_DIR")))
}

// startScaleChild starts the scale-out test's instance id as a child
// process; the returned function stops it with SIGTERM and returns how it
// exited.
func startScaleChild(t *testing.T, k *kafkatest.Kafka, id string) func() error {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestScaleChild$")
	cmd.Env = append(os.Environ(), scaleChildEnv+"="+id, "BROOK_BROKERS="+strings.Join(k.Addrs, ","), "BROOK_STATE_DIR="+t.TempDir())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			err = cmd.Wait()
		})
		return err
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = stop() })
	return stop
}
