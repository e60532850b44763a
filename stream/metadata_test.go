package stream_test

import (
	"context"
	"errors"
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

// wordsByKey counts the records of "in" by key in the store "words": one
// sub-topology, so that two instances split its tasks two and two.
func wordsByKey() *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, "in", serde.String(), serde.String()).
		GroupByKey().
		Count(stream.Materialized("words")).
		ToStream().
		To("out", nil, nil)
	return b
}

// TestKeyOwner runs two Apps of one group, each advertising an endpoint,
// and asks both, for every key, which instance holds it: both must agree,
// exactly one must hold it, its store must have the exact count, and the
// other's Get must fail with a *NotLocalError naming the owner. When one
// leaves, the other holds every key after the rebalance.
func TestKeyOwner(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("in", 4)
	k.Topic("out", 4)
	const (
		hostA = "host-a.example:7001"
		hostB = "[::1]:7002"
	)
	words := []string{"apple", "banana", "cherry", "date", "elder", "fig", "grape", "kiwi", "lemon", "mango", "nut", "olive"}
	want := map[string]int64{}
	var recs []*kgo.Record
	for i, w := range words {
		for j := 0; j <= i%4; j++ {
			recs = append(recs, rec("in", w, fmt.Sprint(j)))
			want[w]++
		}
	}
	k.Produce(false, recs...)

	mk := func(host string) *stream.App {
		app, err := stream.New(wordsByKey(), stream.Config{AppID: "owners", Brokers: k.Addrs, StateDir: t.TempDir(), ApplicationServer: host})
		require.NoError(t, err)
		return app
	}
	a, b := mk(hostA), mk(hostB)

	// Before Run nothing is known; a bad store name or key type is an error.
	_, err := a.KeyOwner[string]("words", "apple")
	require.ErrorIs(t, err, stream.ErrOwnerUnknown)
	_, err = a.StoreOwners("words")
	require.ErrorIs(t, err, stream.ErrOwnerUnknown)
	_, err = a.KeyOwner[string]("nope", "apple")
	require.ErrorIs(t, err, stream.ErrUnknownStore)
	_, err = a.KeyOwner[int64]("words", 1)
	require.ErrorIs(t, err, stream.ErrUnknownStore)
	_, err = a.StoreOwners("nope")
	require.ErrorIs(t, err, stream.ErrUnknownStore)

	run := func(app *stream.App) chan error {
		errc := make(chan error, 1)
		go func() { errc <- app.Run(context.Background()) }()
		t.Cleanup(app.Close)
		return errc
	}
	errA, errB := run(a), run(b)
	views := map[string]*stream.StoreView[string, int64]{}
	apps := map[string]*stream.App{hostA: a, hostB: b}
	for h, app := range apps {
		v, err := app.Store[string, int64]("words")
		require.NoError(t, err)
		views[h] = v
	}

	// Wait until both Apps are in the group's placement and every count is
	// committed at its owner.
	settled := func() error {
		for h, app := range apps {
			owners, err := app.StoreOwners("words")
			if err != nil {
				return err
			}
			if len(owners) != 2 || len(owners[0].Tasks) != 2 {
				return fmt.Errorf("%s sees %+v", h, owners)
			}
		}
		for _, w := range words {
			md, err := a.KeyOwner[string]("words", w)
			if err != nil {
				return err
			}
			n, ok, err := views[md.Active.String()].Get(w)
			if err != nil || !ok || n != want[w] {
				return fmt.Errorf("%s at %s: %d, %v, %v", w, md.Active, n, ok, err)
			}
		}
		return nil
	}
	deadline := time.Now().Add(45 * time.Second)
	for err := settled(); err != nil; err = settled() {
		if time.Now().After(deadline) {
			ma, _ := a.AllMetadata()
			mb, _ := b.AllMetadata()
			t.Fatalf("not settled: %v\na sees %+v\nb sees %+v", err, ma, mb)
		}
		time.Sleep(100 * time.Millisecond)
	}

	part := kgo.StickyKeyPartitioner(nil).ForTopic("")
	local := map[string]int{}
	for _, w := range words {
		mdA, err := a.KeyOwner[string]("words", w)
		require.NoError(t, err)
		mdB, err := b.KeyOwner[string]("words", w)
		require.NoError(t, err)
		assert.Equal(t, mdA.Active, mdB.Active, w)
		assert.Equal(t, mdA.Partition, mdB.Partition, w)
		assert.Equal(t, int32(part.Partition(&kgo.Record{Key: []byte(w)}, 4)), mdA.Partition, "murmur2 of %q", w)
		require.NotEqual(t, mdA.Local, mdB.Local, "exactly one instance holds %q", w)
		owner, other := hostA, hostB
		if mdB.Local {
			owner, other = hostB, hostA
		}
		assert.Equal(t, owner, mdA.Active.String())
		local[owner]++

		n, ok, err := views[owner].Get(w)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, want[w], n, w)
		_, _, err = views[other].Get(w)
		var nl *stream.NotLocalError
		require.ErrorAs(t, err, &nl, w)
		assert.Equal(t, mdA.Active, nl.Owner)
		assert.Equal(t, mdA.Partition, nl.Partition)
		assert.Contains(t, err.Error(), owner+" holds it")
	}
	t.Logf("keys held: %v", local)

	// Both see the same owners: two hosts splitting the four tasks, two
	// each.
	ownersA, err := a.StoreOwners("words")
	require.NoError(t, err)
	ownersB, err := b.StoreOwners("words")
	require.NoError(t, err)
	require.Len(t, ownersA, 2)
	require.Len(t, ownersB, 2)
	var tasks []string
	for i, m := range ownersA {
		assert.Equal(t, m.Host, ownersB[i].Host)
		assert.Equal(t, m.Tasks, ownersB[i].Tasks)
		assert.Equal(t, m.TopicPartitions, ownersB[i].TopicPartitions)
		assert.Equal(t, []string{"words"}, m.Stores)
		assert.Equal(t, m.Host.String() == hostA, m.Local, "a's view of %s", m.Host)
		assert.Equal(t, m.Host.String() == hostB, ownersB[i].Local, "b's view of %s", m.Host)
		assert.Len(t, m.Tasks, 2, m.Host)
		tasks = append(tasks, m.Tasks...)
		require.Len(t, m.TopicPartitions, 2)
		for j, tp := range m.TopicPartitions {
			assert.Equal(t, "in-"+strings.TrimPrefix(m.Tasks[j], "0_"), tp.String())
		}
	}
	slices.Sort(tasks)
	assert.Equal(t, []string{"0_0", "0_1", "0_2", "0_3"}, tasks)
	assert.Len(t, local, 2, "both instances hold keys: %v", local)
	assert.Equal(t, []string{"::1", "host-a.example"}, []string{ownersA[0].Host.Host, ownersA[1].Host.Host})
	assert.Equal(t, "[::1]:7002", ownersA[0].Host.String())

	// After b leaves, the next rebalance gives a every key.
	b.Close()
	require.NoError(t, <-errB)
	_, err = b.KeyOwner[string]("words", "apple")
	require.ErrorIs(t, err, stream.ErrOwnerUnknown, "a closed App knows no owners")
	allLocal := func() error {
		for _, w := range words {
			md, err := a.KeyOwner[string]("words", w)
			if err != nil {
				return err
			}
			if !md.Local {
				return fmt.Errorf("%s is held by %s", w, md.Active)
			}
			if n, ok, err := views[hostA].Get(w); err != nil || !ok || n != want[w] {
				return fmt.Errorf("%s: %d, %v, %v", w, n, ok, err)
			}
		}
		return nil
	}
	deadline = time.Now().Add(45 * time.Second)
	for err := allLocal(); err != nil; err = allLocal() {
		require.True(t, time.Now().Before(deadline), "a does not hold every key after b left: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
	owners, err := a.StoreOwners("words")
	require.NoError(t, err)
	require.Len(t, owners, 1)
	assert.Equal(t, hostA, owners[0].Host.String())
	assert.Equal(t, []string{"0_0", "0_1", "0_2", "0_3"}, owners[0].Tasks)
	a.Close()
	require.NoError(t, <-errA)
}

// TestKeyOwnerWithoutEndpoint: an App that advertises no endpoint knows its
// own keys (Local, zero Active) and cannot name another's owner.
func TestKeyOwnerWithoutEndpoint(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("in", 2)
	k.Topic("out", 2)
	k.Produce(false, rec("in", "1", "x"))
	app, err := stream.New(regroupCount(), stream.Config{AppID: "no-endpoint", Brokers: k.Addrs, StateDir: t.TempDir()})
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { errc <- app.Run(context.Background()) }()
	defer app.Close()
	var md stream.KeyQueryMetadata
	deadline := time.Now().Add(30 * time.Second)
	for md, err = app.KeyOwner[string]("words", "x"); err != nil; md, err = app.KeyOwner[string]("words", "x") {
		require.ErrorIs(t, err, stream.ErrOwnerUnknown)
		require.True(t, time.Now().Before(deadline), "no placement: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
	assert.True(t, md.Local)
	assert.Equal(t, stream.HostInfo{}, md.Active)
	owners, err := app.StoreOwners("words")
	require.NoError(t, err)
	require.Len(t, owners, 1)
	assert.True(t, owners[0].Local)
	assert.Equal(t, "", owners[0].Host.String())
	assert.Equal(t, []string{"0_0", "0_1", "1_0", "1_1"}, owners[0].Tasks)
	app.Close()
	require.NoError(t, <-errc)
}

// TestApplicationServerChecked: New refuses an endpoint that is not
// host:port.
func TestApplicationServerChecked(t *testing.T) {
	for _, bad := range []string{"localhost", "http://a:80", "a:0", ":80"} {
		_, err := stream.New(regroupCount(), stream.Config{AppID: "x", Brokers: []string{"localhost:9092"}, ApplicationServer: bad})
		var ce *stream.ConfigError
		require.True(t, errors.As(err, &ce), "%q: %v", bad, err)
		assert.Equal(t, "ApplicationServer", ce.Field, bad)
		assert.True(t, strings.Contains(err.Error(), "is not host:port"), err.Error())
	}
}
