package stream_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A table-table join whose tables have different partition counts fails
// at start, naming both topics and counts and saying what to do.
func TestTableTableJoinCopartitionMismatch(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("tcp-a", 3)
	k.Topic("tcp-b", 6)
	k.Topic("tcp-out", 3)
	b := stream.NewBuilder()
	ta := stream.SourceTable(b, "tcp-a", serde.String(), serde.String())
	tb := stream.SourceTable(b, "tcp-b", serde.String(), serde.String())
	ta.Join(tb, func(x, y string) string { return x + "+" + y }).ToStream().To("tcp-out", nil, nil)
	app, err := stream.New(b, stream.Config{AppID: "tcp", Brokers: k.Addrs, StateDir: t.TempDir()})
	require.NoError(t, err)
	err = app.Run(context.Background())
	var ce *stream.CopartitionError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, map[string]int{"tcp-a": 3, "tcp-b": 6}, ce.Partitions)
	assert.Contains(t, err.Error(), "tcp-a has 3, tcp-b has 6")
	assert.Contains(t, err.Error(), "create them with the same count")
}

// partitionsOf returns the partition count of each topic.
func partitionsOf(t *testing.T, k *kafkatest.Kafka, topics ...string) map[string]int {
	td, err := kadm.NewClient(k.Client()).ListTopics(context.Background(), topics...)
	require.NoError(t, err)
	out := map[string]int{}
	for _, tp := range topics {
		out[tp] = len(td[tp].Partitions)
	}
	return out
}

// A stream re-keyed upstream of a stream-table join is repartitioned, and
// its repartition topic gets the table's partition count, not the count
// of the stream's own topic (6 here, the table 3), as Kafka Streams
// co-partitions a join's repartition topics with its other inputs: the
// join works and every order is joined once.
func TestStreamTableJoinRepartitionsToTableCount(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("rp-orders", 6)
	k.Topic("rp-customers", 3)
	k.Topic("rp-out", 3)
	var custs []*kgo.Record
	for i := range 4 {
		custs = append(custs, &kgo.Record{Topic: "rp-customers", Key: fmt.Appendf(nil, "c%d", i), Value: fmt.Appendf(nil, "name%d", i)})
	}
	k.Produce(false, custs...)
	b := stream.NewBuilder()
	customers := stream.SourceTable(b, "rp-customers", serde.String(), serde.String(), stream.Materialized("rp-customers-store"))
	stream.Source(b, "rp-orders", serde.String(), serde.String()).
		SelectKey(func(_, v string) string { return strings.SplitN(v, ":", 2)[0] }).
		Join(customers, func(o, c string) string { return o + "@" + c }, stream.Named("by-customer")).
		To("rp-out", nil, nil)
	app, err := stream.New(b, stream.Config{AppID: "rp", Brokers: k.Addrs, StateDir: t.TempDir()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	waitRows(t, app, "rp-customers-store", 4)
	assert.Equal(t, map[string]int{"rp-by-customer-repartition": 3}, partitionsOf(t, k, "rp-by-customer-repartition"))
	var recs []*kgo.Record
	var want []string
	for i := range 24 {
		v := fmt.Sprintf("c%d:item%d", i%4, i)
		recs = append(recs, &kgo.Record{Topic: "rp-orders", Key: fmt.Appendf(nil, "o%d", i), Value: []byte(v)})
		want = append(want, fmt.Sprintf("c%d=%s@name%d", i%4, v, i%4))
	}
	k.Produce(false, recs...)
	var got []string
	for _, r := range k.Read("rp-out", len(want), 30*time.Second) {
		got = append(got, string(r.Key)+"="+string(r.Value))
	}
	slices.Sort(got)
	slices.Sort(want)
	assert.Equal(t, want, got)
	assert.Len(t, k.ReadAll("rp-out", time.Second), len(want), "no duplicates")
}

// A table re-keyed upstream (a GroupBy aggregation of a 6-partition
// stream) joined with a 3-partition table: the aggregation's repartition
// topic gets the other table's 3 partitions and the join's result is
// exact.
func TestTableTableJoinRepartitionsToTableCount(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("rt-clicks", 6)
	k.Topic("rt-users", 3)
	k.Topic("rt-out", 3)
	b := stream.NewBuilder()
	users := stream.SourceTable(b, "rt-users", serde.String(), serde.String(), stream.Materialized("rt-users-store"))
	counts := stream.Source(b, "rt-clicks", serde.String(), serde.String()).
		GroupBy(func(_, user string) string { return user }, serde.String(), stream.Named("by-user")).
		Count(stream.Materialized("rt-counts"))
	users.Join(counts, func(name string, n int64) string { return fmt.Sprintf("%s:%d", name, n) }).
		ToStream().To("rt-out", nil, nil)
	app, err := stream.New(b, stream.Config{AppID: "rt", Brokers: k.Addrs, StateDir: t.TempDir()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	var users0 []*kgo.Record
	for i := range 3 {
		users0 = append(users0, &kgo.Record{Topic: "rt-users", Key: fmt.Appendf(nil, "u%d", i), Value: fmt.Appendf(nil, "name%d", i)})
	}
	k.Produce(false, users0...)
	waitRows(t, app, "rt-users-store", 3)
	assert.Equal(t, map[string]int{"rt-by-user-repartition": 3}, partitionsOf(t, k, "rt-by-user-repartition"))
	// Two clicks per user, on different partitions of the click topic:
	// each user's count goes 1 then 2, each joined with the user's name.
	var clicks []*kgo.Record
	for i := range 6 {
		clicks = append(clicks, &kgo.Record{Topic: "rt-clicks", Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "u%d", i%3)})
	}
	k.Produce(false, clicks...)
	want := []string{"u0=name0:1", "u0=name0:2", "u1=name1:1", "u1=name1:2", "u2=name2:1", "u2=name2:2"}
	var got []string
	for _, r := range k.Read("rt-out", len(want), 30*time.Second) {
		got = append(got, string(r.Key)+"="+string(r.Value))
	}
	slices.Sort(got)
	assert.Equal(t, want, got)
	assert.Len(t, k.ReadAll("rt-out", time.Second), len(want), "no duplicates")
}
