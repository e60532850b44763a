package runtime

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/state"
	"github.com/twmb/franz-go/pkg/kgo"
)

// LatencyBounds are the upper bounds, in seconds, of the buckets of every
// latency histogram: 1µs to 60s; one more bucket holds what is above.
var LatencyBounds = []float64{
	0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

// Histogram is a snapshot of a latency histogram.
type Histogram struct {
	// Bounds are the buckets' upper bounds in seconds, ascending
	// (LatencyBounds); the caller must not modify them.
	Bounds []float64
	// Counts has one more element than Bounds: Counts[i] counts the
	// observations above Bounds[i-1] and at most Bounds[i]; the last, those
	// above the last bound. Not cumulative.
	Counts []uint64
	// Count is the number of observations, Sum their total in seconds.
	Count uint64
	Sum   float64
}

// histogram is a latency histogram updated with atomics.
type histogram struct {
	counts [25]atomic.Uint64 // len(LatencyBounds)+1
	count  atomic.Uint64
	sumNs  atomic.Int64
}

// observe adds n observations whose durations add up to d, counting them
// in the bucket of their mean.
func (h *histogram) observe(n int, d time.Duration) {
	if n <= 0 {
		return
	}
	mean := d.Seconds() / float64(n)
	i := sort.SearchFloat64s(LatencyBounds, mean)
	h.counts[i].Add(uint64(n))
	h.count.Add(uint64(n))
	h.sumNs.Add(int64(d))
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Bounds: LatencyBounds, Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		out.Counts[i] = h.counts[i].Load()
	}
	out.Count = h.count.Load()
	out.Sum = float64(h.sumNs.Load()) / 1e9
	return out
}

// Metrics is a snapshot of an engine's metrics.
type Metrics struct {
	// Processed, Produced, Skipped and DeadLettered are the sums over
	// Tasks.
	Processed, Produced, Skipped, DeadLettered int64
	// Dropped is the sum over Tasks.
	Dropped topo.DropCounts
	// ProcessLatency merges the tasks' histograms.
	ProcessLatency Histogram
	// Commits counts successful commits (transactions committed under
	// exactly-once, offset commits under at-least-once); Aborts counts
	// transactions aborted. CommitLatency times both, from the commit
	// barrier to the broker's answer.
	Commits, Aborts int64
	CommitLatency   Histogram
	// Rebalances counts assignments received; RebalanceLatency times each
	// from the revoke (or the start of the join) to the assignment.
	Rebalances       int64
	RebalanceLatency Histogram
	// Probes counts the probing rebalances this instance asked for while
	// it held warm-up replicas (warmup.go).
	Probes int64
	// Standbys and Warmups list the tasks ("0_3") this instance keeps
	// standby and warm-up replicas of now, sorted; nil for none.
	Standbys, Warmups []string
	// ReplicaLag gives, for each standby and warm-up replica this
	// instance keeps ("0_3"), how many changelog records it is behind,
	// summed over the task's stores: to the end offsets read when it
	// started, then to the last stable offsets of its fetches. A replica
	// is absent until the lag of each of its stores is known; nil for
	// none.
	ReplicaLag map[string]int64
	// Tasks are every task this instance held since it was made, sorted by
	// id.
	Tasks []TaskMetrics
}

// TaskMetrics are the metrics of one task.
type TaskMetrics struct {
	// Task is the task id, such as "0_3"; Assigned is whether this
	// instance holds it now.
	Task     string
	Assigned bool
	// Processed counts input records handed to the task's processors,
	// including those skipped, dropped or dead-lettered, and those
	// processed again after an aborted transaction.
	Processed int64
	// Produced counts records the task sent to sink and repartition topics
	// (not changelogs, not dead letters).
	Produced int64
	// Skipped counts bad records skipped (SkipBadRecord); DeadLettered
	// those sent to the dead-letter topic. Skipped is updated at each
	// commit.
	Skipped, DeadLettered int64
	// Dropped counts records dropped on purpose: null keys or values,
	// late records.
	Dropped topo.DropCounts
	// ProcessLatency is the time to process one record, measured per
	// fetched batch and counted at the batch's mean per record.
	ProcessLatency Histogram
	// Lag is the consumer lag of each input partition of the task, as of
	// its last fetch that brought records.
	Lag []PartitionLag
	// Stores are the task's stores.
	Stores []StoreMetrics
}

// PartitionLag is the lag of one input partition: offsets between the
// last record fetched and the partition's last stable offset (transaction
// markers take offsets too).
type PartitionLag struct {
	Topic     string
	Partition int32
	Lag       int64
}

// StoreMetrics are the metrics of one store of one task.
type StoreMetrics struct {
	Store string
	// Entries is the approximate number of entries, sampled at a commit
	// at most every StoreSampleInterval once the metrics have been read:
	// 0 until a commit after the first read (counting a large store
	// iterates it, with processing stopped; decision 54).
	Entries int64
	// CacheBytes is the size of the store's write-back cache at the last
	// commit.
	CacheBytes int64
	// CacheHits and CacheMisses count reads of the store by processors
	// answered by the write-back cache and by the store below it, updated
	// at each commit.
	CacheHits, CacheMisses int64
	// Restored and ToRestore are the records applied and the offsets to
	// apply in the store's last restore; Restoring says it goes on.
	Restored, ToRestore int64
	Restoring           bool
	// RestoreRate is the restore's records per second (over the whole
	// restore once it is done).
	RestoreRate float64
}

// StoreSampleInterval is the least time between two samples of a store's
// entry count, which may iterate the store.
var StoreSampleInterval = 10 * time.Second

// registry holds the metrics of an engine, by task; a task that moves
// away and back keeps counting from where it was.
type registry struct {
	mu    sync.Mutex
	tasks map[topo.TaskID]*taskMetrics

	commits, aborts atomic.Int64
	commitLat       histogram

	rebalances atomic.Int64
	rebLat     histogram
	rebStart   atomic.Int64 // unix nanoseconds; 0 when no rebalance is under way
	probes     atomic.Int64
}

type taskMetrics struct {
	id                                topo.TaskID
	assigned                          atomic.Bool
	processed, produced, deadLettered atomic.Int64
	skipped                           atomic.Int64
	procLat                           histogram

	// Sampling state, touched under the engine's lock only.
	lastTask    *topo.Task
	lastSkipped int64
	lastCount   time.Time

	mu     sync.Mutex
	lag    map[tp]int64
	stores map[string]*storeMetrics
}

type storeMetrics struct {
	entries, cacheBytes, hits, misses int64
	restored, toRestore               int64
	restoring                         bool
	restoreBegin, restoreEnd          time.Time

	lastStore              *state.CachedStore
	lastHits, lastMisses   int64
	storeHits, storeMisses int64
}

func newRegistry() *registry { return &registry{tasks: map[topo.TaskID]*taskMetrics{}} }

func (r *registry) task(id topo.TaskID) *taskMetrics {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.tasks[id]
	if m == nil {
		m = &taskMetrics{id: id, lag: map[tp]int64{}, stores: map[string]*storeMetrics{}}
		r.tasks[id] = m
	}
	return m
}

func (m *taskMetrics) store(name string) *storeMetrics {
	s := m.stores[name]
	if s == nil {
		s = &storeMetrics{}
		m.stores[name] = s
	}
	return s
}

// rebalanceStart notes the start of a rebalance, unless one is under way.
func (r *registry) rebalanceStart() { r.rebStart.CompareAndSwap(0, time.Now().UnixNano()) }

// rebalanceEnd counts a rebalance and times it.
func (r *registry) rebalanceEnd() {
	r.rebalances.Add(1)
	if s := r.rebStart.Swap(0); s != 0 {
		r.rebLat.observe(1, time.Since(time.Unix(0, s)))
	}
}

// restoreTotals sums the restores under way.
func (r *registry) restoreTotals() (restored, toRestore int64) {
	r.mu.Lock()
	ms := slices.Collect(maps.Values(r.tasks))
	r.mu.Unlock()
	for _, m := range ms {
		m.mu.Lock()
		for _, s := range m.stores {
			if s.restoring {
				restored += s.restored
				toRestore += s.toRestore
			}
		}
		m.mu.Unlock()
	}
	return restored, toRestore
}

func (r *registry) snapshot(drops map[topo.TaskID]topo.DropCounts) Metrics {
	r.mu.Lock()
	ms := slices.Collect(maps.Values(r.tasks))
	r.mu.Unlock()
	for id := range drops {
		if !slices.ContainsFunc(ms, func(m *taskMetrics) bool { return m.id == id }) {
			ms = append(ms, r.task(id))
		}
	}
	slices.SortFunc(ms, func(a, b *taskMetrics) int {
		if a.id.Subtopology != b.id.Subtopology {
			return a.id.Subtopology - b.id.Subtopology
		}
		return int(a.id.Partition - b.id.Partition)
	})
	out := Metrics{
		Commits: r.commits.Load(), Aborts: r.aborts.Load(), CommitLatency: r.commitLat.snapshot(),
		Rebalances: r.rebalances.Load(), RebalanceLatency: r.rebLat.snapshot(), Probes: r.probes.Load(),
		ProcessLatency: Histogram{Bounds: LatencyBounds, Counts: make([]uint64, len(LatencyBounds)+1)},
	}
	now := time.Now()
	for _, m := range ms {
		tm := TaskMetrics{
			Task: m.id.String(), Assigned: m.assigned.Load(),
			Processed: m.processed.Load(), Produced: m.produced.Load(),
			Skipped: m.skipped.Load(), DeadLettered: m.deadLettered.Load(),
			Dropped: drops[m.id], ProcessLatency: m.procLat.snapshot(),
		}
		m.mu.Lock()
		for k, lag := range m.lag {
			tm.Lag = append(tm.Lag, PartitionLag{Topic: k.topic, Partition: k.partition, Lag: lag})
		}
		for name, s := range m.stores {
			sm := StoreMetrics{Store: name, Entries: s.entries, CacheBytes: s.cacheBytes, CacheHits: s.hits, CacheMisses: s.misses,
				Restored: s.restored, ToRestore: s.toRestore, Restoring: s.restoring}
			if !s.restoreBegin.IsZero() {
				end := now
				if !s.restoring {
					end = s.restoreEnd
				}
				if d := end.Sub(s.restoreBegin).Seconds(); d > 0 {
					sm.RestoreRate = float64(s.restored) / d
				}
			}
			tm.Stores = append(tm.Stores, sm)
		}
		m.mu.Unlock()
		slices.SortFunc(tm.Lag, func(a, b PartitionLag) int {
			if a.Topic != b.Topic {
				if a.Topic < b.Topic {
					return -1
				}
				return 1
			}
			return int(a.Partition - b.Partition)
		})
		slices.SortFunc(tm.Stores, func(a, b StoreMetrics) int {
			if a.Store < b.Store {
				return -1
			} else if a.Store > b.Store {
				return 1
			}
			return 0
		})
		out.Processed += tm.Processed
		out.Produced += tm.Produced
		out.Skipped += tm.Skipped
		out.DeadLettered += tm.DeadLettered
		out.Dropped.NullKeys += tm.Dropped.NullKeys
		out.Dropped.NullValues += tm.Dropped.NullValues
		out.Dropped.Late += tm.Dropped.Late
		for i, c := range tm.ProcessLatency.Counts {
			out.ProcessLatency.Counts[i] += c
		}
		out.ProcessLatency.Count += tm.ProcessLatency.Count
		out.ProcessLatency.Sum += tm.ProcessLatency.Sum
		out.Tasks = append(out.Tasks, tm)
	}
	return out
}

// Metrics returns a snapshot of the engine's metrics; safe to call at any
// time from any goroutine.
func (e *Engine) Metrics() Metrics {
	var drops map[topo.TaskID]topo.DropCounts
	if e.o.Graph != nil {
		drops = e.o.Graph.Drops().Snapshot()
	}
	e.metricsRead.Store(true)
	m := e.met.snapshot(drops)
	if h := e.held.Load(); h != nil {
		m.Standbys, m.Warmups = slices.Clone(h.standbys), slices.Clone(h.warmups)
	}
	e.replicaLag.Range(func(k, v any) bool {
		if m.ReplicaLag == nil {
			m.ReplicaLag = map[string]int64{}
		}
		m.ReplicaLag[k.(string)] = v.(int64)
		return true
	})
	return m
}

// taskProducer is the producer of one task: it counts what the task
// produces and hands it to the engine.
type taskProducer struct {
	e   *Engine
	m   *taskMetrics
	dlq string
}

var _ topo.SizeChecker = taskProducer{}

// Produce implements topo.Producer.
func (p taskProducer) Produce(r *kgo.Record) {
	if p.dlq != "" && r.Topic == p.dlq {
		p.m.deadLettered.Add(1)
	} else {
		p.m.produced.Add(1)
	}
	p.e.Produce(r)
}

// CheckSize implements topo.SizeChecker.
func (p taskProducer) CheckSize(r *kgo.Record) error { return p.e.CheckSize(r) }

// producerFor returns the producer of a new task, counting into m.
func (e *Engine) producerFor(m *taskMetrics) topo.Producer {
	p := taskProducer{e: e, m: m}
	if e.o.Policy.Kind == topo.PolicyDeadLetter {
		p.dlq = e.o.Policy.Topic
	}
	return p
}

// noteFetch records the lag of a fetched partition of t. e.mu is held.
func (t *task) noteFetch(p kgo.FetchTopicPartition) {
	if len(p.Records) == 0 || t.m == nil {
		return
	}
	end := p.LastStableOffset
	if end < 0 {
		end = p.HighWatermark
	}
	lag := max(end-(p.Records[len(p.Records)-1].Offset+1), 0)
	t.m.mu.Lock()
	t.m.lag[tp{p.Topic, p.Partition}] = lag
	t.m.mu.Unlock()
}

// sampleLocked copies what the tasks count in fields of their own into
// the metrics. e.mu is held and the workers idle.
func (e *Engine) sampleLocked() {
	now := time.Now()
	for _, t := range e.tasks {
		m := t.m
		if m == nil {
			continue
		}
		if m.lastTask != t.t {
			m.lastTask, m.lastSkipped = t.t, 0
		}
		if d := t.t.Skipped - m.lastSkipped; d != 0 {
			m.skipped.Add(d)
			m.lastSkipped = t.t.Skipped
		}
		if !t.restored || len(t.t.Stores) == 0 {
			continue
		}
		count := e.metricsRead.Load() && now.Sub(m.lastCount) >= StoreSampleInterval
		if count {
			m.lastCount = now
		}
		for name, st := range t.t.Stores {
			hits, misses := st.CacheStats()
			var entries int64
			if count {
				entries = st.ApproximateCount()
			}
			m.mu.Lock()
			s := m.store(name)
			if s.lastStore != st {
				s.lastStore, s.lastHits, s.lastMisses = st, 0, 0
			}
			s.hits += hits - s.lastHits
			s.misses += misses - s.lastMisses
			s.lastHits, s.lastMisses = hits, misses
			s.cacheBytes = int64(st.CacheBytes())
			if count {
				s.entries = entries
			}
			m.mu.Unlock()
		}
	}
}

// noteRestore records a store's restore progress.
func (e *Engine) noteRestore(p RestoreProgress, begin bool) {
	id, ok := parseTaskID(p.Task)
	if !ok {
		return
	}
	m := e.met.task(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.store(p.Store)
	now := time.Now()
	if begin {
		s.restoreBegin, s.restoring = now, true
	}
	s.restored, s.toRestore = p.Restored, p.Total
	if p.Done {
		s.restoring, s.restoreEnd = false, now
	}
}

// commitTimed runs commitLocked and, if it committed or aborted
// something, times it. e.mu is held.
func (e *Engine) commitTimed(ctx context.Context) error {
	before := e.met.commits.Load() + e.met.aborts.Load()
	start := time.Now()
	err := e.commitLocked(ctx)
	if e.met.commits.Load()+e.met.aborts.Load() != before {
		e.met.commitLat.observe(1, time.Since(start))
	}
	return err
}

// noteTxnEnd counts an ended transaction.
func (e *Engine) noteTxnEnd(committed bool) {
	if committed {
		e.met.commits.Add(1)
	} else {
		e.met.aborts.Add(1)
	}
}

// noteRebalance notes that a rebalance began: partitions revoked or lost,
// or the first join.
func (e *Engine) noteRebalance() {
	if e.shuttingDown() {
		return
	}
	e.met.rebalanceStart()
	e.life.rebalance()
}

// noteAssigned notes the end of a rebalance.
func (e *Engine) noteAssigned() {
	if e.shuttingDown() {
		return
	}
	e.met.rebalanceEnd()
	e.life.assigned()
}

func (e *Engine) shuttingDown() bool { return e.ctx != nil && e.ctx.Err() != nil }

// openTaskMetrics binds the metrics of a new task and notes it in the
// lifecycle.
func (e *Engine) openTaskMetrics(t *task, restoring bool) {
	t.m.assigned.Store(true)
	e.life.taskOpened(t.t.ID, restoring)
}

// closeTaskMetrics notes that a task left.
func (e *Engine) closeTaskMetrics(t *task) {
	if t.m != nil {
		t.m.assigned.Store(false)
		t.m.mu.Lock()
		clear(t.m.lag)
		t.m.mu.Unlock()
	}
	e.life.taskClosed(t.t.ID)
}

// errShutdownTimeout is the cause of e.sctx once ShutdownTimeout passed
// after Run's context ended.
var errShutdownTimeout = errors.New("brook: shutdown timeout (Config.ShutdownTimeout) passed")

// noteProcessed counts n records processed since start.
func (t *task) noteProcessed(n int, start time.Time) {
	if t.m == nil || n == 0 {
		return
	}
	t.m.processed.Add(int64(n))
	t.m.procLat.observe(n, time.Since(start))
}

func init() {
	if len(histogram{}.counts) != len(LatencyBounds)+1 {
		panic("runtime: histogram buckets do not match LatencyBounds")
	}
}
