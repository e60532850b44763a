package stream_test

import (
	"context"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestShutdownDuringRestore stops an App while a task restores. The
// records queued behind the restore must not be processed against the
// half-restored store, nor their offsets committed: after a restart every
// key's output is exactly 1..n.
func TestShutdownDuringRestore(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("rs-in", 1)
	k.Topic("rs-out", 1)
	topo := func() *stream.Builder { return countByKey("rs-in", "rc", "rs-out") }
	cfg := stream.Config{AppID: "rs"}
	stop1 := start(t, k, topo(), cfg)
	k.Produce(false, rec("rs-in", "k", "a"), rec("rs-in", "k", "b"), rec("rs-in", "k", "c"))
	require.Len(t, k.Read("rs-out", 3, 20*time.Second), 3)
	require.NoError(t, stop1())

	// A foreign open transaction on the changelog holds read_committed
	// restores below the high watermark.
	txn := k.Client(kgo.TransactionalID("foreign"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, txn.BeginTransaction())
	require.NoError(t, txn.ProduceSync(context.Background(), &kgo.Record{Topic: "rs-rc-changelog", Partition: 0, Key: []byte("zzz"), Value: []byte{0, 0, 0, 0, 0, 0, 0, 1}}).FirstErr())

	k.Produce(false, rec("rs-in", "k", "d"))
	stop2 := start(t, k, topo(), cfg) // new StateDir: restores from 0
	time.Sleep(3 * time.Second)
	require.NoError(t, stop2())
	require.NoError(t, txn.EndTransaction(context.Background(), kgo.TryAbort))

	stop3 := start(t, k, topo(), cfg)
	k.Produce(false, rec("rs-in", "k", "e"))
	out := k.ReadAll("rs-out", 5*time.Second)
	require.NoError(t, stop3())
	seq := countUpdates(t, out)
	t.Logf("updates of k: %v", seq["k"])
	requireExactlyOnce(t, out, map[string]int64{"k": 5})
}
