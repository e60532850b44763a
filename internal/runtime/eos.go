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
// e.mu must be held.
func (e *Engine) commitTxn(ctx context.Context) error {
	if !e.inTxn {
		return nil
	}
	e.barrier()
	commit := !e.failed.Load() && e.prodErr.Load() == nil
	if commit {
		if err := e.flushStores(); err != nil {
			e.fail(err)
			commit = false
		}
	}
	return e.endTxn(ctx, commit)
}

// endTxn ends the open transaction. The workers must be idle.
func (e *Engine) endTxn(ctx context.Context, commit bool) error {
	if !e.inTxn {
		return nil
	}
	e.barrier()
	try := kgo.TryAbort
	if commit {
		try = kgo.TryCommit
	}
	committed, err := e.sess.End(ctx, try)
	e.inTxn = false
	defer e.applyDropsLocked()
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
	}
	return nil
}

// discardLocked drops what the open transaction held: store writes and
// processed offsets. e.mu must be held and the workers idle.
func (e *Engine) discardLocked() {
	e.abortStores()
	for _, t := range e.tasks {
		clear(t.next)
		for _, c := range t.logs {
			if ck, ok, err := t.t.DB.Checkpoint(c.store.Name()); err == nil && ok {
				c.next.Store(ck)
			}
		}
	}
}

// ErrFenced is returned by Run when another instance with the same
// transactional id took over: this App's transactions can no longer commit.
var ErrFenced = errors.New("brook: fenced: another instance with the same transactional id (InstanceID or state directory) is running")

func (e *Engine) txnError(err error) error {
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.FencedInstanceID) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		return fmt.Errorf("%w: %w", ErrFenced, err)
	}
	return fmt.Errorf("brook: end transaction: %w", err)
}

// deferDrop records partitions revoked or lost under exactly-once. The
// transaction session calls the revoke and lose callbacks holding a lock
// that ending a transaction needs, so they must not wait for e.mu: the
// tasks are dropped later, by the loop or the next assignment, and the
// open transaction, which can no longer commit, is aborted first.
func (e *Engine) deferDrop(parts map[string][]int32) {
	e.pmu.Lock()
	e.pending = append(e.pending, parts)
	e.pmu.Unlock()
	e.needAbort.Store(true)
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
