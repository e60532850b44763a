package topo

import "fmt"

// InvalidTimestampError is a record whose event timestamp is negative,
// either as written or as a source's timestamp extractor returned it. The
// task hands it to the bad-record policy, as Kafka Streams'
// FailOnInvalidTimestamp does, before the record moves stream time.
type InvalidTimestampError struct {
	Timestamp int64
	// Extracted is set when a timestamp extractor returned the timestamp.
	Extracted bool
}

// Error implements error: it says what went wrong and what to do.
func (e *InvalidTimestampError) Error() string {
	if e.Extracted {
		return fmt.Sprintf("the timestamp extractor returned the invalid timestamp %d: event timestamps must be milliseconds since the epoch, 0 or more", e.Timestamp)
	}
	return fmt.Sprintf("record has the invalid timestamp %d: event timestamps must be milliseconds since the epoch, 0 or more; set a timestamp extractor on the source or a bad-record policy", e.Timestamp)
}

// PartitionTime returns the largest timestamp the task has seen on the
// partition of topic it reads, in milliseconds, or -1 before its first
// record. A timestamp extractor gets it to fall back on.
func (t *Task) PartitionTime(topic string) int64 {
	if in := t.inputs[topic]; in != nil {
		return in.time
	}
	return -1
}

// ObserveTimestamp records ts as the event time of the record being
// processed: the record's timestamp becomes ts, and partition time and
// stream time move forward to it. A negative ts is an
// *InvalidTimestampError and moves nothing. A source with a timestamp
// extractor calls it once per record, before anything downstream; for
// other sources the task calls it itself with the record's timestamp.
func (t *Task) ObserveTimestamp(topic string, ts int64, extracted bool) error {
	in := t.inputs[topic]
	if in == nil {
		// Not a topic of the task's sources: keep its time all the same.
		in = &input{time: -1, committed: -1}
		t.inputs[topic] = in
	}
	return t.observe(in, ts, extracted)
}

// observe is ObserveTimestamp for the input in.
func (t *Task) observe(in *input, ts int64, extracted bool) error {
	if ts < 0 {
		return &InvalidTimestampError{Timestamp: ts, Extracted: extracted}
	}
	in.time = max(in.time, ts)
	if ts > t.StreamTime {
		t.StreamTime = ts
	}
	return nil
}

// RestoreStreamTime raises the task's stream time to ts, the stream time
// a previous run of the task committed (or the largest timestamp its
// changelogs hold), so that a restarted task neither emits again nor
// waits again for windows it had already closed. It does nothing to a
// larger stream time. The runtime calls it after restore, before the
// task's first record.
func (t *Task) RestoreStreamTime(ts int64) {
	if ts > t.StreamTime {
		t.StreamTime = ts
		t.committedStreamTime = max(t.committedStreamTime, ts)
	}
}
