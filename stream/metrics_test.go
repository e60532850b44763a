package stream_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/internal/runtime"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func int64Bytes(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// metricsInput is what TestMetricsExact feeds: 20 good records over 4
// keys, 3 whose value is not an Int64 (bad records), and 2 without a key
// (dropped by the aggregation).
func metricsInput(topic string) []*kgo.Record {
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%4), Value: int64Bytes(int64(i))})
		switch i {
		case 4, 9, 14:
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("bad"), Value: []byte("abc")})
		case 7, 17:
			recs = append(recs, &kgo.Record{Topic: topic, Value: int64Bytes(1)})
		}
	}
	return recs
}

// metricsTopology counts Int64 records by key into store "mc".
func metricsTopology(in, out string) *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, in, serde.String(), serde.Int64()).
		GroupByKey().
		Count(stream.Materialized("mc")).
		ToStream().
		To(out, nil, nil)
	return b
}

// TestMetricsExact: the App's metrics count exactly the records processed,
// produced, skipped, dead-lettered and dropped, under each bad-record
// policy and guarantee; a restart with new state reports its restore.
func TestMetricsExact(t *testing.T) {
	old := runtime.StoreSampleInterval
	runtime.StoreSampleInterval = 0
	defer func() { runtime.StoreSampleInterval = old }()
	for _, tc := range []struct {
		name      string
		policy    stream.BadRecordPolicy
		guarantee stream.Guarantee
	}{
		{"skip/exactly-once", stream.SkipBadRecord(), stream.ExactlyOnce},
		{"dead-letter/at-least-once", stream.DeadLetterTopic("mx-dlq"), stream.AtLeastOnce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := kafkatest.New(t)
			k.Topic("mx-in", 1)
			k.Topic("mx-out", 1)
			k.Produce(false, metricsInput("mx-in")...)
			cfg := stream.Config{AppID: "mx", Brokers: k.Addrs, StateDir: t.TempDir(), OnBadRecord: tc.policy, Guarantee: tc.guarantee}
			app, err := stream.New(metricsTopology("mx-in", "mx-out"), cfg)
			require.NoError(t, err)
			errc := make(chan error, 1)
			go func() { errc <- app.Run(context.Background()) }()
			require.Len(t, k.Read("mx-out", 20, 30*time.Second), 20)
			require.Eventually(t, func() bool {
				return app.Metrics().Commits > 0 && app.Metrics().Tasks[0].Skipped+app.Metrics().Tasks[0].DeadLettered == 3
			},
				20*time.Second, 20*time.Millisecond)
			live := app.Metrics()
			require.Len(t, live.Tasks, 1)
			assert.True(t, live.Tasks[0].Assigned)
			assert.Equal(t, []stream.PartitionLag{{Topic: "mx-in", Partition: 0, Lag: 0}}, live.Tasks[0].Lag)
			app.Close()
			require.NoError(t, <-errc)

			m := app.Metrics()
			require.Len(t, m.Tasks, 1)
			tm := m.Tasks[0]
			assert.Equal(t, "0_0", tm.Task)
			assert.False(t, tm.Assigned)
			assert.EqualValues(t, 25, tm.Processed, "records processed")
			assert.EqualValues(t, 20, tm.Produced, "records produced")
			skipped, dead := int64(3), int64(0)
			if tc.policy != stream.SkipBadRecord() {
				skipped, dead = 0, 3
				assert.Len(t, k.ReadAll("mx-dlq", time.Second), 3)
			}
			assert.Equal(t, skipped, tm.Skipped, "skipped")
			assert.Equal(t, dead, tm.DeadLettered, "dead-lettered")
			assert.Equal(t, stream.DroppedCounts{NullKeys: 2}, tm.Dropped)
			assert.EqualValues(t, 25, tm.ProcessLatency.Count)
			assert.Positive(t, tm.ProcessLatency.Sum)
			var inBuckets uint64
			for _, c := range tm.ProcessLatency.Counts {
				inBuckets += c
			}
			assert.EqualValues(t, 25, inBuckets)
			assert.Empty(t, tm.Lag, "no lag reported for a task no longer held")
			require.Len(t, tm.Stores, 1)
			st := tm.Stores[0]
			assert.Equal(t, "mc", st.Store)
			assert.EqualValues(t, 4, st.Entries, "entries")
			assert.EqualValues(t, 20, st.CacheHits+st.CacheMisses, "one read per counted record")
			assert.GreaterOrEqual(t, st.CacheMisses, int64(4), "the first read of each key misses")
			assert.False(t, st.Restoring)

			// Per App: the sums, commits, rebalances.
			assert.EqualValues(t, 25, m.Processed)
			assert.EqualValues(t, 20, m.Produced)
			assert.Equal(t, skipped, m.Skipped)
			assert.Equal(t, dead, m.DeadLettered)
			assert.EqualValues(t, 2, m.Dropped.NullKeys)
			assert.Positive(t, m.Commits)
			assert.Zero(t, m.Aborts)
			assert.EqualValues(t, m.Commits, m.CommitLatency.Count)
			assert.EqualValues(t, 1, m.Rebalances)
			assert.EqualValues(t, 1, m.RebalanceLatency.Count)

			// A restart on new state restores the store from its
			// changelog and reports it.
			cfg.StateDir = t.TempDir()
			app2, err := stream.New(metricsTopology("mx-in", "mx-out"), cfg)
			require.NoError(t, err)
			go func() { errc <- app2.Run(context.Background()) }()
			require.Eventually(t, func() bool {
				m := app2.Metrics()
				return len(m.Tasks) == 1 && len(m.Tasks[0].Stores) == 1 && m.Tasks[0].Stores[0].Restored > 0 && !m.Tasks[0].Stores[0].Restoring
			}, 30*time.Second, 20*time.Millisecond)
			app2.Close()
			require.NoError(t, <-errc)
			rs := app2.Metrics().Tasks[0].Stores[0]
			t.Logf("restore: %+v", rs)
			assert.LessOrEqual(t, rs.Restored, rs.ToRestore)
			assert.Positive(t, rs.RestoreRate)
			assert.Zero(t, app2.Metrics().Processed, "nothing new to process")
		})
	}
}
