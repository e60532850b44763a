package runtime

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/state"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Standby replicas.
//
// With Options.StandbyReplicas = n, the group leader gives each task with
// stores, besides its active owner, up to n other members as standbys.
// The standby tasks travel in the user data of each member's assignment
// (assignmentData), since they have no partitions of their own. A member
// keeps a standby's database in the task's usual directory and applies its
// changelogs to it as they are written (read_committed, transaction
// markers kept, as a restore does), on a goroutine and a client of its own,
// for as long as it is a standby. When the task is assigned to it as
// active, the standby stops and the task opens the same database: its
// restore reads only the tail the standby had not applied yet.
//
// Every member reports, in its join metadata, the changelog offsets its
// tasks and standbys reached (memberData.Offsets: a task's checkpoints
// summed over its stores); when a task must move (its owner left), the
// leader gives it to the member that can take it with the largest offset,
// the smallest lag, and places standbys the same way.

// pickStandbys chooses up to n standbys per task with stores among the
// members other than its active owner: the member with the largest
// reported offset for the task first, then the one with the fewest
// standbys.
func pickStandbys(members []memberTasks, active [][]topo.TaskID, stateful func(topo.TaskID) bool, n int) [][]topo.TaskID {
	out := make([][]topo.TaskID, len(members))
	if n <= 0 {
		return out
	}
	owner := map[topo.TaskID]int{}
	var tasks []topo.TaskID
	for m, ts := range active {
		for _, id := range ts {
			owner[id] = m
			if stateful(id) {
				tasks = append(tasks, id)
			}
		}
	}
	slices.SortFunc(tasks, func(a, b topo.TaskID) int {
		if a.Subtopology != b.Subtopology {
			return a.Subtopology - b.Subtopology
		}
		return int(a.Partition - b.Partition)
	})
	for _, id := range tasks {
		cands := make([]int, 0, len(members))
		for m := range members {
			if m != owner[id] {
				cands = append(cands, m)
			}
		}
		slices.SortStableFunc(cands, func(a, b int) int {
			oa, ob := members[a].offsets[id], members[b].offsets[id]
			if oa != ob {
				if oa > ob {
					return -1
				}
				return 1
			}
			return len(out[a]) - len(out[b])
		})
		for _, m := range cands[:min(n, len(cands))] {
			out[m] = append(out[m], id)
		}
	}
	return out
}

// standby is a shadow copy of one task's stores.
type standby struct {
	id     topo.TaskID
	db     state.TaskDB
	cancel context.CancelFunc
	done   chan struct{}
}

// standbyState is the part of the Engine that standbys use.
type standbyState struct {
	standbyWant atomic.Pointer[[]topo.TaskID] // from the last assignment
	// assignedAt is when the last assignment arrived (unix nanoseconds):
	// the janitor leaves directories alone for a while after it, until
	// its active tasks are opened (janitor.go).
	assignedAt atomic.Int64
	standbys   map[topo.TaskID]*standby // guarded by Engine.mu
	// progress holds, per task, the changelog offsets its state reached
	// (summed over its stores), for the join metadata.
	progress sync.Map // string -> int64
	// replicaLag holds each running replica's lag, once known, for
	// Metrics.
	replicaLag sync.Map // string -> int64
}

// offsets lists the progress of every task this member has state for.
func (e *Engine) offsets() map[string]int64 {
	out := map[string]int64{}
	e.progress.Range(func(k, v any) bool {
		out[k.(string)] = v.(int64)
		return true
	})
	return out
}

// noteProgress records the changelog offsets a task's state reached.
func (e *Engine) noteProgress(t *task) {
	var sum int64
	for _, c := range t.logs {
		sum += c.next.Load()
	}
	e.progress.Store(t.t.ID.String(), sum)
}

// reconcileStandbysLocked starts the standbys of the last assignment that
// do not run and are not active here, and stops those no longer wanted,
// except those of tasks the last assignment makes active here. e.mu must
// be held.
func (e *Engine) reconcileStandbysLocked() {
	if e.heldStale.Swap(false) {
		e.noteHeldLocked() // a standby may have become a warm-up, or back
	}
	want := map[topo.TaskID]bool{}
	if p := e.standbyWant.Load(); p != nil {
		for _, id := range *p {
			if e.tasks[id] == nil {
				want[id] = true
			}
		}
	}
	// A standby of a task that the last assignment makes active here is
	// kept for the task to take over (takeStandby): the assignment is
	// parsed before the callback that makes the task runs, and a loop that
	// reconciled in between stopped the standby, so that the task then
	// restored its whole changelog (an in-memory standby's state is lost
	// when it stops).
	var active map[topo.TaskID]bool
	if pl := e.placement.Load(); pl != nil {
		active = pl.Local
	}
	for id, sb := range e.standbys {
		if !want[id] && !active[id] {
			e.stopStandby(sb)
		}
	}
	for id := range want {
		if e.standbys[id] != nil {
			continue
		}
		var sub *topo.Subtopology
		for _, s := range e.o.Subs {
			if s.ID == id.Subtopology {
				sub = s
			}
		}
		if sub == nil || len(sub.Stores) == 0 {
			continue
		}
		db, err := e.openDB(id)
		if err != nil {
			e.log.Warn("cannot open a standby's state; skipping it", "task", id, "err", err)
			continue
		}
		ctx, cancel := context.WithCancel(e.ctx)
		sb := &standby{id: id, db: db, cancel: cancel, done: make(chan struct{})}
		if e.standbys == nil {
			e.standbys = map[topo.TaskID]*standby{}
		}
		e.standbys[id] = sb
		e.noteHeldLocked()
		if e.isWarmup(id) {
			e.log.Info("warm-up replica assigned", "task", id)
		} else {
			e.log.Info("standby assigned", "task", id)
		}
		go func() {
			defer close(sb.done)
			if err := e.runStandby(ctx, sb, sub); err != nil && ctx.Err() == nil {
				e.log.Warn("standby stopped", "task", id, "err", err)
			}
		}()
	}
}

// noteHeldLocked publishes the standbys and warm-ups running here for
// Metrics. e.mu must be held.
func (e *Engine) noteHeldLocked() {
	var h heldReplicas
	for _, id := range slices.SortedFunc(maps.Keys(e.standbys), compareTasks) {
		if e.isWarmup(id) {
			h.warmups = append(h.warmups, id.String())
		} else {
			h.standbys = append(h.standbys, id.String())
		}
	}
	e.held.Store(&h)
}

// stopStandby stops a standby and closes its database, on a goroutine
// unless the engine is closing or the state is in memory (dbclose.go).
// e.mu must be held.
func (e *Engine) stopStandby(sb *standby) {
	e.endStandby(sb)
	if !e.closing && !e.o.InMemory {
		// A close flushes the memtables, long for a large store: not
		// under the engine lock, which the loop holds here (dbclose.go).
		// The task opening the same database next waits for it.
		e.closeDBLater(sb.id, sb.db)
	} else {
		if err := sb.db.Close(); err != nil {
			e.log.Warn("closing standby state", "task", sb.id, "err", err)
		}
		e.markUnused(sb.id) // janitor.go
	}
	e.log.Info("standby stopped", "task", sb.id)
}

// endStandby stops a standby's goroutine and forgets it, leaving its
// database open. e.mu must be held.
func (e *Engine) endStandby(sb *standby) {
	sb.cancel()
	<-sb.done
	e.replicaLag.Delete(sb.id.String())
	delete(e.standbys, sb.id)
	e.noteHeldLocked()
}

// takeStandby stops the standby of task id, if one runs here, for the
// task to become active here. With Pebble the task opens the standby's
// directory again after it is closed, and nil is returned; an in-memory
// standby's database is handed over as it is and returned, since closing
// it would lose it. e.mu must be held.
func (e *Engine) takeStandby(id topo.TaskID) state.TaskDB {
	sb := e.standbys[id]
	if sb == nil {
		return nil
	}
	if !e.o.InMemory {
		e.stopStandby(sb)
		return nil
	}
	e.endStandby(sb)
	e.log.Info("standby taken over by its active task", "task", id)
	return sb.db
}

// stopAllStandbys stops every standby. e.mu must be held.
func (e *Engine) stopAllStandbys() {
	for _, sb := range e.standbys {
		e.stopStandby(sb)
	}
}

// runStandby applies the changelogs of sub's stores to sb's database until
// ctx ends.
func (e *Engine) runStandby(ctx context.Context, sb *standby, sub *topo.Subtopology) error {
	p := sb.id.Partition
	byTopic := map[string]string{} // changelog -> store
	from := map[string]map[int32]kgo.Offset{}
	var sum int64
	starts := map[string]int64{} // changelog -> first offset to fetch
	for _, name := range sub.Stores {
		topic := ChangelogTopic(e.o.AppID, name)
		byTopic[topic] = name
		start, ok, err := sb.db.Checkpoint(name)
		if err != nil {
			return err
		}
		if !ok {
			start = 0
		}
		sum += start
		starts[topic] = start
		from[topic] = map[int32]kgo.Offset{p: kgo.NewOffset().At(start)}
	}
	e.progress.Store(sb.id.String(), sum)
	lag := e.startLag(ctx, sb.id, byTopic, starts)
	if total, ok := lag.total(); ok {
		e.replicaLag.Store(sb.id.String(), total)
		e.warmupCaughtUp(sb.id, total) // already caught up: no record may come
	}
	rcl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(e.o.Brokers...),
		kgo.ConsumePartitions(from),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	}, append(e.fetchSizeOpts(16<<20, 4<<20), e.o.ClientOpts...)...)...)
	if err != nil {
		return err
	}
	defer rcl.Close()
	next := map[string]int64{}
	var buf []byte
	var maxTs int64 = -1
	for ctx.Err() == nil {
		fs := rcl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var aerr error
		fs.EachTopic(func(ft kgo.FetchTopic) {
			name := byTopic[ft.Topic]
			timestamped := sub.Timestamped[name]
			ft.EachPartition(func(fp kgo.FetchPartition) {
				if aerr != nil || len(fp.Records) == 0 {
					return
				}
				if fp.LastStableOffset >= 0 {
					lag.fetched(name, fp.LastStableOffset, fp.Records[len(fp.Records)-1].Offset+1)
				}
				rs, err := sb.db.Restorer(name)
				if err != nil {
					aerr = err
					return
				}
				for _, r := range fp.Records {
					if r.Attrs.IsControl() {
						rs.Advance(r.Offset + 1)
					} else {
						v := r.Value
						if timestamped && v != nil {
							buf = state.AppendTimestamped(buf[:0], r.Timestamp.UnixMilli(), v)
							v = buf
							maxTs = max(maxTs, r.Timestamp.UnixMilli())
						}
						if err := rs.Apply(r.Key, v, r.Offset); err != nil {
							aerr = err
							break
						}
					}
					next[name] = r.Offset + 1
				}
				if err := rs.Finish(); err != nil && aerr == nil {
					aerr = err
				}
			})
		})
		if aerr != nil {
			return fmt.Errorf("brook: standby of task %s: %w", sb.id, aerr)
		}
		if maxTs >= 0 {
			// Stream time as a restore would find it (decision 25).
			if st, ok, err := sb.db.Checkpoint(StreamTimeCheckpoint); err == nil && (!ok || st < maxTs) {
				if err := sb.db.Commit(map[string]int64{StreamTimeCheckpoint: maxTs}); err != nil {
					return err
				}
			}
			maxTs = -1
		}
		var s int64
		for _, name := range sub.Stores {
			if o, ok := next[name]; ok {
				s += o
			} else if ck, ok, _ := sb.db.Checkpoint(name); ok {
				s += ck
			}
		}
		e.progress.Store(sb.id.String(), s)
		if total, ok := lag.total(); ok {
			e.replicaLag.Store(sb.id.String(), total)
			e.warmupCaughtUp(sb.id, total)
		}
	}
	return nil
}

// replicaLag is a standby's lag behind its changelogs, per store: what
// the early probe (warmup.go) weighs. A store's lag is known once its end
// offset was looked up at the start, or once a fetch of it returned
// records with the last stable offset; until every store's lag is known
// the replica does not count as caught up.
type replicaLag struct {
	stores int              // how many stores the task has
	lag    map[string]int64 // store -> records behind, for the stores known
}

// fetched records that store's changelog has lso as its last stable
// offset and the replica has applied up to next.
func (l *replicaLag) fetched(store string, lso, next int64) {
	if l.lag == nil {
		l.lag = map[string]int64{}
	}
	l.lag[store] = max(lso-next, 0)
}

// total is the sum of the stores' lags, and whether every store's is
// known.
func (l *replicaLag) total() (int64, bool) {
	var sum int64
	for _, v := range l.lag {
		sum += v
	}
	return sum, len(l.lag) == l.stores
}

// startLag looks up the end of each of a standby's changelog partitions
// before it fetches, so that a store whose changelog has nothing past the
// standby's checkpoint (no fetch will ever return a record for it) has a
// known lag. The end is the high watermark, at most an open
// transaction's records past the last stable offset: the lag can only be
// overstated. A store whose lookup fails stays unknown until a fetch
// returns its records.
func (e *Engine) startLag(ctx context.Context, id topo.TaskID, byTopic map[string]string, starts map[string]int64) *replicaLag {
	lag := &replicaLag{stores: len(byTopic)}
	adm := kadm.NewClient(e.cl)
	for topic, name := range byTopic {
		end, err := endOffset(ctx, e.log, adm, topic, id.Partition)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("standby: cannot read a changelog's end offset; its lag is known at its first fetch", "task", id, "topic", topic, "err", err)
			}
			continue
		}
		lag.fetched(name, end, starts[topic])
	}
	return lag
}
