package runtime

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/stretchr/testify/require"
)

// TestCleanStateDirs: the janitor deletes the task directories unused for
// longer than the delay, and only those: not an active task's, a
// standby's, one the last assignment names as a standby, one whose
// database is being closed, one used recently, or anything that is not a
// task directory. A delete interrupted by a crash is finished at start.
func TestCleanStateDirs(t *testing.T) {
	const delay = time.Minute
	root := t.TempDir()
	e := New(Options{AppID: "app", StateDir: root, CleanupDelay: delay, Logger: slog.New(slog.DiscardHandler), Workers: 1})
	dir := filepath.Join(root, "app")
	now := time.Now()
	old := now.Add(-2 * delay)
	mk := func(name string, mtime time.Time) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(p, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(p, "000001.sst"), []byte("x"), 0o644))
		require.NoError(t, os.Chtimes(filepath.Join(p, "000001.sst"), mtime, mtime))
		require.NoError(t, os.Chtimes(p, mtime, mtime))
	}
	id := func(p int32) topo.TaskID { return topo.TaskID{Subtopology: 0, Partition: p} }
	mk("0_0", old) // active
	mk("0_1", old) // standby running
	mk("0_2", old) // standby of the last assignment, not started
	mk("0_3", old) // being closed
	mk("0_4", old) // unused: deleted
	mk("1_0", old) // unused: deleted
	mk("0_5", now.Add(-delay/2))
	mk("global", old)
	mk(".deleting-0_9-abc", old)
	// A file written lately makes a directory recent, whatever the
	// directory's own time.
	mk("0_6", old)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "0_6", "000001.sst"), now, now))

	e.tasks[id(0)] = &task{}
	e.standbys = map[topo.TaskID]*standby{id(1): {}}
	e.standbyWant.Store(&[]topo.TaskID{id(2)})
	e.dbClosing = map[topo.TaskID]chan struct{}{id(3): make(chan struct{})}
	e.progress.Store("0_4", int64(7))

	// The leftover of an interrupted delete goes at start; nothing else
	// before the engine has run for the delay.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.runJanitor(ctx); close(done) }()
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, ".deleting-0_9-abc"))
		return os.IsNotExist(err)
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	<-done

	deleted := e.cleanStateDirs(now)
	slices.SortFunc(deleted, func(a, b topo.TaskID) int {
		return a.Subtopology*100 + int(a.Partition) - b.Subtopology*100 - int(b.Partition)
	})
	require.Equal(t, []topo.TaskID{id(4), {Subtopology: 1, Partition: 0}}, deleted)
	var left []string
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, d := range ents {
		left = append(left, d.Name())
	}
	require.Equal(t, []string{"0_0", "0_1", "0_2", "0_3", "0_5", "0_6", "global"}, left)
	_, ok := e.progress.Load("0_4")
	require.False(t, ok, "a deleted directory's offsets are no longer reported to the group")

	// Once its close has ended, a closed database's directory goes too.
	close(e.dbClosing[id(3)])
	require.Equal(t, []topo.TaskID{id(3)}, e.cleanStateDirs(now))
}

// TestProgressSurvivesRestart: the offsets a task's state reached are
// saved when its directory stops being used, and an engine that starts on
// the same state directory reports them for the balancer, so that a
// restarted member is not taken for one without state (decision 46).
func TestProgressSurvivesRestart(t *testing.T) {
	root := t.TempDir()
	subs := []*topo.Subtopology{{Stores: []string{"counts"}}}
	opts := Options{AppID: "app", StateDir: root, Subs: subs, Logger: slog.New(slog.DiscardHandler), Workers: 1}
	e := New(opts)
	for _, name := range []string{"0_0", "0_1", "0_2"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, "app", name), 0o755))
	}
	e.progress.Store("0_0", int64(12345))
	e.progress.Store("0_1", int64(0))
	e.markUnused(topo.TaskID{Partition: 0})
	e.markUnused(topo.TaskID{Partition: 1})
	e.markUnused(topo.TaskID{Partition: 2}) // no progress known: no file

	again := New(opts)
	again.loadProgress()
	require.Equal(t, map[string]int64{"0_0": 12345, "0_1": 0}, again.offsets())

	// What a running task reports wins over the file.
	third := New(opts)
	third.progress.Store("0_0", int64(20000))
	third.loadProgress()
	require.Equal(t, map[string]int64{"0_0": 20000, "0_1": 0}, third.offsets())
}

// A static member reports no saved offsets: they would change its join
// metadata at every restart, and a static member's restart must not
// cause a rebalance.
func TestProgressNotLoadedByStaticMember(t *testing.T) {
	root := t.TempDir()
	subs := []*topo.Subtopology{{Stores: []string{"counts"}}}
	opts := Options{AppID: "app", StateDir: root, Subs: subs, Logger: slog.New(slog.DiscardHandler), Workers: 1, InstanceID: "b"}
	e := New(opts)
	require.NoError(t, os.MkdirAll(filepath.Join(root, "app", "0_0"), 0o755))
	e.progress.Store("0_0", int64(12345))
	e.markUnused(topo.TaskID{Partition: 0})

	again := New(opts)
	again.loadProgress()
	require.Empty(t, again.offsets())
}

// Right after an assignment the janitor deletes nothing: the assignment's
// active tasks are opened only later, in the assignment callback.
func TestCleanStateDirsWaitsAfterAssignment(t *testing.T) {
	const delay = time.Minute
	root := t.TempDir()
	e := New(Options{AppID: "app", StateDir: root, CleanupDelay: delay, Logger: slog.New(slog.DiscardHandler), Workers: 1})
	p := filepath.Join(root, "app", "0_4")
	require.NoError(t, os.MkdirAll(p, 0o755))
	old := time.Now().Add(-2 * delay)
	require.NoError(t, os.Chtimes(p, old, old))
	now := time.Now()
	e.assignedAt.Store(now.Add(-delay / 4).UnixNano())
	require.Empty(t, e.cleanStateDirs(now))
	require.DirExists(t, p)
	require.Equal(t, []topo.TaskID{{Partition: 4}}, e.cleanStateDirs(now.Add(delay)))
	require.NoDirExists(t, p)
}
