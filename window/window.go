// Package window defines the windows of windowed aggregations, as Kafka
// Streams' TimeWindows, SlidingWindows and SessionWindows, the windowed key
// Windowed[K] that such an aggregation's table is keyed by, and the serdes
// that write windowed keys the way Kafka Streams does, so that Java
// consumers can read brook's windowed output.
//
// Times are milliseconds since the Unix epoch, as record timestamps are. A
// window holds the records with start <= timestamp < end (time windows) or
// start <= timestamp <= end (sliding and session windows, whose bounds are
// record timestamps, as in Kafka Streams).
//
// Every kind has a grace period: how long after a window's end records
// for it are still accepted, measured in stream time (the largest
// timestamp the task has seen). A record whose window has end + grace at
// or before stream time is late: it is dropped and counted (see
// stream.App.DroppedRecords), never silently. The default grace is zero,
// as Kafka Streams' ofSizeWithNoGrace: say Grace(d) to accept
// out-of-order records.
package window

import (
	"fmt"
	"time"
)

// Window is the time span of one window, in milliseconds since the epoch.
type Window struct {
	Start int64
	End   int64
}

// String returns the window as "[start,end)".
func (w Window) String() string { return fmt.Sprintf("[%d,%d)", w.Start, w.End) }

// Windowed is a key of a windowed aggregation: the record key and the
// window the aggregate covers.
type Windowed[K any] struct {
	Key    K
	Window Window
}

// String returns the windowed key as "key@[start,end)".
func (w Windowed[K]) String() string { return fmt.Sprintf("%v@%v", w.Key, w.Window) }

// Spec is a kind of window: TimeWindows, SlidingWindows or SessionWindows.
// Its methods are for the stream package.
type Spec interface {
	// GracePeriod returns the grace period in milliseconds.
	GracePeriod() int64
	// Retention returns how long, in milliseconds, a window store for
	// this spec keeps a window after its start: the window's span plus
	// grace, the least that lets every late check and final result be
	// made.
	Retention() int64
	spec()
}

// TimeWindows are fixed-size windows aligned to the epoch: tumbling
// (AdvanceMs == SizeMs, each record in one window) or hopping (AdvanceMs <
// SizeMs, each record in SizeMs/AdvanceMs windows). Times in milliseconds.
// Make them with Tumbling or Hopping.
type TimeWindows struct {
	SizeMs, AdvanceMs, GraceMs int64
}

// Tumbling returns windows of size, back to back: [0,size), [size,2size)
// and so on from the epoch. Grace is zero unless set with Grace. size must
// be positive (checked when the topology is built).
func Tumbling(size time.Duration) TimeWindows {
	return TimeWindows{SizeMs: size.Milliseconds(), AdvanceMs: size.Milliseconds()}
}

// Hopping returns windows of size starting every advance from the epoch:
// [0,size), [advance,advance+size), ... A record falls in every window
// that holds its timestamp. advance must be positive and at most size.
func Hopping(size, advance time.Duration) TimeWindows {
	return TimeWindows{SizeMs: size.Milliseconds(), AdvanceMs: advance.Milliseconds()}
}

// Grace returns w with grace period d: a window accepts records until
// stream time reaches its end + d. Default zero.
func (w TimeWindows) Grace(d time.Duration) TimeWindows {
	w.GraceMs = d.Milliseconds()
	return w
}

// GracePeriod implements Spec.
func (w TimeWindows) GracePeriod() int64 { return w.GraceMs }

// Retention implements Spec: SizeMs + GraceMs.
func (w TimeWindows) Retention() int64 { return w.SizeMs + w.GraceMs }

func (TimeWindows) spec() {}

// Validate returns an error if the windows cannot be used.
func (w TimeWindows) Validate() error {
	switch {
	case w.SizeMs <= 0:
		return fmt.Errorf("window: size %dms must be positive", w.SizeMs)
	case w.AdvanceMs <= 0 || w.AdvanceMs > w.SizeMs:
		return fmt.Errorf("window: advance %dms must be positive and at most the size %dms", w.AdvanceMs, w.SizeMs)
	case w.GraceMs < 0:
		return fmt.Errorf("window: grace %dms must not be negative", w.GraceMs)
	}
	return nil
}

// For returns the windows that hold ts, earliest first, as Kafka Streams'
// TimeWindows.windowsFor: starts are multiples of AdvanceMs, and no start is
// negative.
func (w TimeWindows) For(ts int64) []Window {
	first := max(0, ts-w.SizeMs+w.AdvanceMs)
	first -= first % w.AdvanceMs
	var out []Window
	for start := first; start <= ts; start += w.AdvanceMs {
		out = append(out, Window{Start: start, End: start + w.SizeMs})
	}
	return out
}

// SlidingWindows are windows of a fixed span defined by the records, as
// Kafka Streams' SlidingWindows (KIP-450): two records are in one window
// when their timestamps differ by at most DifferenceMs. Each record
// creates the window that ends at it, [ts-DifferenceMs, ts], and the one
// that starts just after it, and updates every existing window it falls
// in. Make them with Sliding.
type SlidingWindows struct {
	DifferenceMs, GraceMs int64
}

// Sliding returns sliding windows of span timeDifference. Grace is zero
// unless set with Grace.
func Sliding(timeDifference time.Duration) SlidingWindows {
	return SlidingWindows{DifferenceMs: timeDifference.Milliseconds()}
}

// Grace returns w with grace period d. Default zero.
func (w SlidingWindows) Grace(d time.Duration) SlidingWindows {
	w.GraceMs = d.Milliseconds()
	return w
}

// GracePeriod implements Spec.
func (w SlidingWindows) GracePeriod() int64 { return w.GraceMs }

// Retention implements Spec: 2*DifferenceMs + GraceMs, as Kafka Streams:
// a record looks back at windows starting up to 2*DifferenceMs before it.
func (w SlidingWindows) Retention() int64 { return 2*w.DifferenceMs + w.GraceMs }

func (SlidingWindows) spec() {}

// Validate returns an error if the windows cannot be used.
func (w SlidingWindows) Validate() error {
	if w.DifferenceMs <= 0 || w.GraceMs < 0 {
		return fmt.Errorf("window: sliding windows need a positive time difference (%dms) and a grace that is not negative (%dms)", w.DifferenceMs, w.GraceMs)
	}
	return nil
}

// SessionWindows are windows of activity per key, as Kafka Streams'
// SessionWindows: records of a key at most GapMs apart are in
// one session, from the first record's timestamp to the last's; a record
// that bridges two sessions merges them. Make them with Session.
type SessionWindows struct {
	GapMs, GraceMs int64
}

// Session returns session windows with inactivity gap gap. Grace is zero
// unless set with Grace.
func Session(inactivityGap time.Duration) SessionWindows {
	return SessionWindows{GapMs: inactivityGap.Milliseconds()}
}

// Grace returns w with grace period d: a session accepts records until
// stream time reaches its end + d. Default zero.
func (w SessionWindows) Grace(d time.Duration) SessionWindows {
	w.GraceMs = d.Milliseconds()
	return w
}

// GracePeriod implements Spec.
func (w SessionWindows) GracePeriod() int64 { return w.GraceMs }

// Retention implements Spec: GapMs + GraceMs.
func (w SessionWindows) Retention() int64 { return w.GapMs + w.GraceMs }

func (SessionWindows) spec() {}

// Validate returns an error if the windows cannot be used.
func (w SessionWindows) Validate() error {
	if w.GapMs <= 0 || w.GraceMs < 0 {
		return fmt.Errorf("window: session windows need a positive gap (%dms) and a grace that is not negative (%dms)", w.GapMs, w.GraceMs)
	}
	return nil
}

// JoinWindows say which records of two streams a windowed stream-stream
// join pairs, as Kafka Streams' JoinWindows: a record of the left stream
// at time t joins the records of the right stream with the same key and a
// timestamp in [t - BeforeMs, t + AfterMs] (inclusive; seen from the
// right stream, a record at t joins left records in [t - AfterMs, t +
// BeforeMs]). Make them with JoinTimeDifference.
//
// GraceMs is how long after a record's window ends (t + AfterMs for a
// left record, t + BeforeMs for a right one) its window stays open, in
// stream time: while it is open, out-of-order records of the other
// stream still join it; once it has closed, a left or outer join emits
// it unmatched if it found no partner, and a record whose own window has
// already closed when it arrives is late: dropped and counted. The
// default grace is zero, as Kafka Streams' ofTimeDifferenceWithNoGrace.
type JoinWindows struct {
	BeforeMs, AfterMs, GraceMs int64
}

// JoinTimeDifference returns symmetric join windows: records whose
// timestamps differ by at most d join (BeforeMs = AfterMs = d), as Kafka
// Streams' JoinWindows.ofTimeDifferenceWithNoGrace. Grace is zero unless
// set with Grace.
func JoinTimeDifference(d time.Duration) JoinWindows {
	return JoinWindows{BeforeMs: d.Milliseconds(), AfterMs: d.Milliseconds()}
}

// Before returns w with a left record at t joining right records from t
// - d on, as Kafka Streams' JoinWindows.before. d may be negative as long
// as BeforeMs + AfterMs is not.
func (w JoinWindows) Before(d time.Duration) JoinWindows {
	w.BeforeMs = d.Milliseconds()
	return w
}

// After returns w with a left record at t joining right records up to t
// + d, as Kafka Streams' JoinWindows.after. d may be negative as long as
// BeforeMs + AfterMs is not.
func (w JoinWindows) After(d time.Duration) JoinWindows {
	w.AfterMs = d.Milliseconds()
	return w
}

// Grace returns w with grace period d (see JoinWindows). Default zero.
func (w JoinWindows) Grace(d time.Duration) JoinWindows {
	w.GraceMs = d.Milliseconds()
	return w
}

// GracePeriod returns the grace period in milliseconds.
func (w JoinWindows) GracePeriod() int64 { return w.GraceMs }

// SizeMs returns the span of a record's join window, BeforeMs + AfterMs.
func (w JoinWindows) SizeMs() int64 { return w.BeforeMs + w.AfterMs }

// Retention returns how long the join's window stores keep a record:
// BeforeMs + AfterMs + GraceMs, as Kafka Streams.
func (w JoinWindows) Retention() int64 { return w.BeforeMs + w.AfterMs + w.GraceMs }

// Validate returns an error if the windows cannot be used.
func (w JoinWindows) Validate() error {
	switch {
	case w.BeforeMs+w.AfterMs < 0:
		return fmt.Errorf("window: join window before %dms + after %dms must not be negative", w.BeforeMs, w.AfterMs)
	case w.GraceMs < 0:
		return fmt.Errorf("window: grace %dms must not be negative", w.GraceMs)
	}
	return nil
}
