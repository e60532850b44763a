package stream_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupMembers returns the number of members of group.
func groupMembers(t *testing.T, k *kafkatest.Kafka, group string) int {
	t.Helper()
	gs, err := newAdm(k.Client()).DescribeGroups(context.Background(), group)
	require.NoError(t, err)
	return len(gs[group].Members)
}

// TestShutdownMidStream cancels an exactly-once App while input flows,
// restarts it on the same state, and checks that every key's output is
// exactly 1..n. A dynamic member has left the group when Run returns; a
// static member (InstanceID) stays, so that its restart moves no task.
func TestShutdownMidStream(t *testing.T) {
	for _, static := range []bool{false, true} {
		name := "dynamic"
		if static {
			name = "static"
		}
		t.Run(name, func(t *testing.T) {
			k := kafkatest.New(t)
			k.Topic("sm-in", 4)
			k.Topic("sm-out", 4)
			const keys, total = 20, 3000
			var fed atomic.Int64
			feed := func(n int) {
				var recs []*kgo.Record
				for range n {
					i := fed.Add(1) - 1
					recs = append(recs, rec("sm-in", "k"+strconv.Itoa(int(i%keys)), strconv.Itoa(int(i))))
				}
				k.Produce(false, recs...)
			}
			cfg := stream.Config{AppID: "sm", Brokers: k.Addrs, StateDir: t.TempDir(), ShutdownTimeout: 10 * time.Second}
			if static {
				cfg.InstanceID = "sm-1"
			}
			newApp := func() *stream.App {
				app, err := stream.New(countByKey("sm-in", "counts", "sm-out"), cfg)
				require.NoError(t, err)
				return app
			}

			app := newApp()
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- app.Run(ctx) }()
			done := make(chan struct{})
			go func() {
				defer close(done)
				for fed.Load() < total/2 {
					feed(50)
					time.Sleep(5 * time.Millisecond)
				}
			}()
			// Cancel while records flow and are being processed.
			require.Eventually(t, func() bool { return app.Metrics().Processed >= 300 }, 30*time.Second, 5*time.Millisecond)
			begin := time.Now()
			cancel()
			require.NoError(t, <-errc)
			took := time.Since(begin)
			t.Logf("Run returned %v after the cancel, having processed %d of %d records fed", took, app.Metrics().Processed, fed.Load())
			assert.Less(t, took, cfg.ShutdownTimeout)
			assert.Equal(t, stream.StateNotRunning, app.State())
			if static {
				assert.Equal(t, 1, groupMembers(t, k, "sm"), "a static member does not leave the group")
			} else {
				assert.Equal(t, 0, groupMembers(t, k, "sm"), "the member left the group")
			}
			<-done

			app2 := newApp()
			errc2 := make(chan error, 1)
			go func() { errc2 <- app2.Run(context.Background()) }()
			for fed.Load() < total {
				feed(100)
			}
			out := k.Read("sm-out", total, 60*time.Second)
			app2.Close()
			require.NoError(t, <-errc2)
			want := map[string]int64{}
			for i := range total {
				want["k"+strconv.Itoa(i%keys)]++
			}
			requireExactlyOnce(t, out, want)
			assert.Len(t, k.ReadAll("sm-out", time.Second), total, "no more output")
			if static {
				// Remove the static member now rather than after its
				// session timeout, so that the next test's broker
				// cleanup does not wait for it.
				_, err := newAdm(k.Client()).LeaveGroup(context.Background(), kadm.LeaveGroup("sm").InstanceIDs("sm-1"))
				require.NoError(t, err)
			}
		})
	}
}

// TestShutdownTimeoutBrokerDown: with a transaction open, every request to
// the broker starts to fail and the App is cancelled. Its final commit
// cannot reach the broker, so Run returns once ShutdownTimeout (2s) has
// passed, not after TransactionTimeout (30s). After the broker is back, a
// restart processes the aborted records again: output exact.
func TestShutdownTimeoutBrokerDown(t *testing.T) {
	k := kafkatest.New(t)
	kf := k.Kfake("makes a broker outage by failing every request")
	k.Topic("sd-in", 2)
	k.Topic("sd-out", 2)
	var down atomic.Bool
	kf.ControlKey(-1, func(kmsg.Request) (kmsg.Response, error, bool) {
		kf.KeepControl()
		if down.Load() {
			return nil, errors.New("outage"), true
		}
		return nil, nil, false
	})
	const shutdown = 2 * time.Second
	cfg := stream.Config{AppID: "sd", Brokers: k.Addrs, StateDir: t.TempDir(), CommitInterval: 3 * time.Second,
		TransactionTimeout: 30 * time.Second, ShutdownTimeout: shutdown}
	app, err := stream.New(countByKey("sd-in", "counts", "sd-out"), cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- app.Run(ctx) }()

	batch := func(from, n int) {
		var recs []*kgo.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, rec("sd-in", "k"+strconv.Itoa(i%5), strconv.Itoa(i)))
		}
		k.Produce(false, recs...)
	}
	// A first batch commits; the second lands right after that commit,
	// in a transaction that stays open for the 3s commit interval.
	batch(0, 10)
	require.Eventually(t, func() bool { return app.Metrics().Commits > 0 }, 30*time.Second, 5*time.Millisecond)
	commits := app.Metrics().Commits
	batch(10, 10)
	require.Eventually(t, func() bool { return app.Metrics().Processed == 20 }, 10*time.Second, time.Millisecond)
	require.Equal(t, commits, app.Metrics().Commits, "the second batch is not committed yet")

	down.Store(true)
	begin := time.Now()
	cancel()
	select {
	case err := <-errc:
		took := time.Since(begin)
		t.Logf("Run returned %v after %v with the broker down", err, took)
		require.NoError(t, err, "a cancelled App returns nil; what it could not commit is processed again")
		assert.GreaterOrEqual(t, took, shutdown-100*time.Millisecond, "the final commit waited for the broker")
		assert.Less(t, took, shutdown+3*time.Second, "Run returned within ShutdownTimeout and a margin")
	case <-time.After(25 * time.Second):
		t.Fatal("Run did not return within 25s of the cancel")
	}
	assert.Equal(t, commits, app.Metrics().Commits, "the final commit did not happen")
	assert.Equal(t, stream.StateNotRunning, app.State())
	down.Store(false)

	stop := start(t, k, countByKey("sd-in", "counts", "sd-out"), cfg)
	batch(20, 5)
	out := k.Read("sd-out", 25, 60*time.Second)
	require.NoError(t, stop())
	requireExactlyOnce(t, out, map[string]int64{"k0": 5, "k1": 5, "k2": 5, "k3": 5, "k4": 5})
}
