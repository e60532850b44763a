package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/brookstream/brook/window"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func sessionTopology(emit stream.EmitStrategy) *stream.Builder {
	b := stream.NewBuilder()
	stream.SessionWindowedBy(stream.Source(b, "clicks", serde.String(), serde.String()).GroupByKey(), window.Session(5*time.Second).Grace(time.Second)).
		Emit(emit).
		Count(stream.Materialized("sessions")).
		ToStream().To("session-counts", window.SessionWindowedSerde(serde.String()), serde.Int64())
	return b
}

func sessions[K any](seq func(func(window.Windowed[K], int64) bool)) []string {
	var out []string
	for w, n := range seq {
		out = append(out, fmt.Sprintf("%v [%d,%d] %d", w.Key, w.Window.Start, w.Window.End, n))
	}
	return out
}

// The driver's session store view: Fetch yields every session of a key by
// end, FetchSession finds one session, FetchAll yields all, over four
// partitions; a key that is a prefix of another ("a", "ab") sees only its
// own sessions.
func TestSessionStoreDriver(t *testing.T) {
	d := streamtest.New(t, sessionTopology(stream.OnWindowUpdate()), streamtest.Config{Partitions: 4})
	defer d.Close()
	in := d.Input("clicks", serde.String(), serde.String())
	for _, r := range []struct {
		k  string
		ts int64
	}{{"a", 1000}, {"a", 3000}, {"ab", 2000}, {"a", 20000}, {"a", 22000}, {"ab", 30000}, {"a", 40000}, {"b", 50000}} {
		in.PipeAt(r.k, "x", r.ts)
	}
	ss := d.SessionStore[string, int64]("sessions")
	assert.Equal(t, []string{"a [1000,3000] 2", "a [20000,22000] 2", "a [40000,40000] 1"}, sessions(ss.Fetch("a")))
	assert.Equal(t, []string{"ab [2000,2000] 1", "ab [30000,30000] 1"}, sessions(ss.Fetch("ab")))
	assert.Equal(t, []string{"b [50000,50000] 1"}, sessions(ss.Fetch("b")))
	assert.Empty(t, sessions(ss.Fetch("c")))
	n, ok, err := ss.FetchSession("a", 20000, 22000)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(2), n)
	for _, q := range [][2]int64{{20000, 20000}, {22000, 22000}, {1000, 2000}, {-1, 5}, {5, 1}} {
		_, ok, err = ss.FetchSession("a", q[0], q[1])
		require.NoError(t, err)
		assert.False(t, ok, "a [%d,%d] is no session", q[0], q[1])
	}
	all := sessions(ss.FetchAll())
	assert.ElementsMatch(t, []string{
		"a [1000,3000] 2", "a [20000,22000] 2", "a [40000,40000] 1",
		"ab [2000,2000] 1", "ab [30000,30000] 1", "b [50000,50000] 1",
	}, all)
	require.NoError(t, ss.Err())
}

// The stores of session and time windows are told apart: each query view
// refuses the other kind, and a key-value view refuses both.
func TestSessionStoreKinds(t *testing.T) {
	b := sessionTopology(stream.OnWindowClose())
	stream.WindowedBy(stream.Source(b, "views", serde.String(), serde.String()).GroupByKey(), window.Tumbling(time.Second)).
		Count(stream.Materialized("views-per-second"))
	app, err := stream.New(b, stream.Config{AppID: "session-kinds", Brokers: []string{"localhost:1"}, StateDir: t.TempDir()})
	require.NoError(t, err)
	_, err = stream.WindowStore[string, int64](app, "sessions")
	require.ErrorIs(t, err, stream.ErrUnknownStore)
	assert.Contains(t, err.Error(), "stream.SessionStore")
	_, err = stream.SessionStore[string, int64](app, "views-per-second")
	require.ErrorIs(t, err, stream.ErrUnknownStore)
	_, err = stream.SessionStore[string, string](app, "sessions")
	require.ErrorIs(t, err, stream.ErrUnknownStore, "wrong value type")
	_, err = stream.SessionStore[string, int64](app, "nope")
	require.ErrorIs(t, err, stream.ErrUnknownStore)
	_, err = app.Store[string, int64]("sessions")
	require.ErrorIs(t, err, stream.ErrUnknownStore)

	// Before Run the App holds no partition: the key is not local.
	ss, err := stream.SessionStore[string, int64](app, "sessions")
	require.NoError(t, err)
	var nl *stream.NotLocalError
	_, _, err = ss.FetchSession("a", 0, 0)
	require.ErrorAs(t, err, &nl)
	assert.Empty(t, sessions(ss.Fetch("a")))
	require.ErrorAs(t, ss.Err(), &nl)
	assert.Empty(t, sessions(ss.FetchAll()))
	require.NoError(t, ss.Err())
}

// A running App on in-process Kafka emits each session once when it
// closes, and its session store answers Fetch, FetchSession and FetchAll
// with the exact sessions; a restart (state directory lost) restores the
// store and emits nothing again.
func TestSessionStoreApp(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("clicks", 1)
	k.Topic("session-counts", 1)
	rec := func(key string, ts int64) *kgo.Record {
		return &kgo.Record{Topic: "clicks", Key: []byte(key), Value: []byte("x"), Timestamp: time.UnixMilli(ts)}
	}
	run := func(recs []*kgo.Record, want int, check func(state.ReadOnlySession[string, int64]) []string, wantStored []string) {
		app, err := stream.New(sessionTopology(stream.OnWindowClose()), stream.Config{AppID: "session-query", Brokers: k.Addrs, StateDir: t.TempDir()})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- app.Run(ctx) }()
		k.Produce(false, recs...)
		k.Read("session-counts", want, 30*time.Second)
		ss, err := stream.SessionStore[string, int64](app, "sessions")
		require.NoError(t, err)
		var stored []string
		// Queries read committed state: wait for the last commit.
		assert.Eventually(t, func() bool {
			stored = check(ss)
			return fmt.Sprint(stored) == fmt.Sprint(wantStored)
		}, 20*time.Second, 50*time.Millisecond)
		assert.Equal(t, wantStored, stored)
		require.NoError(t, ss.Err())
		cancel()
		require.NoError(t, <-errc)
	}
	check := func(ss state.ReadOnlySession[string, int64]) []string {
		out := sessions(ss.FetchAll())
		for _, s := range sessions(ss.Fetch("a")) {
			out = append(out, "fetch a: "+s)
		}
		n, ok, err := ss.FetchSession("a", 1000, 4000)
		out = append(out, fmt.Sprintf("session a [1000,4000]: %d %v %v", n, ok, err))
		return out
	}
	// a [1000,4000] and b [2000,2000] close at stream time 12000 (end <
	// 12000 - 1000).
	run([]*kgo.Record{rec("a", 1000), rec("b", 2000), rec("a", 4000), rec("a", 12000)}, 2, check, []string{
		"a [1000,4000] 2", "a [12000,12000] 1", "b [2000,2000] 1",
		"fetch a: a [1000,4000] 2", "fetch a: a [12000,12000] 1",
		"session a [1000,4000]: 2 true <nil>",
	})
	// After the restart: b@3000 would merge into b [2000,3000], which ends
	// before 12000 - 1000: late. a@14000 joins a [12000,12000]; b@30000
	// closes it.
	run([]*kgo.Record{rec("b", 3000), rec("a", 14000), rec("b", 30000)}, 3, check, []string{
		"a [1000,4000] 2", "a [12000,14000] 2", "b [2000,2000] 1", "b [30000,30000] 1",
		"fetch a: a [1000,4000] 2", "fetch a: a [12000,14000] 2",
		"session a [1000,4000]: 2 true <nil>",
	})

	var got []string
	for _, r := range k.ReadAll("session-counts", time.Second) {
		w, err := window.SessionWindowedSerde(serde.String()).Deserialize("session-counts", r.Key)
		require.NoError(t, err)
		n, err := serde.Int64().Deserialize("session-counts", r.Value)
		require.NoError(t, err)
		got = append(got, fmt.Sprintf("%s [%d,%d] %d @%d", w.Key, w.Window.Start, w.Window.End, n, r.Timestamp.UnixMilli()))
	}
	assert.Equal(t, []string{
		"b [2000,2000] 1 @2000",
		"a [1000,4000] 2 @4000",
		"a [12000,14000] 2 @14000",
	}, got)
}

// Two Apps of one group split two partitions: for every key exactly one
// answers Fetch and FetchSession with the key's exact sessions; the other's
// FetchSession fails with a *NotLocalError naming the owner, and its Fetch
// yields nothing and leaves the *NotLocalError in Err.
func TestSessionStoreNotLocal(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("clicks", 2)
	k.Topic("session-counts", 2)
	keys := []string{"apple", "banana", "cherry", "date", "elder", "fig"}
	var recs []*kgo.Record
	for i, key := range keys {
		// Each key: a session [1000, 1000+i*100] of i+1 records.
		for j := 0; j <= i; j++ {
			recs = append(recs, &kgo.Record{Topic: "clicks", Key: []byte(key), Value: []byte("x"), Timestamp: time.UnixMilli(1000 + int64(j)*100)})
		}
	}
	k.Produce(false, recs...)
	hosts := []string{"host-a.example:7001", "host-b.example:7002"}
	apps := map[string]*stream.App{}
	views := map[string]state.ReadOnlySession[string, int64]{}
	for _, h := range hosts {
		app, err := stream.New(sessionTopology(stream.OnWindowUpdate()), stream.Config{AppID: "session-owners", Brokers: k.Addrs, StateDir: t.TempDir(), ApplicationServer: h})
		require.NoError(t, err)
		errc := make(chan error, 1)
		go func() { errc <- app.Run(context.Background()) }()
		t.Cleanup(func() {
			app.Close()
			require.NoError(t, <-errc)
		})
		apps[h] = app
		ss, err := stream.SessionStore[string, int64](app, "sessions")
		require.NoError(t, err)
		views[h] = ss
	}
	want := func(i int) []string {
		return []string{fmt.Sprintf("%s [1000,%d] %d", keys[i], 1000+i*100, i+1)}
	}
	// Wait until both hold a partition and every key's session is
	// committed at its owner.
	settled := func() error {
		for h, app := range apps {
			owners, err := app.StoreOwners("sessions")
			if err != nil {
				return err
			}
			if len(owners) != 2 {
				return fmt.Errorf("%s sees %+v", h, owners)
			}
		}
		for i, key := range keys {
			md, err := apps[hosts[0]].KeyOwner[string]("sessions", key)
			if err != nil {
				return err
			}
			if got := sessions(views[md.Active.String()].Fetch(key)); fmt.Sprint(got) != fmt.Sprint(want(i)) {
				return fmt.Errorf("%s at %s: %v", key, md.Active, got)
			}
		}
		return nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for err := settled(); err != nil; err = settled() {
		if time.Now().After(deadline) {
			t.Fatalf("not settled: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, key := range keys {
		md, err := apps[hosts[0]].KeyOwner[string]("sessions", key)
		require.NoError(t, err)
		owner, other := md.Active.String(), hosts[0]
		if owner == hosts[0] {
			other = hosts[1]
		}
		assert.Equal(t, want(i), sessions(views[owner].Fetch(key)), key)
		require.NoError(t, views[owner].Err())
		n, ok, err := views[owner].FetchSession(key, 1000, 1000+int64(i)*100)
		require.NoError(t, err)
		assert.True(t, ok, key)
		assert.Equal(t, int64(i+1), n, key)

		var nl *stream.NotLocalError
		_, _, err = views[other].FetchSession(key, 1000, 1000+int64(i)*100)
		require.ErrorAs(t, err, &nl, key)
		assert.Equal(t, md.Active, nl.Owner, key)
		assert.Equal(t, md.Partition, nl.Partition, key)
		assert.Empty(t, sessions(views[other].Fetch(key)), key)
		require.ErrorAs(t, views[other].Err(), &nl, key)
	}
}
