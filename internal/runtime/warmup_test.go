package runtime

import (
	"log/slog"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestPlanTasksWarmups(t *testing.T) {
	full := func(ps ...int) map[topo.TaskID]int64 { // 50,000 offsets on each task
		m := map[topo.TaskID]int64{}
		for _, id := range ids(ps...) {
			m[id] = 50_000
		}
		return m
	}
	opts := warmupOpts{lag: 10_000, maxWarmups: 2}
	tests := []struct {
		name      string
		members   []memberTasks
		tasks     []topo.TaskID
		stateless map[topo.TaskID]bool
		o         warmupOpts
		want      plan
	}{
		{"a new member with no state gets a warm-up, not the task",
			[]memberTasks{{owned: set(0, 1), offsets: full(0, 1)}, {}}, ids(0, 1), nil, opts,
			plan{active: [][]topo.TaskID{ids(0, 1), nil}, standby: [][]topo.TaskID{nil, nil}, warmup: [][]topo.TaskID{nil, ids(1)}}},
		{"a caught-up member gets the task",
			[]memberTasks{{owned: set(0, 1), offsets: full(0, 1)}, {state: set(1), offsets: offs(1, 45_000)}}, ids(0, 1), nil, opts,
			plan{active: [][]topo.TaskID{ids(0), ids(1)}, standby: [][]topo.TaskID{nil, nil}, warmup: [][]topo.TaskID{nil, nil}}},
		{"a member just past the lag is not caught up",
			[]memberTasks{{owned: set(0, 1), offsets: full(0, 1)}, {state: set(1), offsets: offs(1, 39_999)}}, ids(0, 1), nil, opts,
			plan{active: [][]topo.TaskID{ids(0, 1), nil}, standby: [][]topo.TaskID{nil, nil}, warmup: [][]topo.TaskID{nil, ids(1)}}},
		{"the warm-up cap holds across the group",
			[]memberTasks{{owned: set(0, 1, 2, 3, 4, 5), offsets: full(0, 1, 2, 3, 4, 5)}, {}, {}}, ids(0, 1, 2, 3, 4, 5), nil, opts,
			plan{active: [][]topo.TaskID{ids(0, 1, 2, 3, 4, 5), nil, nil}, standby: [][]topo.TaskID{nil, nil, nil}, warmup: [][]topo.TaskID{nil, ids(2), ids(3)}}},
		{"a small state counts as caught up everywhere: the task moves at once",
			[]memberTasks{{owned: set(0, 1), offsets: offs(0, 5_000, 1, 5_000)}, {}}, ids(0, 1), nil, opts,
			plan{active: [][]topo.TaskID{ids(0), ids(1)}, standby: [][]topo.TaskID{nil, nil}, warmup: [][]topo.TaskID{nil, nil}}},
		{"a task without stores moves at once",
			[]memberTasks{{owned: set(0, 1), offsets: full(0)}, {}}, ids(0, 1), set(1), opts,
			plan{active: [][]topo.TaskID{ids(0), ids(1)}, standby: [][]topo.TaskID{nil, nil}, warmup: [][]topo.TaskID{nil, nil}}},
		{"the owner gone: the caught-up standby takes the task over balance, the balance's choice warms up",
			[]memberTasks{{owned: set(1, 2), offsets: full(0, 1, 2)}, {owned: set(3), offsets: full(3)}}, ids(0, 1, 2, 3), nil, opts,
			plan{active: [][]topo.TaskID{ids(0, 1, 2), ids(3)}, standby: [][]topo.TaskID{nil, nil}, warmup: [][]topo.TaskID{nil, ids(0)}}},
		{"a standby on the target is its warm-up, outside the cap",
			[]memberTasks{{owned: set(0, 1), offsets: full(0, 1)}, {state: set(1), offsets: offs(1, 20_000)}}, ids(0, 1), nil,
			warmupOpts{standbys: 1, lag: 10_000, maxWarmups: 0},
			plan{active: [][]topo.TaskID{ids(0, 1), nil}, standby: [][]topo.TaskID{nil, ids(0)}, warmup: [][]topo.TaskID{nil, ids(1)}}},
		{"no warm-ups without a lag (in-memory state)",
			[]memberTasks{{owned: set(0, 1), offsets: full(0, 1)}, {}}, ids(0, 1), nil, warmupOpts{lag: -1, maxWarmups: 2},
			plan{active: [][]topo.TaskID{ids(0), ids(1)}, standby: [][]topo.TaskID{nil, nil}, warmup: [][]topo.TaskID{nil, nil}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stateful := func(id topo.TaskID) bool { return !tc.stateless[id] }
			assert.Equal(t, tc.want, planTasks(tc.members, tc.tasks, stateful, tc.o))
		})
	}
}

// TestProbeSchedule: a member holding warm-ups probes every
// ProbingRebalanceInterval, and once at once when a warm-up first
// catches up; a member without warm-ups never probes.
func TestProbeSchedule(t *testing.T) {
	e := New(Options{AcceptableRecoveryLag: 100, ProbingRebalanceInterval: 500 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1")) // never dialled: no group, so ForceRebalance does nothing
	require.NoError(t, err)
	defer cl.Close()
	e.cl = cl
	probes := func() int64 { return e.Metrics().Probes }

	e.noteWarmups(ids(3))
	e.probe()
	assert.Equal(t, int64(0), probes(), "not due yet")
	e.warmupCaughtUp(ids(4)[0], 0) // not a warm-up here
	e.warmupCaughtUp(ids(3)[0], 101)
	e.probe()
	assert.Equal(t, int64(0), probes(), "a warm-up still behind, or another task's, asks nothing")
	e.warmupCaughtUp(ids(3)[0], 100)
	e.probe()
	assert.Equal(t, int64(1), probes(), "the warm-up caught up: at once")
	e.warmupCaughtUp(ids(3)[0], 0)
	e.probe()
	assert.Equal(t, int64(1), probes(), "the early probe fires once per warm-up")
	time.Sleep(600 * time.Millisecond)
	e.probe()
	assert.Equal(t, int64(2), probes(), "the interval passed")
	e.probe()
	assert.Equal(t, int64(2), probes(), "and is counted again from the probe")
	time.Sleep(600 * time.Millisecond)
	e.probe()
	assert.Equal(t, int64(3), probes())

	e.noteWarmups(ids(3)) // a new assignment, same warm-up: no second early probe
	e.warmupCaughtUp(ids(3)[0], 0)
	e.probe()
	assert.Equal(t, int64(3), probes())

	e.noteWarmups(nil)
	time.Sleep(600 * time.Millisecond)
	e.probe()
	assert.Equal(t, int64(3), probes(), "no warm-ups, no probes")
}
