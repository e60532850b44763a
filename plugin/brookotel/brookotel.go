// Package brookotel exports the metrics of a brook App to OpenTelemetry.
//
// It is a module of its own, so that brook's core pulls in no
// OpenTelemetry code. Its Producer hands an App's metrics to an SDK
// reader, which exports them with the rest of the process's metrics:
//
//	reader := sdkmetric.NewPeriodicReader(exporter, sdkmetric.WithProducer(brookotel.NewProducer(app)))
//	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
//
// A Producer reads App.Metrics and App.Status at each collection: it adds
// no work to processing. Counters are cumulative sums; latencies are
// histograms with stream.LatencyBounds. The names (brook.records.processed
// and so on) are listed in docs/OPERATIONS.md; task, store, topic,
// partition and reason are attributes. Sums of a task that moved to another
// instance stay exported with their last values; gauges (lag, store sizes,
// restores) only while the instance holds the task.
package brookotel

import (
	"context"
	"time"

	"github.com/brookstream/brook/stream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// ScopeName is the instrumentation scope of the metrics a Producer makes.
const ScopeName = "github.com/brookstream/brook/plugin/brookotel"

// Opt configures a Producer.
type Opt func(*Producer)

// Attributes adds attributes to every data point, such as the instance.
// Default none.
func Attributes(kv ...attribute.KeyValue) Opt {
	return func(p *Producer) { p.attrs = append(p.attrs, kv...) }
}

// Producer is an sdkmetric.Producer of one App's metrics.
type Producer struct {
	app   *stream.App
	attrs []attribute.KeyValue
	start time.Time
}

var _ sdkmetric.Producer = (*Producer)(nil)

// NewProducer returns a Producer of app's metrics; give it to a reader
// with sdkmetric.WithProducer. The start time of its cumulative sums is
// the time NewProducer is called.
func NewProducer(app *stream.App, opts ...Opt) *Producer {
	p := &Producer{app: app, start: time.Now()}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Produce implements sdkmetric.Producer. It is safe to call concurrently.
func (p *Producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	st := p.app.Status()
	m := p.app.Metrics()
	now := time.Now()
	b := builder{attrs: p.attrs, start: p.start, now: now}

	b.gauge("brook.state", "1 for the App's current lifecycle state and what it waits for.", "1", 1,
		attribute.String("state", st.State.String()), attribute.String("waiting_for", st.Waiting.String()))
	b.gauge("brook.ready", "1 while the App is RUNNING and waits for nothing, else 0.", "1", b2f(st.Ready()))
	b.gauge("brook.tasks.assigned", "Tasks this instance holds.", "{task}", float64(st.Tasks))
	b.sum("brook.commits", "Commits: transactions committed (exactly-once) or offset commits (at-least-once).", "{commit}", m.Commits)
	b.sum("brook.aborts", "Transactions aborted.", "{abort}", m.Aborts)
	b.hist("brook.commit.duration", "Time of a commit or abort, from the barrier to the broker's answer.", m.CommitLatency)
	b.sum("brook.rebalances", "Assignments received from the consumer group.", "{rebalance}", m.Rebalances)
	b.hist("brook.rebalance.duration", "Time from a revoke (or the start of a join) to the assignment.", m.RebalanceLatency)
	b.sum("brook.rebalance.probes", "Probing rebalances this instance asked for while it held warm-up replicas.", "{rebalance}", m.Probes)
	b.gauge("brook.tasks.standby", "Standby replicas this instance keeps.", "{task}", float64(len(m.Standbys)))
	b.gauge("brook.tasks.warmup", "Warm-up replicas this instance keeps.", "{task}", float64(len(m.Warmups)))
	for task, lag := range m.ReplicaLag {
		b.gauge("brook.replica.lag", "Changelog records a standby or warm-up replica is behind, summed over the task's stores.", "{record}", float64(lag), attribute.String("task", task))
	}
	for _, t := range m.Tasks {
		task := attribute.String("task", t.Task)
		b.sum("brook.records.processed", "Input records processed by the task, bad and dropped ones included.", "{record}", t.Processed, task)
		b.sum("brook.records.produced", "Records the task sent to sink and repartition topics.", "{record}", t.Produced, task)
		const skipped = "Records the task skipped: bad records (SkipBadRecord), null keys, null values, late records."
		b.sum("brook.records.skipped", skipped, "{record}", t.Skipped, task, attribute.String("reason", "bad"))
		b.sum("brook.records.skipped", skipped, "{record}", t.Dropped.NullKeys, task, attribute.String("reason", "null_key"))
		b.sum("brook.records.skipped", skipped, "{record}", t.Dropped.NullValues, task, attribute.String("reason", "null_value"))
		b.sum("brook.records.skipped", skipped, "{record}", t.Dropped.Late, task, attribute.String("reason", "late"))
		b.sum("brook.records.dead_lettered", "Bad records the task sent to the dead-letter topic.", "{record}", t.DeadLettered, task)
		b.hist("brook.process.duration", "Time to process one record, measured per fetched batch.", t.ProcessLatency, task)
		for _, s := range t.Stores {
			store := attribute.String("store", s.Store)
			b.sum("brook.store.cache.hits", "Reads of the store answered by its write-back cache.", "{read}", s.CacheHits, task, store)
			b.sum("brook.store.cache.misses", "Reads of the store that went below its write-back cache.", "{read}", s.CacheMisses, task, store)
			if reads := s.CacheHits + s.CacheMisses; reads > 0 {
				b.gauge("brook.store.cache.hit_ratio", "Cache hits over reads of the store since the App started.", "1", float64(s.CacheHits)/float64(reads), task, store)
			}
		}
		if !t.Assigned {
			continue
		}
		for _, l := range t.Lag {
			b.gauge("brook.consumer.lag", "Offsets between the last record fetched and the partition's last stable offset.", "{offset}", float64(l.Lag),
				task, attribute.String("topic", l.Topic), attribute.Int("partition", int(l.Partition)))
		}
		for _, s := range t.Stores {
			store := attribute.String("store", s.Store)
			b.gauge("brook.store.entries", "Approximate entries of the store (sampled at most every 10s).", "{entry}", float64(s.Entries), task, store)
			b.gauge("brook.store.cache.size", "Bytes in the store's write-back cache at the last commit.", "By", float64(s.CacheBytes), task, store)
			b.gauge("brook.restore.records", "Changelog records applied by the store's last restore.", "{record}", float64(s.Restored), task, store)
			remaining := int64(0)
			if s.Restoring {
				remaining = max(s.ToRestore-s.Restored, 0)
			}
			b.gauge("brook.restore.remaining", "Changelog offsets the store's restore has still to read; 0 once done.", "{offset}", float64(remaining), task, store)
			b.gauge("brook.restore.rate", "Rate of the store's last restore.", "{record}/s", s.RestoreRate, task, store)
			b.gauge("brook.restore.done", "1 once the store's last restore is done, 0 while it runs.", "1", b2f(!s.Restoring), task, store)
		}
	}
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: ScopeName}, Metrics: b.out}}, nil
}

// builder gathers data points into one metricdata.Metrics per name, in the
// order names first appear.
type builder struct {
	attrs      []attribute.KeyValue
	start, now time.Time
	out        []metricdata.Metrics
	index      map[string]int
}

func (b *builder) set(kv []attribute.KeyValue) attribute.Set {
	all := make([]attribute.KeyValue, 0, len(b.attrs)+len(kv))
	all = append(append(all, b.attrs...), kv...)
	return attribute.NewSet(all...)
}

// metric returns the Metrics named name, adding it with data if new.
func (b *builder) metric(name, desc, unit string, data metricdata.Aggregation) *metricdata.Metrics {
	if b.index == nil {
		b.index = map[string]int{}
	}
	i, ok := b.index[name]
	if !ok {
		i = len(b.out)
		b.index[name] = i
		b.out = append(b.out, metricdata.Metrics{Name: name, Description: desc, Unit: unit, Data: data})
	}
	return &b.out[i]
}

func (b *builder) sum(name, desc, unit string, v int64, kv ...attribute.KeyValue) {
	m := b.metric(name, desc, unit, metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true})
	s := m.Data.(metricdata.Sum[int64])
	s.DataPoints = append(s.DataPoints, metricdata.DataPoint[int64]{Attributes: b.set(kv), StartTime: b.start, Time: b.now, Value: v})
	m.Data = s
}

func (b *builder) gauge(name, desc, unit string, v float64, kv ...attribute.KeyValue) {
	m := b.metric(name, desc, unit, metricdata.Gauge[float64]{})
	g := m.Data.(metricdata.Gauge[float64])
	g.DataPoints = append(g.DataPoints, metricdata.DataPoint[float64]{Attributes: b.set(kv), Time: b.now, Value: v})
	m.Data = g
}

func (b *builder) hist(name, desc string, h stream.Histogram, kv ...attribute.KeyValue) {
	m := b.metric(name, desc, "s", metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality})
	hd := m.Data.(metricdata.Histogram[float64])
	hd.DataPoints = append(hd.DataPoints, metricdata.HistogramDataPoint[float64]{
		Attributes: b.set(kv), StartTime: b.start, Time: b.now,
		Count: h.Count, Sum: h.Sum, Bounds: append([]float64(nil), h.Bounds...), BucketCounts: append([]uint64(nil), h.Counts...),
	})
	m.Data = hd
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
