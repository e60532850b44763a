package runtime

import (
	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/state"
)

// Closing a task's database flushes its memtables, which takes a while
// for a large store. A task dropped at a revoke closes its database on a
// goroutine, so that the revoke callback, which holds the engine lock,
// does not keep the tasks that stay from committing. Opening the same
// task's database again (the task or a standby coming back) waits for
// that close first.

// closeDBLater closes db on a goroutine. e.mu must be held.
func (e *Engine) closeDBLater(id topo.TaskID, db state.TaskDB) {
	if e.dbClosing == nil {
		e.dbClosing = map[topo.TaskID]chan struct{}{}
	}
	prev := e.dbClosing[id]
	done := make(chan struct{})
	e.dbClosing[id] = done
	go func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		if err := db.Close(); err != nil {
			e.log.Warn("closing task state", "task", id, "err", err)
		}
		e.markUnused(id) // janitor.go
	}()
}

// waitClosed waits until the database of task id, if it is being closed,
// is closed. e.mu must be held.
func (e *Engine) waitClosed(id topo.TaskID) {
	if done := e.dbClosing[id]; done != nil {
		<-done
		delete(e.dbClosing, id)
	}
}

// waitAllClosed waits for every database being closed. e.mu must be held.
func (e *Engine) waitAllClosed() {
	for id := range e.dbClosing {
		e.waitClosed(id)
	}
}
