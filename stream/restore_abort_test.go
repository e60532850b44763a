package stream_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRestoreChangelogEndsInAbortedTransaction: the changelog ends in a
// transaction that is open when the restore reads the end offset and is
// aborted later (a crashed previous owner). Its records are filtered by
// read_committed and its marker lies at or past the end offset; the restore
// must still finish and the task go on processing.
func TestRestoreChangelogEndsInAbortedTransaction(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("at-in", 1)
	k.Topic("at-out", 1)
	topo := func() *stream.Builder { return countByKey("at-in", "ac", "at-out") }
	stop1 := start(t, k, topo(), stream.Config{AppID: "at"})
	k.Produce(false, rec("at-in", "k", "a"))
	require.Len(t, k.Read("at-out", 1, 20*time.Second), 1)
	require.NoError(t, stop1())

	txn := k.Client(kgo.TransactionalID("crashed-owner"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, txn.BeginTransaction())
	require.NoError(t, txn.ProduceSync(context.Background(), &kgo.Record{Topic: "at-ac-changelog", Partition: 0, Key: []byte("k"), Value: make([]byte, 8)}).FirstErr())

	var mu sync.Mutex
	var done bool
	cfg := stream.Config{AppID: "at", OnRestore: func(p stream.RestoreProgress) {
		mu.Lock()
		done = done || p.Done
		mu.Unlock()
	}}
	stop2 := start(t, k, topo(), cfg)
	time.Sleep(2 * time.Second)
	require.NoError(t, txn.EndTransaction(context.Background(), kgo.TryAbort)) // the broker's timeout would do the same
	k.Produce(false, rec("at-in", "k", "b"))
	out := k.Read("at-out", 2, 15*time.Second)
	mu.Lock()
	t.Logf("restore done: %v; outputs: %d", done, len(out))
	mu.Unlock()
	require.NoError(t, stop2())
	require.Len(t, out, 2, "the record after the abort was never processed")
}
