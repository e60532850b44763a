package runtime

import (
	"testing"

	"github.com/brookstream/brook/internal/topo"
	"github.com/stretchr/testify/assert"
)

func offs(kv ...int64) map[topo.TaskID]int64 {
	m := map[topo.TaskID]int64{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[topo.TaskID{Partition: int32(kv[i])}] = kv[i+1]
	}
	return m
}

func TestAssignTasksPrefersSmallestLag(t *testing.T) {
	// Task 0's owner left; members 1 and 2 both have its state, member 2
	// further along its changelog.
	members := []memberTasks{
		{owned: set(1)},
		{state: set(0), offsets: offs(0, 100)},
		{state: set(0), offsets: offs(0, 900)},
	}
	assert.Equal(t, [][]topo.TaskID{ids(1), nil, ids(0)}, assignTasks(members, ids(0, 1)))
}

func TestPickStandbys(t *testing.T) {
	all := func(topo.TaskID) bool { return true }
	tests := []struct {
		name    string
		members []memberTasks
		active  [][]topo.TaskID
		n       int
		want    [][]topo.TaskID
	}{
		{"none asked", []memberTasks{{}, {}}, [][]topo.TaskID{ids(0), ids(1)}, 0, [][]topo.TaskID{nil, nil}},
		{"never on the owner", []memberTasks{{}, {}}, [][]topo.TaskID{ids(0), ids(1)}, 1, [][]topo.TaskID{ids(1), ids(0)}},
		{"the member furthest along first", []memberTasks{{}, {offsets: offs(0, 5)}, {offsets: offs(0, 50)}}, [][]topo.TaskID{ids(0), nil, nil}, 1,
			[][]topo.TaskID{nil, nil, ids(0)}},
		{"then the fewest standbys", []memberTasks{{}, {}, {}}, [][]topo.TaskID{ids(0, 1, 2), nil, nil}, 1,
			[][]topo.TaskID{nil, ids(0, 2), ids(1)}},
		{"more standbys than members", []memberTasks{{}, {}}, [][]topo.TaskID{ids(0), nil}, 3, [][]topo.TaskID{nil, ids(0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, pickStandbys(tc.members, tc.active, all, tc.n))
		})
	}
}
