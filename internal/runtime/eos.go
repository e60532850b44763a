package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// transactionalID names the App's transactional producer:
// "<app>-<instance>". The instance is Options.InstanceID, or a random id
// kept in <StateDir>/<AppID>/instance-id, so that a process restarted on
// the same state directory reuses it: its first transaction fences the
// transactions its crashed predecessor left open, instead of making
// read_committed consumers wait for them to time out.
func (e *Engine) transactionalID() (string, error) {
	if e.o.InstanceID != "" {
		return e.o.AppID + "-" + e.o.InstanceID, nil
	}
	dir := filepath.Join(e.o.StateDir, e.o.AppID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("brook: state directory: %w", err)
	}
	path := filepath.Join(dir, "instance-id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return e.o.AppID + "-" + strings.TrimSpace(string(b)), nil
	}
	var raw [8]byte
	rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("brook: write %s: %w", path, err)
	}
	return e.o.AppID + "-" + id, nil
}

// commitTxn ends the open transaction at a record boundary: the stores'
// dirty entries go to their changelogs inside it, the session adds the
// consumed offsets with the group's metadata and commits. Only after the
// commit succeeds do the stores' writes reach Pebble, with their new
// checkpoints. If the transaction aborts (a rebalance, a fenced member, a
// produce error), the stores drop their uncommitted writes, the consumer
// rewinds to the committed offsets, and processing resumes from there.
// e.mu must be held and the workers idle (commitLocked's barrier).
func (e *Engine) commitTxn(ctx context.Context) error {
	if !e.inTxn {
		return e.endEmptyLocked(ctx)
	}
	commit := !e.failed.Load() && e.prodErr.Load() == nil && !e.incomplete.Swap(false)
	if commit {
		if err := e.flushStores(); err != nil {
			e.fail(err)
			commit = false
		}
	}
	return e.endTxn(ctx, commit)
}

// endTxn ends the open transaction. e.mu must be held and the workers
// idle; e.mu is released while the transaction ends.
func (e *Engine) endTxn(ctx context.Context, commit bool) error {
	if !e.inTxn {
		return nil
	}
	try := kgo.TryAbort
	if commit {
		try = kgo.TryCommit
	}
	// End waits for a heartbeat, which may wait for a rebalance callback
	// that needs e.mu: release it. The workers stay idle, since only the
	// loop hands them records.
	e.mu.Unlock()
	e.txnMu.Lock()
	var committed, unconfirmed bool
	var err error
	open := e.inTxn // a revoke may have aborted it meanwhile
	if open {
		stopWatch := e.watchBlockedCallback()
		committed, err = e.sess.End(ctx, try)
		stopWatch()
		if err != nil && !committed && !isFenced(err) && !isVerdict(err) {
			// The broker gave no verdict (unreachable, a timeout): abort
			// until it answers, then take the truth from it.
			err = e.abortUnconfirmed(err)
			if unconfirmed = err == nil; unconfirmed {
				// A produce that failed while the broker was away
				// belonged to the aborted transaction: its input is
				// processed again. A lasting fault fails again.
				e.prodErr.Store(nil)
			}
		}
	}
	// e.mu before txnMu is released: a callback that waits for txnMu
	// (onAssigned, which discards what the open transaction held) must
	// not run between this End and the bookkeeping below (commitStores),
	// now that a waiting callback may run during an End (decision 65).
	e.mu.Lock()
	e.txnMu.Unlock()
	e.inTxn = false
	e.abortDue.Store(false)
	defer e.applyDropsLocked()
	if !open {
		return nil
	}
	e.noteTxnEnd(committed && err == nil)
	if p := e.prodErr.Load(); p != nil && committed {
		// kgo commits what was acknowledged even when a produce failed; the
		// failed record's input offset was committed with it.
		return &topo.FatalError{Err: fmt.Errorf("brook: a produce failed inside a committed transaction: %w", *p)}
	}
	if !committed {
		e.discardLocked()
		if p := e.prodErr.Load(); p != nil {
			return *p
		}
		if err != nil {
			return e.txnError(err)
		}
		if unconfirmed {
			e.rejoinLocked()
			return nil
		}
		if commit {
			e.log.Info("transaction aborted (rebalance or fenced member); processing resumes from the committed offsets")
		}
		return nil
	}
	if err != nil {
		return e.txnError(err)
	}
	if err := e.commitStores(); err != nil {
		return &topo.FatalError{Err: err}
	}
	for _, t := range e.tasks {
		clear(t.next)
		if t.restored { // a restoring task is the restore's (restorer.go)
			t.t.Committed()
		}
	}
	return nil
}

// discardLocked drops what the open transaction held: store writes,
// processed offsets, and the tasks' stream time and punctuation schedules
// since the last commit. e.mu must be held and the workers idle.
func (e *Engine) discardLocked() {
	e.abortStores()
	for _, t := range e.tasks {
		clear(t.next)
		if !t.restored {
			continue // restoring beside processing: nothing to roll back
		}
		t.t.Rollback()
		for _, c := range t.logs {
			if ck, ok, err := t.t.DB.Checkpoint(c.store.Name()); err == nil && ok {
				c.next.Store(ck)
			}
		}
	}
}

// abortUnconfirmed ends a transaction whose End failed without a verdict
// from the broker: the broker was down or did not answer in time (a broker
// SIGKILLed and restarted, a network cut). It retries an abort, with
// backoff, until the broker answers; franz-go then re-initializes the
// producer id, which bumps its epoch and fences whatever the broker still
// holds open of the transaction. It gives up only when Run's context ends
// or on fencing, and returns that error; nil once the abort went through.
// e.mu is not held; txnMu is.
func (e *Engine) abortUnconfirmed(first error) error {
	e.log.Warn("ending the transaction failed without an answer from the broker; aborting it, retrying until the broker is back", "err", first)
	backoff := 100 * time.Millisecond
	for {
		// Not cut short by a cancel of Run, but by ShutdownTimeout.
		ctx, cancel := context.WithTimeout(e.sctx, e.commitTimeout())
		_, err := e.sess.End(ctx, kgo.TryAbort)
		cancel()
		if err == nil {
			return nil
		}
		if isFenced(err) || e.ctx.Err() != nil {
			return err
		}
		e.log.Warn("abort after a failed end of transaction failed; retrying", "err", err, "backoff", backoff)
		select {
		case <-e.ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// isVerdict reports whether err is the broker's final answer (a Kafka
// error that retrying does not change, such as an authorization failure):
// such an error stops the App as before, instead of an abort and a rejoin
// that would meet it again and again.
func isVerdict(err error) bool {
	var ke *kerr.Error
	return errors.As(err, &ke) && !ke.Retriable
}

func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.FencedInstanceID) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// ErrFenced is returned by Run when another instance with the same
// transactional id took over: this App's transactions can no longer commit.
var ErrFenced = errors.New("brook: fenced: another instance with the same transactional id (InstanceID or state directory) is running")

func (e *Engine) txnError(err error) error {
	if isFenced(err) {
		return fmt.Errorf("%w: %w", ErrFenced, err)
	}
	return fmt.Errorf("brook: end transaction: %w", err)
}

// revokeTxn handles a revoke or loss under exactly-once. A revoke drops
// the tasks that move and leaves the open transaction to the loop, whose
// End aborts it through the session (see cooperative.go). On a loss every
// partition is gone: the open transaction, which can no longer commit, is
// aborted here and the tasks are dropped with their uncommitted writes.
//
// The transaction session calls this holding a lock that ending a
// transaction through the session needs, so it must not wait for the
// loop's End: if one is in progress, the drop is deferred to its end (the
// session then aborts or has committed; either is correct), and the abort
// goes straight to the client.
func (e *Engine) revokeTxn(ctx context.Context, parts map[string][]int32, lost bool) {
	if !e.txnMu.TryLock() {
		e.pmu.Lock()
		e.pending = append(e.pending, parts)
		e.pmu.Unlock()
		// The session may have marked itself after the End under way
		// cleared its marks: end it again before the next transaction.
		e.sessRevoked.Store(true)
		return
	}
	defer e.txnMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return
	}
	if !lost {
		// Cooperative: the partitions that stay keep going (cooperative.go).
		e.revokeCooperativeLocked(parts)
		return
	}
	e.barrier()
	if e.inTxn {
		// Bounded: a stalled broker must not hold the rebalance for ever.
		ctx, cancel := context.WithTimeout(ctx, e.commitTimeout())
		defer cancel()
		if err := e.cl.AbortBufferedRecords(ctx); err != nil {
			e.log.Warn("abort buffered records on revoke", "err", err)
		}
		if err := e.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
			e.fail(e.txnError(err))
		}
		e.inTxn = false
		e.noteTxnEnd(false)
	}
	e.discardLocked()
	e.dropLocked(parts, true)
	e.applyDropsLocked()
	// The session marked itself lost, and only its End clears the mark
	// (the raw client's abort does not): until then it would abort the
	// next transaction and skip the revoke and loss callbacks.
	e.sessRevoked.Store(true)
}

// applyDropsLocked drops the tasks of partitions revoked or lost under
// exactly-once, discarding everything the open transaction holds. e.mu
// must be held.
func (e *Engine) applyDropsLocked() {
	e.pmu.Lock()
	pending := e.pending
	e.pending = nil
	e.pmu.Unlock()
	if len(pending) == 0 {
		return
	}
	e.barrier()
	e.discardLocked()
	for _, parts := range pending {
		e.dropLocked(parts, true)
	}
}
