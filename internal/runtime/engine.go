// Package runtime runs compiled topologies on Kafka: one consumer-group
// member, a poll loop that hands each task's records to the task's worker,
// and a commit loop.
//
// The record's path: PollRecords returns fetches; the poll loop, holding
// the engine lock, looks up the task of each fetched partition and sends the
// partition's records, as one batch, to the task's worker. The worker runs
// them through the task's processors in offset order; sinks hand records to
// the franz-go producer, which batches and sends them. Every CommitInterval
// the poll loop stops handing out work and waits until every worker is idle
// (a record boundary), flushes the producer (every record produced so far is
// acknowledged), and only then commits the offsets of the processed records.
// Rebalance callbacks take the same lock and do the same commit before tasks
// are closed, so a partition moves to another member with everything before
// its committed offset already written (at-least-once).
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/state"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options configure an Engine. The stream package validates them.
type Options struct {
	AppID          string
	Brokers        []string
	ClientOpts     []kgo.Opt
	Logger         *slog.Logger
	CommitInterval time.Duration
	Workers        int
	MaxPollRecords int
	Policy         topo.Policy
	Graph          *topo.Graph
	Subs           []*topo.Subtopology
	// SinkTopics are the topics sinks write to, when known when building.
	SinkTopics []string

	// StateDir is the root of local state; a task's Pebble DB lives in
	// <StateDir>/<AppID>/<task>.
	StateDir string
	// InMemory keeps stores in memory instead of Pebble.
	InMemory bool
	// BlockCacheBytes is the Pebble block cache shared by all tasks.
	BlockCacheBytes int64
	// MemTableBytes is the Pebble memtable size of each task's DB.
	MemTableBytes int
	// StoreCacheBytes is the write-back cache budget of each store.
	StoreCacheBytes int
	// OnRestore, if set, is called as stores restore.
	OnRestore func(RestoreProgress)
	// CleanupDelay is how long the directory of a task neither active nor
	// standby here is kept after its last use (janitor.go);
	// DefaultStateCleanupDelay when zero.
	CleanupDelay time.Duration

	// ExactlyOnce runs every commit interval as one Kafka transaction.
	ExactlyOnce bool
	// InstanceID, if set, is the static group member id and names the
	// transactional id; else a random id kept in the state directory does.
	InstanceID string
	// TransactionTimeout bounds how long a transaction may stay open.
	TransactionTimeout time.Duration
	// ApplicationServer is the endpoint ("host:port") this member
	// advertises to the group for queries across instances; empty for none.
	ApplicationServer string
	// StandbyReplicas is the number of standby replicas of each task with
	// stores kept on other members (standby.go).
	StandbyReplicas int
	// AcceptableRecoveryLag is the largest lag, in changelog offsets summed
	// over a task's stores, at which a member counts as caught up on the
	// task (warmup.go); a task moves only to a caught-up member.
	AcceptableRecoveryLag int64
	// MaxWarmupReplicas bounds the warm-up replicas the leader assigns at
	// once across the group (warmup.go).
	MaxWarmupReplicas int
	// ProbingRebalanceInterval is how often a member holding warm-up
	// replicas asks for a rebalance (warmup.go).
	ProbingRebalanceInterval time.Duration
	// WallClock is set when the topology has processors that may schedule
	// wall-clock punctuators: tasks then get a tick every CommitInterval.
	WallClock bool

	// OnStateChange, if set, is called with every change of Status.State
	// or Status.Waiting (lifecycle.go).
	OnStateChange func(old, new Status)
	// ShutdownTimeout bounds the shutdown after Run's context ends;
	// DefaultShutdownTimeout when zero.
	ShutdownTimeout time.Duration
}

// ErrClosed is returned by Run on an engine that runs or already ran.
var ErrClosed = errors.New("brook: app is running, already ran or was closed: Run can be called once; make a new App with stream.New")

// Engine runs a topology as one member of the consumer group AppID.
type Engine struct {
	o   Options
	log *slog.Logger

	cl      *kgo.Client
	promise func(*kgo.Record, error)

	mu      sync.Mutex // held by the poll loop while dispatching, by commits and by rebalance callbacks
	tasks   map[topo.TaskID]*task
	byPart  map[tp]*task
	topicTo map[string]*topo.Subtopology
	workers []*worker
	closing bool

	ctx     context.Context
	errOnce sync.Once
	err     error
	failed  atomic.Bool
	cancel  context.CancelFunc

	prodErr atomic.Pointer[error]
	ran     atomic.Bool
	// clSlab is what is left of flushStores' slab of changelog records;
	// used under mu by the commit only.
	clSlab    []kgo.Record
	commitNow atomic.Bool // a store's cache is over budget
	// abortDue is set by a revoke that left the open transaction to the
	// loop's End, which aborts it (cooperative.go), and cleared by that
	// End; holdCommit does not hold it.
	abortDue atomic.Bool
	// joins follows the member's own joins (joinwatch.go).
	joins      joinWatch
	incomplete atomic.Bool // polled records were not processed

	// pctx is the context of every Produce: cancelled (with errStalled)
	// when the producer makes no progress for a commit deadline, so that
	// no worker waits on a stalled broker for ever. acked counts
	// acknowledged records, the producer's progress.
	pctx    context.Context
	pcancel context.CancelCauseFunc
	acked   atomic.Int64
	// dropped is set under at-least-once once a commit dropped store writes
	// whose changelog records may still be acknowledged later: from then
	// on nothing is committed. Guarded by mu.
	dropped bool

	parts      map[int]int32   // partitions (tasks) per sub-topology
	changelogs map[string]bool // changelog topic names
	cache      *state.Cache
	lock       *os.File

	sess    *kgo.GroupTransactSession // exactly-once only
	pmu     sync.Mutex
	pending []map[string][]int32 // revoked or lost partitions whose tasks are not yet dropped
	inTxn   bool                 // guarded by mu; written by the loop and by a loss (revokeTxn)
	txnMu   sync.Mutex           // held while a transaction ends

	size sizing // record size limits, read at start

	qmu sync.RWMutex
	dbs map[topo.TaskID]state.TaskDB // restored tasks' state, for queries

	glob *globals // the global tables, when the topology has any (global.go)

	placement atomic.Pointer[Placement] // the last assignment's placement of tasks (hosts.go)
	h         *health                   // the brokers' answers (health.go)
	life      *lifecycle                // the state (lifecycle.go)
	met       *registry                 // the metrics (metrics.go)
	// metricsRead is set by the first Metrics call: store entries are
	// counted only from then on (see StoreMetrics.Entries).
	metricsRead atomic.Bool
	// sctx ends (errShutdownTimeout) ShutdownTimeout after Run's context
	// does: commits and the leave of the group stop waiting then.
	sctx         context.Context
	scancel      context.CancelCauseFunc
	restoreSlots chan struct{}                 // bounds the restores running at once (restorer.go)
	dbClosing    map[topo.TaskID]chan struct{} // databases closing (dbclose.go), guarded by mu
	wakeState
	standbyState
	warmupState
	// sessRevoked is set when a revoke found no transaction open: the
	// session stays marked revoked until an End, so the loop ends an
	// empty one (cooperative.go).
	sessRevoked atomic.Bool
	// cbWaiting is set when a rebalance callback waits for the loop
	// (onCallbackBlocked), cleared when the loop lets callbacks run.
	cbWaiting atomic.Bool
}

type tp struct {
	topic     string
	partition int32
}

// task is the runtime's side of a topo.Task: the worker it lives on and the
// offsets it has processed.
type task struct {
	t    *topo.Task
	w    *worker
	next map[tp]kgo.EpochOffset // written by the worker, read at a barrier
	logs []*changelog
	// restored is set by the loop, holding mu, when the task's restore
	// has caught up (restorer.go); until then its partitions are paused.
	restored bool
	job      *restoreJob // the restore in progress, guarded by mu
	// failed is set when processing, a punctuation or Init of the task
	// returned an error: what it did since the last commit may be half
	// of a record. Written by the worker, read at a barrier.
	failed bool
	m      *taskMetrics
}

// New makes an engine; it connects nothing until Run.
func New(o Options) *Engine {
	e := &Engine{
		o:       o,
		log:     o.Logger,
		tasks:   map[topo.TaskID]*task{},
		byPart:  map[tp]*task{},
		topicTo: map[string]*topo.Subtopology{},

		changelogs: map[string]bool{},
		dbs:        map[topo.TaskID]state.TaskDB{},

		h:            newHealth(),
		life:         newLifecycle(o.OnStateChange, o.Logger),
		met:          newRegistry(),
		restoreSlots: make(chan struct{}, max(2*o.Workers, 4)),
	}
	e.sctx, e.scancel = context.WithCancelCause(context.Background())
	for _, s := range o.Subs {
		for _, t := range s.Topics {
			e.topicTo[t] = s
		}
	}
	e.promise = e.onProduced
	return e
}

// run is Run (lifecycle.go) once the lifecycle is started.
func (e *Engine) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	defer cancel()
	e.pctx, e.pcancel = context.WithCancelCause(context.Background())
	defer e.pcancel(nil)
	defer e.scancel(nil)
	defer e.shutdownAfter(ctx)()

	e.ctx = ctx
	defer e.placement.Store(nil) // a stopped App knows no owners
	// Setting up topics talks to the brokers, and a dial to a broker that
	// accepts connections but never answers does not end when ctx does:
	// do not wait for it after a cancel.
	setup := make(chan error, 1)
	go func() { setup <- e.setupTopics(ctx) }()
	select {
	case err := <-setup:
		if err != nil {
			if ctx.Err() != nil && !e.failed.Load() {
				return nil // cancelled before the app started
			}
			return err
		}
	case <-ctx.Done():
		if e.failed.Load() {
			return e.err
		}
		return nil
	}
	if err := e.openState(); err != nil {
		return err
	}
	defer e.closeState()
	e.loadProgress()         // janitor.go
	defer e.startJanitor()() // janitor.go
	// Global tables are loaded before the first record is processed.
	if err := e.startGlobals(ctx); err != nil {
		return err
	}
	defer e.stopGlobals()
	if ctx.Err() != nil {
		return e.err
	}
	// The watch goes on through the final commit, until Run returns.
	h := e.h
	e.joins.wake = e.wakeLoop
	wctx, wstop := context.WithCancel(context.WithoutCancel(ctx))
	defer wstop()
	go e.watch(wctx, h)
	topics := make([]string, 0, len(e.topicTo))
	for t := range e.topicTo {
		topics = append(topics, t)
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(e.o.Brokers...),
		kgo.ConsumerGroup(e.o.AppID),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.Balancers(&balancer{e: e}),
		kgo.OnPartitionsAssigned(e.onAssigned),
		kgo.OnPartitionsRevoked(e.onRevoked),
		kgo.OnPartitionsLost(e.onLost),
		kgo.OnPartitionsCallbackBlocked(e.onCallbackBlocked),
		kgo.WithLogger(kgoLogger{e.log.WithGroup("kgo")}),
		kgo.WithHooks(e.hooks(h)...),
		kgo.RecordPartitioner(partitioner{changelogs: e.changelogs, manualTopics: manualTopics(e.o.Graph), def: kgo.StickyKeyPartitioner(nil), manual: kgo.ManualPartitioner()}),
	}, append(e.sizeOpts(), e.o.ClientOpts...)...)
	e.workers = make([]*worker, e.o.Workers)
	var wg sync.WaitGroup
	for i := range e.workers {
		// A short queue keeps the wait at a commit barrier short.
		w := &worker{id: i, in: make(chan item, 2)}
		e.workers[i] = w
		wg.Add(1)
		go func() { defer wg.Done(); w.run(e) }()
	}

	opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if e.o.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(e.o.InstanceID))
	}
	var cl *kgo.Client
	var err error
	e.noteRebalance() // the join
	// Rebalance callbacks take e.mu: they see e.cl set.
	e.mu.Lock()
	if e.o.ExactlyOnce {
		txnID, ierr := e.transactionalID()
		if ierr != nil {
			err = ierr
		} else {
			opts = append(opts, kgo.TransactionalID(txnID), kgo.TransactionTimeout(e.o.TransactionTimeout))
			if e.sess, err = kgo.NewGroupTransactSession(opts...); err == nil {
				cl = e.sess.Client()
			}
		}
	} else {
		cl, err = kgo.NewClient(opts...)
	}
	e.cl = cl
	e.mu.Unlock()
	if err != nil {
		for _, w := range e.workers {
			close(w.in)
		}
		wg.Wait()
		return fmt.Errorf("brook: kafka client: %w", err)
	}

	e.loop(ctx)

	// Final commit of everything processed, then leave the group; both
	// bounded by ShutdownTimeout.
	e.mu.Lock()
	if err := e.commitTimed(e.sctx); err != nil && !errors.Is(err, context.Canceled) {
		e.fail(err)
	}
	e.closing = true
	for _, w := range e.workers {
		close(w.in)
	}
	e.mu.Unlock()
	wg.Wait()
	e.mu.Lock()
	for _, t := range e.tasks {
		e.closeTask(t, false)
	}
	e.tasks, e.byPart = map[topo.TaskID]*task{}, map[tp]*task{}
	e.stopAllStandbys()
	e.waitAllClosed()
	e.mu.Unlock()
	cl.AllowRebalance()
	// Close leaves the group, and waits for a join in progress to end
	// first, which can take until the session of a crashed member times
	// out; it may also wait on a broker that does not answer. Give it a
	// moment, then return and let it finish in the background: this
	// engine commits nothing more, and its rebalance callbacks do nothing
	// once closing is set.
	closed := make(chan struct{})
	go func() { cl.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(closeWait):
		e.log.Warn("the Kafka client is still leaving the group; Run returns without waiting for it", "waited", closeWait)
	case <-e.sctx.Done():
	}
	if context.Cause(e.sctx) == errShutdownTimeout {
		e.log.Warn("shutdown did not finish within Config.ShutdownTimeout; what was not committed is processed again at the next start", "timeout", e.shutdownTimeout())
	}
	return e.err
}

// closeWait bounds how long Run waits for the Kafka client to leave the
// group and close.
const closeWait = time.Second

// errStalled is the cause given to produce calls cut short because the
// producer made no progress for a commit deadline.
var errStalled = errors.New("the producer made no progress for a whole commit deadline (Config.TransactionTimeout): is the broker reachable and answering?")

// commitTimeout bounds one commit: a transaction cannot stay open longer
// than TransactionTimeout anyway.
func (e *Engine) commitTimeout() time.Duration {
	if e.o.TransactionTimeout > 0 {
		return e.o.TransactionTimeout
	}
	return 30 * time.Second
}

// Stop makes Run return, as cancelling its context does.
func (e *Engine) Stop() {
	if e.cancel != nil {
		e.cancel()
	}
}

func (e *Engine) loop(ctx context.Context) {
	last := time.Now()
	lastTick := last
	var lastGroupWarn time.Time
	for !e.failed.Load() && ctx.Err() == nil {
		if e.sessRevoked.Load() {
			// A revoke found no transaction open: the session stays
			// marked revoked until an End, and would abort the next
			// transaction for nothing. Nothing was polled since the last
			// End, so end it now, before the poll (cooperative.go).
			e.mu.Lock()
			err := e.endEmptyLocked(e.sctx)
			e.mu.Unlock()
			if err != nil && !errors.Is(err, context.Canceled) {
				e.fail(err)
				break
			}
		}
		wait := e.o.CommitInterval - time.Since(last)
		if e.holdCommit(last) {
			// Woken when the member's SyncGroup request is written;
			// joinAnswerGrace is checked at each poll.
			wait = min(e.o.CommitInterval, joinAnswerGrace/5)
		}
		if wait < time.Millisecond {
			wait = time.Millisecond
		}
		pctx, pcancel := context.WithTimeout(ctx, wait)
		e.wakeMu.Lock()
		e.pollCancel = pcancel
		e.wakeMu.Unlock()
		fs := e.cl.PollRecords(pctx, e.o.MaxPollRecords)
		e.wakeMu.Lock()
		e.pollCancel = nil
		e.wakeMu.Unlock()
		pcancel()
		fs.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			if errors.Is(err, kgo.ErrClientClosed) {
				e.fail(err)
				return
			}
			if topic == "" {
				// franz-go reports group management errors with no
				// partition: the member rejoins and retries.
				if now := time.Now(); now.Sub(lastGroupWarn) >= stallReport {
					lastGroupWarn = now
					e.log.Warn("consumer group error; the client rejoins the group and retries", "group", e.o.AppID, "err", err)
				}
				return
			}
			e.log.Warn("fetch error; the client retries", "topic", topic, "partition", p, "err", err)
		})
		e.mu.Lock()
		e.finishRestoresLocked()
		e.reconcileStandbysLocked()
		if e.sess != nil && !e.inTxn && e.sessRevoked.Load() {
			// A revoke ran while the poll waited for it (the loop allowed
			// it with no transaction open, cooperative.go): end the
			// session's revoked state before a transaction begins, or
			// that transaction would abort. The records just polled are
			// not processed: the End rewinds their partitions to the
			// committed offsets, where they start, and they are fetched
			// again.
			err := e.endEmptyLocked(e.sctx)
			e.mu.Unlock()
			if err != nil && !errors.Is(err, context.Canceled) {
				e.fail(err)
				break
			}
			e.allowRebalance()
			continue
		}
		if e.sess != nil && !e.inTxn && !fs.Empty() {
			if err := e.sess.Begin(); err != nil {
				e.mu.Unlock()
				e.fail(fmt.Errorf("brook: begin transaction: %w", err))
				break
			}
			e.inTxn = true
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			t := e.byPart[tp{p.Topic, p.Partition}]
			if t == nil {
				// Revoked since the fetch: not processed, not committed; the
				// partition's new owner reads these records.
				return
			}
			if !e.send(ctx, t.w, item{task: t, recs: p.Records}) {
				// Shutdown while the worker is stuck: these records are
				// not processed, so this transaction must not commit
				// (the session would commit their offsets).
				e.incomplete.Store(true)
			}
			t.noteFetch(p)
		})
		// Wall-clock punctuation, once per commit interval, on each task's
		// worker and inside the transaction, like records.
		if now := time.Now(); now.Sub(lastTick) >= e.o.CommitInterval && e.o.WallClock {
			lastTick = now
			if e.sess != nil && !e.inTxn {
				if err := e.sess.Begin(); err != nil {
					e.mu.Unlock()
					e.fail(fmt.Errorf("brook: begin transaction: %w", err))
					break
				}
				e.inTxn = true
			}
			for _, t := range e.tasks {
				if !t.restored {
					continue
				}
				if !e.send(ctx, t.w, item{task: t, punctuate: now}) {
					e.incomplete.Store(true)
				}
			}
		}
		e.mu.Unlock()
		// Commit before rebalances may run: no revoke then meets a
		// transaction that is ending, so a member always finishes its
		// transaction before it rejoins and its tasks move. (A member whose
		// session was lost while it commits waits for the commit to time
		// out, then aborts: its lost-partitions callback cannot run first.)
		waits := e.callbackWaits() // decision 65
		if (time.Since(last) >= e.o.CommitInterval || e.commitNow.Load() || waits) && (waits || !e.holdCommit(last)) {
			// A commit is not cut short by shutdown: a transaction ended
			// halfway would hold its offsets pending until it times out.
			e.mu.Lock()
			err := e.commitTimed(e.sctx)
			e.mu.Unlock()
			// Asked for before or during this commit (the workers were
			// idle during it): this commit was it.
			e.commitNow.Store(false)
			// The commit ran without the loop's context: its errors are
			// real even when shutdown has begun.
			if err != nil && !errors.Is(err, context.Canceled) {
				e.fail(err)
			}
			last = time.Now()
		}
		e.probe()
		e.allowRebalance()
	}
}

// hooks are the client's hooks: the metrics' h, and under exactly-once
// the join watch (joinwatch.go), which only exactly-once commits use.
func (e *Engine) hooks(h kgo.Hook) []kgo.Hook {
	if e.o.ExactlyOnce {
		return []kgo.Hook{h, &e.joins}
	}
	return []kgo.Hook{h}
}

// allowRebalance lets the rebalance callbacks that wait for the loop run
// (kgo.BlockRebalanceOnPoll). Under exactly-once it does so only between
// transactions: a revoke then finds everything processed committed, and
// the tasks that stay redo nothing (cooperative.go). A callback that waits
// meanwhile asks for the commit at once (onCallbackBlocked).
func (e *Engine) allowRebalance() {
	if e.sess != nil {
		e.mu.Lock()
		open := e.inTxn
		e.mu.Unlock()
		if open {
			return
		}
	}
	e.cbWaiting.Store(false)
	e.cl.AllowRebalance()
}

// commitLocked waits for the workers to be idle, flushes the producer and
// commits the processed offsets of every task. e.mu must be held.
func (e *Engine) commitLocked(ctx context.Context) error {
	if e.closing {
		return nil
	}
	// The deadline starts once the workers are idle: a task restoring on a
	// worker may hold the barrier for long.
	e.barrier()
	e.sampleLocked()
	ctx, cancel := context.WithTimeout(ctx, e.commitTimeout())
	defer cancel()
	if e.sess != nil {
		return e.commitTxn(ctx)
	}
	if e.dropped {
		return nil
	}
	if p := e.prodErr.Load(); p != nil {
		e.dropUncommittedLocked()
		return *p
	}
	// A task that failed mid-record commits nothing since its last commit
	// when it has stores: its store writes may hold half of the failed
	// record, whose offset is not committed. Its records are processed
	// again after a restart. (A stateless task commits up to the failed
	// record.)
	for _, t := range e.tasks {
		if t.failed && t.t.DB != nil {
			t.t.DB.Abort()
			clear(t.next)
		}
	}
	if err := e.flushStores(); err != nil {
		e.dropUncommittedLocked()
		return err
	}
	if err := e.cl.Flush(ctx); err != nil {
		// The records are still on their way: keep the staged writes. The
		// next commit (Run's last, once the App fails) flushes again and
		// applies them with the checkpoints their acknowledgements reach.
		return fmt.Errorf("brook: flush producer: %w", err)
	}
	if p := e.prodErr.Load(); p != nil {
		e.dropUncommittedLocked()
		return *p
	}
	if err := e.commitStores(); err != nil {
		return &topo.FatalError{Err: err}
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for _, t := range e.tasks {
		if !t.failed && t.restored {
			t.t.Committed()
		}
		for k, eo := range t.next {
			m := offsets[k.topic]
			if m == nil {
				m = map[int32]kgo.EpochOffset{}
				offsets[k.topic] = m
			}
			m[k.partition] = eo
		}
		clear(t.next)
	}
	if len(offsets) == 0 {
		return nil
	}
	var cerr error
	e.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsgOffsetCommitRequest, resp *kmsgOffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if perr := kerrOf(p.ErrorCode); perr != nil {
					cerr = fmt.Errorf("topic %q partition %d: %w", t.Topic, p.Partition, perr)
				}
			}
		}
	})
	if cerr != nil {
		// At-least-once: the records are processed again by whoever owns the
		// partition next; nothing is lost.
		e.log.Warn("offset commit failed; records since the last commit will be processed again", "err", cerr)
	} else {
		e.noteTxnEnd(true)
	}
	return nil
}

// dropUncommittedLocked drops, under at-least-once, every store write not yet
// committed and every processed offset, and stops all later commits: the
// changelog records of the dropped writes may still be acknowledged and
// move the changelogs' next offsets, which a later commit would then write
// as checkpoints without the data. e.mu must be held.
func (e *Engine) dropUncommittedLocked() {
	e.dropped = true
	e.abortStores()
	for _, t := range e.tasks {
		clear(t.next)
	}
}

// barrier returns once every worker has processed everything sent to it.
// A worker blocked in Produce on a stalled broker would hold it for ever:
// see watchProducer.
func (e *Engine) barrier() {
	var wg sync.WaitGroup
	wg.Add(len(e.workers))
	done := make(chan struct{})
	go func() {
		for _, w := range e.workers {
			w.in <- item{barrier: &wg}
		}
		wg.Wait()
		close(done)
	}()
	e.watchProducer(done)
}

// send hands it to w. It returns false, without sending, if ctx ends while
// w is not taking work (a worker blocked on a stalled broker).
func (e *Engine) send(ctx context.Context, w *worker, it item) bool {
	select {
	case w.in <- it:
		return true
	default:
	}
	sent := make(chan struct{})
	ok := false
	go func() {
		select {
		case w.in <- it:
			ok = true
		case <-ctx.Done():
		}
		close(sent)
	}()
	e.watchProducer(sent)
	return ok
}

// watchProducer waits until done is closed. If that takes a whole commit
// deadline during which the producer held records and none was
// acknowledged, the producer is stuck on the broker and workers may be
// blocked in Produce: it cancels every produce call, which fails the App,
// so that done can come. (A barrier held up by a long restore, with the
// producer making progress or idle, is left to wait.)
func (e *Engine) watchProducer(done <-chan struct{}) {
	limit := time.NewTimer(e.commitTimeout())
	defer limit.Stop()
	acked := e.acked.Load()
	for {
		select {
		case <-done:
			return
		case <-e.sctx.Done():
			// Shutdown took too long: produce calls give up.
			e.pcancel(context.Cause(e.sctx))
			<-done
			return
		case <-limit.C:
			now := e.acked.Load()
			if now == acked && e.cl != nil && e.cl.BufferedProduceRecords() > 0 {
				e.pcancel(errStalled)
			}
			acked = now
			limit.Reset(e.commitTimeout())
		}
	}
}

func (e *Engine) fail(err error) {
	e.errOnce.Do(func() {
		e.err = err
		e.failed.Store(true)
		e.life.fail(err)
		e.log.Error("stopping", "err", err)
		if e.cancel != nil {
			e.cancel()
		}
	})
}

// Produce implements topo.Producer. It blocks while the producer's buffer
// is full, until a commit deadline finds the producer stuck (see
// watchProducer).
func (e *Engine) Produce(r *kgo.Record) { e.cl.Produce(e.pctx, r, e.promise) }

func (e *Engine) onProduced(r *kgo.Record, err error) {
	if err == nil {
		e.acked.Add(1)
		return
	}
	if errors.Is(err, kgo.ErrAborting) {
		// Records cut by a transaction abort are written again when their
		// input is processed again.
		return
	}
	if cause := context.Cause(e.pctx); cause != nil && errors.Is(err, context.Canceled) {
		werr := fmt.Errorf("brook: produce to topic %q: %w", r.Topic, cause)
		e.prodErr.CompareAndSwap(nil, &werr)
		return
	}
	werr := fmt.Errorf("brook: produce to topic %q: %w; check that the topic exists and that the client may write to it", r.Topic, err)
	if errors.Is(err, kerr.MessageTooLarge) {
		werr = fmt.Errorf("brook: produce to topic %q: %w; %s", r.Topic, err, e.tooLargeHint(r))
	}
	if errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.InvalidTxnState) || errors.Is(err, kerr.ProducerFenced) {
		werr = fmt.Errorf("brook: produce to topic %q: %w; the transaction was aborted by the broker, most likely because it stayed open longer than Config.TransactionTimeout: raise it, or lower MaxPollRecords so that a commit interval holds less work", r.Topic, err)
	}
	e.prodErr.CompareAndSwap(nil, &werr)
}

func (e *Engine) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	// Wait for a transaction that is ending: its abort rewinds the consumer,
	// which must happen before new partitions load their offsets.
	e.txnMu.Lock()
	e.txnMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return
	}
	e.noteRebalance() // when no revoke came first
	defer e.noteAssigned()
	e.applyDropsLocked()
	// Cooperative: assigned holds only the partitions new to this member.
	e.missedRevokesLocked(assigned)
	e.addTasksLocked(assigned)
}

// addTasksLocked makes the tasks of newly assigned partitions. e.mu must
// be held.
func (e *Engine) addTasksLocked(assigned map[string][]int32) {
	for topic, parts := range assigned {
		sub := e.topicTo[topic]
		if sub == nil {
			continue
		}
		for _, p := range parts {
			id := topo.TaskID{Subtopology: sub.ID, Partition: p}
			t := e.tasks[id]
			if t == nil {
				var err error
				if t, err = e.newTask(sub, id); err != nil {
					e.fail(err)
					return
				}
			}
			e.byPart[tp{topic, p}] = t
		}
	}
}

// newTask makes a task, opens its state and starts restoring it beside
// processing, with its partitions paused until it has caught up
// (restorer.go). e.mu must be held.
func (e *Engine) newTask(sub *topo.Subtopology, id topo.TaskID) (*task, error) {
	// A standby's state is this task's, nearly restored.
	db := e.takeStandby(id)
	if db == nil && len(sub.Stores) > 0 {
		var err error
		if db, err = e.openDB(id); err != nil {
			return nil, err
		}
	}
	m := e.met.task(id)
	tt, err := topo.NewTask(sub, id, e.producerFor(m), e.o.Policy, e.log, db, e.o.StoreCacheBytes)
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, err
	}
	t := &task{t: tt, w: e.leastLoaded(), next: map[tp]kgo.EpochOffset{}, restored: db == nil, m: m}
	e.openTaskMetrics(t, db != nil)
	t.w.tasks++
	e.tasks[id] = t
	e.log.Info("task assigned", "task", id, "worker", t.w.id)
	if db != nil {
		e.initStores(t)
		e.startRestore(t)
	}
	return t, nil
}

// closeTask releases a task's state. e.mu must be held and the task's
// worker idle.
func (e *Engine) closeTask(t *task, abort bool) {
	e.closeTaskMetrics(t)
	e.stopRestore(t)
	if err := t.t.Close(); err != nil {
		e.log.Warn("closing task processors", "task", t.t.ID, "err", err)
	}
	if t.t.DB == nil {
		return
	}
	e.qmu.Lock()
	delete(e.dbs, t.t.ID)
	e.qmu.Unlock()
	if abort {
		t.t.DB.Abort()
	}
	if !e.closing && !e.o.InMemory {
		e.closeDBLater(t.t.ID, t.t.DB) // dbclose.go
		return
	}
	if err := t.t.DB.Close(); err != nil {
		e.log.Warn("closing task state", "task", t.t.ID, "err", err)
	}
	e.markUnused(t.t.ID)
}

func (e *Engine) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if e.sess != nil {
		defer e.joins.expect() // joinwatch.go
	}
	if revokeIsEmpty(revoked) {
		return // cooperative: the end of a session that kept everything
	}
	e.noteRebalance()
	if e.sess != nil {
		e.revokeTxn(ctx, revoked, false)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return
	}
	if err := e.commitLocked(ctx); err != nil {
		e.fail(err)
	}
	e.dropLocked(revoked, false)
}

func (e *Engine) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	if e.sess != nil {
		defer e.joins.expect() // joinwatch.go
	}
	if revokeIsEmpty(lost) {
		return
	}
	e.noteRebalance()
	if e.sess != nil {
		e.revokeTxn(ctx, lost, true)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return
	}
	e.barrier()
	e.dropLocked(lost, true)
}

func (e *Engine) dropLocked(parts map[string][]int32, abort bool) {
	for topic, ps := range parts {
		for _, p := range ps {
			t := e.byPart[tp{topic, p}]
			if t == nil {
				continue
			}
			delete(e.byPart, tp{topic, p})
			delete(t.next, tp{topic, p})
			still := false
			for k, o := range e.byPart {
				if o == t && k.partition == p {
					still = true
				}
			}
			if !still {
				delete(e.tasks, t.t.ID)
				t.w.tasks--
				e.closeTask(t, abort)
				e.log.Info("task revoked", "task", t.t.ID)
			}
		}
	}
}

func (e *Engine) leastLoaded() *worker {
	best := e.workers[0]
	for _, w := range e.workers[1:] {
		if w.tasks < best.tasks {
			best = w
		}
	}
	return best
}

// MissingTopicsError lists topics the topology uses that do not exist.
type MissingTopicsError struct{ Topics []string }

// Error implements error: it says what went wrong and what to do.
func (e *MissingTopicsError) Error() string {
	return fmt.Sprintf("brook: topics %v do not exist: create them before starting the app", e.Topics)
}

// CopartitionError is a sub-topology whose input topics have different
// numbers of partitions.
type CopartitionError struct {
	Subtopology int
	Partitions  map[string]int
}

// Error implements error: it says what went wrong and what to do.
func (e *CopartitionError) Error() string {
	topics := slices.Sorted(maps.Keys(e.Partitions))
	parts := make([]string, len(topics))
	for i, t := range topics {
		parts[i] = fmt.Sprintf("%s has %d", t, e.Partitions[t])
	}
	return fmt.Sprintf("brook: sub-topology %d reads topics with different partition counts (%s): co-partitioned topics "+
		"(the inputs of a join, a merge or one source) need the same number of partitions; "+
		"create them with the same count, or repartition one side (re-key a stream with SelectKey before the join), "+
		"or read a table as a GlobalTable", e.Subtopology, strings.Join(parts, ", "))
}
