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

// crashSessionEnv makes the crash test's child run crashSessionTopology.
const crashSessionEnv = "BROOK_CRASH_SESSION"

// crashSessionTopology counts records per key in sessions of gap 500 ms
// and writes final results only.
func crashSessionTopology() *stream.Builder {
	b := stream.NewBuilder()
	stream.SessionWindowedBy(stream.Source(b, "crash-in", serde.String(), serde.String()).GroupByKey(), window.Session(500*time.Millisecond)).
		Emit(stream.OnWindowClose()).
		Count(stream.Materialized("session-counts")).
		ToStream().To("crash-out", window.SessionWindowedSerde(serde.String()), serde.Int64())
	return b
}

// The SIGKILL crash test on a session-windowed, emit-on-close topology:
// children are killed at random moments while input flows; in the end
// every session that closed has its final count written exactly once,
// and no other record.
func TestCrashSessionExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	kills, total := 3, 3000
	k := kafkatest.New(t)
	k.Topic("crash-in", 4)
	k.Topic("crash-out", 4)
	dir := t.TempDir()

	// Record j has key k<j%20> and timestamp 10*j ms plus 1000 ms per
	// block of 500 records: a key's records are 200 ms apart within a
	// block (one session of 25 records) and 1200 ms apart across blocks
	// (a new session).
	const keys, block = 20, 500
	tsOf := func(j int) int64 { return int64(10*j + 1000*(j/block)) }
	part := kgo.StickyKeyPartitioner(nil).ForTopic("crash-in")
	type sess struct {
		key        string
		start, end int64
	}
	sessions := map[string]*sess{} // the open session of each key
	var all []*sess
	counts := map[*sess]int64{}
	maxTs := map[int]int64{}
	partOf := map[string]int{}
	for j := range total {
		key := "k" + strconv.Itoa(j%keys)
		ts := tsOf(j)
		s := sessions[key]
		if s == nil || ts-s.end > 500 {
			s = &sess{key: key, start: ts}
			sessions[key] = s
			all = append(all, s)
		}
		s.end = ts
		counts[s]++
		p := part.Partition(&kgo.Record{Key: []byte(key)}, 4)
		partOf[key] = p
		maxTs[p] = max(maxTs[p], ts)
	}
	// A session closes when its partition's stream time passes its end +
	// gap (grace zero).
	want := map[string][]int64{}
	for _, s := range all {
		if s.end < maxTs[partOf[s.key]]-500 {
			want[fmt.Sprintf("%s@[%d,%d]", s.key, s.start, s.end)] = []int64{counts[s]}
		}
	}

	crashRun(t, k, "TestCrashChild", kills, total, func(j int) []*kgo.Record {
		return []*kgo.Record{{Topic: "crash-in", Key: []byte("k" + strconv.Itoa(j%keys)), Value: []byte(strconv.Itoa(j)), Timestamp: time.UnixMilli(tsOf(j))}}
	}, crashChildEnv+"=1", crashSessionEnv+"=1", "BROOK_STATE_DIR="+dir)
	before := len(k.ReadAll("crash-out", 500*time.Millisecond))
	t.Logf("the killed children committed %d of %d final results", before, len(want))

	crashFinalApp(t, crashSessionTopology(), crashConfig(k.Addrs, dir))
	k.Read("crash-out", len(want), 60*time.Second)
	out := k.ReadAll("crash-out", 2*time.Second)
	got := map[string][]int64{}
	ks := window.SessionWindowedSerde(serde.String())
	for _, r := range out {
		w, err := ks.Deserialize("crash-out", r.Key)
		require.NoError(t, err)
		n, err := serde.Int64().Deserialize("crash-out", r.Value)
		require.NoError(t, err)
		id := fmt.Sprintf("%s@[%d,%d]", w.Key, w.Window.Start, w.Window.End)
		got[id] = append(got[id], n)
	}
	assert.Len(t, out, len(want), "one final result per closed session")
	assert.Equal(t, want, got)
}
