package stream_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestIdleMemberTwoRebalances: member A is idle through two rebalances,
// with no transaction in between. franz-go's GroupTransactSession keeps
// its revoked flag set until a transaction ends and skips brook's revoke
// callback the second time; A must still drop the tasks it lost, or a task
// coming back would run on stale state. Every key's output stays 1..n.
func TestIdleMemberTwoRebalances(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("idle-in", 4)
	k.Topic("idle-out", 4)
	topo := func() *stream.Builder { return countByKey("idle-in", "idle-counts", "idle-out") }
	hb := []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond)}
	cfgA := stream.Config{AppID: "idle", ClientOpts: append(hb, kgo.ClientID("A")), Brokers: k.Addrs, StateDir: t.TempDir(), InMemoryState: true}
	appA, err := stream.New(topo(), cfgA)
	require.NoError(t, err)
	errA := make(chan error, 1)
	go func() { errA <- appA.Run(context.Background()) }()
	defer func() { appA.Close(); <-errA }()

	feed := func(parts ...int) {
		var recs []*kgo.Record
		for _, p := range parts {
			r := rec("idle-in", "p"+strconv.Itoa(p), "x")
			r.Partition = int32(p)
			recs = append(recs, r)
		}
		k.Produce(true, recs...)
	}
	feed(0, 1, 2, 3)
	k.Read("idle-out", 4, 20*time.Second)

	owner := func() map[int]string {
		adm := newAdm(k.Client())
		gs, err := adm.DescribeGroups(context.Background(), "idle")
		require.NoError(t, err)
		out := map[int]string{}
		for _, m := range gs["idle"].Members {
			ca, ok := m.Assigned.AsConsumer()
			if !ok {
				continue
			}
			for _, tp := range ca.Topics {
				for _, p := range tp.Partitions {
					out[int(p)] = m.ClientID
				}
			}
		}
		return out
	}
	cfgB := stream.Config{AppID: "idle", InMemoryState: true, ClientOpts: append(hb, kgo.ClientID("B"))}
	start(t, k, topo(), cfgB)
	time.Sleep(5 * time.Second)
	t.Logf("after B joined: %v", owner())
	cfgC := stream.Config{AppID: "idle", InMemoryState: true, ClientOpts: append(hb, kgo.ClientID("C"))}
	stopC := start(t, k, topo(), cfgC)
	time.Sleep(5 * time.Second)
	own := owner()
	t.Logf("after C joined: %v", own)
	// Feed only the partitions C owns: A polls nothing and ends no transaction.
	var cparts []int
	for p, o := range own {
		if o == "C" {
			cparts = append(cparts, p)
		}
	}
	feed(cparts...)
	time.Sleep(3 * time.Second)
	require.NoError(t, stopC())
	time.Sleep(5 * time.Second)
	t.Logf("after C left: %v", owner())
	feed(0, 1, 2, 3)
	want := map[string]int64{}
	for p := 0; p < 4; p++ {
		want["p"+strconv.Itoa(p)] = 2
	}
	for _, p := range cparts {
		want["p"+strconv.Itoa(p)] = 3
	}
	out := k.ReadAll("idle-out", 5*time.Second)
	seq := countUpdates(t, out)
	t.Logf("updates: %v", seq)
	requireExactlyOnce(t, out, want)
}
