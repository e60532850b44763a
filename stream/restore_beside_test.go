package stream_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRestoreBesideProcessing: task 0_0 restores a large changelog (held
// open by its OnRestore callback, which blocks on the restore's last
// report for more than two transaction timeouts) while task 0_1, on the
// same single worker, goes on processing: each of its records is
// committed and read (read_committed) before the restore ends. The records
// of the restoring task's partition wait and count from the restored
// state. Under both guarantees.
func TestRestoreBesideProcessing(t *testing.T) {
	for _, g := range []stream.Guarantee{stream.ExactlyOnce, stream.AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) { testRestoreBeside(t, g) })
	}
}

func testRestoreBeside(t *testing.T, g stream.Guarantee) {
	k := kafkatest.New(t)
	in, out, app := "rb-in", "rb-out", "rb"
	k.Topic(in, 2)
	k.Topic(out, 1)
	topo := func() *stream.Builder { return countByKey(in, "rbc", out) }
	// A first run creates the changelog topic.
	changelog := app + "-rbc-changelog"
	stop := start(t, k, topo(), stream.Config{AppID: app, Guarantee: g})
	cl := k.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(10*time.Millisecond))
	require.Eventually(t, func() bool {
		ts, err := newAdm(cl).ListTopics(context.Background(), changelog)
		return err == nil && len(ts[changelog].Partitions) == 2
	}, 30*time.Second, 50*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, stop())

	// Task 0_0's changelog: n keys, and "p" counted 5 times.
	const n = 200_000
	var wg sync.WaitGroup
	var perr error
	var pmu sync.Mutex
	for i := range n {
		wg.Add(1)
		v, _ := serde.Int64().Serialize("", 1)
		cl.Produce(context.Background(), &kgo.Record{Topic: changelog, Partition: 0, Key: fmt.Appendf(nil, "c%06d", i), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				pmu.Lock()
				perr = err
				pmu.Unlock()
			}
			wg.Done()
		})
	}
	five, _ := serde.Int64().Serialize("", 5)
	require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Topic: changelog, Partition: 0, Key: []byte("p"), Value: five}).FirstErr())
	wg.Wait()
	require.NoError(t, perr)

	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	var mu sync.Mutex
	var restored0 int64
	var done0 bool
	cfg := stream.Config{
		AppID:              app,
		Guarantee:          g,
		Workers:            1,
		TransactionTimeout: 2 * time.Second,
		OnRestore: func(p stream.RestoreProgress) {
			if p.Task != "0_0" || !p.Done {
				return
			}
			<-release // the restore is not over until the test says so
			mu.Lock()
			restored0, done0 = p.Restored, true
			mu.Unlock()
		},
	}
	stop = start(t, k, topo(), cfg) // a new state directory: restores everything
	part := func(p int32, key, v string) *kgo.Record {
		r := rec(in, key, v)
		r.Partition = p
		return r
	}
	// Records of the restoring task wait.
	k.Produce(true, part(0, "p", "x"))
	// Task 0_1 commits one record after the other during the restore.
	begin := time.Now()
	const rounds = 5
	for i := 1; i <= rounds; i++ {
		k.Produce(true, part(1, "q", "x"))
		got := k.Read(out, i, 30*time.Second)
		require.Len(t, got, i, "round %d: task 0_1's output was not committed during the restore", i)
		for _, r := range got {
			require.Equal(t, "q", string(r.Key), "task 0_0 processed a record before its restore ended")
		}
	}
	// Longer than two transaction timeouts: no transaction is held open by
	// the restore (the broker would abort it, and the App would stop).
	time.Sleep(time.Until(begin.Add(5 * time.Second)))
	k.Produce(true, part(1, "q", "x"))
	require.Len(t, k.Read(out, rounds+1, 30*time.Second), rounds+1)
	mu.Lock()
	require.False(t, done0)
	mu.Unlock()
	t.Logf("%d commits of task 0_1 read during the restore of task 0_0, over %v", rounds+1, time.Since(begin).Round(time.Millisecond))
	releaseOnce.Do(func() { close(release) })

	got := k.Read(out, rounds+2, 60*time.Second)
	require.NoError(t, stop())
	mu.Lock()
	require.True(t, done0)
	require.Equal(t, int64(n+1), restored0)
	mu.Unlock()
	seq := countUpdates(t, k.ReadAll(out, 2*time.Second))
	require.Equal(t, map[string][]int64{"q": {1, 2, 3, 4, 5, 6}, "p": {6}}, seq)
	require.Len(t, got, rounds+2)
}
