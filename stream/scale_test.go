package stream_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestScaleOut runs up to three Apps in one group over two co-partitioned
// 12-partition inputs, adding and removing members while records flow.
// Every key's output must be exactly 1..n, and no assignment may ever split
// a partition number of the two inputs between members.
func TestScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test skipped in -short mode")
	}
	k := kafkatest.New(t)
	k.Topic("sc-a", 12)
	k.Topic("sc-b", 12)
	k.Topic("sc-out", 12)
	topology := func() *stream.Builder {
		b := stream.NewBuilder()
		stream.Source(b, "sc-a", serde.String(), serde.String()).
			Merge(stream.Source(b, "sc-b", serde.String(), serde.String())).
			GroupByKey().
			Count(stream.Materialized("sc-counts")).
			ToStream().
			To("sc-out", nil, nil)
		return b
	}
	cfg := stream.Config{AppID: "scale", ClientOpts: []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond)}}

	// Watch the group's assignments for split tasks.
	var violations []string
	var vmu sync.Mutex
	var assignments atomic.Int64
	watchCtx, stopWatch := context.WithCancel(context.Background())
	var watchWG sync.WaitGroup
	watchWG.Add(1)
	go func() {
		defer watchWG.Done()
		adm := newAdm(k.Client())
		for watchCtx.Err() == nil {
			groups, err := adm.DescribeGroups(watchCtx, "scale")
			if err == nil {
				owner := map[string]string{} // "a/3" -> member
				for _, m := range groups["scale"].Members {
					ca, ok := m.Assigned.AsConsumer()
					if !ok {
						continue
					}
					parts := map[string]map[int32]bool{"sc-a": {}, "sc-b": {}}
					for _, tp := range ca.Topics {
						for _, p := range tp.Partitions {
							parts[tp.Topic][p] = true
							owner[tp.Topic+"/"+strconv.Itoa(int(p))] = m.MemberID
						}
					}
					for p := range parts["sc-a"] {
						if !parts["sc-b"][p] {
							vmu.Lock()
							violations = append(violations, "member "+m.MemberID+" has sc-a/"+strconv.Itoa(int(p))+" without sc-b")
							vmu.Unlock()
						}
					}
					assignments.Add(1)
				}
				for p := range 12 {
					a, b := owner["sc-a/"+strconv.Itoa(p)], owner["sc-b/"+strconv.Itoa(p)]
					if a != "" && b != "" && a != b {
						vmu.Lock()
						violations = append(violations, "partition "+strconv.Itoa(p)+" split between "+a+" and "+b)
						vmu.Unlock()
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	const keys = 60
	want := map[string]int64{}
	n := 0
	feed := func(count int) {
		var recs []*kgo.Record
		for range count {
			key := "k" + strconv.Itoa(n%keys)
			topic := "sc-a"
			if n%3 == 0 {
				topic = "sc-b"
			}
			recs = append(recs, rec(topic, key, strconv.Itoa(n)))
			want[key]++
			n++
		}
		k.Produce(false, recs...)
	}
	steady := func(d time.Duration) {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			feed(100)
			time.Sleep(50 * time.Millisecond)
		}
	}

	stop1 := start(t, k, topology(), cfg)
	steady(time.Second)
	stop2 := start(t, k, topology(), cfg)
	steady(2 * time.Second)
	stop3 := start(t, k, topology(), cfg)
	steady(2 * time.Second)
	require.NoError(t, stop2())
	steady(2 * time.Second)
	stop4 := start(t, k, topology(), cfg)
	steady(time.Second)
	require.NoError(t, stop1())
	steady(2 * time.Second)

	// The survivors finish the input: every key's updates are exactly 1..n.
	total := 0
	for _, c := range want {
		total += int(c)
	}
	out := k.Read("sc-out", total, 60*time.Second)
	require.NoError(t, stop3())
	require.NoError(t, stop4())
	stopWatch()
	watchWG.Wait()
	requireExactlyOnce(t, out, want)
	assert.Empty(t, violations)
	assert.Positive(t, assignments.Load())
	t.Logf("%d records, %d keys, %d assignment snapshots checked", total, len(want), assignments.Load())
}
