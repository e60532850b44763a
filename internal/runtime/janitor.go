package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brookstream/brook/internal/topo"
)

// State directory cleanup, as Kafka Streams' StateDirectory.cleanRemovedTasks.
//
// A task's Pebble database stays in <StateDir>/<AppID>/<task> after the
// task moves to another instance: if it comes back (a rebalance that
// moves it back, a restart), its checkpoints say where its state is, and
// its restore reads only the changelog's tail. A directory that is neither
// active nor a standby here for longer than Options.CleanupDelay is
// deleted by a janitor goroutine.
//
// Last use. A directory's last use is the latest modification time of the
// directory and of the files in it: Pebble writes files while the task
// runs, and when the engine closes a task's or a standby's database it
// sets the directory's time to the moment of the close (markUnused). The
// time survives restarts; and no directory is deleted before the engine
// has run for the delay, so a restarted instance first gets the chance to
// be assigned its tasks again.
//
// Locking. The janitor decides under the engine lock, which every open of
// a task database (a task being assigned, its restore, a standby) holds:
// a directory is skipped when its task is active or a standby here, when
// the last assignment names it as a standby that has not started yet, and
// while its database is being closed (dbclose.go). A directory to delete
// is first renamed, under the lock, to a name that is not a task's
// (.deleting-<task>-<time>), so that an open that follows finds no
// directory and starts a new one; the rename's target is then removed
// without the lock. A crash half way through leaves a .deleting- entry,
// removed at the next start.

// DefaultStateCleanupDelay is how long the directory of a task not owned
// here is kept when Options.CleanupDelay is zero: 10 minutes, as Kafka
// Streams' state.cleanup.delay.ms.
const DefaultStateCleanupDelay = 10 * time.Minute

// assignSettle is how long after an assignment the janitor deletes
// nothing (see cleanStateDirs).
const assignSettle = 30 * time.Second

// trashPrefix starts the names of task directories being deleted.
const trashPrefix = ".deleting-"

func (e *Engine) cleanupDelay() time.Duration {
	if e.o.CleanupDelay > 0 {
		return e.o.CleanupDelay
	}
	return DefaultStateCleanupDelay
}

// startJanitor starts the janitor and returns the function that stops it
// and waits for it.
func (e *Engine) startJanitor() (stop func()) {
	if e.o.InMemory || !e.hasStores() {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.runJanitor(ctx)
	}()
	return func() { cancel(); wg.Wait() }
}

// runJanitor removes the leftovers of interrupted deletes, then, every
// half delay from one delay after it started, deletes the task
// directories unused for longer than the delay, until ctx ends.
func (e *Engine) runJanitor(ctx context.Context) {
	root := filepath.Join(e.o.StateDir, e.o.AppID)
	if ents, err := os.ReadDir(root); err == nil {
		for _, d := range ents {
			if strings.HasPrefix(d.Name(), trashPrefix) {
				e.removeDir(filepath.Join(root, d.Name()))
			}
		}
	}
	delay := e.cleanupDelay()
	started := time.Now()
	tick := time.NewTicker(max(delay/2, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.Sub(started) >= delay {
				e.cleanStateDirs(now)
			}
		}
	}
}

// cleanStateDirs deletes the task directories that no task or standby of
// this engine uses and whose last use is more than the delay before now.
// It returns the tasks whose directories it deleted.
func (e *Engine) cleanStateDirs(now time.Time) []topo.TaskID {
	root := filepath.Join(e.o.StateDir, e.o.AppID)
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	delay := e.cleanupDelay()
	var ids []topo.TaskID
	var trash []string
	e.mu.Lock()
	// An assignment names active tasks whose databases are opened only
	// when kgo calls the assignment callback, which can wait for a
	// transaction to end: a directory the leader gave back because it
	// holds the task's state must not go in between. The pass waits for
	// the next tick.
	if e.closing || now.Sub(time.Unix(0, e.assignedAt.Load())) < min(assignSettle, delay) {
		e.mu.Unlock()
		return nil
	}
	for _, d := range ents {
		id, ok := parseTaskID(d.Name())
		if !ok || !d.IsDir() || e.inUseLocked(id) {
			continue
		}
		dir := filepath.Join(root, d.Name())
		last, ok := lastUse(dir)
		if !ok || now.Sub(last) <= delay {
			continue
		}
		to := filepath.Join(root, trashPrefix+d.Name()+"-"+strconv.FormatInt(now.UnixNano(), 36))
		if err := os.Rename(dir, to); err != nil {
			e.log.Warn("cannot delete the state directory of a task no longer owned here", "task", id, "dir", dir, "err", err)
			continue
		}
		// The member no longer has state for the task: its join metadata
		// stops offering it.
		e.progress.Delete(id.String())
		ids = append(ids, id)
		trash = append(trash, to)
		e.log.Info("deleting the state directory of a task neither active nor standby here", "task", id, "dir", dir,
			"unused", now.Sub(last).Round(time.Second), "delay", delay)
	}
	e.mu.Unlock()
	for _, dir := range trash {
		e.removeDir(dir)
	}
	return ids
}

func (e *Engine) removeDir(dir string) {
	if err := os.RemoveAll(dir); err != nil {
		e.log.Warn("deleting a state directory failed", "dir", dir, "err", err)
	}
}

// inUseLocked reports whether the directory of task id is in use or about
// to be: the task is active here, a standby here, a standby of the last
// assignment not started yet, or its database is being closed. e.mu must
// be held.
func (e *Engine) inUseLocked(id topo.TaskID) bool {
	if e.tasks[id] != nil || e.standbys[id] != nil {
		return true
	}
	if p := e.standbyWant.Load(); p != nil {
		for _, sb := range *p {
			if sb == id {
				return true
			}
		}
	}
	if done := e.dbClosing[id]; done != nil {
		select {
		case <-done:
		default:
			return true
		}
	}
	return false
}

// lastUse returns the latest modification time of dir and of the entries
// in it.
func lastUse(dir string) (time.Time, bool) {
	fi, err := os.Stat(dir)
	if err != nil {
		return time.Time{}, false
	}
	last := fi.ModTime()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return time.Time{}, false
	}
	for _, d := range ents {
		if info, err := d.Info(); err == nil && info.ModTime().After(last) {
			last = info.ModTime()
		}
	}
	return last, true
}

// markUnused records that the directory of task id stops being used now:
// its modification time becomes the start of the cleanup delay.
// In-memory state is gone once closed: the member stops reporting its
// offsets.
func (e *Engine) markUnused(id topo.TaskID) {
	if e.o.InMemory {
		e.progress.Delete(id.String())
		return
	}
	now := time.Now()
	dir := filepath.Join(e.o.StateDir, e.o.AppID, id.String())
	if v, ok := e.progress.Load(id.String()); ok {
		e.saveProgress(dir, v.(int64))
	}
	if err := os.Chtimes(dir, now, now); err != nil && !os.IsNotExist(err) {
		e.log.Warn("cannot mark the time a state directory stopped being used", "task", id, "dir", dir, "err", err)
	}
}

// progressFile is the file in a task's directory that keeps, from the
// last close of its database, the changelog offsets its state reached
// (summed over its stores, as the join metadata reports them), so that an
// instance that restarts can report what its directories hold before it
// opens them (decision 46). Pebble ignores files it did not write.
const progressFile = "brook-offsets"

// saveProgress writes progressFile in dir. A failure is logged: without
// the file the directory is reported with offset 0 after a restart.
func (e *Engine) saveProgress(dir string, sum int64) {
	tmp := filepath.Join(dir, progressFile+".tmp")
	if err := os.WriteFile(tmp, strconv.AppendInt(nil, sum, 10), 0o644); err != nil {
		if !os.IsNotExist(err) {
			e.log.Warn("cannot save the changelog offsets of a state directory", "dir", dir, "err", err)
		}
		return
	}
	if err := os.Rename(tmp, filepath.Join(dir, progressFile)); err != nil {
		e.log.Warn("cannot save the changelog offsets of a state directory", "dir", dir, "err", err)
	}
}

// loadProgress reports, for each task directory found at start, the
// offsets its progressFile saved. A directory without one (a crash before
// its first close) keeps offset 0. The offsets saved at a close are at
// most what the database holds: state written after that close and lost
// with a crash only makes the report lower than the truth.
//
// A static member (InstanceID) does not: its restart within the session
// timeout gets its tasks back without a rebalance only if it joins with
// the metadata it left with, and the saved offsets change with every
// record processed (TestStaticMembershipRestart). It reports its
// directories with offset 0 until it opens them, as before.
func (e *Engine) loadProgress() {
	if e.o.InstanceID != "" {
		return
	}
	for _, name := range e.localTasks() {
		if _, ok := e.progress.Load(name); ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(e.o.StateDir, e.o.AppID, name, progressFile))
		if err != nil {
			continue
		}
		if sum, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && sum >= 0 {
			e.progress.Store(name, sum)
		}
	}
}
