package stream_test

import (
	"context"
	"fmt"
	"os"
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

// The crash test (crash_test.go's harness) on a windowed stream-stream
// left join under exactly-once: left record j joins right record j (same
// key and timestamp) when there is one, and is emitted unmatched once its
// window closes when there is none. Through SIGKILLs and restarts, and a
// final record per partition that closes every window, each left record
// must give exactly one output: its match, or itself unmatched.

const crashSSJoinChildEnv = "BROOK_CRASH_SSJOIN_CHILD"

func crashSSJoinTopology() *stream.Builder {
	b := stream.NewBuilder()
	left := stream.Source(b, "sscrash-left", serde.String(), serde.String())
	right := stream.Source(b, "sscrash-right", serde.String(), serde.String())
	// An hour of grace: however far one topic's fetches run ahead of the
	// other's, no record is late and no window closes before the end.
	w := window.JoinTimeDifference(50 * time.Millisecond).Grace(time.Hour)
	left.LeftJoinStream(right, func(l, r string) string {
		if r == "" {
			r = "null"
		}
		return l + "+" + r
	}, w, stream.Materialized("ssjoin")).To("sscrash-out", nil, serde.String())
	return b
}

// TestCrashSSJoinChild is the child process; it does nothing in a normal
// run.
func TestCrashSSJoinChild(t *testing.T) {
	if os.Getenv(crashSSJoinChildEnv) == "" {
		t.Skip("runs only as the stream-stream join crash test's child process")
	}
	crashChildRun(crashSSJoinTopology(), crashChildConfig("sscrash"))
}

func TestCrashSSJoinExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	kills, total := crashSize(15, 20000)
	k := kafkatest.New(t)
	k.Topic("sscrash-left", 4)
	k.Topic("sscrash-right", 4)
	k.Topic("sscrash-out", 4)
	dir := t.TempDir()

	// Record j has key k<j%20> and timestamp 10*j ms, so records of one
	// key are 200 ms apart: only left j and right j are in one window
	// (50 ms). Every third left record has no right record.
	const keys = 20
	key := func(j int) string { return "k" + strconv.Itoa(j%keys) }
	at := func(topic, k, v string, ts int64) *kgo.Record {
		return &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(v), Timestamp: time.UnixMilli(ts)}
	}
	want := map[string]int{}
	matched := 0
	for j := range total {
		if j%3 == 0 {
			want[fmt.Sprintf("L%d+null", j)] = 1
		} else {
			want[fmt.Sprintf("L%d+R%d", j, j)] = 1
			matched++
		}
	}
	crashRun(t, k, "TestCrashSSJoinChild", kills, total, func(j int) []*kgo.Record {
		ts := int64(10 * j)
		recs := []*kgo.Record{at("sscrash-left", key(j), "L"+strconv.Itoa(j), ts)}
		if j%3 != 0 {
			recs = append(recs, at("sscrash-right", key(j), "R"+strconv.Itoa(j), ts))
		}
		return recs
	}, crashSSJoinChildEnv+"=1", "BROOK_STATE_DIR="+dir)
	before := len(k.ReadAll("sscrash-out", 500*time.Millisecond))
	t.Logf("the killed children committed %d of %d outputs", before, total)

	app := crashFinalApp(t, crashSSJoinTopology(), crashAppConfig(k.Addrs, dir, "sscrash"))
	// Every match first: a task reads its two topics in fetch order, not
	// by timestamp, so a record that closes the windows must come after
	// the backlog of both topics, or the lagging side's records would be
	// late (see Known gaps).
	k.Read("sscrash-out", matched, 60*time.Second)

	// One record per partition, two hours later, closes every window;
	// it never joins, and its own window stays open.
	part := kgo.StickyKeyPartitioner(nil).ForTopic("sscrash-left")
	var closers []*kgo.Record
	for p, i := 0, 0; p < 4; i++ {
		ck := "close" + strconv.Itoa(i)
		if part.Partition(&kgo.Record{Key: []byte(ck)}, 4) == p {
			closers = append(closers, at("sscrash-left", ck, "close", int64(10*total)+2*time.Hour.Milliseconds()))
			p++
		}
	}
	cl := k.Client()
	require.NoError(t, cl.ProduceSync(context.Background(), closers...).FirstErr())
	cl.Close()
	k.Read("sscrash-out", total, 60*time.Second)
	out := k.ReadAll("sscrash-out", 2*time.Second)
	got := map[string]int{}
	for _, r := range out {
		got[string(r.Value)]++
	}
	assert.Len(t, out, total, "one output per left record")
	assert.Equal(t, want, got)
	for _, c := range app.DroppedRecords() {
		assert.Zero(t, c.Late, "no record is late")
	}
}
