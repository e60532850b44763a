package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/state"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// RestoreProgress reports the restoration of one store of one task.
type RestoreProgress struct {
	Store    string
	Task     string
	Restored int64 // records applied so far
	// Total is the number of offsets between the checkpoint and the end of
	// the changelog. Transaction markers take offsets too, so under
	// exactly-once Restored ends somewhat below Total.
	Total int64
	Done  bool
}

// changelog is the changelog of one store of one task; the promise of its
// records keeps next, the offset after the last acknowledged one.
type changelog struct {
	topic   string
	store   *state.CachedStore
	next    atomic.Int64
	promise func(*kgo.Record, error)

	// timestamped: the store's values carry a timestamp, which the
	// changelog holds as the record timestamp (see state.AppendTimestamped).
	timestamped bool
	// maxTs is the largest record timestamp restore read from a
	// timestamped store's changelog: a floor for the task's stream time.
	maxTs int64
}

// partitioner sends changelog records to the partition set on them (the
// task's), and so the records of sinks marked topo.Node.ManualPartition
// (topics in manualTopics); everything else goes where Kafka's default
// partitioner would send it.
type partitioner struct {
	changelogs   map[string]bool
	manualTopics map[string]bool
	def          kgo.Partitioner
	manual       kgo.Partitioner
}

func (p partitioner) ForTopic(t string) kgo.TopicPartitioner {
	if p.changelogs[t] || p.manualTopics[t] {
		return p.manual.ForTopic(t)
	}
	return p.def.ForTopic(t)
}

// openState locks <StateDir>/<AppID> and makes the shared block cache.
// The lock is taken when the App has Pebble stores or runs exactly-once
// (the directory then keeps the instance id naming the transactional
// producer).
func (e *Engine) openState() error {
	if !e.o.ExactlyOnce && (e.o.InMemory || !e.hasStores()) {
		return nil
	}
	dir := filepath.Join(e.o.StateDir, e.o.AppID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("brook: state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("brook: state directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
		return &StateDirLockedError{Dir: dir, PID: pid}
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	e.lock = f
	e.cache = state.NewCache(e.o.BlockCacheBytes)
	return nil
}

func (e *Engine) closeState() {
	if e.cache != nil {
		e.cache.Unref()
	}
	if e.lock != nil {
		e.lock.Truncate(0)
		syscall.Flock(int(e.lock.Fd()), syscall.LOCK_UN)
		e.lock.Close()
	}
}

func (e *Engine) hasStores() bool {
	if e.o.Graph != nil && len(e.o.Graph.Globals) > 0 {
		return true
	}
	for _, s := range e.o.Subs {
		if len(s.Stores) > 0 {
			return true
		}
	}
	return false
}

// StateDirLockedError is a state directory that another process (or
// another App in this process) holds.
type StateDirLockedError struct {
	Dir string
	PID int
}

// Error implements error: it says what went wrong and what to do.
func (e *StateDirLockedError) Error() string {
	return fmt.Sprintf("brook: state directory %s is locked by process %d: two instances of one app need different Config.StateDir values", e.Dir, e.PID)
}

// openDB opens the state of a new task.
func (e *Engine) openDB(id topo.TaskID) (state.TaskDB, error) {
	if e.o.InMemory {
		return state.NewMemDB(), nil
	}
	e.waitClosed(id) // a close of the same directory in progress (dbclose.go)
	dir := filepath.Join(e.o.StateDir, e.o.AppID, id.String())
	db, wiped, err := state.OpenOrWipe(dir, state.Options{Cache: e.cache, MemTableSize: e.o.MemTableBytes, Logger: e.log.WithGroup("pebble")})
	if err != nil {
		return nil, fmt.Errorf("brook: task %s: open state in %s: %w", id, dir, err)
	}
	if wiped {
		e.log.Warn("local state was unreadable and was wiped; restoring it from the changelog", "task", id, "dir", dir)
		// What the directory reported (a saved brook-offsets file) is gone
		// with it: the restore reports the new progress.
		e.progress.Delete(id.String())
	}
	return db, nil
}

// StreamTimeCheckpoint is the checkpoint name under which a task's stream
// time is committed in its state, with the stores' changelog offsets and
// in the same Pebble batch (see decision 25 in docs/ARCHITECTURE.md). No
// store can have this name: store names do not hold NUL bytes.
const StreamTimeCheckpoint = "\x00stream-time"

// initStores sets up the changelogs of a task's stores.
func (e *Engine) initStores(t *task) {
	for _, name := range t.t.Sub.Stores {
		st, err := t.t.Store(name)
		if err != nil {
			continue // NewTask opened every store the processors use
		}
		c := &changelog{topic: ChangelogTopic(e.o.AppID, name), store: st, timestamped: t.t.Sub.Timestamped[name]}
		c.promise = func(r *kgo.Record, err error) {
			if err != nil {
				e.onProduced(r, err)
				return
			}
			e.acked.Add(1)
			if r.Offset+1 > c.next.Load() {
				c.next.Store(r.Offset + 1)
			}
		}
		t.logs = append(t.logs, c)
	}
}

// restore brings every store of t up to the end of its changelog. It runs
// on a goroutine of its own while t's partitions are paused (restorer.go).
func (e *Engine) restore(ctx context.Context, t *task) error {
	adm := kadm.NewClient(e.cl)
	p := t.t.ID.Partition
	if st, ok, err := t.t.DB.Checkpoint(StreamTimeCheckpoint); err == nil && ok {
		t.t.RestoreStreamTime(st)
	}
	for _, c := range t.logs {
		name := c.store.Name()
		start, ok, err := t.t.DB.Checkpoint(name)
		if err != nil {
			return fmt.Errorf("brook: task %s: read checkpoint of store %q: %w", t.t.ID, name, err)
		}
		if !ok {
			start = 0
		}
		end, err := endOffset(ctx, e.log, adm, c.topic, p)
		if err != nil {
			return fmt.Errorf("brook: task %s: end offset of %s partition %d: %w", t.t.ID, c.topic, p, err)
		}
		if start > end {
			return fmt.Errorf("brook: task %s: store %q has checkpoint %d past the end %d of its changelog %s: the changelog was deleted or recreated; delete %s to restore from the new changelog",
				t.t.ID, name, start, end, c.topic, filepath.Join(e.o.StateDir, e.o.AppID, t.t.ID.String()))
		}
		c.next.Store(start)
		total := end - start
		e.log.Info("restoring store", "task", t.t.ID, "store", name, "from", start, "to", end)
		prog := RestoreProgress{Store: name, Task: t.t.ID.String(), Total: total}
		e.noteRestore(prog, true)
		if total > 0 {
			if err := e.restoreStore(ctx, t, c, start, end, &prog); err != nil {
				return err
			}
		}
		c.next.Store(end)
		if c.maxTs > 0 {
			t.t.RestoreStreamTime(c.maxTs)
		}
		prog.Done = true
		e.reportRestore(prog)
		e.log.Info("restored store", "task", t.t.ID, "store", name, "records", prog.Restored)
	}
	return nil
}

// endOffset reads the end offset of one partition, retrying as
// retryOffsets does.
func endOffset(ctx context.Context, log *slog.Logger, adm *kadm.Client, topic string, p int32) (int64, error) {
	var end int64
	err := retryOffsets(ctx, log, topic, func() error {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return err
		}
		lo, ok := ends.Lookup(topic, p)
		switch {
		case !ok:
			return kerr.UnknownTopicOrPartition
		case lo.Err != nil:
			return lo.Err
		}
		end = lo.Offset
		return nil
	})
	return end, err
}

// retryOffsets runs an offset lookup until it succeeds. Errors the broker
// calls retriable (no leader yet, a leader that moved, a topic whose
// metadata has not reached every broker right after it was created) are
// retried with a growing pause, up to a second, until ctx ends; other
// errors are returned at once. A topic still unknown after
// unknownTopicWait is taken as gone (deleted while the App runs) and its
// error returned. Every tenth retry is logged.
func retryOffsets(ctx context.Context, log *slog.Logger, what string, lookup func() error) error {
	backoff := 50 * time.Millisecond
	start := time.Now()
	for try := 1; ; try++ {
		err := lookup()
		if err == nil || !retriableOffsetErr(err) {
			return err
		}
		if errors.Is(err, kerr.UnknownTopicOrPartition) && time.Since(start) > unknownTopicWait {
			return fmt.Errorf("%w (for %v: was the topic deleted?)", err, time.Since(start).Round(time.Second))
		}
		if try%10 == 0 {
			log.Warn("offset lookup still failing, retrying", "of", what, "tries", try, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// unknownTopicWait is how long an offset lookup waits for a topic the
// broker does not know: long enough for a new topic's metadata to reach
// every broker.
var unknownTopicWait = 30 * time.Second

// retriableOffsetErr reports whether an end-offset lookup that failed with
// err is worth trying again.
func retriableOffsetErr(err error) bool {
	// A request split over brokers is retriable only if every piece is.
	var se *kadm.ShardErrors
	if errors.As(err, &se) {
		for _, e := range se.Errs {
			if !retriableOffsetErr(e.Err) {
				return false
			}
		}
		return len(se.Errs) > 0
	}
	return errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.NotLeaderForPartition) ||
		errors.Is(err, kerr.LeaderNotAvailable) || kerr.IsRetriable(err)
}

// fullRestorer is a TaskDB that restores an empty store by ingesting
// sorted tables (state.DB).
type fullRestorer interface {
	FullRestorer(name string) (state.Restorer, error)
}

func (e *Engine) restoreStore(ctx context.Context, t *task, c *changelog, start, end int64, prog *RestoreProgress) error {
	p := t.t.ID.Partition
	rcl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(e.o.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.topic: {p: kgo.NewOffset().At(start)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		// Fetches of a few MiB overlap fetching with applying to Pebble.
		kgo.FetchMaxBytes(16 << 20),
		kgo.FetchMaxPartitionBytes(4 << 20),
	}, append(e.fetchSizeOpts(16<<20, 4<<20), e.o.ClientOpts...)...)...)
	if err != nil {
		return err
	}
	defer rcl.Close()
	var rs state.Restorer
	if fr, ok := t.t.DB.(fullRestorer); ok && start == 0 {
		// An empty store ingests sorted tables (decision 41).
		rs, err = fr.FullRestorer(c.store.Name())
	} else {
		rs, err = t.t.DB.Restorer(c.store.Name())
	}
	if err != nil {
		return err
	}
	// The stream time of the records applied is written with each batch
	// or ingest, with the store's checkpoint, so that a restore cut
	// short keeps it (decision 25); it never goes back.
	cw, _ := rs.(state.CheckpointWriter)
	st0 := t.t.StreamTime
	// One goroutine polls, this one applies: a fetch is decoded and handed
	// over while the previous one is written to Pebble. At most one fetch
	// waits in the channel, one is applied and franz-go buffers one more,
	// so the memory stays about three fetches (FetchMaxBytes).
	fetches := make(chan kgo.Fetches, 1)
	fctx, fcancel := context.WithCancel(ctx)
	var fwg sync.WaitGroup
	fwg.Add(1)
	go func() {
		defer fwg.Done()
		defer close(fetches)
		for {
			fs := rcl.PollFetches(fctx)
			if fctx.Err() != nil {
				return
			}
			select {
			case fetches <- fs:
			case <-fctx.Done():
				return
			}
		}
	}()
	defer func() { fcancel(); fwg.Wait() }() // before rcl.Close
	next := start
	lastReport := time.Now()
	var buf []byte // a timestamped value being restored
	for next < end {
		fs, ok := <-fetches
		if !ok {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			e.log.Warn("restore fetch error; retrying", "task", t.t.ID, "topic", c.topic, "err", ferr)
		}
		var aerr error
		fs.EachRecord(func(r *kgo.Record) {
			if aerr != nil {
				return
			}
			if r.Offset >= end {
				// Everything below end was delivered or filtered
				// (aborted records under read_committed).
				next = max(next, end)
				return
			}
			if r.Attrs.IsControl() {
				rs.Advance(r.Offset + 1)
			} else {
				v := r.Value
				if c.timestamped && v != nil {
					buf = state.AppendTimestamped(buf[:0], r.Timestamp.UnixMilli(), v)
					v = buf
					// Tombstones carry no record time (the producer
					// stamps them with its clock): only values raise
					// stream time.
					c.maxTs = max(c.maxTs, r.Timestamp.UnixMilli())
				}
				aerr = rs.Apply(r.Key, v, r.Offset)
				prog.Restored++
			}
			next = r.Offset + 1
		})
		if aerr != nil {
			return fmt.Errorf("brook: task %s: restore store %q: %w", t.t.ID, c.store.Name(), aerr)
		}
		if cw != nil && c.maxTs > st0 {
			cw.WithCheckpoint(StreamTimeCheckpoint, c.maxTs)
		}
		if time.Since(lastReport) > 100*time.Millisecond {
			e.reportRestore(*prog)
			lastReport = time.Now()
		}
	}
	rs.Advance(end)
	return rs.Finish()
}

// changelogSlab is the number of changelog records flushStores allocates
// at once (40 KiB): a slab is garbage once the last of its records is
// acknowledged, which every commit waits for.
const changelogSlab = 256

// flushStores writes every dirty store entry of every task to its
// changelog. It runs at a barrier, before the producer is flushed. The
// tasks are flushed one after another on one goroutine: flushing them on
// goroutines of their own did not make the count over a million keys
// faster on two cores (decision 71).
//
// That goroutine may block in Produce while the producer's buffer is
// full, so it is not the loop's: the loop watches the producer meanwhile
// (watchProducer), so that a broker that stalls fails the commit after a
// commit deadline, and a shutdown past ShutdownTimeout still ends, as for
// the workers' produces.
func (e *Engine) flushStores() error {
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = e.flushStoresWatched()
	}()
	e.watchProducer(done)
	return err
}

// flushStoresWatched is flushStores' work; the loop, holding e.mu, waits
// for it in watchProducer.
func (e *Engine) flushStoresWatched() error {
	for _, t := range e.tasks {
		if !t.restored {
			continue
		}
		p := t.t.ID.Partition
		for _, c := range t.logs {
			err := c.store.Flush(func(k, v []byte) {
				// Changelog records come from slabs (decision 53): with
				// many distinct keys a commit writes one per record.
				if len(e.clSlab) == 0 {
					e.clSlab = make([]kgo.Record, changelogSlab)
				}
				r := &e.clSlab[0]
				e.clSlab = e.clSlab[1:]
				r.Topic, r.Partition, r.Key, r.Value = c.topic, p, k, v
				if c.timestamped && v != nil {
					ts, plain, err := state.SplitTimestamped(v)
					if err == nil {
						r.Value, r.Timestamp = plain, time.UnixMilli(ts)
					}
				}
				e.cl.Produce(e.pctx, r, c.promise)
			})
			if err != nil {
				return &topo.FatalError{Err: fmt.Errorf("brook: task %s: flush store %q: %w", t.t.ID, c.store.Name(), err)}
			}
		}
	}
	return nil
}

// commitStores applies the flushed writes to each task's DB with the
// changelog offsets they reach. It runs once the changelog records are
// acknowledged.
func (e *Engine) commitStores() error {
	var errs []error
	for _, t := range e.tasks {
		if t.t.DB == nil || !t.restored || t.failed {
			// A failed task's writes are dropped: see commitLocked.
			continue
		}
		cps := make(map[string]int64, len(t.logs))
		for _, c := range t.logs {
			cps[c.store.Name()] = c.next.Load()
		}
		if t.t.StreamTime >= 0 {
			cps[StreamTimeCheckpoint] = t.t.StreamTime
		}
		if err := t.t.DB.Commit(cps); err != nil {
			errs = append(errs, fmt.Errorf("brook: task %s: commit state: %w", t.t.ID, err))
			continue
		}
		e.noteProgress(t)
	}
	return errors.Join(errs...)
}

// abortStores drops every task's uncommitted store writes.
func (e *Engine) abortStores() {
	for _, t := range e.tasks {
		if t.t.DB != nil && t.restored {
			t.t.DB.Abort()
		}
	}
}

// LocalStore is a read-only view of one task's store.
type LocalStore struct {
	Partition int32
	Store     state.ReadOnlyStore
}

// Stores returns read-only views of the committed data of store in the
// tasks this instance holds, and the number of partitions (tasks) the store
// has in all. ok is false if the topology has no such store.
func (e *Engine) Stores(store string) (views []LocalStore, partitions int32, ok bool) {
	sub := -1
	for _, s := range e.o.Subs {
		for _, n := range s.Stores {
			if n == store {
				sub = s.ID
			}
		}
	}
	if sub < 0 {
		return nil, 0, false
	}
	e.qmu.RLock()
	defer e.qmu.RUnlock()
	for id, db := range e.dbs {
		if id.Subtopology != sub {
			continue
		}
		ro, err := db.ReadOnly(store)
		if err != nil {
			continue
		}
		views = append(views, LocalStore{Partition: id.Partition, Store: ro})
	}
	slices.SortFunc(views, func(a, b LocalStore) int { return int(a.Partition - b.Partition) })
	return views, e.parts[sub], true
}

// reportRestore calls the user's OnRestore; a panic in it is logged, not
// allowed to kill the process.
func (e *Engine) reportRestore(p RestoreProgress) {
	e.noteRestore(p, false)
	if e.o.OnRestore == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			e.log.Error("Config.OnRestore panicked", "store", p.Store, "task", p.Task, "panic", v)
		}
	}()
	e.o.OnRestore(p)
}

// manualTopics returns the topics of g's sinks whose records carry their
// partition (topo.Node.ManualPartition).
func manualTopics(g *topo.Graph) map[string]bool {
	m := map[string]bool{}
	if g == nil {
		return m
	}
	for _, n := range g.Nodes {
		if n.Kind == topo.KindSink && n.ManualPartition {
			m[n.SinkTopic] = true
		}
	}
	return m
}
