package stream

import (
	"errors"

	"github.com/brookstream/brook/internal/runtime"
	"github.com/brookstream/brook/internal/streamhook"
	"github.com/brookstream/brook/internal/topo"
)

// Header keys of dead-letter records (see DeadLetterTopic). The values are
// UTF-8 text.
const (
	// HeaderError is the error that made the record bad, as text.
	HeaderError = "brook.error"
	// HeaderTopic is the topic the record was read from.
	HeaderTopic = "brook.topic"
	// HeaderPartition is the partition it was read from, in decimal.
	HeaderPartition = "brook.partition"
	// HeaderOffset is its offset, in decimal.
	HeaderOffset = "brook.offset"
	// HeaderTask is the task that processed it, such as "0_3".
	HeaderTask = "brook.task"
)

// The errors below are what Run (and New, Builder.Build and the
// stream/streamtest driver) return, alone or wrapped: find them with
// errors.As. Their Error methods say what went wrong and what to do.

// RecordError is a record that could not be processed under
// FailOnBadRecord, with its origin. Err is the cause: a *SerdeError, a
// *PanicError, a *RecordTooLargeError, or the user function's error.
type RecordError struct {
	Topic     string // the topic the record was read from
	Partition int32
	Offset    int64
	Task      string // the task that processed it, such as "0_3"
	Err       error
}

// Error implements error: it says what went wrong and what to do.
func (e *RecordError) Error() string {
	return (&topo.RecordError{Topic: e.Topic, Partition: e.Partition, Offset: e.Offset, Task: e.Task, Err: e.Err}).Error()
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// SerdeError is a key or value that failed to serialize or deserialize.
type SerdeError struct {
	Op    string // "deserialize" or "serialize"
	Part  string // "key" or "value"
	Topic string // the topic (or store) the bytes were read from or made for
	Node  string // the node of the topology that called the serde
	Err   error  // the serde's error
}

// Error implements error: it says what went wrong and what to do.
func (e *SerdeError) Error() string {
	return (&topo.SerdeError{Op: e.Op, Part: e.Part, Topic: e.Topic, Node: e.Node, Err: e.Err}).Error()
}

// Unwrap returns the serde's error.
func (e *SerdeError) Unwrap() error { return e.Err }

// PanicError is a panic recovered from a user function, with its stack.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the goroutine's stack where it panicked
}

// Error implements error: it says what went wrong and what to do.
func (e *PanicError) Error() string { return (&topo.PanicError{Value: e.Value}).Error() }

// Unwrap returns the panic value if it is an error, else nil.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// RecordTooLargeError is an output record larger than its topic accepts:
// Size is an upper bound of the bytes of a record batch holding the record
// alone, Limit the topic's max.message.bytes as read when the App started.
// It is a bad record: Config.OnBadRecord decides what happens to the input
// record that produced it.
type RecordTooLargeError struct {
	Topic string
	Size  int
	Limit int
}

// Error implements error: it says what went wrong and what to do.
func (e *RecordTooLargeError) Error() string {
	return (&topo.RecordTooLargeError{Topic: e.Topic, Size: e.Size, Limit: e.Limit}).Error()
}

// PunctuationError is a punctuator that returned an error or panicked,
// with the task, the processor, the clock and the time. It is fatal
// whatever Config.OnBadRecord says: there is no record to skip or
// dead-letter, and skipping a punctuation could leave state
// half-maintained. Handle errors you can recover from inside the
// punctuator.
type PunctuationError struct {
	Task string          // the task, such as "0_3"
	Node string          // the processor that scheduled the punctuator
	Type PunctuationType // the clock that drives it
	Time int64           // the punctuation's time, Unix milliseconds
	Err  error           // the punctuator's error, or a *PanicError
}

// Error implements error: it says what went wrong and what to do.
func (e *PunctuationError) Error() string {
	return (&topo.PunctuationError{Task: e.Task, Node: e.Node, Type: topo.PunctuationType(e.Type), Time: e.Time, Err: e.Err}).Error()
}

// Unwrap returns the punctuator's error.
func (e *PunctuationError) Unwrap() error { return e.Err }

// BuildError lists the mistakes in a topology, each as an error.
type BuildError struct{ Errs []error }

// Error implements error: it lists the mistakes, one a line.
func (e *BuildError) Error() string { return (&topo.BuildError{Errs: e.Errs}).Error() }

// Unwrap returns the mistakes.
func (e *BuildError) Unwrap() []error { return e.Errs }

// MissingTopicsError lists the topics a topology reads or writes that do
// not exist when Run starts. brook creates only its internal topics (and the
// dead-letter topic): create the others first (see the README).
type MissingTopicsError struct{ Topics []string }

// Error implements error: it says what went wrong and what to do.
func (e *MissingTopicsError) Error() string {
	return (&runtime.MissingTopicsError{Topics: e.Topics}).Error()
}

// StateDirLockedError is a state directory held by another process (PID)
// or another App in this process.
type StateDirLockedError struct {
	Dir string
	PID int
}

// Error implements error: it says what went wrong and what to do.
func (e *StateDirLockedError) Error() string {
	return (&runtime.StateDirLockedError{Dir: e.Dir, PID: e.PID}).Error()
}

// InternalTopicError is an existing internal topic whose partition count
// (Got) no longer matches what the topology needs (Want).
type InternalTopicError struct {
	Topic     string
	Want, Got int32
}

// Error implements error: it says what went wrong and what to do.
func (e *InternalTopicError) Error() string {
	return (&runtime.InternalTopicError{Topic: e.Topic, Want: e.Want, Got: e.Got}).Error()
}

// CopartitionError names the topics of one sub-topology, with their
// partition counts, that differ.
type CopartitionError struct {
	Subtopology int
	Partitions  map[string]int
}

// Error implements error: it says what went wrong and what to do.
func (e *CopartitionError) Error() string {
	return (&runtime.CopartitionError{Subtopology: e.Subtopology, Partitions: e.Partitions}).Error()
}

// exportErr turns the internal error types in err's tree into the types of
// this package, so that errors.As finds them. Wrappers keep their text.
func exportErr(err error) error {
	switch e := err.(type) {
	case nil:
		return nil
	case *topo.RecordError:
		return &RecordError{Topic: e.Topic, Partition: e.Partition, Offset: e.Offset, Task: e.Task, Err: exportErr(e.Err)}
	case *topo.SerdeError:
		return &SerdeError{Op: e.Op, Part: e.Part, Topic: e.Topic, Node: e.Node, Err: e.Err}
	case *topo.PanicError:
		return &PanicError{Value: e.Value, Stack: e.Stack}
	case *topo.RecordTooLargeError:
		return &RecordTooLargeError{Topic: e.Topic, Size: e.Size, Limit: e.Limit}
	case *topo.PunctuationError:
		return &PunctuationError{Task: e.Task, Node: e.Node, Type: PunctuationType(e.Type), Time: e.Time, Err: exportErr(e.Err)}
	case *topo.BuildError:
		return &BuildError{Errs: e.Errs}
	case *topo.FatalError:
		return exportErr(e.Err) // same text; the marker means nothing outside
	case *runtime.MissingTopicsError:
		return &MissingTopicsError{Topics: e.Topics}
	case *runtime.StateDirLockedError:
		return &StateDirLockedError{Dir: e.Dir, PID: e.PID}
	case *runtime.InternalTopicError:
		return &InternalTopicError{Topic: e.Topic, Want: e.Want, Got: e.Got}
	case *runtime.CopartitionError:
		return &CopartitionError{Subtopology: e.Subtopology, Partitions: e.Partitions}
	}
	if !hasInternal(err) {
		return err
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return &wrapped{msg: err.Error(), err: exportErr(u.Unwrap())}
	case interface{ Unwrap() []error }:
		errs := u.Unwrap()
		out := make([]error, len(errs))
		for i, e := range errs {
			out[i] = exportErr(e)
		}
		return &joined{msg: err.Error(), errs: out}
	}
	return err
}

// hasInternal reports whether err's tree holds an internal error type.
func hasInternal(err error) bool {
	var (
		re *topo.RecordError
		se *topo.SerdeError
		pe *topo.PanicError
		tl *topo.RecordTooLargeError
		pu *topo.PunctuationError
		be *topo.BuildError
		fe *topo.FatalError
		mt *runtime.MissingTopicsError
		sl *runtime.StateDirLockedError
		it *runtime.InternalTopicError
		ce *runtime.CopartitionError
	)
	return errors.As(err, &re) || errors.As(err, &se) || errors.As(err, &pe) || errors.As(err, &tl) ||
		errors.As(err, &pu) || errors.As(err, &be) || errors.As(err, &fe) || errors.As(err, &mt) ||
		errors.As(err, &sl) || errors.As(err, &it) || errors.As(err, &ce)
}

// wrapped is a wrapping error whose cause was exported: same text.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// joined is a multi-error whose parts were exported: same text.
type joined struct {
	msg  string
	errs []error
}

func (j *joined) Error() string   { return j.msg }
func (j *joined) Unwrap() []error { return j.errs }

func init() { streamhook.Export = exportErr }

// InvalidTimestampError is a record whose event timestamp is negative, as
// written or as a timestamp extractor returned it (see TimestampExtractor).
// Such a record is bad: the bad-record policy gets it, wrapped in a
// *RecordError naming its topic, partition and offset.
type InvalidTimestampError = topo.InvalidTimestampError
