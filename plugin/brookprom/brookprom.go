// Package brookprom exports the metrics of a brook App to Prometheus.
//
// It is a module of its own, so that brook's core pulls in no Prometheus
// code:
//
//	app, err := stream.New(b, cfg)
//	...
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(brookprom.NewCollector(app))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The Collector reads App.Metrics at each scrape: it adds no work to
// processing. The names it exports (with the default namespace "brook")
// are listed in docs/OPERATIONS.md; task, store, topic and partition are
// labels. Counters of a task that moved to another instance stay exported
// with their last values; gauges (lag, store sizes, restores) only while
// the instance holds the task.
//
// ClientHooks adds franz-go's own client metrics, through its kprom
// plugin, to the same registry.
package brookprom

import (
	"strconv"

	"github.com/brookstream/brook/stream"
	"github.com/prometheus/client_golang/prometheus"
)

// Opt configures a Collector.
type Opt func(*Collector)

// Namespace sets the first part of every metric name. Default "brook".
func Namespace(ns string) Opt { return func(c *Collector) { c.ns = ns } }

// ConstLabels adds labels with fixed values to every metric, such as the
// instance or the application. Default none.
func ConstLabels(l prometheus.Labels) Opt { return func(c *Collector) { c.labels = l } }

// Collector is a prometheus.Collector of one App's metrics.
type Collector struct {
	app    *stream.App
	ns     string
	labels prometheus.Labels

	state, ready, tasks                                      *prometheus.Desc
	processed, produced, skipped, deadLettered               *prometheus.Desc
	processLatency, commits, aborts, commitLatency           *prometheus.Desc
	rebalances, rebalanceLatency, lag                        *prometheus.Desc
	probes, standbys, warmups, replicaLag                    *prometheus.Desc
	entries, cacheBytes, cacheHits, cacheMisses, cacheRatio  *prometheus.Desc
	restored, restoreRemaining, restoreRate, restoreComplete *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector of app's metrics; register it with a
// prometheus.Registerer.
func NewCollector(app *stream.App, opts ...Opt) *Collector {
	c := &Collector{app: app, ns: "brook"}
	for _, o := range opts {
		o(c)
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(c.ns, "", name), help, labels, c.labels)
	}
	c.state = d("state", "1 for the App's current lifecycle state and what it waits for.", "state", "waiting_for")
	c.ready = d("ready", "1 while the App is RUNNING and waits for nothing, else 0.")
	c.tasks = d("tasks_assigned", "Tasks this instance holds.")
	c.processed = d("records_processed_total", "Input records processed by the task, bad and dropped ones included.", "task")
	c.produced = d("records_produced_total", "Records the task sent to sink and repartition topics.", "task")
	c.skipped = d("records_skipped_total", "Records the task skipped: bad records (SkipBadRecord), null keys, null values, late records.", "task", "reason")
	c.deadLettered = d("records_dead_lettered_total", "Bad records the task sent to the dead-letter topic.", "task")
	c.processLatency = d("process_latency_seconds", "Time to process one record, measured per fetched batch.", "task")
	c.commits = d("commits_total", "Commits: transactions committed (exactly-once) or offset commits (at-least-once).")
	c.aborts = d("aborts_total", "Transactions aborted.")
	c.commitLatency = d("commit_latency_seconds", "Time of a commit or abort, from the barrier to the broker's answer.")
	c.rebalances = d("rebalances_total", "Assignments received from the consumer group.")
	c.rebalanceLatency = d("rebalance_duration_seconds", "Time from a revoke (or the start of a join) to the assignment.")
	c.probes = d("probing_rebalances_total", "Probing rebalances this instance asked for while it held warm-up replicas.")
	c.standbys = d("standby_tasks", "Standby replicas this instance keeps.")
	c.warmups = d("warmup_tasks", "Warm-up replicas this instance keeps.")
	c.replicaLag = d("replica_lag", "Changelog records a standby or warm-up replica is behind, summed over the task's stores.", "task")
	c.lag = d("consumer_lag", "Offsets between the last record fetched and the partition's last stable offset.", "task", "topic", "partition")
	c.entries = d("store_entries", "Approximate entries of the store (sampled at most every 10s).", "task", "store")
	c.cacheBytes = d("store_cache_bytes", "Bytes in the store's write-back cache at the last commit.", "task", "store")
	c.cacheHits = d("store_cache_hits_total", "Reads of the store answered by its write-back cache.", "task", "store")
	c.cacheMisses = d("store_cache_misses_total", "Reads of the store that went below its write-back cache.", "task", "store")
	c.cacheRatio = d("store_cache_hit_ratio", "Cache hits over reads of the store since the App started.", "task", "store")
	c.restored = d("restore_records", "Changelog records applied by the store's last restore.", "task", "store")
	c.restoreRemaining = d("restore_remaining_offsets", "Changelog offsets the store's restore has still to read; 0 once done.", "task", "store")
	c.restoreRate = d("restore_records_per_second", "Rate of the store's last restore.", "task", "store")
	c.restoreComplete = d("restore_done", "1 once the store's last restore is done, 0 while it runs.", "task", "store")
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.state, c.ready, c.tasks, c.processed, c.produced, c.skipped, c.deadLettered,
		c.processLatency, c.commits, c.aborts, c.commitLatency, c.rebalances, c.rebalanceLatency, c.lag,
		c.probes, c.standbys, c.warmups, c.replicaLag,
		c.entries, c.cacheBytes, c.cacheHits, c.cacheMisses, c.cacheRatio,
		c.restored, c.restoreRemaining, c.restoreRate, c.restoreComplete,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads App.Metrics and
// App.Status once.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.app.Status()
	m := c.app.Metrics()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	hist := func(d *prometheus.Desc, h stream.Histogram, labels ...string) {
		buckets := make(map[float64]uint64, len(h.Bounds))
		var cum uint64
		for i, b := range h.Bounds {
			cum += h.Counts[i]
			buckets[b] = cum
		}
		ch <- prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets, labels...)
	}
	gauge(c.state, 1, st.State.String(), st.Waiting.String())
	gauge(c.ready, b2f(st.Ready()))
	gauge(c.tasks, float64(st.Tasks))
	counter(c.commits, m.Commits)
	counter(c.aborts, m.Aborts)
	hist(c.commitLatency, m.CommitLatency)
	counter(c.rebalances, m.Rebalances)
	hist(c.rebalanceLatency, m.RebalanceLatency)
	counter(c.probes, m.Probes)
	gauge(c.standbys, float64(len(m.Standbys)))
	gauge(c.warmups, float64(len(m.Warmups)))
	for task, lag := range m.ReplicaLag {
		gauge(c.replicaLag, float64(lag), task)
	}
	for _, t := range m.Tasks {
		counter(c.processed, t.Processed, t.Task)
		counter(c.produced, t.Produced, t.Task)
		counter(c.skipped, t.Skipped, t.Task, "bad")
		counter(c.skipped, t.Dropped.NullKeys, t.Task, "null_key")
		counter(c.skipped, t.Dropped.NullValues, t.Task, "null_value")
		counter(c.skipped, t.Dropped.Late, t.Task, "late")
		counter(c.deadLettered, t.DeadLettered, t.Task)
		hist(c.processLatency, t.ProcessLatency, t.Task)
		for _, s := range t.Stores {
			counter(c.cacheHits, s.CacheHits, t.Task, s.Store)
			counter(c.cacheMisses, s.CacheMisses, t.Task, s.Store)
			if reads := s.CacheHits + s.CacheMisses; reads > 0 {
				gauge(c.cacheRatio, float64(s.CacheHits)/float64(reads), t.Task, s.Store)
			}
		}
		if !t.Assigned {
			continue
		}
		for _, l := range t.Lag {
			gauge(c.lag, float64(l.Lag), t.Task, l.Topic, strconv.Itoa(int(l.Partition)))
		}
		for _, s := range t.Stores {
			gauge(c.entries, float64(s.Entries), t.Task, s.Store)
			gauge(c.cacheBytes, float64(s.CacheBytes), t.Task, s.Store)
			gauge(c.restored, float64(s.Restored), t.Task, s.Store)
			remaining := int64(0)
			if s.Restoring {
				remaining = max(s.ToRestore-s.Restored, 0)
			}
			gauge(c.restoreRemaining, float64(remaining), t.Task, s.Store)
			gauge(c.restoreRate, s.RestoreRate, t.Task, s.Store)
			gauge(c.restoreComplete, b2f(!s.Restoring), t.Task, s.Store)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
