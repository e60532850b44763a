package runtime

import (
	"errors"
	"sync"
	"testing"

	"github.com/brookstream/brook/internal/topo"
	"github.com/stretchr/testify/require"
)

// TestLifecycleRules drives the lifecycle with engine events and checks
// every status the listener sees, in order.
func TestLifecycleRules(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	l := newLifecycle(func(old, new Status) {
		mu.Lock()
		defer mu.Unlock()
		s := new.State.String()
		if new.Waiting != WaitingNone {
			s += "/" + new.Waiting.String()
		}
		seen = append(seen, s)
	}, nil)
	id0, id1 := topo.TaskID{Partition: 0}, topo.TaskID{Partition: 1}
	outage := errors.New("dial: refused")
	boom := errors.New("boom")
	l.start()
	l.assigned()             // no task yet: running
	l.rebalance()            // revoke
	l.taskOpened(id0, true)  // during the assignment
	l.taskOpened(id1, false) // stateless
	l.assigned()             // restoring
	l.setUnreachable(outage, "b:9092")
	l.setUnreachable(outage, "b:9092") // no change, no call
	l.setUnreachable(nil, "")
	l.taskRestored(id0)
	l.taskClosed(id1)
	require.Equal(t, 1, l.status().Tasks)
	l.setUnreachable(outage, "b:9092")
	l.stop()
	l.fail(boom) // an error while shutting down wins
	l.finish(boom)
	l.assigned() // after the end: ignored
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{
		"REBALANCING/group", "RUNNING", "REBALANCING/group", "RESTORING/restore",
		"RESTORING/brokers", "RESTORING/restore", "RUNNING", "RUNNING/brokers",
		"PENDING_SHUTDOWN/brokers", "PENDING_ERROR", "ERROR",
	}, seen)
	st := l.status()
	require.Equal(t, StateError, st.State)
	require.ErrorIs(t, st.Err, boom)
	require.False(t, st.Live())
	require.False(t, st.Ready())
}

// TestHealthUnreachable: the brokers count as unreachable once failures
// came after the last answer and that answer is older than the limit.
func TestHealthUnreachable(t *testing.T) {
	h := newHealth()
	now := h.lastOK
	err, _ := h.unreachable(now.Add(Unreachable*2), Unreachable)
	require.NoError(t, err, "no failure yet")
	h.lastBad, h.err, h.broker = now.Add(Unreachable/2), errors.New("refused"), "b:9092"
	err, _ = h.unreachable(now.Add(Unreachable/2), Unreachable)
	require.NoError(t, err, "the last answer is recent")
	err, broker := h.unreachable(now.Add(Unreachable+1), Unreachable)
	require.Error(t, err)
	require.Equal(t, "b:9092", broker)
	h.lastOK = now.Add(Unreachable + 2)
	err, _ = h.unreachable(now.Add(Unreachable+3), Unreachable)
	require.NoError(t, err, "an answer after the failure")
}
