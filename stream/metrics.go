package stream

import "github.com/brookstream/brook/internal/runtime"

// Metrics is a snapshot of an App's metrics, per App and per task, taken
// by App.Metrics. Counters count from the App's creation and never go
// down; a task that moved to another instance keeps its last values here
// (Assigned false). The plugin modules export it: brookprom to
// Prometheus, brookotel to OpenTelemetry; see docs/OPERATIONS.md for the
// names.
type Metrics = runtime.Metrics

// TaskMetrics are the metrics of one task: records processed, produced,
// skipped, dead-lettered and dropped, the processing latency, the lag of
// each input partition and its stores.
type TaskMetrics = runtime.TaskMetrics

// StoreMetrics are the metrics of one store of one task: its approximate
// entry count, its write-back cache size, hits and misses, and its last
// restore's progress and rate.
type StoreMetrics = runtime.StoreMetrics

// PartitionLag is the consumer lag of one input partition of a task.
type PartitionLag = runtime.PartitionLag

// Histogram is a latency histogram: counts per bucket (not cumulative,
// one more than the bounds), the number of observations and their sum in
// seconds.
type Histogram = runtime.Histogram

// LatencyBounds are the upper bounds, in seconds, of the buckets of every
// latency histogram (1µs to 60s). The caller must not modify them.
var LatencyBounds = runtime.LatencyBounds

// Metrics returns a snapshot of the App's metrics: a new value each call,
// which the caller owns (except Histogram.Bounds, which is LatencyBounds).
// Safe to call at any time from any goroutine; it takes locks briefly and
// never waits for processing.
func (a *App) Metrics() Metrics { return a.eng.Metrics() }
