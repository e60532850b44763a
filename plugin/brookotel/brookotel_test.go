package brookotel_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/plugin/brookotel"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// input is 20 good records over 4 keys, 3 bad ones (a value that is not
// an Int64) and 2 without a key.
func input(topic string) []*kgo.Record {
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%4), Value: binary.BigEndian.AppendUint64(nil, uint64(i))})
		switch i {
		case 4, 9, 14:
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("bad"), Value: []byte("abc")})
		case 7, 17:
			recs = append(recs, &kgo.Record{Topic: topic, Value: binary.BigEndian.AppendUint64(nil, 1)})
		}
	}
	return recs
}

// TestProducer runs an App, collects its metrics through a ManualReader
// and checks them against what the App did.
func TestProducer(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("om-in", 1)
	k.Topic("om-out", 1)
	k.Topic("om-dlq", 1)
	k.Produce(false, input("om-in")...)
	b := stream.NewBuilder()
	stream.Source(b, "om-in", serde.String(), serde.Int64()).
		GroupByKey().
		Count(stream.Materialized("oc")).
		ToStream().
		To("om-out", nil, nil)
	app, err := stream.New(b, stream.Config{AppID: "om", Brokers: k.Addrs, StateDir: t.TempDir(), OnBadRecord: stream.DeadLetterTopic("om-dlq")})
	require.NoError(t, err)
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(brookotel.NewProducer(app, brookotel.Attributes(attribute.String("app", "om")))))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	errc := make(chan error, 1)
	go func() { errc <- app.Run(context.Background()) }()
	defer func() {
		app.Close()
		require.NoError(t, <-errc)
	}()
	require.Len(t, k.Read("om-out", 20, 30*time.Second), 20)
	require.Eventually(t, func() bool { return app.Status().Ready() && app.Metrics().Commits > 0 }, 30*time.Second, 20*time.Millisecond)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	var ours *metricdata.ScopeMetrics
	for i := range rm.ScopeMetrics {
		if rm.ScopeMetrics[i].Scope.Name == brookotel.ScopeName {
			ours = &rm.ScopeMetrics[i]
		}
	}
	require.NotNil(t, ours, "brook's scope collected")
	byName := map[string]metricdata.Metrics{}
	for _, m := range ours.Metrics {
		byName[m.Name] = m
	}
	task := []attribute.KeyValue{attribute.String("app", "om"), attribute.String("task", "0_0")}
	with := func(kv ...attribute.KeyValue) attribute.Set {
		return attribute.NewSet(append(append([]attribute.KeyValue{}, task...), kv...)...)
	}
	sum := func(name string, set attribute.Set) int64 {
		t.Helper()
		s, ok := byName[name].Data.(metricdata.Sum[int64])
		require.True(t, ok, "%s is a sum", name)
		assert.True(t, s.IsMonotonic)
		assert.Equal(t, metricdata.CumulativeTemporality, s.Temporality)
		for _, dp := range s.DataPoints {
			if dp.Attributes.Equals(&set) {
				return dp.Value
			}
		}
		t.Fatalf("no %s with %v", name, set.ToSlice())
		return 0
	}
	gauge := func(name string, set attribute.Set) float64 {
		t.Helper()
		g, ok := byName[name].Data.(metricdata.Gauge[float64])
		require.True(t, ok, "%s is a gauge", name)
		for _, dp := range g.DataPoints {
			if dp.Attributes.Equals(&set) {
				return dp.Value
			}
		}
		t.Fatalf("no %s with %v", name, set.ToSlice())
		return 0
	}
	appOnly := attribute.NewSet(attribute.String("app", "om"))
	assert.EqualValues(t, 25, sum("brook.records.processed", with()))
	assert.EqualValues(t, 20, sum("brook.records.produced", with()))
	assert.EqualValues(t, 3, sum("brook.records.dead_lettered", with()))
	assert.EqualValues(t, 0, sum("brook.records.skipped", with(attribute.String("reason", "bad"))))
	assert.EqualValues(t, 2, sum("brook.records.skipped", with(attribute.String("reason", "null_key"))))
	assert.EqualValues(t, 1, sum("brook.rebalances", appOnly))
	assert.EqualValues(t, 0, sum("brook.rebalance.probes", appOnly))
	assert.EqualValues(t, 0, gauge("brook.tasks.standby", appOnly))
	assert.EqualValues(t, 0, gauge("brook.tasks.warmup", appOnly))
	assert.Positive(t, sum("brook.commits", appOnly))
	assert.EqualValues(t, 0, sum("brook.aborts", appOnly))
	assert.EqualValues(t, 1, gauge("brook.ready", appOnly))
	assert.EqualValues(t, 1, gauge("brook.state", attribute.NewSet(attribute.String("app", "om"), attribute.String("state", "RUNNING"), attribute.String("waiting_for", "none"))))
	assert.EqualValues(t, 0, gauge("brook.consumer.lag", with(attribute.String("topic", "om-in"), attribute.Int("partition", 0))))
	assert.EqualValues(t, 1, gauge("brook.restore.done", with(attribute.String("store", "oc"))))
	reads := sum("brook.store.cache.hits", with(attribute.String("store", "oc"))) + sum("brook.store.cache.misses", with(attribute.String("store", "oc")))
	assert.EqualValues(t, 20, reads)

	h, ok := byName["brook.process.duration"].Data.(metricdata.Histogram[float64])
	require.True(t, ok)
	require.Len(t, h.DataPoints, 1)
	dp := h.DataPoints[0]
	assert.EqualValues(t, 25, dp.Count)
	assert.Equal(t, stream.LatencyBounds, dp.Bounds)
	assert.Len(t, dp.BucketCounts, len(dp.Bounds)+1)
	var n uint64
	for _, c := range dp.BucketCounts {
		n += c
	}
	assert.EqualValues(t, 25, n)
	assert.Equal(t, "s", byName["brook.process.duration"].Unit)
}
