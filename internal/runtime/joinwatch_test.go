package runtime

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestJoinWatch(t *testing.T) {
	const (
		callback  = "revoke callback"
		joinWrite = "JoinGroup written"
		joinRead  = "JoinGroup answered"
		joinLost  = "JoinGroup not answered"
		syncWrite = "SyncGroup written"
		heartbeat = "Heartbeat written"
	)
	tests := []struct {
		name   string
		events []string
		later  time.Duration // when joining is asked, after the events
		want   bool
		wakes  int
	}{
		{"nothing happened", nil, 0, false, 0},
		{"a revoke callback: the join follows", []string{callback}, 0, true, 0},
		{"a JoinGroup in flight", []string{callback, joinWrite}, 0, true, 0},
		{"a join with no callback first (kgo rejoins after a revoke)", []string{joinWrite}, 0, true, 0},
		{"answered, the sync not yet written", []string{callback, joinWrite, joinRead}, 0, true, 0},
		{"the sync written: the new generation is stored", []string{callback, joinWrite, joinRead, syncWrite}, 0, false, 1},
		{"a join restarted (MEMBER_ID_REQUIRED)", []string{joinWrite, joinRead, joinWrite}, 0, true, 0},
		{"an answer with an error: no sync follows, the grace ends the hold", []string{joinWrite, joinRead}, joinAnswerGrace + time.Millisecond, false, 0},
		{"a request that failed", []string{callback, joinWrite, joinLost}, 0, false, 1},
		{"other requests change nothing", []string{joinWrite, heartbeat}, 0, true, 0},
		{"a second round: callback after the sync", []string{joinWrite, joinRead, syncWrite, callback}, 0, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wakes := 0
			j := &joinWatch{wake: func() { wakes++ }}
			var m kgo.BrokerMetadata
			for _, ev := range tt.events {
				switch ev {
				case callback:
					j.expect()
				case joinWrite:
					j.OnBrokerWrite(m, int16(kmsg.JoinGroup), 100, 0, 0, nil)
				case joinRead:
					j.OnBrokerRead(m, int16(kmsg.JoinGroup), 100, 0, 0, nil)
				case joinLost:
					j.OnBrokerRead(m, int16(kmsg.JoinGroup), 0, 0, 0, errors.New("connection reset"))
				case syncWrite:
					j.OnBrokerWrite(m, int16(kmsg.SyncGroup), 100, 0, 0, nil)
				case heartbeat:
					j.OnBrokerWrite(m, int16(kmsg.Heartbeat), 100, 0, 0, nil)
				}
			}
			assert.Equal(t, tt.want, j.joining(time.Now().Add(tt.later)))
			assert.Equal(t, tt.wakes, wakes, "wake-ups of the loop")
		})
	}
}

func TestHoldMax(t *testing.T) {
	for _, tt := range []struct{ interval, deadline, want time.Duration }{
		{100 * time.Millisecond, 10 * time.Second, time.Second},
		{time.Second, 10 * time.Second, 5 * time.Second},
		{5 * time.Second, 10 * time.Second, 5 * time.Second},
		{100 * time.Millisecond, time.Second, 500 * time.Millisecond},
	} {
		assert.Equal(t, tt.want, holdMax(tt.interval, tt.deadline), "interval %v, deadline %v", tt.interval, tt.deadline)
	}
}

func TestHoldCommit(t *testing.T) {
	e := &Engine{o: Options{TransactionTimeout: 10 * time.Second, CommitInterval: 100 * time.Millisecond}}
	e.joins.expect()
	assert.False(t, e.holdCommit(time.Now()), "at-least-once commits are not held")
	e.sess = &kgo.GroupTransactSession{}
	assert.True(t, e.holdCommit(time.Now()), "a commit due while the member joins is held")
	assert.True(t, e.holdCommit(time.Now().Add(-900*time.Millisecond)), "held up to a second after the last commit")
	assert.False(t, e.holdCommit(time.Now().Add(-1100*time.Millisecond)), "not past a second after the last commit")
	e.abortDue.Store(true)
	assert.False(t, e.holdCommit(time.Now()), "an abort a revoke asked for is not held")
	e.abortDue.Store(false)
	e.sessRevoked.Store(true)
	assert.False(t, e.holdCommit(time.Now()), "nor the empty End of a revoke that found no transaction open")
}

// TestCallbackBlocked: a rebalance callback that waits for the loop under
// exactly-once gets the open transaction committed at once, even while
// the hold after a revoke callback would hold the commit, but not while a
// JoinGroup request is out: the signal then came late, for a callback
// the loop already let run, and the member is joining.
func TestCallbackBlocked(t *testing.T) {
	e := &Engine{o: Options{TransactionTimeout: 10 * time.Second, CommitInterval: 100 * time.Millisecond}}
	e.onCallbackBlocked(context.Background(), nil)
	assert.False(t, e.callbackWaits(), "at-least-once: the loop lets callbacks run after each batch")

	e.sess = &kgo.GroupTransactSession{}
	e.joins.expect() // a revoke callback ended: the assignment callback, then the join
	require.True(t, e.holdCommit(time.Now()))
	e.onCallbackBlocked(context.Background(), nil)
	assert.True(t, e.callbackWaits(), "a waiting callback gets the commit at once, past the hold")

	var m kgo.BrokerMetadata
	e.joins.OnBrokerWrite(m, int16(kmsg.JoinGroup), 100, 0, 0, nil)
	assert.False(t, e.callbackWaits(), "a signal while a JoinGroup is out came late: the hold stays")
	assert.True(t, e.holdCommit(time.Now()))
	e.joins.OnBrokerRead(m, int16(kmsg.JoinGroup), 100, 0, 0, nil)
	e.joins.OnBrokerWrite(m, int16(kmsg.SyncGroup), 100, 0, 0, nil)
	assert.True(t, e.callbackWaits(), "after the SyncGroup request, a callback of the new assignment may wait")
}

// TestWatchBlockedCallback: a callback that still waits callbackWait
// after an End began is let run; a watch stopped in time does nothing.
func TestWatchBlockedCallback(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"), kgo.BlockRebalanceOnPoll())
	require.NoError(t, err)
	defer cl.Close()
	e := &Engine{cl: cl, log: slog.New(slog.DiscardHandler)}

	e.cbWaiting.Store(true)
	stop := e.watchBlockedCallback()
	stop()
	time.Sleep(callbackWait + 100*time.Millisecond)
	assert.True(t, e.cbWaiting.Load(), "an End that returned in time lets the loop decide")

	stop = e.watchBlockedCallback()
	defer stop()
	assert.Eventually(t, func() bool { return !e.cbWaiting.Load() }, 3*callbackWait, 10*time.Millisecond,
		"a callback still waiting when the End is slow is let run")
}
