package runtime

import (
	"testing"

	"github.com/brookstream/brook/internal/topo"
	"github.com/stretchr/testify/assert"
)

func ids(ps ...int) []topo.TaskID {
	out := make([]topo.TaskID, len(ps))
	for i, p := range ps {
		out[i] = topo.TaskID{Subtopology: 0, Partition: int32(p)}
	}
	return out
}

func set(ps ...int) map[topo.TaskID]bool {
	m := map[topo.TaskID]bool{}
	for _, id := range ids(ps...) {
		m[id] = true
	}
	return m
}

func TestAssignTasks(t *testing.T) {
	tests := []struct {
		name    string
		members []memberTasks
		tasks   []topo.TaskID
		want    [][]topo.TaskID
	}{
		{"one member takes all", []memberTasks{{}}, ids(0, 1, 2), [][]topo.TaskID{ids(0, 1, 2)}},
		{"new members spread evenly", []memberTasks{{}, {}, {}}, ids(0, 1, 2, 3, 4, 5),
			[][]topo.TaskID{ids(0, 3), ids(1, 4), ids(2, 5)}},
		{"sticky: owners keep their tasks", []memberTasks{{owned: set(1, 3)}, {owned: set(0, 2)}}, ids(0, 1, 2, 3),
			[][]topo.TaskID{ids(1, 3), ids(0, 2)}},
		{"a joining member takes the surplus only", []memberTasks{{owned: set(0, 1, 2)}, {owned: set(3, 4, 5)}, {}}, ids(0, 1, 2, 3, 4, 5),
			[][]topo.TaskID{ids(0, 1), ids(3, 4), ids(2, 5)}},
		{"state holders are preferred for moving tasks", []memberTasks{{owned: set(0, 1, 2, 3)}, {state: set(3)}, {state: set(2)}}, ids(0, 1, 2, 3),
			[][]topo.TaskID{ids(0, 1), ids(3), ids(2)}},
		{"uneven counts differ by one at most", []memberTasks{{owned: set(0, 1, 2, 3, 4)}, {}}, ids(0, 1, 2, 3, 4),
			[][]topo.TaskID{ids(0, 1, 2), ids(3, 4)}},
		{"no tasks", []memberTasks{{}, {}}, nil, [][]topo.TaskID{nil, nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, assignTasks(tc.members, tc.tasks))
		})
	}
}
