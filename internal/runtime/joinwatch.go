package runtime

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A commit during the member's own join.
//
// kgo's GroupTransactSession.End reads the group generation for the
// transaction's offsets (prepareTxnOffsetCommit), and only then waits for
// a join and sync in progress to end (waitJoinSyncMu) before it sends
// them. An End that begins after the member sent its JoinGroup therefore
// sends the generation the join just ended: the coordinator answers
// ILLEGAL_GENERATION (Apache Kafka's ClassicGroup.validateOffsetCommit and
// kfake both accept a transactional offset commit whose generation is the
// group's current one, in any group state, and refuse any other) and the
// session aborts a transaction that had nothing wrong with it.
//
// So under exactly-once the loop does not begin a commit from the end of
// a revoke or loss callback (the member joins next) or the member's
// JoinGroup request, whichever comes first, until its SyncGroup request.
// The JoinGroup answer carries the new generation, which kgo stores before
// it sends the SyncGroup request; an End that begins after that sends the
// new generation, and kgo holds it until the sync is done, when the member
// is in the group at that generation. The loop goes on processing meanwhile
// (the transaction stays open, as it would while End waited inside kgo).
// The client's own request hooks say when the requests are written: they
// are the only signal kgo gives that is exact (a rebalance callback runs
// before the join, but a join can also begin with no callback, when kgo
// rejoins after a revoke).
//
// What bounds the hold: a JoinGroup answer with an error (the member must
// join again, kgo backs off first) is followed by no SyncGroup request, so
// the hold ends joinAnswerGrace after the answer; and no commit is held
// past holdMax after the last commit (holdCommit). A join that lasts
// longer (one that waits for a member that is gone, until its session
// times out) gains nothing from the hold: the End that follows waits in
// kgo for the join as it did before, and the transaction, which every
// read_committed reader of its partitions waits for, is not kept open
// longer than that. An abort that a revoke asked for is never held: it
// sends no offsets.

// Callbacks between transactions (decision 65).
//
// kgo's GroupTransactSession marks itself revoked before it calls the
// revoke callback of any partition, and its next End then aborts the
// whole open transaction, the work of the tasks that stay included.
// Kafka Streams under EOS v2 commits every task when any is revoked,
// before the revoke completes. brook gets the same order from
// kgo.BlockRebalanceOnPoll: a rebalance callback waits while the loop
// holds polled records, and the loop lets callbacks run only between
// transactions (allowRebalance): after an End, or when no transaction is
// open. Every poll holds callbacks back until allowRebalance (kgo counts
// a poll that ended at its deadline too; only one that returns nothing
// after a wake-up does not), so a transaction, begun after a poll, is
// open only while callbacks wait; kgo says when one does
// (kgo.OnPartitionsCallbackBlocked), and the loop commits at once instead
// of at the end of the interval (callbackWaits). So a
// revoke finds everything processed committed, and nothing to abort. A
// callback waits at most a second for an End (watchBlockedCallback): a
// loss callback waits too, and a commit cannot finish before it.
//
// This makes every callback wait for a commit, the revoke that ends a
// group session too (it revokes nothing under the cooperative protocol),
// so a member rejoins only after its commit, and the group's join, during
// which no member commits, waits for the slowest member's commit. Letting
// that revoke run with the transaction open was tried: the join does not
// wait, but the revoke of the sync that follows can then find the
// transaction open (a sync of members that are all waiting takes a
// millisecond, less than the loop took to poll again and so hold
// callbacks back), and it aborted one transaction in about every third
// scale-out. A commit at the start of
// the rebalance also means the transaction that spans the join is young.

// joinAnswerGrace is how long after the JoinGroup answer the hold waits
// for the SyncGroup request, which normally follows at once (the leader
// first computes the assignment).
const joinAnswerGrace = 500 * time.Millisecond

// joinWatch follows this member's JoinGroup and SyncGroup requests through
// the client's hooks (kgo.HookBrokerWrite, kgo.HookBrokerRead).
type joinWatch struct {
	// sent is the time (UnixNano) the last JoinGroup request was written,
	// zero once its SyncGroup request was written or it failed.
	sent atomic.Int64
	// answered is the time its answer was read, zero before.
	answered atomic.Int64
	// wake is called when the hold ends (the loop's wakeLoop).
	wake func()
	// wrote is set when a JoinGroup request is written, and cleared when
	// its SyncGroup request is written or it got no answer: unlike sent,
	// not set by expect.
	wrote atomic.Bool
}

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (j *joinWatch) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	switch key {
	case int16(kmsg.JoinGroup):
		if err == nil {
			j.answered.Store(0)
			j.sent.Store(time.Now().UnixNano())
			j.wrote.Store(true)
		}
	case int16(kmsg.SyncGroup):
		// Written after kgo stored the generation of the JoinGroup answer.
		j.wrote.Store(false)
		if j.sent.Swap(0) != 0 && j.wake != nil {
			j.wake()
		}
	}
}

// OnBrokerRead implements kgo.HookBrokerRead. kgo reads an answer only
// after the request's write hook ran.
func (j *joinWatch) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key != int16(kmsg.JoinGroup) {
		return
	}
	if err != nil {
		// No answer: kgo joins again later, with a new request.
		j.wrote.Store(false)
		if j.sent.Swap(0) != 0 && j.wake != nil {
			j.wake()
		}
		return
	}
	j.answered.Store(time.Now().UnixNano())
}

// expect notes that the member joins next: kgo calls the revoke (or loss)
// callback at the end of a group session and then joins, and after a
// revoke of partitions it joins again at once. kgo blocks commits from
// before it writes the JoinGroup request, so the hold starts here; the
// JoinGroup write restarts it and the SyncGroup write ends it.
func (j *joinWatch) expect() {
	if j.sent.Load() == 0 {
		j.answered.Store(0)
		j.sent.CompareAndSwap(0, time.Now().UnixNano())
	}
}

// joining reports whether the member's JoinGroup request was written and
// its SyncGroup request not yet, at now.
func (j *joinWatch) joining(now time.Time) bool {
	if j.sent.Load() == 0 {
		return false
	}
	a := j.answered.Load()
	return a == 0 || now.Sub(time.Unix(0, a)) < joinAnswerGrace
}

// holdMax is the longest a commit is held after the last commit, for a
// commit interval of interval and a commit deadline of deadline: at least
// a second (a rebalance of members on one host takes a few hundred
// milliseconds), five intervals, and at most half the deadline.
func holdMax(interval, deadline time.Duration) time.Duration {
	return min(max(time.Second, 5*interval), deadline/2)
}

// holdCommit reports whether the loop holds a commit that is due, because
// the member is joining the group (see above). last is the end of the last
// commit. Exactly-once only; an abort that a revoke asked for is not held,
// nor the empty End that a revoke finding no transaction open asks for
// (the loop does it before it begins the next transaction anyway).
func (e *Engine) holdCommit(last time.Time) bool {
	if e.sess == nil || e.abortDue.Load() || e.sessRevoked.Load() {
		return false
	}
	now := time.Now()
	return e.joins.joining(now) && now.Sub(last) < holdMax(e.o.CommitInterval, e.commitTimeout())
}

// onCallbackBlocked is called by the client, on a goroutine of its own,
// when a rebalance callback waits because the loop holds polled records
// (kgo.BlockRebalanceOnPoll). Under exactly-once the loop then commits the
// open transaction at once (callbackWaits) and lets the callback run
// (allowRebalance). The goroutine may run late, after the loop let the
// callback run: the loop decides with what it knows, not this function.
func (e *Engine) onCallbackBlocked(context.Context, *kgo.Client) {
	if e.sess == nil {
		return
	}
	e.cbWaiting.Store(true)
	e.wakeLoop()
}

// callbackWaits reports whether the loop should commit at once because a
// rebalance callback waits for it, even while decision 58's hold would
// hold the commit: kgo calls callbacks only outside a join and sync, with
// the generation of the sync it finished. The hold's start at the end of
// a revoke callback (expect) is overridden: kgo then calls the assignment
// callback, which may wait, before it joins. A JoinGroup request written
// and not followed by its SyncGroup request is not: while a callback
// waits kgo writes none, so the signal is one that came late, for a
// callback the loop already let run (or one that waits after a join that
// failed, which the hold's bounds and watchBlockedCallback end).
func (e *Engine) callbackWaits() bool {
	return e.sess != nil && e.cbWaiting.Load() && !e.joins.wrote.Load()
}

// callbackWait is how long an End may keep a waiting rebalance callback
// from running (watchBlockedCallback).
const callbackWait = time.Second

// watchBlockedCallback lets a rebalance callback that waits for the loop
// run if the End under way has not returned callbackWait after it began.
// A callback that waits because the member's group session failed (kgo
// calls the loss callback after a failed join, sync or heartbeat, and
// waits for the loop first) is one an End cannot finish before: with no
// session, nothing answers the heartbeat End forces, and End would wait
// until its deadline, the whole TransactionTimeout, for the session's loss
// flag, which the loss callback sets. Letting the callback run sets it:
// End aborts, and the loss callback drops the tasks once End returns
// (revokeTxn). Any other End finishes well within callbackWait; one that
// does not, on an overloaded machine, may be aborted by a revoke that
// runs meanwhile, which is correct, and as before decision 65. It returns
// the function that stops the watch.
func (e *Engine) watchBlockedCallback() (stop func()) {
	t := time.AfterFunc(callbackWait, func() {
		if e.cbWaiting.Load() {
			e.log.Info("a rebalance callback waited a second for a transaction to end; letting it run")
			e.cbWaiting.Store(false)
			e.cl.AllowRebalance()
		}
	})
	return func() { t.Stop() }
}
