package stream_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestStaticMembershipRestart restarts an App with an InstanceID within its
// session timeout: it gets its tasks back without a rebalance (the group's
// generation does not change), and carries on exactly where it stopped.
func TestStaticMembershipRestart(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("crash-in", 4)
	k.Topic("crash-out", 4)
	dir := t.TempDir()
	cfg := crashConfig(k.Addrs, dir)
	cfg.ClientOpts = []kgo.Opt{kgo.SessionTimeout(10 * time.Second)}
	// The group generation each run joined, from franz-go's logs.
	var gens []string
	var mu sync.Mutex
	cfg.Logger = slog.New(&recordHandler{fn: func(r slog.Record) {
		if !strings.HasPrefix(r.Message, "joined") {
			return
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "kgo.generation" || strings.HasSuffix(a.Key, "generation") {
				mu.Lock()
				gens = append(gens, a.Value.String())
				mu.Unlock()
			}
			return true
		})
	}})
	generation := func() string {
		mu.Lock()
		defer mu.Unlock()
		require.NotEmpty(t, gens)
		return gens[len(gens)-1]
	}
	run := func(instance, dir string, log bool) *stream.App {
		c := cfg
		c.InstanceID, c.StateDir = instance, dir
		if !log {
			c.Logger = nil
		}
		app, err := stream.New(crashTopology(), c)
		require.NoError(t, err)
		go app.Run(context.Background())
		return app
	}
	// a joins first and leads the group; b is the member that restarts.
	a := run("a", t.TempDir(), false)
	defer a.Close()
	total := 0
	feed := func() {
		for i := range 96 {
			k.Produce(false, rec("crash-in", "k"+strconv.Itoa(i%8), "v"))
		}
		total += 96
		require.Len(t, k.Read("crash-out", total, 20*time.Second), total)
	}
	// b's first run makes its local state; its first restart joins with
	// that state listed, which is a change; later restarts are not.
	b := run("b", dir, true)
	feed()
	b.Close()
	b = run("b", dir, true)
	feed()
	before := generation()
	b.Close()
	b = run("b", dir, true)
	defer b.Close()
	feed()
	out := k.Read("crash-out", total, 20*time.Second)
	seq := countUpdates(t, out)
	requireGapless(t, seq)
	for key, s := range seq {
		require.Len(t, s, total/8, "key %s", key)
	}
	assert.Equal(t, before, generation(), "the restart caused a rebalance")
	mu.Lock()
	t.Logf("generations joined by b: %v", gens)
	mu.Unlock()
}

// recordHandler is a slog.Handler that hands every record to fn.
type recordHandler struct {
	fn     func(slog.Record)
	attrs  []slog.Attr
	groups string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.fn(r)
	return nil
}

func (h *recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordHandler{fn: h.fn, attrs: append(append([]slog.Attr(nil), h.attrs...), as...), groups: h.groups}
}

func (h *recordHandler) WithGroup(name string) slog.Handler {
	return &recordHandler{fn: h.fn, attrs: h.attrs, groups: h.groups + name + "."}
}
