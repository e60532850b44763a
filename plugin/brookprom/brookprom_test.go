package brookprom_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/plugin/brookprom"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
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

// TestCollector runs an App with the Collector and kprom's client metrics
// in one registry, served over HTTP, scrapes it and checks the values
// against what the App did.
func TestCollector(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("pm-in", 1)
	k.Topic("pm-out", 1)
	k.Produce(false, input("pm-in")...)

	reg := prometheus.NewRegistry()
	kp := kprom.NewMetrics("kgo", kprom.Registerer(reg), kprom.Gatherer(reg))
	b := stream.NewBuilder()
	stream.Source(b, "pm-in", serde.String(), serde.Int64()).
		GroupByKey().
		Count(stream.Materialized("pc")).
		ToStream().
		To("pm-out", nil, nil)
	app, err := stream.New(b, stream.Config{AppID: "pm", Brokers: k.Addrs, StateDir: t.TempDir(), OnBadRecord: stream.SkipBadRecord(),
		ClientOpts: []kgo.Opt{kgo.WithHooks(brookprom.ClientHooks(kp))}})
	require.NoError(t, err)
	reg.MustRegister(brookprom.NewCollector(app, brookprom.ConstLabels(prometheus.Labels{"app": "pm"})))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	errc := make(chan error, 1)
	go func() { errc <- app.Run(context.Background()) }()
	defer func() {
		app.Close()
		require.NoError(t, <-errc)
	}()
	require.Len(t, k.Read("pm-out", 20, 30*time.Second), 20)
	require.Eventually(t, func() bool {
		m := app.Metrics()
		return app.Status().Ready() && m.Skipped == 3 && m.Commits > 0
	}, 30*time.Second, 20*time.Millisecond)

	fams := scrape(t, srv.URL)
	val := func(name string, labels map[string]string) float64 {
		t.Helper()
		m := find(t, fams, name, labels)
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
		t.Fatalf("%s is neither a counter nor a gauge", name)
		return 0
	}
	task := map[string]string{"app": "pm", "task": "0_0"}
	with := func(kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range task {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	assert.EqualValues(t, 25, val("brook_records_processed_total", task))
	assert.EqualValues(t, 20, val("brook_records_produced_total", task))
	assert.EqualValues(t, 3, val("brook_records_skipped_total", with("reason", "bad")))
	assert.EqualValues(t, 2, val("brook_records_skipped_total", with("reason", "null_key")))
	assert.EqualValues(t, 0, val("brook_records_skipped_total", with("reason", "late")))
	assert.EqualValues(t, 0, val("brook_records_dead_lettered_total", task))
	assert.EqualValues(t, 1, val("brook_state", map[string]string{"app": "pm", "state": "RUNNING", "waiting_for": "none"}))
	assert.EqualValues(t, 1, val("brook_ready", map[string]string{"app": "pm"}))
	assert.EqualValues(t, 1, val("brook_tasks_assigned", map[string]string{"app": "pm"}))
	assert.EqualValues(t, 0, val("brook_consumer_lag", with("topic", "pm-in", "partition", "0")))
	assert.EqualValues(t, 1, val("brook_rebalances_total", map[string]string{"app": "pm"}))
	assert.EqualValues(t, 0, val("brook_probing_rebalances_total", map[string]string{"app": "pm"}))
	assert.EqualValues(t, 0, val("brook_standby_tasks", map[string]string{"app": "pm"}))
	assert.EqualValues(t, 0, val("brook_warmup_tasks", map[string]string{"app": "pm"}))
	assert.Positive(t, val("brook_commits_total", map[string]string{"app": "pm"}))
	assert.EqualValues(t, 0, val("brook_aborts_total", map[string]string{"app": "pm"}))
	reads := val("brook_store_cache_hits_total", with("store", "pc")) + val("brook_store_cache_misses_total", with("store", "pc"))
	assert.EqualValues(t, 20, reads)
	assert.EqualValues(t, 1, val("brook_restore_done", with("store", "pc")))
	h := find(t, fams, "brook_process_latency_seconds", task).Histogram
	require.NotNil(t, h)
	assert.EqualValues(t, 25, h.GetSampleCount())
	assert.Len(t, h.Bucket, len(stream.LatencyBounds)+1) // and +Inf
	assert.EqualValues(t, 25, h.Bucket[len(h.Bucket)-1].GetCumulativeCount())

	// franz-go's own metrics, through kprom, in the same registry.
	var kgoMetrics int
	for name := range fams {
		if len(name) > 4 && name[:4] == "kgo_" {
			kgoMetrics++
		}
	}
	assert.Positive(t, kgoMetrics, "kprom metrics served")
	assert.Positive(t, val("kgo_connects_total", map[string]string{"node_id": "0"}))
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// find returns the metric of family name whose labels include labels.
func find(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	f := fams[name]
	require.NotNil(t, f, "metric %s not served", name)
outer:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue outer
			}
		}
		return m
	}
	t.Fatalf("no %s with labels %v", name, labels)
	return nil
}
