package runtime

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brookstream/brook/internal/topo"
)

// Warm-up replicas and probing rebalances (KIP-441).
//
// The leader first balances the tasks as assignTasks does (sticky, by
// count). Then, for every task with stores, it checks that the member
// the balance chose is caught up on it: that the changelog offsets the
// member reported for the task (memberData.Offsets) are within
// Options.AcceptableRecoveryLag of the largest any member reported (the
// active owner's, as of its last commit, or a standby's after a crash).
// A member that is not caught up does not get the task: the task stays
// on its owner, or, if its owner is gone or behind too, goes to the
// caught-up member furthest along, and the member the balance chose gets
// a warm-up replica instead. A warm-up is a standby (standby.go) that
// the leader assigns for a move, not counted in StandbyReplicas; at most
// MaxWarmupReplicas run at once across the group. A move whose target
// already keeps a standby of the task needs no new replica: that standby
// is listed as the warm-up, and does not count against the cap. A move
// that finds no room under the cap waits for a later rebalance.
//
// The balance is therefore uneven while warm-ups run. A member holding
// warm-ups asks for a rebalance (kgo's ForceRebalance: a rejoin with its
// new offsets, which the brokers treat as a change of metadata) every
// ProbingRebalanceInterval after its last assignment, and once, at
// once, when a warm-up's lag to the changelog's last stable offset first
// falls within AcceptableRecoveryLag. In that rebalance the leader sees
// the warm-up caught up and moves the task: its new owner restores only
// the tail the warm-up had not read. Kafka Streams probes on the
// interval only; the early probe makes a scale-out take about as long as
// the warm-ups' reads, not a multiple of the interval. It is fired once
// per warm-up, so a leader that still finds the member behind (its owner
// wrote more in between) costs one extra rebalance, then the interval
// rules.
//
// Tasks without stores move at once, as before. With InMemoryState a
// member reports offsets only for the tasks and standbys it runs (their
// state is gone when closed), so warm-ups and standbys work as with
// Pebble, in memory.

// plan is the leader's answer for every member, by member index.
type plan struct {
	active, standby, warmup [][]topo.TaskID
}

// warmupOpts are the rules the leader assigns by.
type warmupOpts struct {
	standbys   int   // Options.StandbyReplicas
	lag        int64 // Options.AcceptableRecoveryLag; < 0: everyone is caught up
	maxWarmups int   // Options.MaxWarmupReplicas
}

// planTasks assigns tasks to members: active tasks balanced by count and
// held back on caught-up members, standbys, and warm-ups for the moves
// held back (see above).
func planTasks(members []memberTasks, tasks []topo.TaskID, stateful func(topo.TaskID) bool, o warmupOpts) plan {
	target := assignTasks(members, tasks)
	active, moves := holdBack(members, target, stateful, o.lag)
	standby := pickStandbys(members, active, stateful, o.standbys)
	standby, warmup := pickWarmups(moves, standby, o.maxWarmups)
	return plan{active: active, standby: standby, warmup: warmup}
}

// move is a task the balance wants on member to, which is not caught up.
type move struct {
	id topo.TaskID
	to int
}

// holdBack returns target with every task with stores that target gives
// to a member not caught up on it given back to a caught-up member, and
// the moves so held back, in task order.
func holdBack(members []memberTasks, target [][]topo.TaskID, stateful func(topo.TaskID) bool, lag int64) ([][]topo.TaskID, []move) {
	out := make([][]topo.TaskID, len(target))
	for m := range target {
		out[m] = slices.Clone(target[m])
	}
	if lag < 0 {
		return out, nil
	}
	best := map[topo.TaskID]int64{} // the largest offsets reported per task
	for _, mt := range members {
		for id, o := range mt.offsets {
			best[id] = max(best[id], o)
		}
	}
	caughtUp := func(m int, id topo.TaskID) bool { return best[id]-members[m].offsets[id] <= lag }
	var moves []move
	for m := range target {
		for _, id := range target[m] {
			if !stateful(id) || caughtUp(m, id) {
				continue
			}
			// The owner if it is caught up, else the caught-up member
			// furthest along (one exists: the one with best[id]), the
			// least loaded first among equals.
			to := -1
			for c := range members {
				if c == m || !caughtUp(c, id) {
					continue
				}
				if members[c].owned[id] {
					to = c
					break
				}
				if to < 0 || members[c].offsets[id] > members[to].offsets[id] ||
					(members[c].offsets[id] == members[to].offsets[id] && len(out[c]) < len(out[to])) {
					to = c
				}
			}
			if to < 0 {
				continue
			}
			out[m] = slices.DeleteFunc(out[m], func(x topo.TaskID) bool { return x == id })
			out[to] = append(out[to], id)
			moves = append(moves, move{id: id, to: m})
		}
	}
	for m := range out {
		slices.SortFunc(out[m], compareTasks)
		if len(out[m]) == 0 {
			out[m] = nil
		}
	}
	slices.SortFunc(moves, func(a, b move) int { return compareTasks(a.id, b.id) })
	return out, moves
}

// pickWarmups gives the target of every move a warm-up replica of its
// task, at most max new ones; a target that keeps a standby of the task
// already has that standby listed as its warm-up instead, free. It
// returns the standbys and the warm-ups by member.
func pickWarmups(moves []move, standby [][]topo.TaskID, maxWarmups int) ([][]topo.TaskID, [][]topo.TaskID) {
	warmup := make([][]topo.TaskID, len(standby))
	n := 0
	for _, mv := range moves {
		if i := slices.Index(standby[mv.to], mv.id); i >= 0 {
			standby[mv.to] = slices.Delete(standby[mv.to], i, i+1)
			if len(standby[mv.to]) == 0 {
				standby[mv.to] = nil
			}
		} else if n < maxWarmups {
			n++
		} else {
			continue
		}
		warmup[mv.to] = append(warmup[mv.to], mv.id)
	}
	return standby, warmup
}

// warmupState is the member's side of warm-ups: which of its standbys
// are warm-ups and when to probe.
type warmupState struct {
	// warmups are the warm-up tasks of the last assignment.
	warmups atomic.Pointer[map[topo.TaskID]bool]
	// probeAt is when the loop asks for a probing rebalance (Unix
	// nanoseconds), 0 for never; probeNow asks for one at once.
	probeAt  atomic.Int64
	probeNow atomic.Bool
	// probed lists the warm-ups that asked for their early probe.
	probedMu sync.Mutex
	probed   map[topo.TaskID]bool
	// held lists the standby and warm-up tasks running here, for Metrics;
	// heldStale is set when an assignment changed which are warm-ups.
	held      atomic.Pointer[heldReplicas]
	heldStale atomic.Bool
}

// heldReplicas are the replicas a member runs now.
type heldReplicas struct{ standbys, warmups []string }

// noteWarmups takes in the warm-ups of a new assignment and schedules the
// probing rebalance.
func (e *Engine) noteWarmups(ids []topo.TaskID) {
	set := make(map[topo.TaskID]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	e.warmups.Store(&set)
	e.heldStale.Store(true)
	e.probedMu.Lock()
	for id := range e.probed {
		if !set[id] {
			delete(e.probed, id)
		}
	}
	e.probedMu.Unlock()
	if len(ids) > 0 && e.o.ProbingRebalanceInterval > 0 {
		e.probeAt.Store(time.Now().Add(e.o.ProbingRebalanceInterval).UnixNano())
		e.log.Info("warm-up replicas assigned; a probing rebalance follows when they catch up", "tasks", len(ids), "probe_in", e.o.ProbingRebalanceInterval)
	} else {
		e.probeAt.Store(0)
	}
}

// isWarmup reports whether task id is a warm-up here.
func (e *Engine) isWarmup(id topo.TaskID) bool {
	p := e.warmups.Load()
	return p != nil && (*p)[id]
}

// warmupCaughtUp is called by a warm-up's standby whenever its lag to the
// end of its changelogs is known: the first time it is within
// AcceptableRecoveryLag, the loop is asked to probe at once.
func (e *Engine) warmupCaughtUp(id topo.TaskID, lag int64) {
	if lag > e.o.AcceptableRecoveryLag || !e.isWarmup(id) {
		return
	}
	e.probedMu.Lock()
	if e.probed == nil {
		e.probed = map[topo.TaskID]bool{}
	}
	first := !e.probed[id]
	e.probed[id] = true
	e.probedMu.Unlock()
	if first {
		e.log.Info("warm-up replica caught up; asking for a probing rebalance", "task", id, "lag", lag)
		e.probeNow.Store(true)
		e.wakeLoop()
	}
}

// probe asks for a rebalance when one is due. It runs on the loop.
func (e *Engine) probe() {
	now := time.Now()
	at := e.probeAt.Load()
	due := at != 0 && now.UnixNano() >= at
	if !e.probeNow.Swap(false) && !due {
		return
	}
	if at != 0 {
		// Again after an interval, in case this probe changes nothing
		// (a rejoin with unchanged metadata is no rebalance).
		e.probeAt.Store(now.Add(e.o.ProbingRebalanceInterval).UnixNano())
	}
	e.log.Info("probing rebalance: rejoining the group with this member's warm-up progress")
	e.met.probes.Add(1)
	e.cl.ForceRebalance()
}
