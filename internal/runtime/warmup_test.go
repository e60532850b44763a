package runtime

import (
	"testing"

	"github.com/brookstream/brook/internal/topo"
	"github.com/stretchr/testify/assert"
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
