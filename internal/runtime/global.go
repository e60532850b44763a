package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/state"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// globals is the state of the App's global tables: one database holding
// a store per global table, and the consumer that fills it.
type globals struct {
	db     state.TaskDB
	cl     *kgo.Client
	byTop  map[string]*topo.GlobalDef
	cancel context.CancelFunc
	done   chan struct{}
	buf    []byte
}

// startGlobals loads every global table to the end of its topic (the last
// stable offset of each partition, read_committed) before the App
// processes a record, then keeps the tables up to date in the background
// with a consumer of its own: no consumer group, every partition. It
// returns nil without loading when ctx is cancelled first.
//
// The stores have no changelog and no checkpoint per partition: they are
// emptied and loaded from the topics' start at every start.
func (e *Engine) startGlobals(ctx context.Context) error {
	if e.o.Graph == nil || len(e.o.Graph.Globals) == 0 {
		return nil
	}
	g := &globals{byTop: map[string]*topo.GlobalDef{}, done: make(chan struct{})}
	if e.o.InMemory {
		g.db = state.NewMemDB()
	} else {
		dir := filepath.Join(e.o.StateDir, e.o.AppID, "global")
		db, _, err := state.OpenOrWipe(dir, state.Options{Cache: e.cache, MemTableSize: e.o.MemTableBytes, Logger: e.log.WithGroup("pebble")})
		if err != nil {
			return fmt.Errorf("brook: global tables: open state in %s: %w", dir, err)
		}
		g.db = db
	}
	var topics []string
	for _, d := range e.o.Graph.Globals {
		if err := g.db.ClearStore(d.Store); err != nil {
			g.db.Close()
			return fmt.Errorf("brook: global table %s: %w", d.Store, err)
		}
		g.byTop[d.Topic] = d
		topics = append(topics, d.Topic)
	}
	slices.Sort(topics)
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(e.o.Brokers...),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers take offsets: seeing them tells when the
		// end is reached.
		kgo.KeepControlRecords(),
		kgo.WithLogger(kgoLogger{e.log.WithGroup("kgo")}),
	}, append(e.fetchSizeOpts(16<<20, 4<<20), e.o.ClientOpts...)...)...)
	if err != nil {
		g.db.Close()
		return fmt.Errorf("brook: kafka client: %w", err)
	}
	g.cl = cl
	stop := func() { cl.Close(); g.db.Close() }
	adm := kadm.NewClient(cl)
	td, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		stop()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("brook: list global topics %v: %w", topics, err)
	}
	var missing []string
	for _, t := range topics {
		if d, ok := td[t]; !ok || d.Err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		stop()
		return &MissingTopicsError{Topics: missing}
	}
	var ends kadm.ListedOffsets
	err = retryOffsets(ctx, e.log, "global topics", func() error {
		var err error
		if ends, err = adm.ListCommittedOffsets(ctx, topics...); err == nil {
			err = ends.Error()
		}
		return err
	})
	if err != nil {
		stop()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("brook: global topics %v: list end offsets: %w", topics, err)
	}
	need := map[tp]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			need[tp{o.Topic, o.Partition}] = o.Offset
		}
	})
	e.log.Info("loading global tables", "topics", topics)
	for len(need) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			stop()
			return nil
		}
		if err := e.applyGlobal(g, fs, need); err != nil {
			stop()
			return err
		}
	}
	for _, d := range e.o.Graph.Globals {
		ro, err := g.db.ReadOnly(d.Store)
		if err != nil {
			stop()
			return fmt.Errorf("brook: global table %s: %w", d.Store, err)
		}
		d.SetData(ro)
	}
	e.log.Info("global tables loaded", "topics", topics)
	gctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	e.glob = g
	go func() {
		defer close(g.done)
		for {
			fs := cl.PollFetches(gctx)
			if gctx.Err() != nil {
				return
			}
			if err := e.applyGlobal(g, fs, nil); err != nil {
				e.fail(err)
				return
			}
		}
	}()
	return nil
}

// applyGlobal writes a fetch of the global topics to their stores, one
// batch per topic. need, when not nil, holds the offsets still to reach
// per partition while loading; reached partitions are removed from it.
func (e *Engine) applyGlobal(g *globals, fs kgo.Fetches, need map[tp]int64) error {
	fs.EachError(func(t string, p int32, err error) {
		e.log.Warn("global table fetch error; retrying", "topic", t, "partition", p, "err", err)
	})
	var ferr error
	fs.EachTopic(func(ft kgo.FetchTopic) {
		d := g.byTop[ft.Topic]
		if d == nil || ferr != nil {
			return
		}
		w, err := g.db.Restorer(d.Store)
		if err != nil {
			ferr = err
			return
		}
		ft.EachPartition(func(fp kgo.FetchPartition) {
			for _, r := range fp.Records {
				if ferr != nil {
					return
				}
				if need != nil {
					k := tp{r.Topic, r.Partition}
					if end, ok := need[k]; ok && r.Offset+1 >= end {
						delete(need, k)
					}
				}
				if r.Attrs.IsControl() {
					continue
				}
				before := d.Skipped.Load()
				if g.buf, ferr = d.Apply(w, r, g.buf); ferr != nil {
					return
				}
				if d.Skipped.Load() != before {
					e.log.Warn("global table: skipped a record without a key", "store", d.Store, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset)
				}
			}
		})
		if err := w.Finish(); err != nil && ferr == nil {
			ferr = err
		}
		d.Updated()
	})
	return ferr
}

// stopGlobals stops the global tables' consumer and closes their state.
func (e *Engine) stopGlobals() {
	g := e.glob
	if g == nil {
		return
	}
	g.cancel()
	<-g.done
	g.cl.Close()
	g.db.Close()
}

// GlobalStore returns the store of the global table named store, or nil
// when there is none or it is not loaded yet.
func (e *Engine) GlobalStore(store string) state.ReadOnlyStore {
	if e.o.Graph == nil {
		return nil
	}
	for _, d := range e.o.Graph.Globals {
		if d.Store == store {
			return d.Data()
		}
	}
	return nil
}
