package stream

import (
	"context"
	"sync"

	"github.com/brookstream/brook/internal/runtime"
	"github.com/brookstream/brook/internal/topo"
)

// App runs a topology as one member of the consumer group Config.AppID.
// Start more Apps with the same AppID, in this process or others, to spread
// the tasks over them: Kafka's group protocol is the distributed engine.
type App struct {
	cfg    Config
	b      *Builder
	eng    *runtime.Engine
	mu     sync.Mutex
	stop   context.CancelFunc
	closed bool
	done   chan struct{}
}

// New checks the topology built with b and the configuration, and returns
// an App ready to Run. It connects to nothing. The errors it returns are a
// *BuildError listing the topology's mistakes, or *ConfigError values
// (joined) naming the fields at fault.
func New(b *Builder, cfg Config) (*App, error) {
	if b == nil {
		return nil, &ConfigError{Field: "Builder", Msg: "is nil: make one with NewBuilder and add the topology to it"}
	}
	if err := b.Build(); err != nil {
		return nil, err // exported by Build
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b.g.Resolve(cfg.AppID)
	subs := b.g.Subtopologies()
	if err := cfg.checkTopics(b.g, subs); err != nil {
		return nil, err
	}
	var sinks []string
	seen := map[string]bool{}
	for _, n := range b.g.Nodes {
		if n.Kind == topo.KindSink && !n.Internal && n.SinkTopic != "" && n.SinkTopic[0] != '<' && !seen[n.SinkTopic] {
			seen[n.SinkTopic] = true
			sinks = append(sinks, n.SinkTopic)
		}
	}
	eng := runtime.New(runtime.Options{
		AppID:          cfg.AppID,
		Brokers:        cfg.Brokers,
		ClientOpts:     cfg.ClientOpts,
		Logger:         cfg.Logger,
		CommitInterval: cfg.CommitInterval,
		Workers:        cfg.Workers,
		MaxPollRecords: cfg.MaxPollRecords,
		Policy:         cfg.OnBadRecord.p,
		Graph:          b.g,
		Subs:           subs,
		SinkTopics:     sinks,

		StateDir:                 cfg.StateDir,
		InMemory:                 cfg.InMemoryState,
		BlockCacheBytes:          cfg.StateCacheBytes,
		MemTableBytes:            cfg.MemTableBytes,
		StoreCacheBytes:          cfg.StoreCacheBytes,
		StandbyReplicas:          cfg.StandbyReplicas,
		AcceptableRecoveryLag:    cfg.AcceptableRecoveryLag,
		MaxWarmupReplicas:        cfg.MaxWarmupReplicas,
		ProbingRebalanceInterval: cfg.ProbingRebalanceInterval,
		OnRestore:                cfg.OnRestore,
		CleanupDelay:             cfg.StateCleanupDelay,

		ExactlyOnce:        cfg.Guarantee == ExactlyOnce,
		InstanceID:         cfg.InstanceID,
		ApplicationServer:  cfg.ApplicationServer,
		TransactionTimeout: cfg.TransactionTimeout,
		WallClock:          b.g.UserProcessors,
		OnStateChange:      cfg.OnStateChange,
		ShutdownTimeout:    cfg.ShutdownTimeout,
	})
	return &App{cfg: cfg, b: b, eng: eng, done: make(chan struct{})}, nil
}

// Run joins the consumer group and processes records until ctx is
// cancelled, Close is called, or a fatal error happens. It returns after a
// final commit of everything processed: nil after a cancel or Close, else
// the error, wrapped so that errors.Is and errors.As find *RecordError,
// *MissingTopicsError and the like. Run can be called once: a second call,
// while the first runs or after it returned, returns ErrClosed.
func (a *App) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.closed || a.stop != nil {
		// Closed, running, or ran: one Run per App.
		a.mu.Unlock()
		return ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	a.stop = cancel
	a.mu.Unlock()
	defer close(a.done)
	defer cancel()
	return exportErr(a.eng.Run(ctx))
}

// Close stops a running App, as cancelling Run's context does, and waits
// for Run to return. It is safe to call more than once and before Run.
func (a *App) Close() {
	a.mu.Lock()
	stop := a.stop
	a.closed = true
	a.mu.Unlock()
	if stop == nil {
		a.eng.CloseUnstarted()
		return
	}
	stop()
	<-a.done
}

// ErrClosed is returned by Run when the App is running, already ran, or was
// closed.
var ErrClosed = runtime.ErrClosed

// ErrFenced is returned by Run under ExactlyOnce when another instance with
// the same transactional id (the same InstanceID, or the same state
// directory) took over: this App can no longer commit anything.
var ErrFenced = runtime.ErrFenced

// DroppedCounts are the records one task skipped on purpose, as Kafka
// Streams does, because they had no key (at an aggregation, a repartition
// topic or a table source) or no value (a tombstone at a stream
// aggregation). Skips are logged at Warn: the first of a task at once, with
// the record's topic, partition and offset, then a summary at most every
// five seconds.
type DroppedCounts = topo.DropCounts

// DroppedRecords returns, per task id ("0_3"), how many records the tasks
// of this App skipped for a null key or value since the App was made: a
// new map each call, safe to call while the App runs. A task that moved to
// another instance keeps its last counts here.
func (a *App) DroppedRecords() map[string]DroppedCounts {
	return droppedRecords(a.b.g)
}

func droppedRecords(g *topo.Graph) map[string]DroppedCounts {
	snap := g.Drops().Snapshot()
	out := make(map[string]DroppedCounts, len(snap))
	for id, c := range snap {
		out[id.String()] = c
	}
	return out
}
