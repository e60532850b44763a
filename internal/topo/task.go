package topo

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/brookstream/brook/state"
	"github.com/twmb/franz-go/pkg/kgo"
)

// SourceFunc is the processor a source node builds: it deserializes r and
// pushes it down the task's processors.
type SourceFunc func(t *Task, r *kgo.Record) error

// Producer sends records. Produce must not block for long and must not fail
// on its own: delivery errors are reported by the runtime when it commits.
// The caller gives up ownership of r.
type Producer interface {
	Produce(r *kgo.Record)
}

// SizeChecker is implemented by a Producer that knows how large a record
// each topic accepts.
type SizeChecker interface {
	// CheckSize returns a *RecordTooLargeError if r, alone in a record
	// batch, is larger than its topic accepts.
	CheckSize(r *kgo.Record) error
}

// RecordTooLargeError is an output record larger than its topic accepts.
type RecordTooLargeError struct {
	Topic string
	Size  int // bytes of a record batch holding the record alone (an upper bound)
	Limit int // the topic's max.message.bytes
}

// Error implements error: it says what went wrong and what to do.
func (e *RecordTooLargeError) Error() string {
	return fmt.Sprintf("record of %d bytes is larger than the %d bytes topic %q accepts (max.message.bytes): raise the topic's max.message.bytes or make the record smaller",
		e.Size, e.Limit, e.Topic)
}

// Produce hands r to the task's producer, first checking its size if the
// producer can: a record too large for its topic is an error, handled by
// the bad-record policy like any other.
func (t *Task) Produce(r *kgo.Record) error {
	if c, ok := t.Producer.(SizeChecker); ok {
		if err := c.CheckSize(r); err != nil {
			return err
		}
	}
	t.Producer.Produce(r)
	return nil
}

// TaskID names a task: its sub-topology and partition, printed "1_3" as in
// Kafka Streams.
type TaskID struct {
	Subtopology int
	Partition   int32
}

// String returns the task id as Kafka Streams prints it: "<subtopology>_<partition>".
func (id TaskID) String() string {
	return strconv.Itoa(id.Subtopology) + "_" + strconv.Itoa(int(id.Partition))
}

// LogValue implements slog.LogValuer.
func (id TaskID) LogValue() slog.Value { return slog.StringValue(id.String()) }

// PolicyKind says what happens to a bad record.
type PolicyKind int

const (
	// PolicyFail stops processing with a *RecordError.
	PolicyFail PolicyKind = iota
	// PolicySkip logs the record's coordinates and the error, and goes on.
	PolicySkip
	// PolicyDeadLetter sends the record's original bytes to a topic, with
	// the error and origin in headers, and goes on.
	PolicyDeadLetter
)

// Policy is what a task does with a record that fails to deserialize or
// whose processing fails or panics.
type Policy struct {
	Kind  PolicyKind
	Topic string // dead-letter topic
}

// Header keys set on dead-letter records.
const (
	HeaderError     = "brook.error"
	HeaderTopic     = "brook.topic"
	HeaderPartition = "brook.partition"
	HeaderOffset    = "brook.offset"
	HeaderTask      = "brook.task"
)

// Task runs one sub-topology over one partition number. A task is used by
// one goroutine at a time.
type Task struct {
	ID       TaskID
	Sub      *Subtopology
	Producer Producer
	Policy   Policy
	Logger   *slog.Logger

	// Rec is the input record being processed: its topic, partition,
	// offset, timestamp and headers are the metadata processors see.
	Rec *kgo.Record

	// Skipped and DeadLettered count bad records handled by the policy.
	Skipped, DeadLettered int64

	// StreamTime is the largest record timestamp the task has seen, in
	// milliseconds; -1 before the first record.
	StreamTime int64

	// DB holds the task's stores; nil when the sub-topology has none.
	DB state.TaskDB
	// CacheBudget is the write-back cache budget of each store, in bytes.
	CacheBudget int
	// Stores are the task's open stores, by name.
	Stores map[string]*state.CachedStore

	// Clock tells the wall-clock time: when wall-clock punctuators are
	// scheduled and what processors read as the current time. Default
	// time.Now; a test driver sets its own.
	Clock func() time.Time

	drops *taskDrops
	// inputs are the topics the task reads; last and lastIn the topic of
	// the last record and its input, so that a run of records of one topic
	// looks nothing up.
	inputs map[string]*input
	last   string
	lastIn *input

	// Lifecycle hooks registered by the nodes' Build (see OnInit, OnClose).
	inits, closers []func() error
	inited, closed bool

	// Punctuation (see punctuate.go).
	streamPuncts, wallPuncts schedule
	punctuating              bool
	punctTime                int64

	// committedStreamTime is StreamTime at the last commit (see Committed).
	committedStreamTime int64
}

// input is one topic a task reads (one partition of it).
type input struct {
	fn SourceFunc // nil for a topic no source reads (see ObserveTimestamp)
	// extracts marks a source with a timestamp extractor (see
	// ObserveTimestamp).
	extracts bool
	// time is the partition time: the largest timestamp seen, -1 before
	// the first record; committed is time at the last commit.
	time, committed int64
}

// NewTask wires the processors of sub for one partition.
func NewTask(sub *Subtopology, id TaskID, p Producer, policy Policy, log *slog.Logger, db state.TaskDB, cacheBudget int) (*Task, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(sub.Stores) > 0 && db == nil {
		return nil, fmt.Errorf("task %s: the sub-topology has stores but the task has no state DB", id)
	}
	t := &Task{ID: id, Sub: sub, Producer: p, Policy: policy, Logger: log.With("task", id), inputs: map[string]*input{},
		StreamTime: -1, committedStreamTime: -1, DB: db, CacheBudget: cacheBudget, Stores: map[string]*state.CachedStore{}, Clock: time.Now,
		streamPuncts: newSchedule(), wallPuncts: newSchedule()}
	if sub.drops != nil {
		t.drops = sub.drops.task(id)
	} else {
		t.drops = &taskDrops{}
	}
	built := make(map[*Node]any, len(sub.Nodes))
	// Nodes are numbered after their parents: build children first.
	for i := len(sub.Nodes) - 1; i >= 0; i-- {
		n := sub.Nodes[i]
		children := make([]any, len(n.Children))
		for j, c := range n.Children {
			children[j] = built[c]
		}
		proc, err := build(n, t, children)
		if err != nil {
			return nil, fmt.Errorf("task %s: build %s: %w", id, n.Name, err)
		}
		built[n] = proc
		if n.Kind == KindSource {
			fn, ok := proc.(SourceFunc)
			if !ok {
				return nil, fmt.Errorf("task %s: source %s built %T, not a SourceFunc", id, n.Name, proc)
			}
			for _, topic := range n.Topics {
				t.inputs[topic] = &input{fn: fn, extracts: n.ExtractsTime, time: -1, committed: -1}
			}
		}
	}
	return t, nil
}

// build calls n.Build, turning a panic into an error.
func build(n *Node, t *Task, children []any) (proc any, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return n.Build(t, children)
}

// OnInit registers fn to run once when the task starts (see Init). Build
// functions call it for processors that need the task's restored stores.
func (t *Task) OnInit(fn func() error) { t.inits = append(t.inits, fn) }

// OnClose registers fn to run when the task is closed (see Close).
func (t *Task) OnClose(fn func() error) { t.closers = append(t.closers, fn) }

// Init runs the functions registered with OnInit, upstream nodes first.
// It runs once: later calls return nil. Process and PunctuateWallClock
// call it before their first record or punctuation, so a runtime that
// restores the task's stores before it processes anything never needs to
// call it; a test driver calls it to surface errors early. An error or
// panic is returned as a *FatalError.
func (t *Task) Init() error {
	if t.inited {
		return nil
	}
	t.inited = true
	t.Rec = nil
	// Build ran downstream nodes first: run the hooks in reverse.
	for i := len(t.inits) - 1; i >= 0; i-- {
		if err := t.call(t.inits[i]); err != nil {
			return &FatalError{Err: fmt.Errorf("task %s: init: %w", t.ID, err)}
		}
	}
	t.inits = nil
	// What Init scheduled is where a rollback returns to: Init does not
	// run again.
	t.Committed()
	return nil
}

// Committed tells the task that everything it did so far is committed:
// its stream time and punctuation schedule become what Rollback returns
// to. The runtime calls it after each successful commit, with the task
// idle.
func (t *Task) Committed() {
	t.committedStreamTime = t.StreamTime
	for _, in := range t.inputs {
		in.committed = in.time
	}
	t.streamPuncts.commit()
	t.wallPuncts.commit()
}

// Rollback returns the task's stream time and punctuation schedule to
// what they were at the last Committed (or after Init), so that records
// processed again after an aborted transaction see the same stream time
// and fire the same punctuations as the first time. Punctuators scheduled
// since are dropped, and those cancelled since are live again. State a
// processor keeps in its own fields is not rolled back. The runtime calls
// it when a transaction aborts, with the task idle.
func (t *Task) Rollback() {
	t.StreamTime = t.committedStreamTime
	for _, in := range t.inputs {
		in.time = in.committed
	}
	t.streamPuncts.rollback()
	t.wallPuncts.rollback()
}

// Close runs the functions registered with OnClose, in the reverse order
// of Init, and returns their errors (panics included), joined. It does not
// close the task's DB, which the caller owns. It runs once: later calls
// return nil.
func (t *Task) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	var errs []error
	for _, fn := range t.closers {
		if err := t.call(fn); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("task %s: close: %w", t.ID, errors.Join(errs...))
	}
	return nil
}

func (t *Task) call(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return fn()
}

// Timestamp returns the timestamp of the record being processed, or
// during a punctuation the punctuation's time, in milliseconds.
func (t *Task) Timestamp() int64 {
	if t.punctuating {
		return t.punctTime
	}
	if t.Rec == nil {
		return -1
	}
	return t.Rec.Timestamp.UnixMilli()
}

// Process runs r through the task, then fires the stream-time punctuators
// that are due. A bad record is handled by the task's policy; the error
// returned is a *RecordError (policy fail), a *PunctuationError, or a fatal
// error. The task is initialized (Init) before its first record.
func (t *Task) Process(r *kgo.Record) error {
	if !t.inited {
		if err := t.Init(); err != nil {
			return err
		}
	}
	in := t.lastIn
	if r.Topic != t.last || in == nil {
		in = t.inputs[r.Topic]
		if in == nil || in.fn == nil {
			return fmt.Errorf("task %s: no source reads topic %q", t.ID, r.Topic)
		}
		t.last, t.lastIn = r.Topic, in
	}
	t.Rec = r
	var err error
	if !in.extracts {
		err = t.observe(in, r.Timestamp.UnixMilli(), false)
	}
	if err == nil {
		err = t.run(in.fn, r)
	}
	if err != nil {
		if err := t.handle(r, err); err != nil {
			return err
		}
	}
	if t.StreamTime >= t.streamPuncts.due {
		return t.punctuate(&t.streamPuncts, StreamTime, t.StreamTime)
	}
	return nil
}

// Store returns the task's store name, opening it on first use.
func (t *Task) Store(name string) (*state.CachedStore, error) {
	if s := t.Stores[name]; s != nil {
		return s, nil
	}
	if t.DB == nil {
		return nil, fmt.Errorf("task %s: store %q: the task has no state DB", t.ID, name)
	}
	s, err := t.DB.Store(name, t.CacheBudget)
	if err != nil {
		return nil, fmt.Errorf("task %s: open store %q: %w", t.ID, name, err)
	}
	t.Stores[name] = s
	return s, nil
}

func (t *Task) run(fn SourceFunc, r *kgo.Record) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return fn(t, r)
}

func (t *Task) handle(r *kgo.Record, err error) error {
	var fatal *FatalError
	if errors.As(err, &fatal) {
		return err
	}
	re := &RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Task: t.ID.String(), Err: err}
	switch t.Policy.Kind {
	case PolicySkip:
		t.Skipped++
		t.Logger.Warn("skipping bad record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		return nil
	case PolicyDeadLetter:
		dl := DeadLetter(t.Policy.Topic, r, t.ID, err)
		if c, ok := t.Producer.(SizeChecker); ok {
			if derr := c.CheckSize(dl); derr != nil {
				// Nowhere to put it: stop rather than drop it unseen.
				re.Err = fmt.Errorf("%w; it cannot be dead-lettered either: %w", err, derr)
				return re
			}
		}
		t.DeadLettered++
		t.Logger.Warn("sending bad record to dead-letter topic", "dlq", t.Policy.Topic, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		t.Producer.Produce(dl)
		return nil
	default:
		return re
	}
}

// DeadLetter makes the dead-letter record for r: r's key, value, timestamp
// and headers, plus headers naming the error and the record's origin.
func DeadLetter(topic string, r *kgo.Record, id TaskID, err error) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+5)
	hs = append(hs, r.Headers...)
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(err.Error())},
		kgo.RecordHeader{Key: HeaderTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderTask, Value: []byte(id.String())},
	)
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: hs}
}

// RecordError is a record that could not be processed, with its origin.
type RecordError struct {
	Topic     string
	Partition int32
	Offset    int64
	Task      string
	Err       error
}

// Error implements error: it says what went wrong and what to do.
func (e *RecordError) Error() string {
	return fmt.Sprintf("brook: record at topic %q partition %d offset %d (task %s): %v; fix the record or the code, or set Config.OnBadRecord to skip or dead-letter bad records",
		e.Topic, e.Partition, e.Offset, e.Task, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// SerdeError is a key or value that failed to deserialize or serialize.
type SerdeError struct {
	Op    string // "deserialize" or "serialize"
	Part  string // "key" or "value"
	Topic string
	Node  string
	Err   error
}

// Error implements error: it says what went wrong and what to do.
func (e *SerdeError) Error() string {
	return fmt.Sprintf("%s: %s %s for topic %q: %v", e.Node, e.Op, e.Part, e.Topic, e.Err)
}

// Unwrap returns the serde's error.
func (e *SerdeError) Unwrap() error { return e.Err }

// PanicError is a panic recovered while a record was processed.
type PanicError struct {
	Value any
	Stack []byte
}

// Error implements error: it says what went wrong and what to do.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// FatalError is an error that no bad-record policy can skip, such as a
// store that cannot be written.
type FatalError struct{ Err error }

// Error implements error: it says what went wrong and what to do.
func (e *FatalError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *FatalError) Unwrap() error { return e.Err }
