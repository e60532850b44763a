// Package kafkatest has helpers for tests that run brook against the
// in-process Kafka: topics, producing input, reading output.
//
// With BROOK_TEST_KAFKA=host:port (embedded.EnvBrokers) every test runs
// against that broker instead, emptied before each test. StartBroker runs a
// real Apache Kafka broker that a test owns, for faults such as SIGKILL.
package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/embedded"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka is an in-process cluster for one test.
type Kafka struct {
	t     testing.TB
	C     *embedded.Cluster
	Addrs []string
}

// New starts a cluster that is closed when the test ends.
func New(t testing.TB) *Kafka {
	t.Helper()
	c, err := embedded.Start()
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return &Kafka{t: t, C: c, Addrs: c.Addrs()}
}

// External reports whether tests run against the external broker of
// BROOK_TEST_KAFKA rather than the in-process one.
func External() bool { return embedded.External() != nil }

// Kfake returns the in-process cluster for fault injection (ControlKey and
// the like). On an external broker there is none: the test is skipped with
// reason, which says what the test needs.
func (k *Kafka) Kfake(reason string) *kfake.Cluster {
	k.t.Helper()
	var c *kfake.Cluster
	if k.C != nil {
		c = k.C.Kfake()
	}
	if c == nil {
		k.t.Skipf("needs the in-process Kafka (%s); this test runs on an external broker", reason)
	}
	return c
}

// Topic creates a topic with n partitions.
func (k *Kafka) Topic(name string, n int32) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(k.t, embedded.CreateTopic(ctx, k.Addrs, name, n, nil))
}

// Client returns a plain client, closed when the test ends.
func (k *Kafka) Client(opts ...kgo.Opt) *kgo.Client {
	k.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.Addrs...)}, opts...)...)
	require.NoError(k.t, err)
	k.t.Cleanup(cl.Close)
	return cl
}

// Produce writes records synchronously; a record's Partition is used as is
// when Manual is true.
func (k *Kafka) Produce(manual bool, recs ...*kgo.Record) {
	k.t.Helper()
	opts := []kgo.Opt{}
	if manual {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl := k.Client(opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(k.t, cl.ProduceSync(ctx, recs...).FirstErr())
	cl.Close()
}

// Read reads topic from the start, read_committed, until it has n records
// or timeout passes, and returns what it read.
func (k *Kafka) Read(topic string, n int, timeout time.Duration) []*kgo.Record {
	k.t.Helper()
	cl := k.Client(
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// ReadAll reads topic until no new record arrives for quiet.
func (k *Kafka) ReadAll(topic string, quiet time.Duration) []*kgo.Record {
	k.t.Helper()
	cl := k.Client(
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	defer cl.Close()
	var out []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), quiet)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r); n++ })
		if n == 0 && ctx.Err() != nil {
			return out
		}
	}
}
