package topo

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newTestTask wires a one-source task; process is called for each record.
func newTestTask(t *testing.T, policy Policy, process func(*Task, *kgo.Record) error) *Task {
	t.Helper()
	g := NewGraph()
	src := g.Add(KindSource, "SRC", "src")
	src.Topics = []string{"in"}
	src.Build = func(*Task, []any) (any, error) { return SourceFunc(process), nil }
	subs := g.Subtopologies()
	task, err := NewTask(subs[0], TaskID{0, 0}, nil, policy, nil, nil, 0)
	require.NoError(t, err)
	return task
}

func at(ts int64) *kgo.Record { return &kgo.Record{Topic: "in", Timestamp: time.UnixMilli(ts)} }

func TestStreamTimePunctuation(t *testing.T) {
	task := newTestTask(t, Policy{}, func(*Task, *kgo.Record) error { return nil })
	var fired []int64
	task.Schedule(StreamTime, 10*time.Millisecond, "p", func(now int64) error {
		fired = append(fired, now)
		assert.Nil(t, task.Rec, "no record metadata in a punctuator")
		assert.Equal(t, now, task.Timestamp())
		return nil
	})
	// Fires at the first record, then at multiples of 10; a jump over
	// several intervals fires once; an older record does not move time.
	for _, ts := range []int64{3, 9, 10, 15, 12, 19, 20, 47, 49, 50} {
		require.NoError(t, task.Process(at(ts)))
	}
	assert.Equal(t, []int64{3, 10, 20, 47, 50}, fired)
	assert.Equal(t, int64(50), task.StreamTime)
}

func TestWallClockPunctuation(t *testing.T) {
	now := time.UnixMilli(1000)
	task := newTestTask(t, Policy{}, func(*Task, *kgo.Record) error { return nil })
	task.Clock = func() time.Time { return now }
	var fired []string
	cancelB := task.Schedule(WallClock, 100*time.Millisecond, "b", func(now int64) error {
		fired = append(fired, fmt.Sprint("b@", now))
		return nil
	})
	task.Schedule(WallClock, 30*time.Millisecond, "a", func(now int64) error {
		fired = append(fired, fmt.Sprint("a@", now))
		return nil
	})
	for _, ms := range []int64{1029, 1030, 1059, 1100, 1250} {
		require.NoError(t, task.PunctuateWallClock(time.UnixMilli(ms)))
	}
	// a jumps from 1060 to 1100 and from 1120 to 1250: one call each time,
	// then the next multiple of its interval from its start.
	assert.Equal(t, []string{"a@1030", "b@1100", "a@1100", "b@1250", "a@1250"}, fired)
	fired = nil
	cancelB()
	cancelB()
	require.NoError(t, task.PunctuateWallClock(time.UnixMilli(1400)))
	assert.Equal(t, []string{"a@1400"}, fired)
}

func TestCancelInsidePunctuator(t *testing.T) {
	task := newTestTask(t, Policy{}, func(*Task, *kgo.Record) error { return nil })
	n := 0
	var cancel func()
	cancel = task.Schedule(StreamTime, time.Millisecond, "p", func(int64) error {
		n++
		if n == 2 {
			cancel()
			// A punctuator scheduled from inside waits for the next check.
			task.Schedule(StreamTime, time.Millisecond, "q", func(int64) error { n += 100; return nil })
		}
		return nil
	})
	require.NoError(t, task.Process(at(1)))
	require.NoError(t, task.Process(at(2)))
	assert.Equal(t, 2, n)
	require.NoError(t, task.Process(at(3)))
	assert.Equal(t, 102, n, "p is cancelled, q fires")
	// p was scheduled before the last commit point (Init): it is kept,
	// inactive, until the next commit, in case of a rollback.
	task.Committed()
	assert.Len(t, task.streamPuncts.ps, 1)
}

// TestRollback: after a rollback the task has the stream time and the
// punctuation schedule of its last commit, so that records processed again
// fire the same punctuations at the same times.
func TestRollback(t *testing.T) {
	task := newTestTask(t, Policy{}, func(*Task, *kgo.Record) error { return nil })
	var fired []string
	var cancelP func()
	task.OnInit(func() error {
		cancelP = task.Schedule(StreamTime, 10*time.Millisecond, "p", func(now int64) error {
			fired = append(fired, fmt.Sprint("p@", now))
			return nil
		})
		return nil
	})
	run := func(ts ...int64) {
		for _, x := range ts {
			require.NoError(t, task.Process(at(x)))
		}
	}
	run(1, 5)
	task.Committed()
	run(12, 25)
	// Since the commit: a new punctuator, and p cancelled.
	task.Schedule(StreamTime, time.Millisecond, "q", func(now int64) error {
		fired = append(fired, fmt.Sprint("q@", now))
		return nil
	})
	cancelP()
	assert.Equal(t, []string{"p@1", "p@12", "p@25"}, fired)
	assert.Equal(t, int64(25), task.StreamTime)

	task.Rollback()
	assert.Equal(t, int64(5), task.StreamTime)
	fired = nil
	run(12, 25)
	assert.Equal(t, []string{"p@12", "p@25"}, fired, "q dropped, p live again, p's times as before")
}

func TestPunctuatorErrorsAreFatal(t *testing.T) {
	task := newTestTask(t, Policy{Kind: PolicySkip}, func(*Task, *kgo.Record) error { return nil })
	boom := errors.New("boom")
	task.Schedule(StreamTime, time.Second, "p", func(int64) error { return boom })
	err := task.Process(at(5))
	var pe *PunctuationError
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, "p", pe.Node)
	assert.Equal(t, StreamTime, pe.Type)
	assert.Equal(t, int64(5), pe.Time)
	assert.Contains(t, err.Error(), "stream-time punctuator of p at 5 (task 0_0): boom")

	task = newTestTask(t, Policy{Kind: PolicySkip}, func(*Task, *kgo.Record) error { return nil })
	task.Clock = func() time.Time { return time.UnixMilli(0) }
	task.Schedule(WallClock, time.Second, "w", func(int64) error { panic("kaput") })
	err = task.PunctuateWallClock(time.UnixMilli(1000))
	require.ErrorAs(t, err, &pe)
	var panicErr *PanicError
	require.ErrorAs(t, err, &panicErr)
	assert.Equal(t, WallClock, pe.Type)
	assert.Contains(t, err.Error(), "wall-clock punctuator of w at 1000")
}

func TestInitAndClose(t *testing.T) {
	var calls []string
	g := NewGraph()
	src := g.Add(KindSource, "SRC", "src")
	src.Topics = []string{"in"}
	child := g.Add(KindProcessor, "P", "child", src)
	child.Build = func(task *Task, _ []any) (any, error) {
		task.OnInit(func() error { calls = append(calls, "init child"); return nil })
		task.OnClose(func() error { calls = append(calls, "close child"); return errors.New("close failed") })
		return nil, nil
	}
	src.Build = func(task *Task, _ []any) (any, error) {
		task.OnInit(func() error { calls = append(calls, "init src"); return nil })
		task.OnClose(func() error { panic("close src") })
		return SourceFunc(func(*Task, *kgo.Record) error { calls = append(calls, "process"); return nil }), nil
	}
	task, err := NewTask(g.Subtopologies()[0], TaskID{0, 1}, nil, Policy{}, nil, nil, 0)
	require.NoError(t, err)
	assert.Empty(t, calls, "Init waits for the first record")
	require.NoError(t, task.Process(at(1)))
	require.NoError(t, task.Process(at(2)))
	assert.Equal(t, []string{"init src", "init child", "process", "process"}, calls)
	err = task.Close()
	assert.ErrorContains(t, err, "close failed")
	assert.ErrorContains(t, err, "panic: close src")
	assert.NoError(t, task.Close())

	// Errors of Init are fatal; panics of Build are errors.
	g = NewGraph()
	src = g.Add(KindSource, "SRC", "src")
	src.Topics = []string{"in"}
	src.Build = func(task *Task, _ []any) (any, error) {
		task.OnInit(func() error { return errors.New("no init") })
		return SourceFunc(func(*Task, *kgo.Record) error { return nil }), nil
	}
	task, err = NewTask(g.Subtopologies()[0], TaskID{0, 0}, nil, Policy{Kind: PolicySkip}, nil, nil, 0)
	require.NoError(t, err)
	err = task.Process(at(1))
	var fe *FatalError
	require.ErrorAs(t, err, &fe)
	assert.ErrorContains(t, err, "task 0_0: init: no init")
	src.Build = func(*Task, []any) (any, error) { panic("bad build") }
	_, err = NewTask(g.Subtopologies()[0], TaskID{0, 0}, nil, Policy{}, nil, nil, 0)
	assert.ErrorContains(t, err, "build src: panic: bad build")
}

func TestSharedStoreJoinsSubtopologies(t *testing.T) {
	g := NewGraph()
	a := g.Add(KindSource, "SRC", "a")
	a.Topics = []string{"a"}
	pa := g.Add(KindProcessor, "P", "pa", a)
	pa.Stores = []string{"shared"}
	b := g.Add(KindSource, "SRC", "b")
	b.Topics = []string{"b"}
	pb := g.Add(KindProcessor, "P", "pb", b)
	pb.Stores = []string{"shared", "own"}
	c := g.Add(KindSource, "SRC", "c")
	c.Topics = []string{"c"}
	subs := g.Subtopologies()
	require.Len(t, subs, 2)
	assert.Equal(t, []string{"a", "b"}, subs[0].Topics)
	assert.Equal(t, []string{"shared", "own"}, subs[0].Stores)
	assert.Equal(t, []string{"c"}, subs[1].Topics)
}

func TestDescribeDOTMermaidEscaping(t *testing.T) {
	g := NewGraph()
	src := g.Add(KindSource, "SRC", `say "hi" <now> #1`)
	src.Topics = []string{`in\put`}
	dot := g.DescribeDOT()
	assert.Contains(t, dot, `n0 [label="say \"hi\" <now> #1"];`)
	assert.Contains(t, dot, `t0 [label="in\\put", shape=parallelogram];`)
	mm := g.DescribeMermaid()
	assert.Contains(t, mm, `n0["say #quot;hi#quot; #lt;now#gt; #35;1"]`)
	assert.True(t, strings.HasPrefix(mm, "flowchart TB\n"))
}
