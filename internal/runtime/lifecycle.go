package runtime

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/brookstream/brook/internal/topo"
)

// State is the lifecycle state of an engine, with the names of Kafka
// Streams' KafkaStreams.State, plus Restoring.
type State int32

// The states, in the order an engine usually goes through them.
const (
	// StateCreated: made, Run not called yet.
	StateCreated State = iota
	// StateRebalancing: joining the consumer group, or in a rebalance
	// (setting up topics and loading global tables count as joining).
	StateRebalancing
	// StateRestoring: a member of the group with its tasks, some of whose
	// stores are still restoring from their changelogs.
	StateRestoring
	// StateRunning: every assigned task is processing.
	StateRunning
	// StatePendingShutdown: Run's context was cancelled; the final commit
	// and the leave of the group are under way.
	StatePendingShutdown
	// StateNotRunning: Run returned nil, or the App was closed before Run.
	StateNotRunning
	// StatePendingError: a fatal error happened; Run is closing down.
	StatePendingError
	// StateError: Run returned an error.
	StateError
)

// String returns the state's name as Kafka Streams prints it, such as
// "RUNNING" or "PENDING_SHUTDOWN".
func (s State) String() string {
	switch s {
	case StateCreated:
		return "CREATED"
	case StateRebalancing:
		return "REBALANCING"
	case StateRestoring:
		return "RESTORING"
	case StateRunning:
		return "RUNNING"
	case StatePendingShutdown:
		return "PENDING_SHUTDOWN"
	case StateNotRunning:
		return "NOT_RUNNING"
	case StatePendingError:
		return "PENDING_ERROR"
	case StateError:
		return "ERROR"
	}
	return "UNKNOWN"
}

// Waiting says what an engine waits for before it can process records.
type Waiting int32

const (
	// WaitingNone: nothing; a running engine processes what arrives.
	WaitingNone Waiting = iota
	// WaitingBrokers: the brokers have not answered for a while (see
	// Unreachable); the client retries.
	WaitingBrokers
	// WaitingGroup: the group coordinator, for a join or a rebalance to
	// end.
	WaitingGroup
	// WaitingRestore: stores restoring from their changelogs.
	WaitingRestore
)

// String returns "none", "brokers", "group" or "restore".
func (w Waiting) String() string {
	switch w {
	case WaitingNone:
		return "none"
	case WaitingBrokers:
		return "brokers"
	case WaitingGroup:
		return "group"
	case WaitingRestore:
		return "restore"
	}
	return "unknown"
}

// Unreachable is how long the brokers must have failed every request,
// with no answer in between, before an engine reports WaitingBrokers.
var Unreachable = 2 * time.Second

// Status is what an engine is doing and waiting for.
type Status struct {
	State   State
	Waiting Waiting
	// Since is when State or Waiting last changed.
	Since time.Time
	// Err is, for StatePendingError and StateError, the error Run returns;
	// for WaitingBrokers, the last failure talking to Broker.
	Err error
	// Broker is, for WaitingBrokers, the broker that last failed.
	Broker string
	// Tasks is the number of tasks assigned to this instance.
	Tasks int
	// Restored and ToRestore are, while stores restore, the changelog
	// records applied so far and the offsets to restore in all, summed
	// over the stores restoring now.
	Restored, ToRestore int64
}

// Ready reports whether the engine processes records: Running and
// waiting for nothing.
func (s Status) Ready() bool { return s.State == StateRunning && s.Waiting == WaitingNone }

// Live reports whether the engine is not failing: every state but
// PendingError and Error.
func (s Status) Live() bool { return s.State != StatePendingError && s.State != StateError }

// lifecycle tracks an engine's Status from events the engine reports,
// and hands every change of State or Waiting to a listener, in order, on
// a goroutine of its own.
type lifecycle struct {
	mu        sync.Mutex
	st        Status
	started   bool
	joined    bool
	stopping  bool
	failErr   error
	final     State // StateNotRunning or StateError once Run returned; else 0
	unreach   error
	broker    string
	restoring map[topo.TaskID]bool // assigned tasks whose stores restore
	tasks     map[topo.TaskID]bool // assigned tasks

	listener    func(old, new Status)
	log         *slog.Logger
	queue       [][2]Status
	dispatching bool
	delivered   chan struct{} // closed once the final state is delivered
}

func newLifecycle(listener func(old, new Status), log *slog.Logger) *lifecycle {
	return &lifecycle{
		log:       log,
		st:        Status{State: StateCreated, Since: time.Now()},
		restoring: map[topo.TaskID]bool{},
		tasks:     map[topo.TaskID]bool{},
		listener:  listener,
		delivered: make(chan struct{}),
	}
}

// update applies fn to the tracked facts under the lock and recomputes the
// status, queueing a change for the listener.
func (l *lifecycle) update(fn func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.final != 0 {
		return
	}
	fn()
	next := l.computeLocked()
	if next.State == l.st.State && next.Waiting == l.st.Waiting {
		l.st.Err, l.st.Broker = next.Err, next.Broker
		return
	}
	next.Since = time.Now()
	old := l.st
	l.st = next
	if l.listener == nil {
		if next.State == StateNotRunning || next.State == StateError {
			close(l.delivered)
		}
		return
	}
	l.queue = append(l.queue, [2]Status{old, next})
	if !l.dispatching {
		l.dispatching = true
		go l.dispatch()
	}
}

func (l *lifecycle) computeLocked() Status {
	s := Status{State: StateRunning, Since: l.st.Since}
	switch {
	case l.final != 0:
		s.State = l.final
	case l.failErr != nil:
		s.State = StatePendingError
	case l.stopping:
		s.State = StatePendingShutdown
	case !l.started:
		s.State = StateCreated
	case !l.joined:
		s.State = StateRebalancing
	case len(l.restoring) > 0:
		s.State = StateRestoring
	}
	switch s.State {
	case StatePendingError, StateError:
		s.Err = l.failErr
	case StateRebalancing, StateRestoring, StateRunning, StatePendingShutdown:
		if l.unreach != nil {
			s.Waiting, s.Err, s.Broker = WaitingBrokers, l.unreach, l.broker
		} else if s.State == StateRebalancing {
			s.Waiting = WaitingGroup
		} else if s.State == StateRestoring {
			s.Waiting = WaitingRestore
		}
	}
	return s
}

func (l *lifecycle) dispatch() {
	for {
		l.mu.Lock()
		if len(l.queue) == 0 {
			l.dispatching = false
			l.mu.Unlock()
			return
		}
		tr := l.queue[0]
		l.queue = l.queue[1:]
		l.mu.Unlock()
		l.call(tr[0], tr[1])
		if tr[1].State == StateNotRunning || tr[1].State == StateError {
			close(l.delivered)
		}
	}
}

// call runs the listener; a panic in it is logged, not passed on.
func (l *lifecycle) call(old, new Status) {
	defer func() {
		if v := recover(); v != nil && l.log != nil {
			l.log.Error("Config.OnStateChange panicked", "old", old.State, "new", new.State, "panic", v)
		}
	}()
	l.listener(old, new)
}

// status returns the current status.
func (l *lifecycle) status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.st
	s.Tasks = len(l.tasks)
	return s
}

func (l *lifecycle) start()     { l.update(func() { l.started = true }) }
func (l *lifecycle) stop()      { l.update(func() { l.stopping = true }) }
func (l *lifecycle) rebalance() { l.update(func() { l.joined = false }) }
func (l *lifecycle) assigned()  { l.update(func() { l.joined = true }) }

func (l *lifecycle) fail(err error) {
	l.update(func() {
		if l.failErr == nil {
			l.failErr = err
		}
	})
}

func (l *lifecycle) setUnreachable(err error, broker string) {
	l.update(func() { l.unreach, l.broker = err, broker })
}

func (l *lifecycle) taskOpened(id topo.TaskID, restoring bool) {
	l.update(func() {
		l.tasks[id] = true
		if restoring {
			l.restoring[id] = true
		}
	})
}

func (l *lifecycle) taskRestored(id topo.TaskID) { l.update(func() { delete(l.restoring, id) }) }

func (l *lifecycle) taskClosed(id topo.TaskID) {
	l.update(func() { delete(l.restoring, id); delete(l.tasks, id) })
}

// finish records that Run returned err; it waits up to a second for the
// listener to see the final state.
func (l *lifecycle) finish(err error) {
	if err != nil {
		l.fail(err)
	}
	final := StateNotRunning
	if err != nil {
		final = StateError
	}
	l.update(func() { l.final = final })
	select {
	case <-l.delivered:
	case <-time.After(time.Second):
	}
}

// Status returns what the engine does and waits for now.
func (e *Engine) Status() Status {
	s := e.life.status()
	if s.State == StateRestoring {
		s.Restored, s.ToRestore = e.met.restoreTotals()
	}
	return s
}

// CloseUnstarted marks an engine whose Run was never called as not
// running. It does nothing once Run was called.
func (e *Engine) CloseUnstarted() {
	if e.ran.CompareAndSwap(false, true) {
		e.life.finish(nil)
	}
}

// Run joins the group and processes until ctx is cancelled or a fatal
// error; it returns after a final commit, bounded by
// Options.ShutdownTimeout. It can be called once.
func (e *Engine) Run(ctx context.Context) error {
	if !e.ran.CompareAndSwap(false, true) {
		return ErrClosed
	}
	e.h = newHealth()
	e.life.start()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopNote := context.AfterFunc(ctx, e.life.stop)
	defer stopNote()
	// What the state says of the brokers follows the health hooks.
	wctx, wstop := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() { defer close(watched); e.watchReach(wctx) }()
	err := e.run(ctx)
	wstop()
	<-watched
	e.life.finish(err)
	return err
}

// watchReach sets WaitingBrokers while the brokers fail every request.
func (e *Engine) watchReach(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			err, broker := e.h.unreachable(now, Unreachable)
			e.life.setUnreachable(err, broker)
		}
	}
}

// shutdownAfter cancels e.sctx, with errShutdownTimeout, ShutdownTimeout
// after ctx ends. It returns a func that stops it.
func (e *Engine) shutdownAfter(ctx context.Context) (stop func()) {
	var mu sync.Mutex
	var timer *time.Timer
	stopCtx := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		timer = time.AfterFunc(e.shutdownTimeout(), func() { e.scancel(errShutdownTimeout) })
	})
	return func() {
		stopCtx()
		mu.Lock()
		defer mu.Unlock()
		if timer != nil {
			timer.Stop()
		}
	}
}

func (e *Engine) shutdownTimeout() time.Duration {
	if e.o.ShutdownTimeout > 0 {
		return e.o.ShutdownTimeout
	}
	return DefaultShutdownTimeout
}

// DefaultShutdownTimeout bounds a shutdown when Options.ShutdownTimeout is
// zero.
const DefaultShutdownTimeout = 20 * time.Second

// unreachable returns the last failure and its broker when the brokers
// have failed since their last answer and that answer is older than after.
func (h *health) unreachable(now time.Time, after time.Duration) (error, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil || !h.lastBad.After(h.lastOK) || now.Sub(h.lastOK) < after {
		return nil, ""
	}
	return h.err, h.broker
}
