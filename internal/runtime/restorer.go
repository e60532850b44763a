package runtime

import (
	"context"
	"sync"

	"github.com/brookstream/brook/internal/topo"
)

// Restore beside processing.
//
// A task with stores is created paused: its input partitions are paused
// in the client (kgo's PauseFetchPartitions; records of a paused partition
// already buffered are kept back, and fetched again once it resumes), and
// its changelogs are read on a goroutine of its own, not on the worker
// that serves the other tasks. The commit barrier therefore never waits
// for a restore, the other tasks go on processing and committing, and no
// transaction stays open because of one. When the restore has caught up,
// the poll loop (holding e.mu) marks the task restored, queues its
// processors' Init on its worker, and resumes its partitions; their
// records reach the worker after the Init.
//
// A restoring task is invisible to commits: flushStores, commitStores,
// abortStores and discardLocked skip it, so nothing touches its database
// or changelog offsets while the restore goroutine writes them.

// restoreJob is the restore of one task's stores, running on its own
// goroutine.
type restoreJob struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine ends
	err    error         // read after done is closed
}

// startRestore pauses t's input partitions and starts restoring its
// stores. e.mu must be held.
func (e *Engine) startRestore(t *task) {
	e.cl.PauseFetchPartitions(e.taskPartitions(t.t.ID))
	ctx, cancel := context.WithCancel(e.ctx)
	j := &restoreJob{cancel: cancel, done: make(chan struct{})}
	t.job = j
	go func() {
		defer e.wakeLoop() // after done is closed: the loop sees it
		defer close(j.done)
		select {
		case e.restoreSlots <- struct{}{}:
			defer func() { <-e.restoreSlots }()
		case <-ctx.Done():
			j.err = ctx.Err()
			return
		}
		j.err = e.restore(ctx, t)
	}()
}

// taskPartitions lists the input partitions of task id: partition p of
// every topic of its sub-topology.
func (e *Engine) taskPartitions(id topo.TaskID) map[string][]int32 {
	out := map[string][]int32{}
	for _, s := range e.o.Subs {
		if s.ID != id.Subtopology {
			continue
		}
		for _, topic := range s.Topics {
			out[topic] = []int32{id.Partition}
		}
	}
	return out
}

// finishRestoresLocked takes in the tasks whose restore ended: a restored
// task is made visible to queries, gets its Init queued on its worker and
// its partitions resumed; a failed restore stops the App. It runs on the
// loop with e.mu held.
func (e *Engine) finishRestoresLocked() {
	for _, t := range e.tasks {
		j := t.job
		if j == nil {
			continue
		}
		select {
		case <-j.done:
		default:
			continue
		}
		t.job = nil
		if j.err != nil {
			if e.ctx.Err() == nil {
				e.fail(j.err)
			}
			continue
		}
		t.restored = true
		e.life.taskRestored(t.t.ID)
		e.noteProgress(t)
		e.qmu.Lock()
		e.dbs[t.t.ID] = t.t.DB
		e.qmu.Unlock()
		if !e.send(e.ctx, t.w, item{task: t, init: true}) {
			e.incomplete.Store(true)
			continue
		}
		e.cl.ResumeFetchPartitions(e.taskPartitions(t.t.ID))
	}
}

// stopRestore cancels t's restore, if one runs, waits for its goroutine to
// end, and resumes t's partitions (a paused partition stays paused in the
// client whoever owns it next). e.mu may be held: the goroutine does not
// take it.
func (e *Engine) stopRestore(t *task) {
	j := t.job
	if j == nil {
		return
	}
	t.job = nil
	j.cancel()
	<-j.done
	if e.cl != nil {
		e.cl.ResumeFetchPartitions(e.taskPartitions(t.t.ID))
	}
}

// restoring reports whether any task is restoring.
func (e *Engine) restoring() bool {
	for _, t := range e.tasks {
		if t.job != nil {
			return true
		}
	}
	return false
}

// wakeLoop makes a poll in progress return early, so that a finished
// restore is taken in at once rather than at the end of the poll.
func (e *Engine) wakeLoop() {
	e.wakeMu.Lock()
	cancel := e.pollCancel
	e.wakeMu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// wakeState is the part of the Engine that wakeLoop uses.
type wakeState struct {
	wakeMu     sync.Mutex
	pollCancel context.CancelFunc
}
