package runtime

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/state"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
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

// A replica counts as caught up only when every store's lag is known:
// from the end offsets read at its start, or from a fetch. Before, a store
// not fetched yet counted as caught up, and the early probe could move a
// task whose other store was far behind.
func TestReplicaLag(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "a-changelog", "b-changelog"))
	require.NoError(t, err)
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	for i := range 5 {
		require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Topic: "a-changelog", Key: []byte{byte(i)}}).FirstErr())
	}
	e := New(Options{Logger: slog.New(slog.DiscardHandler)})
	e.cl = cl
	id := topo.TaskID{Subtopology: 0, Partition: 0}
	byTopic := map[string]string{"a-changelog": "a", "b-changelog": "b"}

	tests := []struct {
		name   string
		starts map[string]int64
		want   int64
		known  bool
	}{
		{"at the end of both, b empty", map[string]int64{"a-changelog": 5, "b-changelog": 0}, 0, true},
		{"behind on a", map[string]int64{"a-changelog": 2, "b-changelog": 0}, 3, true},
		{"a checkpoint past the end counts as no lag", map[string]int64{"a-changelog": 9, "b-changelog": 0}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			total, known := e.startLag(context.Background(), id, byTopic, tc.starts).total()
			assert.Equal(t, tc.want, total)
			assert.Equal(t, tc.known, known)
		})
	}

	// A changelog whose end cannot be read leaves its store unknown until
	// a fetch returns its records.
	defer func(d time.Duration) { unknownTopicWait = d }(unknownTopicWait)
	unknownTopicWait = 200 * time.Millisecond
	lag := e.startLag(context.Background(), id, map[string]string{"a-changelog": "a", "gone-changelog": "g"}, map[string]int64{"a-changelog": 5})
	_, known := lag.total()
	assert.False(t, known, "one store's lag unknown")
	lag.fetched("g", 1000, 400)
	total, known := lag.total()
	assert.True(t, known)
	assert.Equal(t, int64(600), total)
	lag.fetched("g", 1000, 1000)
	total, _ = lag.total()
	assert.Equal(t, int64(0), total)
}

// TestReconcileKeepsStandbyOfAssignedTask: once an assignment that makes a
// task active here is parsed, and before the callback that creates the
// task, the loop's reconcile must keep the task's standby for the task to
// take over: an in-memory standby that stopped lost its state, and the
// task restored its whole changelog (a flake of TestFailoverStandby).
// Standbys of tasks neither wanted nor assigned are stopped.
func TestReconcileKeepsStandbyOfAssignedTask(t *testing.T) {
	assigned, other := topo.TaskID{Partition: 0}, topo.TaskID{Partition: 1}
	e := &Engine{o: Options{InMemory: true}, log: slog.New(slog.DiscardHandler), tasks: map[topo.TaskID]*task{}}
	newStandby := func(id topo.TaskID) *standby {
		done := make(chan struct{})
		close(done)
		return &standby{id: id, db: state.NewMemDB(), cancel: func() {}, done: done}
	}
	e.standbys = map[topo.TaskID]*standby{assigned: newStandby(assigned), other: newStandby(other)}
	keep := e.standbys[assigned].db
	// The new assignment: task 0 active here, no standby wanted.
	e.standbyWant.Store(&[]topo.TaskID{})
	e.placement.Store(&Placement{Local: map[topo.TaskID]bool{assigned: true}})
	e.reconcileStandbysLocked()
	require.Contains(t, e.standbys, assigned)
	require.NotContains(t, e.standbys, other)
	require.Same(t, keep, e.takeStandby(assigned), "the task takes over the standby's in-memory state")
	require.Empty(t, e.standbys)
}
