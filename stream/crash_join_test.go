package stream_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The join crash test is the crash test (crash_test.go) on a stream-table
// join: each input record first updates the count of its key (a table),
// then is joined with that table, and the join writes the count it read.
// Through SIGKILLs and restarts, every key's output must be exactly
// 1, 2, ..., n: the table's state, restored from its changelog and local
// checkpoint, is exactly what the committed output says it is.

const crashJoinChildEnv = "BROOK_CRASH_JOIN_CHILD"

func crashJoinTopology() *stream.Builder {
	b := stream.NewBuilder()
	in := stream.Source(b, "jcrash-in", serde.String(), serde.String())
	counts := in.GroupByKey().Count(stream.Materialized("jcounts"))
	in.Join(counts, func(_ string, n int64) int64 { return n }).
		To("jcrash-out", serde.String(), serde.Int64())
	return b
}

// TestCrashJoinChild is the child process; it does nothing in a normal run.
func TestCrashJoinChild(t *testing.T) {
	if os.Getenv(crashJoinChildEnv) == "" {
		t.Skip("runs only as the join crash test's child process")
	}
	crashChildRun(crashJoinTopology(), crashChildConfig("jcrash"))
}

func TestCrashJoinExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	kills, total := crashSize(25, 40000)
	k := kafkatest.New(t)
	k.Topic("jcrash-in", 4)
	k.Topic("jcrash-out", 4)
	dir := t.TempDir()

	const keys = 20
	want := map[string]int64{}
	for j := range total {
		want["k"+strconv.Itoa(j%keys)]++
	}
	crashRun(t, k, "TestCrashJoinChild", kills, total, func(j int) []*kgo.Record {
		return []*kgo.Record{rec("jcrash-in", "k"+strconv.Itoa(j%keys), strconv.Itoa(j))}
	}, crashJoinChildEnv+"=1", "BROOK_STATE_DIR="+dir)
	before := len(k.ReadAll("jcrash-out", 500*time.Millisecond))
	t.Logf("the killed children committed %d of %d outputs", before, total)
	require.Positive(t, before, "the children committed nothing before they were killed")

	app := crashFinalApp(t, crashJoinTopology(), crashAppConfig(k.Addrs, dir, "jcrash"))
	view, err := app.Store[string, int64]("jcounts")
	require.NoError(t, err)
	requireStore(t, view, want, 60*time.Second)
	// Every key's committed join output is exactly 1..n.
	requireExactlyOnce(t, k.Read("jcrash-out", total, 30*time.Second), want)
}
