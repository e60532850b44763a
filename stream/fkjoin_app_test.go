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

// A foreign-key join in a running App whose tables are not
// co-partitioned (orders on 3 partitions, customers on 2): the
// subscription topic is created with the customers' 2 partitions and the
// response topic with the orders' 3, and the output is exact: one result
// per order, one per order of an updated customer, a tombstone for a
// deleted order and for one moved to a missing customer.
func TestFKJoinApp(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("fk-orders", 3)
	k.Topic("fk-customers", 2)
	k.Topic("fk-out", 3)
	var custs []*kgo.Record
	for i := range 5 {
		custs = append(custs, &kgo.Record{Topic: "fk-customers", Key: fmt.Appendf(nil, "c%d", i), Value: fmt.Appendf(nil, "name%d", i)})
	}
	k.Produce(false, custs...)

	b := stream.NewBuilder()
	orders := stream.SourceTable(b, "fk-orders", serde.String(), serde.String(), stream.Materialized("fk-orders-store"))
	customers := stream.SourceTable(b, "fk-customers", serde.String(), serde.String(), stream.Materialized("fk-customers-store"))
	orders.JoinForeignKey(customers,
		func(_, v string) string { return strings.SplitN(v, ":", 2)[0] },
		func(v, c string) string { return v + "/" + c },
		stream.Named("by-customer"), stream.Materialized("fk-result")).
		ToStream().To("fk-out", nil, nil)
	app, err := stream.New(b, stream.Config{AppID: "fkapp", Brokers: k.Addrs, StateDir: t.TempDir()})
	require.NoError(t, err)
	desc := b.Describe()
	assert.Contains(t, desc, "Sink: by-customer-subscription-registration-sink (topic: fkapp-by-customer-subscription-registration-topic)")
	assert.Contains(t, desc, "Source: by-customer-subscription-response-source (topics: [fkapp-by-customer-subscription-response-topic])")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	waitRows(t, app, "fk-customers-store", 5)

	adm := kadm.NewClient(k.Client())
	td, err := adm.ListTopics(context.Background(), "fkapp-by-customer-subscription-registration-topic", "fkapp-by-customer-subscription-response-topic")
	require.NoError(t, err)
	assert.Len(t, td["fkapp-by-customer-subscription-registration-topic"].Partitions, 2, "co-partitioned with customers")
	assert.Len(t, td["fkapp-by-customer-subscription-response-topic"].Partitions, 3, "co-partitioned with orders")

	read := func(n int) []string {
		var got []string
		for _, r := range k.Read("fk-out", n, 30*time.Second) {
			v := string(r.Value)
			if r.Value == nil {
				v = "<deleted>"
			}
			got = append(got, string(r.Key)+"="+v)
		}
		slices.Sort(got)
		return got
	}
	var recs []*kgo.Record
	var want []string
	for i := range 20 {
		v := fmt.Sprintf("c%d:item%d", i%5, i)
		recs = append(recs, &kgo.Record{Topic: "fk-orders", Key: fmt.Appendf(nil, "o%02d", i), Value: []byte(v)})
		want = append(want, fmt.Sprintf("o%02d=%s/name%d", i, v, i%5))
	}
	// The topic is read from its start each time: want holds everything.
	k.Produce(false, recs...)
	slices.Sort(want)
	assert.Equal(t, want, read(len(want)), "one result per order")

	// A customer update reaches each of its orders once.
	k.Produce(false, &kgo.Record{Topic: "fk-customers", Key: []byte("c1"), Value: []byte("NAME1")})
	want = append(want, "o01=c1:item1/NAME1", "o06=c1:item6/NAME1", "o11=c1:item11/NAME1", "o16=c1:item16/NAME1")
	slices.Sort(want)
	assert.Equal(t, want, read(len(want)))

	// A deleted order, and an order moved to a customer that does not
	// exist: their results are deleted.
	k.Produce(false, &kgo.Record{Topic: "fk-orders", Key: []byte("o00")},
		&kgo.Record{Topic: "fk-orders", Key: []byte("o02"), Value: []byte("c9:item2")})
	want = append(want, "o00=<deleted>", "o02=<deleted>")
	slices.Sort(want)
	assert.Equal(t, want, read(len(want)))
	// A quiet window of 3 s: under -race on a loaded machine, a fetch of
	// the other partitions took longer than 1 s (8 records of 26 read).
	assert.Len(t, k.ReadAll("fk-out", 3*time.Second), len(want), "nothing more")

	// The result table holds the 18 orders left.
	require.Eventually(t, func() bool {
		view, err := app.Store[string, string]("fk-result")
		if err != nil {
			return false
		}
		got := map[string]string{}
		for k, v := range view.All() {
			got[k] = v
		}
		return len(got) == 18 && got["o01"] == "c1:item1/NAME1" && got["o03"] == "c3:item3/name3"
	}, 30*time.Second, 50*time.Millisecond)
}

// A foreign-key join's state comes back from its changelogs: a second App
// on an empty state directory restores the subscription store, and a
// customer update then reaches exactly the orders that refer to it.
func TestFKJoinRestore(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("fkr-orders", 2)
	k.Topic("fkr-customers", 3)
	k.Topic("fkr-out", 1)
	build := func() *stream.Builder {
		b := stream.NewBuilder()
		orders := stream.SourceTable(b, "fkr-orders", serde.String(), serde.String(), stream.Materialized("fkr-orders-store"))
		customers := stream.SourceTable(b, "fkr-customers", serde.String(), serde.String(), stream.Materialized("fkr-customers-store"))
		orders.LeftJoinForeignKey(customers,
			func(_, v string) string { return strings.SplitN(v, ":", 2)[0] },
			func(v, c string) string { return v + "/" + c },
			stream.Named("fkr"), stream.Materialized("fkr-result")).
			ToStream().To("fkr-out", nil, nil)
		return b
	}
	run := func() (*stream.App, func()) {
		app, err := stream.New(build(), stream.Config{AppID: "fkr", Brokers: k.Addrs, StateDir: t.TempDir()})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- app.Run(ctx) }()
		return app, func() {
			cancel()
			require.NoError(t, <-done)
		}
	}
	values := func() []string {
		var got []string
		for _, r := range k.ReadAll("fkr-out", time.Second) {
			got = append(got, string(r.Key)+"="+string(r.Value))
		}
		return got
	}
	_, stop := run()
	k.Produce(false, &kgo.Record{Topic: "fkr-customers", Key: []byte("c1"), Value: []byte("Ann")})
	k.Produce(false, &kgo.Record{Topic: "fkr-orders", Key: []byte("o1"), Value: []byte("c1:apple")},
		&kgo.Record{Topic: "fkr-orders", Key: []byte("o2"), Value: []byte("c2:pear")},
		&kgo.Record{Topic: "fkr-orders", Key: []byte("o3"), Value: []byte("c1:plum")})
	first := []string{"o1=c1:apple/Ann", "o2=c2:pear/", "o3=c1:plum/Ann"}
	got := k.Read("fkr-out", 3, 30*time.Second)
	require.Len(t, got, 3)
	stop()
	gotFirst := values()
	slices.Sort(gotFirst)
	require.Equal(t, first, gotFirst)

	app, stop := run()
	defer stop()
	require.Eventually(t, func() bool {
		view, err := app.Store[string, string]("fkr-result")
		if err != nil {
			return false
		}
		n := 0
		for range view.All() {
			n++
		}
		return n == 3
	}, 30*time.Second, 50*time.Millisecond, "restored")
	k.Produce(false, &kgo.Record{Topic: "fkr-customers", Key: []byte("c1"), Value: []byte("Anne")},
		&kgo.Record{Topic: "fkr-customers", Key: []byte("c2"), Value: []byte("Bob")})
	want := append(first, "o1=c1:apple/Anne", "o2=c2:pear/Bob", "o3=c1:plum/Anne")
	slices.Sort(want)
	var all []string
	for _, r := range k.Read("fkr-out", len(want), 30*time.Second) {
		all = append(all, string(r.Key)+"="+string(r.Value))
	}
	slices.Sort(all)
	assert.Equal(t, want, all)
	assert.Len(t, values(), len(want), "nothing more")
}
