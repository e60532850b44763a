package runtime

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type (
	kmsgOffsetCommitRequest  = kmsg.OffsetCommitRequest
	kmsgOffsetCommitResponse = kmsg.OffsetCommitResponse
)

func kerrOf(code int16) error { return kerr.ErrorForCode(code) }

func isTopicExists(err error) bool { return errors.Is(err, kerr.TopicAlreadyExists) }

// worker processes the batches of the tasks that live on it, one at a time,
// in the order they were sent.
type worker struct {
	id    int
	in    chan item
	tasks int // guarded by Engine.mu
}

// item is a batch of one task's records from one partition, or a barrier.
type item struct {
	task    *task
	recs    []*kgo.Record
	barrier *sync.WaitGroup
	// init runs the task's processors' Init once its restore is done.
	init bool
	// punctuate, when not zero, is a wall-clock punctuation tick.
	punctuate time.Time
}

func (w *worker) run(e *Engine) {
	for it := range w.in {
		if it.barrier != nil {
			it.barrier.Done()
			continue
		}
		if e.failed.Load() {
			continue
		}
		if it.init {
			if err := it.task.t.Init(); err != nil {
				it.task.failed = true
				e.fail(err)
			}
			continue
		}
		if !it.punctuate.IsZero() {
			if it.task.restored {
				if err := it.task.t.PunctuateWallClock(it.punctuate); err != nil {
					it.task.failed = true
					e.fail(err)
				}
			}
			continue
		}
		if !it.task.restored {
			// The restore was cut short (shutdown): the store is behind its
			// changelog. Process nothing, commit nothing of this fetch.
			e.incomplete.Store(true)
			continue
		}
		it.task.process(e, it.recs)
		if db := it.task.t.DB; db != nil && db.NeedsCommit() {
			e.commitNow.Store(true)
		}
	}
}

// process runs recs through the task and records the next offset to commit.
// On an error it records the failing record's offset, so that a restart
// reads it again, and stops the engine.
func (t *task) process(e *Engine, recs []*kgo.Record) {
	start := time.Now()
	for i, r := range recs {
		if err := t.t.Process(r); err != nil {
			t.next[tp{r.Topic, r.Partition}] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
			t.failed = true
			t.noteProcessed(i, start)
			e.fail(err)
			return
		}
	}
	t.noteProcessed(len(recs), start)
	t.mark(recs[len(recs)-1])
}

func (t *task) mark(r *kgo.Record) {
	t.next[tp{r.Topic, r.Partition}] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
}

// kgoLogger adapts slog to kgo.Logger, one level down: franz-go logs every
// commit, heartbeat and metadata refresh at Info, and reports at Warn and
// Error what it then retries, so its Info becomes Debug, its Warn Info and
// its Error Warn. Its Debug becomes Debug-4, shown only by a handler that
// asks for it. brook reports what matters to the user itself.
type kgoLogger struct{ l *slog.Logger }

// kgoDebug is the slog level of franz-go's Debug messages.
const kgoDebug = slog.LevelDebug - 4

func (l kgoLogger) Level() kgo.LogLevel {
	ctx := context.Background()
	switch {
	case l.l.Enabled(ctx, kgoDebug):
		return kgo.LogLevelDebug
	case l.l.Enabled(ctx, slog.LevelDebug):
		return kgo.LogLevelInfo
	case l.l.Enabled(ctx, slog.LevelInfo):
		return kgo.LogLevelWarn
	case l.l.Enabled(ctx, slog.LevelWarn):
		return kgo.LogLevelError
	}
	return kgo.LogLevelNone
}

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := kgoDebug
	switch level {
	case kgo.LogLevelError:
		lv = slog.LevelWarn
	case kgo.LogLevelWarn:
		lv = slog.LevelInfo
	case kgo.LogLevelInfo:
		lv = slog.LevelDebug
	}
	l.l.Log(context.Background(), lv, msg, keyvals...)
}
