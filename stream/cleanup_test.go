package stream_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// taskDirs lists the entries of <dir>/<app>, task directories and others,
// without the lock and instance-id files.
func taskDirs(t *testing.T, dir, app string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, app))
	require.NoError(t, err)
	var out []string
	for _, d := range ents {
		if d.Name() != ".lock" && d.Name() != "instance-id" {
			out = append(out, d.Name())
		}
	}
	slices.Sort(out)
	return out
}

// waitProcessed waits, up to timeout, until group has committed the end
// offset of every partition of topic.
func waitProcessed(t *testing.T, adm *kadm.Client, group, topic string, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return processed(adm, group, topic) }, timeout, 50*time.Millisecond,
		"group %s did not process %s", group, topic)
}

// processed reports whether group has committed the end offset of every
// partition of topic.
func processed(adm *kadm.Client, group, topic string) bool {
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		return false
	}
	got, err := adm.FetchOffsets(context.Background(), group)
	if err != nil {
		return false
	}
	done := true
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := got.Lookup(o.Topic, o.Partition)
		done = done && ok && c.At == o.Offset
	})
	return done
}

// waitOwners waits until the members of group, by client id, own the
// number of partitions in want, and returns the task directories ("0_p")
// each member owns.
func waitOwners(t *testing.T, adm *kadm.Client, group string, want map[string]int) map[string][]string {
	t.Helper()
	owners := map[string][]string{}
	require.Eventually(t, func() bool {
		gs, err := adm.DescribeGroups(context.Background(), group)
		if err != nil {
			return false
		}
		clear(owners)
		for _, m := range gs[group].Members {
			ca, ok := m.Assigned.AsConsumer()
			if !ok {
				continue
			}
			for _, tp := range ca.Topics {
				for _, p := range tp.Partitions {
					owners[m.ClientID] = append(owners[m.ClientID], fmt.Sprintf("0_%d", p))
				}
			}
		}
		if len(owners) != len(want) {
			return false
		}
		for id, n := range want {
			if len(owners[id]) != n {
				return false
			}
		}
		return true
	}, time.Minute, 50*time.Millisecond, "group %s: owners %v, want counts %v", group, owners, want)
	for _, ts := range owners {
		slices.Sort(ts)
	}
	return owners
}

// TestStateCleanup: an instance that loses tasks to a second instance
// keeps their directories for StateCleanupDelay; a task that comes back
// within it keeps its state and restores only the changelog's tail (what
// the other instance wrote); once the delay has passed, the directories of
// the tasks it no longer owns are deleted and those of its own tasks kept.
func TestStateCleanup(t *testing.T) {
	if testing.Short() {
		t.Skip("cleanup test skipped in -short mode")
	}
	const parts, keys, fresh = 4, 2000, 10
	// Long enough that the first move and return fit in it on a loaded
	// machine; the janitor looks every half delay.
	const delay = 15 * time.Second
	k := kafkatest.New(t)
	k.Topic("cl-in", parts)
	k.Topic("cl-out", parts)
	adm := kadm.NewClient(k.Client())
	pcl := k.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(prefix string, n int) {
		var recs []*kgo.Record
		for p := range int32(parts) {
			for i := range n {
				recs = append(recs, &kgo.Record{Topic: "cl-in", Partition: p, Key: fmt.Appendf(nil, "%s%d_%d", prefix, p, i), Value: []byte("x")})
			}
		}
		require.NoError(t, pcl.ProduceSync(context.Background(), recs...).FirstErr())
	}
	var rmu sync.Mutex
	restored := map[string]int64{} // task -> records its last finished restore applied
	dirA, dirB := t.TempDir(), t.TempDir()
	cfg := func(id, dir string, onRestore func(stream.RestoreProgress)) stream.Config {
		return stream.Config{AppID: "cleanup", CommitInterval: 100 * time.Millisecond, StateDir: dir,
			StateCleanupDelay: delay, OnRestore: onRestore,
			ClientOpts: []kgo.Opt{kgo.ClientID(id), kgo.HeartbeatInterval(100 * time.Millisecond)}}
	}
	cfgA := cfg("a", dirA, func(p stream.RestoreProgress) {
		if p.Done {
			rmu.Lock()
			restored[p.Task] = p.Restored
			rmu.Unlock()
		}
	})
	topo := func() *stream.Builder { return countByKey("cl-in", "cl-counts", "cl-out") }

	produce("k", keys)
	stopA := start(t, k, topo(), cfgA)
	waitProcessed(t, adm, "cleanup", "cl-in", time.Minute)
	all := []string{"0_0", "0_1", "0_2", "0_3"}
	require.Equal(t, all, taskDirs(t, dirA, "cleanup"))

	// B joins: A gives two tasks away, and keeps their directories.
	stopB := start(t, k, topo(), cfg("b", dirB, nil))
	owners := waitOwners(t, adm, "cleanup", map[string]int{"a": 2, "b": 2})
	moved := time.Now()
	produce("n", fresh)
	waitProcessed(t, adm, "cleanup", "cl-in", time.Minute)
	require.Equal(t, all, taskDirs(t, dirA, "cleanup"))

	// B leaves before the delay: its tasks come back to A, which restores
	// only what B wrote to their changelogs (one record per new key).
	rmu.Lock()
	clear(restored)
	rmu.Unlock()
	require.NoError(t, stopB())
	waitOwners(t, adm, "cleanup", map[string]int{"a": 4})
	require.Eventually(t, func() bool {
		rmu.Lock()
		defer rmu.Unlock()
		for _, id := range owners["b"] {
			if _, ok := restored[id]; !ok {
				return false
			}
		}
		return true
	}, time.Minute, 50*time.Millisecond)
	require.Less(t, time.Since(moved), delay, "the test took longer than the cleanup delay: the directories may have been deleted")
	rmu.Lock()
	for _, id := range owners["b"] {
		require.Equal(t, int64(fresh), restored[id], "task %s came back: it restores the %d records B wrote, not its %d keys", id, fresh, keys)
	}
	rmu.Unlock()

	// B joins again; after the delay A has deleted the directories of the
	// tasks it gave away and kept its own.
	stopB = start(t, k, topo(), cfg("b", dirB, nil))
	owners = waitOwners(t, adm, "cleanup", map[string]int{"a": 2, "b": 2})
	produce("m", fresh)
	waitProcessed(t, adm, "cleanup", "cl-in", time.Minute)
	require.Equal(t, all, taskDirs(t, dirA, "cleanup"), "deleted before the delay")
	require.Eventually(t, func() bool {
		return slices.Equal(owners["a"], taskDirs(t, dirA, "cleanup"))
	}, 3*delay, 100*time.Millisecond, "A's directories: %v, A owns %v", taskDirs(t, dirA, "cleanup"), owners["a"])
	require.NoError(t, stopB())
	require.NoError(t, stopA())
}

// TestStateCleanupKeepsStandbys: with one standby replica, an instance
// that gives tasks away stands by for them, and keeps their directories
// however long the delay has passed.
func TestStateCleanupKeepsStandbys(t *testing.T) {
	if testing.Short() {
		t.Skip("cleanup test skipped in -short mode")
	}
	const parts = 4
	const delay = time.Second
	k := kafkatest.New(t)
	k.Topic("cs-in", parts)
	k.Topic("cs-out", parts)
	adm := kadm.NewClient(k.Client())
	pcl := k.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for p := range int32(parts) {
		for i := range 100 {
			recs = append(recs, &kgo.Record{Topic: "cs-in", Partition: p, Key: fmt.Appendf(nil, "k%d_%d", p, i), Value: []byte("x")})
		}
	}
	require.NoError(t, pcl.ProduceSync(context.Background(), recs...).FirstErr())
	dirA, dirB := t.TempDir(), t.TempDir()
	cfg := func(id, dir string) stream.Config {
		return stream.Config{AppID: "cleanup-sb", CommitInterval: 100 * time.Millisecond, StateDir: dir,
			StateCleanupDelay: delay, StandbyReplicas: 1,
			ClientOpts: []kgo.Opt{kgo.ClientID(id), kgo.HeartbeatInterval(100 * time.Millisecond)}}
	}
	topo := func() *stream.Builder { return countByKey("cs-in", "cs-counts", "cs-out") }
	stopA := start(t, k, topo(), cfg("a", dirA))
	waitProcessed(t, adm, "cleanup-sb", "cs-in", time.Minute)
	stopB := start(t, k, topo(), cfg("b", dirB))
	waitOwners(t, adm, "cleanup-sb", map[string]int{"a": 2, "b": 2})
	all := []string{"0_0", "0_1", "0_2", "0_3"}
	require.Eventually(t, func() bool { return slices.Equal(all, taskDirs(t, dirB, "cleanup-sb")) }, time.Minute, 50*time.Millisecond,
		"B stands by for A's tasks")
	// Several janitor passes after the delay.
	time.Sleep(4 * delay)
	require.Equal(t, all, taskDirs(t, dirA, "cleanup-sb"))
	require.Equal(t, all, taskDirs(t, dirB, "cleanup-sb"))
	require.NoError(t, stopB())
	require.NoError(t, stopA())
}
