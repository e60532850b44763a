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
	"github.com/twmb/franz-go/pkg/kgo"
)

// A stream-table join whose inputs have different partition counts fails
// at start, naming both topics and counts and saying what to do.
func TestJoinCopartitionMismatch(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("cp-orders", 3)
	k.Topic("cp-customers", 6)
	k.Topic("cp-out", 3)
	b := stream.NewBuilder()
	customers := stream.SourceTable(b, "cp-customers", serde.String(), serde.String())
	stream.Source(b, "cp-orders", serde.String(), serde.String()).
		Join(customers, func(o, c string) string { return o + "/" + c }).
		To("cp-out", nil, nil)
	app, err := stream.New(b, stream.Config{AppID: "cp", Brokers: k.Addrs, StateDir: t.TempDir()})
	require.NoError(t, err)
	err = app.Run(context.Background())
	var ce *stream.CopartitionError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, map[string]int{"cp-orders": 3, "cp-customers": 6}, ce.Partitions)
	assert.Contains(t, err.Error(), "cp-customers has 6, cp-orders has 3")
	assert.Contains(t, err.Error(), "GlobalTable")
}

// joinTopology re-keys orders (key: order id, value "customer:item") by
// customer and joins them with the customers table; the re-keyed stream
// goes through a repartition topic first.
func joinTopology(in, table, out string) *stream.Builder {
	b := stream.NewBuilder()
	customers := stream.SourceTable(b, table, serde.String(), serde.String(), stream.Materialized("customers"))
	stream.Source(b, in, serde.String(), serde.String()).
		SelectKey(func(_, v string) string { return strings.SplitN(v, ":", 2)[0] }).
		LeftJoin(customers, func(order, name string) string {
			if name == "" {
				name = "?"
			}
			return order + "@" + name
		}).
		To(out, nil, nil)
	return b
}

// A stream-table join in a running App over three partitions: the orders
// are repartitioned by customer, every order is joined once with the
// customer row as it is when the order is processed.
func TestStreamTableJoinApp(t *testing.T) {
	k := kafkatest.New(t)
	for _, tp := range []string{"j-orders", "j-customers", "j-out"} {
		k.Topic(tp, 3)
	}
	var custs []*kgo.Record
	for i := range 10 {
		custs = append(custs, &kgo.Record{Topic: "j-customers", Key: fmt.Appendf(nil, "c%d", i), Value: fmt.Appendf(nil, "name%d", i)})
	}
	k.Produce(false, custs...)
	b := joinTopology("j-orders", "j-customers", "j-out")
	assert.Contains(t, b.Describe(), "KSTREAM-KEY-SELECT-0000000003-repartition")
	app, err := stream.New(b, stream.Config{AppID: "j", Brokers: k.Addrs, StateDir: t.TempDir()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	// Wait until the table holds every customer, then send the orders.
	waitRows(t, app, "customers", 10)
	var want []string
	var recs []*kgo.Record
	for i := range 30 {
		c := i % 12 // c10 and c11 have no row
		v := fmt.Sprintf("c%d:item%d", c, i)
		recs = append(recs, &kgo.Record{Topic: "j-orders", Key: fmt.Appendf(nil, "o%d", i), Value: []byte(v)})
		name := fmt.Sprintf("name%d", c)
		if c >= 10 {
			name = "?"
		}
		want = append(want, fmt.Sprintf("c%d=%s@%s", c, v, name))
	}
	k.Produce(false, recs...)
	var got []string
	for _, r := range k.Read("j-out", len(want), 30*time.Second) {
		got = append(got, string(r.Key)+"="+string(r.Value))
	}
	slices.Sort(got)
	slices.Sort(want)
	assert.Equal(t, want, got)
	assert.Len(t, k.ReadAll("j-out", time.Second), len(want), "no duplicates")
}

// A global table in a running App: loaded to the end of its topic before
// the first order is processed (the orders were written before the App
// started), kept up to date afterwards, and queryable with App.Store.
func TestGlobalTableApp(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("g-products", 2)
	k.Topic("g-orders", 3)
	k.Topic("g-out", 3)
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, &kgo.Record{Topic: "g-products", Key: fmt.Appendf(nil, "p%d", i), Value: fmt.Appendf(nil, "old%d", i)})
	}
	for i := range 20 {
		recs = append(recs, &kgo.Record{Topic: "g-products", Key: fmt.Appendf(nil, "p%d", i), Value: fmt.Appendf(nil, "prod%d", i)})
	}
	recs = append(recs, &kgo.Record{Topic: "g-products", Key: []byte("p19")}) // deleted
	k.Produce(false, recs...)
	recs = nil
	var want []string
	for i := range 25 {
		p := fmt.Sprintf("p%d", i%21)
		recs = append(recs, &kgo.Record{Topic: "g-orders", Key: fmt.Appendf(nil, "o%d", i), Value: []byte(p)})
		if i%21 < 19 {
			want = append(want, fmt.Sprintf("o%d=%s:prod%d", i, p, i%21))
		}
	}
	k.Produce(false, recs...)

	b := stream.NewBuilder()
	products := stream.GlobalTable(b, "g-products", serde.String(), serde.String(), stream.Materialized("products"))
	stream.Source(b, "g-orders", serde.String(), serde.String()).
		JoinGlobal(products, func(_, p string) string { return p }, func(p, name string) string { return p + ":" + name }).
		To("g-out", nil, nil)
	app, err := stream.New(b, stream.Config{AppID: "g", Brokers: k.Addrs, StateDir: t.TempDir()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	read := func(n int) []string {
		var got []string
		for _, r := range k.Read("g-out", n, 30*time.Second) {
			got = append(got, string(r.Key)+"="+string(r.Value))
		}
		slices.Sort(got)
		return got
	}
	slices.Sort(want)
	assert.Equal(t, want, read(len(want)))

	view, err := app.Store[string, string]("products")
	require.NoError(t, err)
	v, ok, err := view.Get("p3")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "prod3", v)
	_, ok, err = view.Get("p19")
	require.NoError(t, err)
	assert.False(t, ok, "deleted")
	n := 0
	for range view.All() {
		n++
	}
	assert.Equal(t, 19, n)

	// An update of the global topic reaches the store, then the joins.
	k.Produce(false, &kgo.Record{Topic: "g-products", Key: []byte("p19"), Value: []byte("new19")})
	require.Eventually(t, func() bool {
		v, ok, err := view.Get("p19")
		return err == nil && ok && v == "new19"
	}, 30*time.Second, 20*time.Millisecond)
	k.Produce(false, &kgo.Record{Topic: "g-orders", Key: []byte("o99"), Value: []byte("p19")})
	want = append(want, "o99=p19:new19")
	slices.Sort(want)
	assert.Equal(t, want, read(len(want)))
}

// A global table record that does not deserialize stops the App at load,
// naming the topic, partition and offset; a missing global topic is a
// *MissingTopicsError.
func TestGlobalTableBadRecord(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("gb-prices", 1)
	k.Topic("gb-in", 1)
	k.Topic("gb-out", 1)
	k.Produce(false, int64Rec("gb-prices", "a", 1), &kgo.Record{Topic: "gb-prices", Key: []byte("b"), Value: []byte("bad")})
	build := func(topic string) *stream.Builder {
		b := stream.NewBuilder()
		g := stream.GlobalTable(b, topic, serde.String(), serde.Int64())
		stream.Source(b, "gb-in", serde.String(), serde.String()).
			JoinGlobal(g, func(_, v string) string { return v }, func(v string, p int64) string { return fmt.Sprint(v, p) }).
			To("gb-out", nil, nil)
		return b
	}
	app, err := stream.New(build("gb-prices"), stream.Config{AppID: "gb", Brokers: k.Addrs, StateDir: t.TempDir()})
	require.NoError(t, err)
	err = app.Run(context.Background())
	var re *stream.RecordError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "gb-prices", re.Topic)
	assert.Equal(t, int32(0), re.Partition)
	assert.Equal(t, int64(1), re.Offset)
	assert.ErrorIs(t, err, serde.ErrSize)

	app, err = stream.New(build("gb-missing"), stream.Config{AppID: "gb2", Brokers: k.Addrs, StateDir: t.TempDir()})
	require.NoError(t, err)
	err = app.Run(context.Background())
	var me *stream.MissingTopicsError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, []string{"gb-missing"}, me.Topics)
}

// waitRows waits until the local part of app's string store holds n rows.
func waitRows(t *testing.T, app *stream.App, store string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		view, err := app.Store[string, string](store)
		if err != nil {
			return false
		}
		got := 0
		for range view.All() {
			got++
		}
		return got == n
	}, 30*time.Second, 50*time.Millisecond, "store %s: want %d rows", store, n)
}
