package topo

import (
	"fmt"
	"math"
	"runtime/debug"
	"time"
)

// PunctuationType says which clock drives a punctuator.
type PunctuationType int

const (
	// StreamTime punctuators are driven by the task's stream time (the
	// largest record timestamp it has seen). They are checked after each
	// record the task processes, so they never fire while no records come.
	StreamTime PunctuationType = iota
	// WallClock punctuators are driven by the wall clock, through
	// Task.PunctuateWallClock, which the runtime (or a test driver) calls.
	WallClock
)

// String returns the name of the value, as written in Go.
func (p PunctuationType) String() string {
	if p == WallClock {
		return "wall-clock"
	}
	return "stream-time"
}

// punctuator is one schedule of a callback.
type punctuator struct {
	node      string
	interval  int64 // ms, >= 1
	next      int64 // ms: fires once the clock is at or past it
	fn        func(now int64) error
	cancelled bool

	// committed is next as of the task's last commit (see Task.Committed);
	// fresh is set on a punctuator scheduled since then. Task.Rollback
	// goes back to them.
	committed int64
	fresh     bool
}

// schedule holds the punctuators of one clock. due is the earliest next
// time of a live punctuator (math.MaxInt64 if none), so that the per-record
// check is one comparison.
type schedule struct {
	ps      []*punctuator
	due     int64
	running bool
}

func newSchedule() schedule { return schedule{due: math.MaxInt64} }

// compact drops cancelled punctuators and recomputes due. A punctuator
// that was live at the last commit is kept, inactive, until the next
// commit: a rollback revives it.
func (s *schedule) compact() {
	live := s.ps[:0]
	due := int64(math.MaxInt64)
	for _, p := range s.ps {
		if p.cancelled && p.fresh {
			continue
		}
		live = append(live, p)
		if !p.cancelled {
			due = min(due, p.next)
		}
	}
	clear(s.ps[len(live):])
	s.ps, s.due = live, due
}

// commit makes the current schedule the one a rollback returns to.
func (s *schedule) commit() {
	for _, p := range s.ps {
		p.committed, p.fresh = p.next, false
		if p.cancelled {
			p.fresh = true // dropped by compact
		}
	}
	s.compact()
}

// rollback returns to the schedule of the last commit: punctuators
// scheduled since are dropped, those cancelled since are live again, and
// every next time is what it was.
func (s *schedule) rollback() {
	for _, p := range s.ps {
		if p.fresh {
			p.cancelled = true
			continue
		}
		p.next, p.cancelled = p.committed, false
	}
	s.compact()
}

// Schedule calls fn every interval of the clock typ, on behalf of the node
// named node, and returns a function that cancels the schedule. It follows
// Kafka Streams:
//
//   - A StreamTime punctuator is aligned to multiples of interval since the
//     epoch. It fires after the first record the task processes once it is
//     scheduled, then each time stream time reaches the next multiple of
//     interval.
//   - A WallClock punctuator first fires at Clock() + interval, then every
//     interval after that.
//
// fn gets the clock's current time in milliseconds (stream time, or the
// time given to PunctuateWallClock), which can be later than the scheduled
// time. When the clock jumps over several intervals fn is called once, and
// the next time is the first multiple of interval after the jump, as in
// Kafka Streams. Due punctuators of one clock fire in the order they were
// scheduled. An interval under one millisecond counts as one millisecond,
// the resolution of record timestamps.
//
// cancel may be called any number of times, also from inside fn (the
// punctuator then does not fire again). A punctuator scheduled from inside
// fn first fires at a later check.
//
// An error returned by fn, or a panic, is fatal to the task whatever its
// bad-record policy: there is no record to skip or dead-letter, and
// skipping a punctuation silently could leave state half-maintained. It is
// returned as a *PunctuationError by Process or PunctuateWallClock.
func (t *Task) Schedule(typ PunctuationType, interval time.Duration, node string, fn func(now int64) error) (cancel func()) {
	iv := max(interval.Milliseconds(), 1)
	p := &punctuator{node: node, interval: iv, fn: fn, fresh: true}
	s := &t.streamPuncts
	if typ == WallClock {
		s = &t.wallPuncts
		p.next = t.Clock().UnixMilli() + iv
	}
	p.committed = p.next
	s.ps = append(s.ps, p)
	s.due = min(s.due, p.next)
	return func() {
		if p.cancelled {
			return
		}
		p.cancelled = true
		if !s.running {
			s.compact()
		}
	}
}

// PunctuateWallClock fires the wall-clock punctuators that are due at now.
// The runtime calls it periodically on the task's goroutine, between
// records, and only once the task's stores are restored (it initializes the
// task first if needed, see Init). It is cheap when nothing is due. The
// error is a *PunctuationError, or a *FatalError from Init.
func (t *Task) PunctuateWallClock(now time.Time) error {
	if !t.inited {
		if err := t.Init(); err != nil {
			return err
		}
	}
	ms := now.UnixMilli()
	if ms < t.wallPuncts.due {
		return nil
	}
	return t.punctuate(&t.wallPuncts, WallClock, ms)
}

// punctuate fires the punctuators of s that are due at now.
func (t *Task) punctuate(s *schedule, typ PunctuationType, now int64) error {
	s.running = true
	t.punctuating, t.punctTime = true, now
	t.Rec = nil
	defer func() {
		s.running = false
		t.punctuating = false
		s.compact()
	}()
	// Punctuators scheduled by fn are appended past n: they wait for a
	// later check.
	n := len(s.ps)
	for i := range n {
		p := s.ps[i]
		if p.cancelled || p.next > now {
			continue
		}
		// Move to the next time first, so that fn may cancel.
		next := p.next + p.interval
		if now >= next {
			next = p.next + ((now-p.next)/p.interval+1)*p.interval
		}
		p.next = next
		if err := callPunctuator(p.fn, now); err != nil {
			return &PunctuationError{Task: t.ID.String(), Node: p.node, Type: typ, Time: now, Err: err}
		}
	}
	return nil
}

func callPunctuator(fn func(int64) error, now int64) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return fn(now)
}

// PunctuationError is a punctuator that returned an error or panicked. It
// is fatal whatever the bad-record policy.
type PunctuationError struct {
	Task string
	Node string // the processor that scheduled the punctuator
	Type PunctuationType
	Time int64 // the punctuation's time, ms
	Err  error // the punctuator's error, or a *PanicError
}

// Error implements error: it says what went wrong and what to do.
func (e *PunctuationError) Error() string {
	return fmt.Sprintf("brook: %s punctuator of %s at %d (task %s): %v; punctuator errors stop the app whatever Config.OnBadRecord says: handle errors you can recover from inside the punctuator",
		e.Type, e.Node, e.Time, e.Task, e.Err)
}

// Unwrap returns the punctuator's error.
func (e *PunctuationError) Unwrap() error { return e.Err }
