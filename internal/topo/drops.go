package topo

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DropReason says why an operator dropped a record on purpose, as Kafka
// Streams does (and counts in its dropped-records metric).
type DropReason int

const (
	// DropNullKey is a record without a key reaching an aggregation, a
	// repartition topic or a table source.
	DropNullKey DropReason = iota
	// DropNullValue is a record without a value (a tombstone) reaching a
	// stream aggregation.
	DropNullValue
	// DropLate is a record that reached a windowed aggregation after its
	// window closed: window end + grace at or before stream time.
	DropLate
)

// DropCounts are the records one task dropped for a null key or value.
type DropCounts struct {
	// NullKeys counts records dropped because they had no key.
	NullKeys int64
	// NullValues counts records dropped because they had no value.
	NullValues int64
	// Late counts records dropped by windowed aggregations because their
	// window had closed (end + grace at or before stream time).
	Late int64
}

// Drops holds the drop counters of every task of one topology, by task.
// The counters of a task live as long as the topology: a task that moves
// away and back keeps counting from where it was. Safe for concurrent use.
type Drops struct {
	mu    sync.Mutex
	tasks map[TaskID]*taskDrops
}

// NewDrops returns an empty set of counters.
func NewDrops() *Drops { return &Drops{tasks: map[TaskID]*taskDrops{}} }

// Snapshot returns the counts of every task that dropped a record or was
// created, by task id; a new map each call.
func (d *Drops) Snapshot() map[TaskID]DropCounts {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[TaskID]DropCounts, len(d.tasks))
	for id, t := range d.tasks {
		out[id] = DropCounts{NullKeys: t.keys.Load(), NullValues: t.values.Load(), Late: t.late.Load()}
	}
	return out
}

func (d *Drops) task(id TaskID) *taskDrops {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tasks[id]
	if t == nil {
		t = &taskDrops{}
		d.tasks[id] = t
	}
	return t
}

// taskDrops are one task's counters. The task's goroutine writes them;
// Snapshot reads them from others.
type taskDrops struct {
	keys, values, late atomic.Int64

	// Touched by the task's goroutine only.
	lastLog          time.Time
	loggedK, loggedV int64 // totals at the last summary
	loggedL          int64
	firstLogged      bool
}

// DropSummaryInterval is the least time between two Warn summaries of the
// records one task dropped for null keys or values.
const DropSummaryInterval = 5 * time.Second

// Drop counts a record the node dropped for reason, and logs at Warn: the
// first drop of the task at once, with the record's coordinates, then at
// most one summary every DropSummaryInterval with the counts since the
// last one. It never fails: dropping such records is the documented
// behaviour, not an error.
func (t *Task) Drop(node string, reason DropReason) {
	d := t.drops
	switch reason {
	case DropNullKey:
		d.keys.Add(1)
	case DropLate:
		d.late.Add(1)
	default:
		d.values.Add(1)
	}
	now := time.Now()
	if d.firstLogged && now.Sub(d.lastLog) < DropSummaryInterval {
		return
	}
	k, v, l := d.keys.Load(), d.values.Load(), d.late.Load()
	if !d.firstLogged {
		what := "a null key"
		switch reason {
		case DropNullValue:
			what = "a null value"
		case DropLate:
			what = "a closed window (late record)"
		}
		args := []any{"node", node}
		if r := t.Rec; r != nil {
			args = append(args, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "timestamp", r.Timestamp.UnixMilli(), "stream_time", t.StreamTime)
		}
		t.Logger.Warn("skipping record with "+what+" (further skips are summarized every "+DropSummaryInterval.String()+")", args...)
	} else {
		t.Logger.Warn("skipped records with null keys or values or closed windows", slog.Int64("null_keys", k-d.loggedK), slog.Int64("null_values", v-d.loggedV),
			slog.Int64("late", l-d.loggedL), slog.Int64("total_null_keys", k), slog.Int64("total_null_values", v), slog.Int64("total_late", l),
			slog.Duration("since", now.Sub(d.lastLog)))
	}
	d.firstLogged, d.lastLog, d.loggedK, d.loggedV, d.loggedL = true, now, k, v, l
}
