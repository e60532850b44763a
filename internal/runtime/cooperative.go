package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cooperative rebalancing (KIP-429).
//
// The balancer is cooperative: a rebalance revokes only the partitions
// that move, and they are assigned to their new owner in a follow-up
// rebalance, once revoked. A member's other tasks keep their partitions,
// their positions and their state through the rebalance.
//
// At-least-once: the revoke callback commits what was processed (every
// task), then drops the tasks that move.
//
// Exactly-once: the loop lets the revoke of a new assignment run only
// between transactions (joinwatch.go, "Callbacks between transactions"):
// when it waits, the loop commits the open transaction, the work of the
// partitions that leave included, as Kafka Streams under EOS v2 does. The
// revoke then finds no transaction open; the session, marked revoked, is
// ended with an empty End before the next transaction begins
// (endEmptyLocked), which rewinds to the committed offsets what was
// polled since the commit and not processed.
//
// A revoke can still meet an open transaction when it did not wait for
// the loop: one let run by watchBlockedCallback while an End was slow.
// Then the open transaction
// holds records of the partitions that leave and cannot commit their
// offsets any more. The revoke callback
// does not end it: it waits for the workers (barrier), drops the tasks
// that move (their uncommitted writes go with them) and asks the loop to
// end the transaction at once. The transaction session has marked itself
// revoked before calling the callback, so that End aborts; an abort
// through the session rewinds every partition still assigned to its last
// committed offset (kgo's CommittedOffsets, which the session updates at
// every commit and the group updates when it fetches the offsets of a new
// partition), and discardLocked rolls the remaining tasks' state, stream
// time and changelog offsets back to the same commit. So the tasks that
// stay redo at most one commit interval of work, from exactly where their
// committed state is.
//
// The earlier attempt aborted in the callback with the raw client
// (EndTransaction), which does not rewind the consumer: under the eager
// protocol every partition is revoked and fetched again from its committed
// offset, so that was correct, but with cooperative rebalancing the
// partitions that stay kept their positions past the aborted records, and
// those records were lost. Ending the transaction through the session, on
// the loop, is what rewinds them.
//
// Why the partitions that leave are safe while the transaction is still
// open when the callback returns: their new owner can only get them in
// the follow-up rebalance; the open transaction can no longer commit (the
// session aborts it, and with the revoke its consumed offsets are no
// longer tracked), so nothing it holds for them ever becomes visible to a
// read_committed reader; their new owner restores their changelogs with
// read_committed, which waits for the abort's markers at most until the
// loop's next iteration.

// revokeCooperative handles a revoke under exactly-once with the
// transaction left open (see above). e.mu must be held.
func (e *Engine) revokeCooperativeLocked(parts map[string][]int32) {
	e.barrier()
	e.dropLocked(parts, true)
	// The session stays marked revoked until an End: the next transaction
	// would abort for nothing. With no transaction open the loop ends an
	// empty one; with one open, its End is that End, and the empty one
	// after it costs nothing.
	e.sessRevoked.Store(true)
	if e.inTxn {
		e.abortDue.Store(true) // not held by holdCommit (joinwatch.go)
	}
	e.commitNow.Store(true) // the session aborts the open one; end it now
}

// endEmptyLocked ends the session's revoked state with an End while no
// transaction is open: its rewind to the committed offsets moves only
// what was polled since the last End and not processed (the loop drops
// such records). e.mu must be held; it is released while the session
// ends.
func (e *Engine) endEmptyLocked(ctx context.Context) error {
	if e.inTxn || !e.sessRevoked.Swap(false) {
		return nil
	}
	e.mu.Unlock()
	e.txnMu.Lock()
	_, err := e.sess.End(ctx, kgo.TryAbort)
	e.mu.Lock() // before txnMu, as in endTxn
	e.txnMu.Unlock()
	e.applyDropsLocked()
	if err != nil && !isFenced(err) {
		e.log.Info("ending the session after a revoke", "err", err)
		return nil
	}
	if err != nil {
		return e.txnError(err)
	}
	return nil
}

// missedRevokesLocked drops the tasks of newly assigned partitions that
// already have a task: a task can only be here if its partitions were
// revoked without the callback being called (the transaction session skips
// the user's callback while it is marked revoked from an earlier revoke in
// the same transaction). Its state may be behind what another member
// committed since: it is dropped and made again, which restores it. The
// open transaction aborts (the session is marked revoked). e.mu must be
// held.
func (e *Engine) missedRevokesLocked(assigned map[string][]int32) {
	var stale []*task
	seen := map[topo.TaskID]bool{}
	for topic, parts := range assigned {
		sub := e.topicTo[topic]
		if sub == nil {
			continue
		}
		for _, p := range parts {
			id := topo.TaskID{Subtopology: sub.ID, Partition: p}
			if t := e.tasks[id]; t != nil && !seen[id] {
				seen[id] = true
				stale = append(stale, t)
			}
		}
	}
	if len(stale) == 0 {
		return
	}
	e.log.Warn("dropping tasks whose revoke was not delivered", "tasks", len(stale))
	e.barrier()
	if e.sess != nil {
		e.discardLocked()
	}
	for _, t := range stale {
		for k, o := range e.byPart {
			if o == t {
				delete(e.byPart, k)
			}
		}
		delete(e.tasks, t.t.ID)
		t.w.tasks--
		e.closeTask(t, true)
	}
}

// revokeIsEmpty reports whether a revoke or loss holds no partition: the
// cooperative protocol calls the revoke callback at the end of every
// session, with nothing to revoke when the member keeps all it has.
func revokeIsEmpty(parts map[string][]int32) bool {
	for _, ps := range parts {
		if len(ps) > 0 {
			return false
		}
	}
	return true
}

// rejoinLocked runs after abortUnconfirmed: the failed End may have
// committed on the broker (its answer was lost), so neither the local
// stores nor the consumer's positions can be trusted. Every task is
// dropped, the group's committed offsets are read back from the broker
// and set as the positions of this member's partitions, and the tasks are
// made again, which restores their changelogs' tails: right whichever way
// the transaction ended. (Under eager rebalancing a forced rejoin did
// this; under cooperative rebalancing a rejoin keeps the partitions and
// assigns nothing new.) e.mu must be held and the workers idle.
func (e *Engine) rejoinLocked() {
	all := map[string][]int32{}
	for k := range e.byPart {
		all[k.topic] = append(all[k.topic], k.partition)
	}
	e.dropLocked(all, true)
	// The broker may still be coming back: retry until it answers or Run
	// ends, as abortUnconfirmed does.
	var offs kadm.OffsetResponses
	backoff := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(e.ctx, e.commitTimeout())
		var err error
		offs, err = kadm.NewClient(e.cl).FetchOffsets(ctx, e.o.AppID)
		cancel()
		if err == nil {
			err = offs.Error()
		}
		if err == nil {
			break
		}
		if e.ctx.Err() != nil {
			return // Run ends; the tasks are dropped, nothing is committed
		}
		if isVerdict(err) {
			e.fail(fmt.Errorf("brook: read the committed offsets of group %s after a broker outage: %w", e.o.AppID, err))
			return
		}
		e.log.Warn("reading the group's committed offsets after a broker outage failed; retrying", "err", err, "backoff", backoff)
		select {
		case <-e.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	set := map[string]map[int32]kgo.EpochOffset{}
	for topic, ps := range all {
		set[topic] = map[int32]kgo.EpochOffset{}
		for _, p := range ps {
			eo := kgo.EpochOffset{Epoch: -1, Offset: 0} // never committed: from the start
			if o, ok := offs.Lookup(topic, p); ok && o.At >= 0 {
				eo = kgo.EpochOffset{Epoch: o.LeaderEpoch, Offset: o.At}
			}
			set[topic][p] = eo
		}
	}
	e.cl.SetOffsets(set)
	e.log.Info("transaction aborted after the broker was unreachable; resuming from the committed offsets")
	e.addTasksLocked(all)
}
