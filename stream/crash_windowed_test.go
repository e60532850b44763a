package stream_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/window"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// crashWindowedEnv makes the crash test's child run crashWindowedTopology.
const crashWindowedEnv = "BROOK_CRASH_WINDOWED"

// crashWindowedTopology counts records per key in tumbling windows of one
// second and writes final results only.
func crashWindowedTopology() *stream.Builder {
	b := stream.NewBuilder()
	stream.WindowedBy(stream.Source(b, "crash-in", serde.String(), serde.String()).GroupByKey(), window.Tumbling(time.Second)).
		Emit(stream.OnWindowClose()).
		Count(stream.Materialized("window-counts")).
		ToStream().To("crash-out", nil, nil)
	return b
}

// The SIGKILL crash test on a windowed, emit-on-close topology: the
// children are killed at random moments while input flows; in the end
// every window that closed has its final count written exactly once, and
// no other record.
func TestCrashWindowedExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	kills, total := crashSize(15, 20000)
	k := kafkatest.New(t)
	k.Topic("crash-in", 4)
	k.Topic("crash-out", 4)
	dir := t.TempDir()

	// Record j has key k<j%20> and timestamp 10*j ms: each key gets 5
	// records per one-second window.
	const keys = 20
	part := kgo.StickyKeyPartitioner(nil).ForTopic("crash-in")
	type win struct {
		key   string
		start int64
	}
	counts := map[win]int64{}
	maxTs := map[int]int64{}
	partOf := map[string]int{}
	for j := range total {
		key := "k" + strconv.Itoa(j%keys)
		ts := int64(10 * j)
		counts[win{key, ts / 1000 * 1000}]++
		p := part.Partition(&kgo.Record{Key: []byte(key)}, 4)
		partOf[key] = p
		maxTs[p] = max(maxTs[p], ts)
	}
	// A window closes when its partition's stream time reaches its end.
	want := map[string]int64{}
	for w, n := range counts {
		if w.start+1000 <= maxTs[partOf[w.key]] {
			want[fmt.Sprintf("%s@%d", w.key, w.start)] = n
		}
	}

	crashRun(t, k, "TestCrashChild", kills, total, func(j int) []*kgo.Record {
		return []*kgo.Record{{Topic: "crash-in", Key: []byte("k" + strconv.Itoa(j%keys)), Value: []byte(strconv.Itoa(j)), Timestamp: time.UnixMilli(int64(10 * j))}}
	}, crashChildEnv+"=1", crashWindowedEnv+"=1", "BROOK_STATE_DIR="+dir)
	before := len(k.ReadAll("crash-out", 500*time.Millisecond))
	t.Logf("the killed children committed %d of %d final results", before, len(want))

	crashFinalApp(t, crashWindowedTopology(), crashConfig(k.Addrs, dir))
	k.Read("crash-out", len(want), 60*time.Second)
	out := k.ReadAll("crash-out", 2*time.Second)
	got := map[string][]int64{}
	ks := window.TimeWindowedSerde(serde.String(), 1000)
	for _, r := range out {
		w, err := ks.Deserialize("crash-out", r.Key)
		require.NoError(t, err)
		n, err := serde.Int64().Deserialize("crash-out", r.Value)
		require.NoError(t, err)
		id := fmt.Sprintf("%s@%d", w.Key, w.Window.Start)
		got[id] = append(got[id], n)
	}
	wantLists := map[string][]int64{}
	for id, n := range want {
		wantLists[id] = []int64{n}
	}
	assert.Len(t, out, len(want), "one final result per closed window")
	assert.Equal(t, wantLists, got)
}
