// Package streamtest runs a brook topology with no broker, for tests, as
// net/http/httptest does for HTTP handlers and Kafka Streams'
// TopologyTestDriver does for Java topologies.
//
// The driver compiles the builder's topology into the same tasks, with the
// same processors and stores, that an App runs: only Kafka is replaced. Each
// sub-topology gets one task per partition, with in-memory stores
// (state.MemDB) behind the same write-back caches. Piping a record runs it
// through its task at once, on the caller's goroutine:
//
//   - its partition is chosen by hashing the serialized key as Kafka's
//     default partitioner does (murmur2), so keys meet in the same tasks as
//     under an App;
//   - records written to a topic that the topology reads (repartition
//     topics, or a topic written by To and read by another Source) are fed
//     back to the reading task, in the order they were written, before Pipe
//     returns: tests are deterministic;
//   - every record written, including changelog and dead-letter records, is
//     kept and can be read with Output;
//   - after every piped record (Config.CommitEvery) the stores' caches are
//     flushed to their changelogs and committed, as an App does every
//     commit interval, so Store reads what queries of an App would read.
//
// Stream time is driven by the timestamps of the piped records; the wall
// clock is the driver's own, moved by AdvanceWallClock, which fires
// wall-clock punctuators.
//
//	d := streamtest.New(t, b, streamtest.Config{Partitions: 3})
//	lines := d.Input("lines", serde.String(), serde.String())
//	counts := d.Output("counts", serde.String(), serde.Int64())
//	lines.Pipe("", "the quick brown fox")
//	got := counts.Latest()                        // map[string]int64
//	n, ok, err := d.Store[string, int64]("word-counts").Get("fox")
//
// A Driver is not safe for concurrent use.
package streamtest

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/streamhook"
	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/state"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config configures a Driver. The zero Config is ready to use; every field
// documents its default.
type Config struct {
	// AppID prefixes internal topic names, as stream.Config.AppID does:
	// "<AppID>-<name>-repartition", "<AppID>-<store>-changelog". Default
	// "streamtest".
	AppID string

	// Partitions is the number of partitions of every topic, and so the
	// number of tasks of every sub-topology. Default 1. (The dead-letter
	// topic has one partition, as the App creates it.)
	Partitions int

	// StartTime is the driver's initial wall-clock time, and the timestamp
	// of records piped without one. Default the Unix epoch, so that tests
	// do not depend on the machine's clock.
	StartTime time.Time

	// CommitEvery is how many piped records (or AdvanceWallClock calls)
	// pass between commits of the stores: flushing their caches to the
	// changelogs and committing them. Default 1: every record is committed,
	// and Store sees it at once. A larger value lets the write-back cache
	// turn repeated updates of a key into one changelog record, as an App
	// does within a commit interval; call Commit to commit at any time.
	CommitEvery int

	// OnBadRecord says what happens to a record that fails to deserialize,
	// or whose processing returns an error or panics, as
	// stream.Config.OnBadRecord. Default stream.FailOnBadRecord(): the Pipe
	// call fails.
	OnBadRecord stream.BadRecordPolicy

	// StoreCacheBytes is the write-back cache budget of each store of each
	// task, as stream.Config.StoreCacheBytes, with one difference: the
	// driver commits only every CommitEvery steps (or on Commit), never
	// early because a cache is over budget. Default 1 byte: every commit
	// drops the cache's clean entries, so the next commit flushes only what
	// changed since (reads then come from the in-memory committed data).
	// Dirty entries are kept whatever the budget, so repeated updates of a
	// key between commits still make one changelog record.
	StoreCacheBytes int

	// Logger receives the tasks' logs (skipped records and the like).
	// Default: discard.
	Logger *slog.Logger
}

// Driver runs a topology without a broker. Make one with New; it must be
// closed (New does it at the end of the test when given a testing.TB).
type Driver struct {
	tb   testing.TB
	cfg  Config
	g    *topo.Graph
	subs []*topo.Subtopology

	tasks  []*topo.Task            // in id order
	reader map[string][]*topo.Task // topic -> task per partition
	topics map[string]*topicLog

	produced []*kgo.Record // written by the task being run
	queue    []*kgo.Record // written to topics the topology reads, to process
	part     kgo.TopicPartitioner
	now      time.Time
	steps    int   // since the last commit
	err      error // the failure that stopped the driver
	closed   bool

	globals map[string]*globalTable // by topic
	// manual holds the topics whose records carry their partition (the
	// response topics of foreign-key joins).
	manual map[string]bool
	policy topo.Policy // for bad records
}

// globalTable is a global table's store in the driver.
type globalTable struct {
	def *topo.GlobalDef
	db  *state.MemDB
	buf []byte
}

// topicLog is everything written to one topic, in order.
type topicLog struct {
	recs  []*kgo.Record
	parts int
	next  []int64 // next offset per partition
	rr    int     // round robin for records without a key
}

// producer is the topo.Producer of the driver's tasks.
type producer struct{ d *Driver }

func (p producer) Produce(r *kgo.Record) { p.d.produced = append(p.d.produced, r) }

// New compiles the topology built with b and returns a driver for it. The
// driver's tasks are made at once, one per sub-topology and partition, and
// their processors initialized (Processor.Init), so that mistakes show
// here. b can back several drivers one after another, but not at the same
// time (not from parallel tests), nor a driver and a running App.
//
// tb is the test: New, Pipe and the other calls fail it (tb.Fatal) on
// errors, and the driver is closed when the test ends. tb may be nil, as in
// Example functions: errors then panic, and the caller must call Close.
func New(tb testing.TB, b *stream.Builder, cfg Config) *Driver {
	if tb != nil {
		tb.Helper()
	}
	d := &Driver{tb: tb}
	if err := d.init(b, cfg); err != nil {
		d.closeTasks()
		d.fatal(err)
		return nil
	}
	if tb != nil {
		tb.Cleanup(func() {
			if err := d.Close(); err != nil {
				tb.Errorf("streamtest: close: %v", err)
			}
		})
	}
	return d
}

func (d *Driver) init(b *stream.Builder, cfg Config) error {
	if b == nil {
		return errors.New("streamtest: nil *stream.Builder")
	}
	if cfg.Partitions < 0 || cfg.CommitEvery < 0 || cfg.StoreCacheBytes < 0 {
		return fmt.Errorf("streamtest: Config.Partitions, CommitEvery and StoreCacheBytes must not be negative (zero means the default)")
	}
	if cfg.AppID == "" {
		cfg.AppID = "streamtest"
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 1
	}
	if cfg.StartTime.IsZero() {
		cfg.StartTime = time.UnixMilli(0)
	}
	if cfg.CommitEvery == 0 {
		cfg.CommitEvery = 1
	}
	if cfg.StoreCacheBytes == 0 {
		cfg.StoreCacheBytes = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d.cfg = cfg
	d.now = cfg.StartTime
	d.part = kgo.StickyKeyPartitioner(nil).ForTopic("")
	d.reader = map[string][]*topo.Task{}
	d.topics = map[string]*topicLog{}

	if err := b.Build(); err != nil {
		return err
	}
	d.g = streamhook.Graph(b)
	policy := streamhook.Policy(cfg.OnBadRecord)
	if policy.Kind == topo.PolicyDeadLetter && policy.Topic == "" {
		return errors.New("streamtest: Config.OnBadRecord is DeadLetterTopic with an empty topic name")
	}
	d.g.Resolve(cfg.AppID)
	d.subs = d.g.Subtopologies()
	d.manual = map[string]bool{}
	for _, n := range d.g.Nodes {
		if n.Kind == topo.KindSink && n.ManualPartition {
			d.manual[n.SinkTopic] = true
		}
	}
	d.globals = map[string]*globalTable{}
	for _, def := range d.g.Globals {
		db := state.NewMemDB()
		ro, err := db.ReadOnly(def.Store)
		if err != nil {
			return err
		}
		def.SetData(ro)
		d.globals[def.Topic] = &globalTable{def: def, db: db}
	}
	d.policy = policy
	return d.makeTasks(nil)
}

// makeTasks makes the tasks, one per sub-topology and partition, with
// empty in-memory stores; restore, if not nil, fills a task's stores
// before its processors are initialized.
func (d *Driver) makeTasks(restore func(*topo.Task) error) error {
	d.tasks, d.reader = nil, map[string][]*topo.Task{}
	for _, sub := range d.subs {
		for p := range d.cfg.Partitions {
			var db state.TaskDB
			if len(sub.Stores) > 0 {
				db = state.NewMemDB()
			}
			id := topo.TaskID{Subtopology: sub.ID, Partition: int32(p)}
			t, err := topo.NewTask(sub, id, producer{d}, d.policy, d.cfg.Logger, db, d.cfg.StoreCacheBytes)
			if err != nil {
				if db != nil {
					db.Close()
				}
				return err
			}
			t.Clock = d.clock
			d.tasks = append(d.tasks, t)
			for _, name := range sub.Stores {
				if _, err := t.Store(name); err != nil {
					return err
				}
			}
			for _, topic := range sub.Topics {
				d.reader[topic] = append(d.reader[topic], t)
			}
			if restore != nil {
				if err := restore(t); err != nil {
					return err
				}
			}
		}
	}
	for _, t := range d.tasks {
		if err := t.Init(); err != nil {
			return err
		}
	}
	return nil
}

func (d *Driver) clock() time.Time { return d.now }

// fatal reports err: it fails the test, or panics without one.
func (d *Driver) fatal(err error) {
	if d.tb == nil {
		panic(err)
	}
	d.tb.Helper()
	d.tb.Fatal(err)
}

// Now returns the driver's wall-clock time.
func (d *Driver) Now() time.Time { return d.now }

// AdvanceWallClock moves the driver's wall clock forward by by and fires
// the wall-clock punctuators that are then due, task by task in task-id
// order, running the records they forward through the topology. As in
// Kafka Streams, a punctuator due several times over fires once; advance
// in steps to see each interval. A punctuator's error fails the test.
func (d *Driver) AdvanceWallClock(by time.Duration) {
	if d.tb != nil {
		d.tb.Helper()
	}
	if err := d.TryAdvanceWallClock(by); err != nil {
		d.fatal(err)
	}
}

// TryAdvanceWallClock is AdvanceWallClock returning the error (a
// *stream.PunctuationError, say) instead of failing the test.
func (d *Driver) TryAdvanceWallClock(by time.Duration) error {
	if err := d.usable(); err != nil {
		return err
	}
	if by < 0 {
		return fmt.Errorf("streamtest: AdvanceWallClock(%v): the clock cannot go back", by)
	}
	d.now = d.now.Add(by)
	for _, t := range d.tasks {
		if err := d.step(func() error { return t.PunctuateWallClock(d.now) }); err != nil {
			return d.fail(err)
		}
	}
	return d.stepDone()
}

// Commit flushes every store's write-back cache to its changelog topic
// and commits it, as an App does every commit interval. The driver commits
// by itself every Config.CommitEvery records.
func (d *Driver) Commit() {
	if d.tb != nil {
		d.tb.Helper()
	}
	if err := d.usable(); err != nil {
		d.fatal(err)
		return
	}
	if err := d.commit(); err != nil {
		d.fatal(d.fail(err))
	}
}

func (d *Driver) usable() error {
	if d.closed {
		return errors.New("streamtest: the driver is closed")
	}
	if d.err != nil {
		return fmt.Errorf("streamtest: the driver stopped after an error, as an App would: %w", d.err)
	}
	return nil
}

// fail stops the driver after err, as an App stops, and discards the
// stores' uncommitted writes, so that Store reads the last commit. Records
// already written stay readable.
func (d *Driver) fail(err error) error {
	err = streamhook.Export(err)
	d.err = err
	d.queue, d.produced = nil, nil
	for _, t := range d.tasks {
		if t.DB != nil {
			t.DB.Abort()
		}
	}
	return err
}

// pipe writes r to its topic and processes it, with everything it causes.
func (d *Driver) pipe(r *kgo.Record) error {
	if err := d.usable(); err != nil {
		return err
	}
	if g := d.globals[r.Topic]; g != nil {
		// A global table is updated at once, as Kafka Streams'
		// TopologyTestDriver updates a global store.
		d.write(r, -1)
		w, err := g.db.Restorer(g.def.Store)
		if err != nil {
			return d.fail(err)
		}
		if g.buf, err = g.def.Apply(w, r, g.buf); err != nil {
			return d.fail(err)
		}
		if err := w.Finish(); err != nil {
			return d.fail(err)
		}
		g.def.Updated()
		return nil
	}
	if len(d.reader[r.Topic]) == 0 {
		return fmt.Errorf("streamtest: no source of the topology reads topic %q; it reads %s", r.Topic, d.readTopics())
	}
	d.write(r, -1)
	if err := d.step(nil); err != nil {
		return d.fail(err)
	}
	return d.stepDone()
}

func (d *Driver) readTopics() string {
	var ts []string
	for t := range d.reader {
		ts = append(ts, fmt.Sprintf("%q", t))
	}
	slices.Sort(ts)
	return "[" + strings.Join(ts, ", ") + "]"
}

// step runs first (if not nil) and then every queued record, writing what
// each task produces; records written to topics the topology reads are
// processed in the order they were written.
func (d *Driver) step(first func() error) error {
	if first != nil {
		err := first()
		d.flushProduced()
		if err != nil {
			return err
		}
	}
	for len(d.queue) > 0 {
		r := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		t := d.reader[r.Topic][r.Partition]
		err := t.Process(r)
		d.flushProduced()
		if err != nil {
			return err
		}
	}
	d.queue = d.queue[:0]
	return nil
}

func (d *Driver) flushProduced() {
	for i, r := range d.produced {
		p := int32(-1)
		if d.manual[r.Topic] {
			p = r.Partition
		}
		d.write(r, p)
		d.produced[i] = nil
	}
	d.produced = d.produced[:0]
}

// stepDone counts a step and commits every Config.CommitEvery steps.
func (d *Driver) stepDone() error {
	d.steps++
	if d.steps < d.cfg.CommitEvery {
		return nil
	}
	if err := d.commit(); err != nil {
		return d.fail(err)
	}
	return nil
}

func (d *Driver) commit() error {
	d.steps = 0
	for _, t := range d.tasks {
		if t.DB == nil {
			continue
		}
		p := t.ID.Partition
		cps := make(map[string]int64, len(t.Sub.Stores))
		for _, name := range t.Sub.Stores {
			topic := d.cfg.AppID + "-" + name + "-changelog"
			timestamped := t.Sub.Timestamped[name]
			err := t.Stores[name].Flush(func(k, v []byte) {
				r := &kgo.Record{Topic: topic, Key: k, Value: v, Timestamp: d.now}
				if timestamped && v != nil {
					if ts, plain, err := state.SplitTimestamped(v); err == nil {
						r.Value, r.Timestamp = plain, time.UnixMilli(ts)
					}
				}
				d.write(r, p)
			})
			if err != nil {
				return &topo.FatalError{Err: fmt.Errorf("streamtest: task %s: flush store %q: %w", t.ID, name, err)}
			}
			cps[name] = d.log(topic).next[p]
		}
		if err := t.DB.Commit(cps); err != nil {
			return &topo.FatalError{Err: fmt.Errorf("streamtest: task %s: commit: %w", t.ID, err)}
		}
	}
	return nil
}

func (d *Driver) log(topic string) *topicLog {
	l := d.topics[topic]
	if l == nil {
		n := d.cfg.Partitions
		if p := streamhook.Policy(d.cfg.OnBadRecord); p.Kind == topo.PolicyDeadLetter && p.Topic == topic {
			n = 1
		}
		l = &topicLog{parts: n, next: make([]int64, n)}
		d.topics[topic] = l
	}
	return l
}

// write appends r to its topic, in partition (or, if -1, the partition
// Kafka's default partitioner picks) with the next offset, and queues it
// for processing if the topology reads the topic.
func (d *Driver) write(r *kgo.Record, partition int32) {
	l := d.log(r.Topic)
	if partition < 0 {
		if r.Key == nil {
			partition = int32(l.rr % l.parts)
			l.rr++
		} else {
			partition = int32(d.part.Partition(r, l.parts))
		}
	}
	r.Partition = partition
	r.Offset = l.next[partition]
	l.next[partition]++
	l.recs = append(l.recs, r)
	if d.reader[r.Topic] != nil {
		d.queue = append(d.queue, r)
	}
}

// Close closes the tasks (calling the processors' Close) and drops their
// stores. It does not commit. It is safe to call more than once; New calls
// it at the end of the test.
func (d *Driver) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	return d.closeTasks()
}

func (d *Driver) closeTasks() error {
	errs := []error{d.closeTaskDBs()}
	for _, g := range d.globals {
		g.db.Close()
	}
	return errors.Join(errs...)
}

// closeTaskDBs closes the tasks and their stores.
func (d *Driver) closeTaskDBs() error {
	var errs []error
	for _, t := range d.tasks {
		if err := t.Close(); err != nil {
			errs = append(errs, err)
		}
		if t.DB != nil {
			t.DB.Close()
		}
	}
	return errors.Join(errs...)
}

// Topics returns the names of the topics written so far (input, output,
// repartition, changelog and dead-letter topics), sorted.
func (d *Driver) Topics() []string {
	var ts []string
	for t := range d.topics {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// DroppedRecords returns, per task id ("0_3"), how many records the
// driver's tasks skipped for a null key or value, as App.DroppedRecords
// does for a running App: a new map each call.
func (d *Driver) DroppedRecords() map[string]stream.DroppedCounts {
	out := map[string]stream.DroppedCounts{}
	for id, c := range d.g.Drops().Snapshot() {
		out[id.String()] = c
	}
	return out
}
