package stream_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/internal/testcases"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// latest reads topic and returns the last value per key, decoded.
func latest[V any](t *testing.T, k *kafkatest.Kafka, topic string, vs serde.Serde[V], quiet time.Duration) map[string]V {
	t.Helper()
	out := map[string]V{}
	for _, r := range k.ReadAll(topic, quiet) {
		if r.Value == nil {
			delete(out, string(r.Key))
			continue
		}
		v, err := vs.Deserialize(topic, r.Value)
		require.NoError(t, err)
		out[string(r.Key)] = v
	}
	return out
}

// waitLatest polls topic until its latest values equal want.
func waitLatest[V any](t *testing.T, k *kafkatest.Kafka, topic string, vs serde.Serde[V], want map[string]V) {
	t.Helper()
	var got map[string]V
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		got = latest(t, k, topic, vs, 300*time.Millisecond)
		if assert.ObjectsAreEqual(want, got) {
			return
		}
	}
	require.Equal(t, want, got)
}

// wordCount is testcases.WordCount, under the name describe_test.go uses.
var wordCount = testcases.WordCount

// feedLines writes lines to topic, keyed as testcases.LineRecords does.
func feedLines(k *kafkatest.Kafka, topic string, lines []string) {
	var recs []*kgo.Record
	for _, kv := range testcases.LineRecords(lines) {
		recs = append(recs, rec(topic, kv.Key, kv.Value))
	}
	k.Produce(false, recs...)
}

// runPhases runs b, which reads the table in (values serialized with vs)
// and writes int64 values to out, both topics with the given partitions.
// Phase by phase, it writes the updates to in (a tombstone without a
// value) and waits until the latest values of out are the phase's Want.
func runPhases[V any](t *testing.T, b *stream.Builder, partitions int32, in string, vs serde.Serde[V], out string, phases []testcases.Phase[V, int64]) {
	t.Helper()
	k := kafkatest.New(t)
	k.Topic(in, partitions)
	k.Topic(out, partitions)
	start(t, k, b, stream.Config{StateDir: t.TempDir()})
	for _, p := range phases {
		var recs []*kgo.Record
		for _, u := range p.Updates {
			r := &kgo.Record{Topic: in, Key: []byte(u.Key)}
			if !u.Tombstone {
				v, err := vs.Serialize(in, u.Value)
				require.NoError(t, err)
				r.Value = v
			}
			recs = append(recs, r)
		}
		k.Produce(false, recs...)
		waitLatest(t, k, out, serde.Int64(), p.Want)
	}
}

func TestWordCount(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("lines", 3)
	k.Topic("counts", 3)
	for range 5 {
		feedLines(k, "lines", testcases.WordLines)
	}
	b := testcases.WordCount("lines", "counts")
	assert.Contains(t, b.Describe(), "Sink: word-counts-repartition-sink (topic: word-counts-repartition)")
	cfg := stream.Config{AppID: "wc", Brokers: k.Addrs, Workers: 2, StateDir: t.TempDir()}
	app, err := stream.New(b, cfg)
	require.NoError(t, err)
	assert.Contains(t, b.Describe(), "Source: word-counts-repartition-source (topics: [wc-word-counts-repartition])")
	assert.Contains(t, b.Describe(), "(stores: [word-counts])")
	go app.Run(context.Background())
	defer app.Close()
	want := testcases.WantWords(testcases.WordLines, 5)
	waitLatest(t, k, "counts", serde.Int64(), want)

	// The repartition topic and changelog exist, with the input's partitions.
	adm := newAdm(k.Client())
	td, err := adm.ListTopics(context.Background(), "wc-word-counts-repartition", "wc-word-counts-changelog")
	require.NoError(t, err)
	assert.Len(t, td["wc-word-counts-repartition"].Partitions, 3)
	assert.Len(t, td["wc-word-counts-changelog"].Partitions, 3)

	// Interactive queries see the committed counts.
	view, err := app.Store[string, int64]("word-counts")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		n, ok, err := view.Get("quick")
		return err == nil && ok && n == want["quick"]
	}, 10*time.Second, 50*time.Millisecond)
	all := map[string]int64{}
	for w, n := range view.All() {
		all[w] = n
	}
	assert.Equal(t, want, all)
	_, err = app.Store[string, string]("word-counts")
	assert.ErrorIs(t, err, stream.ErrUnknownStore)
	_, err = app.Store[string, int64]("nope")
	assert.ErrorIs(t, err, stream.ErrUnknownStore)
}

func TestReduceAndAggregate(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("amounts", 2)
	k.Topic("max", 2)
	k.Topic("stats", 2)
	var recs []*kgo.Record
	for _, kv := range testcases.Amounts {
		recs = append(recs, rec("amounts", kv.Key, kv.Value))
	}
	k.Produce(false, recs...)
	b := testcases.ReduceAndAggregate()
	assert.NotContains(t, b.Describe(), "repartition", "GroupByKey after MapValues must not repartition")
	start(t, k, b, stream.Config{StateDir: t.TempDir()})
	waitLatest(t, k, "max", serde.Int64(), testcases.WantMax)
	waitLatest(t, k, "stats", serde.JSON[testcases.Stats](), testcases.WantStats)
}

// TestTableReaggregation counts users per region from a table of user ->
// region: moving a user subtracts from the old region and adds to the new
// one; a tombstone removes the user.
func TestTableReaggregation(t *testing.T) {
	runPhases(t, testcases.UsersPerRegion(), 2, "users", serde.String(), "per-region", testcases.UsersPerRegionPhases)
}

// TestTableFilterTo checks a table read from a topic: filter, mapValues and
// To, with tombstones for deleted and filtered-out rows.
func TestTableFilterTo(t *testing.T) {
	runPhases(t, testcases.ExpensivePrices(), 1, "prices", serde.Int64(), "expensive", testcases.ExpensivePricesPhases)
}

// TestRestore runs word count, stops it, deletes the local state and
// starts again: the store is restored from the changelog with exactly the
// same contents. Then it stops and starts again keeping the directory:
// restore reads only past the checkpoint (nothing, here).
func TestRestore(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("r-lines", 2)
	k.Topic("r-counts", 2)
	for range 20 {
		feedLines(k, "r-lines", testcases.WordLines)
	}
	want := testcases.WantWords(testcases.WordLines, 20)
	dir := t.TempDir()
	run := func() (*stream.App, map[string]int64, map[string]stream.RestoreProgress) {
		var mu sync.Mutex
		restored := map[string]stream.RestoreProgress{}
		app, err := stream.New(testcases.WordCount("r-lines", "r-counts"), stream.Config{
			AppID: "restore", Brokers: k.Addrs, StateDir: dir, StoreCacheBytes: 256,
			OnRestore: func(p stream.RestoreProgress) {
				if p.Done {
					mu.Lock()
					restored[p.Task] = p
					mu.Unlock()
				}
			},
		})
		require.NoError(t, err)
		go app.Run(context.Background())
		view, err := app.Store[string, int64]("word-counts")
		require.NoError(t, err)
		got := map[string]int64{}
		require.Eventually(t, func() bool {
			clear(got)
			for w, n := range view.All() {
				got[w] = n
			}
			return assert.ObjectsAreEqual(want, got)
		}, 20*time.Second, 50*time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		return app, got, maps.Clone(restored)
	}
	app, first, _ := run()
	app.Close()
	assert.Equal(t, want, first)

	require.NoError(t, os.RemoveAll(filepath.Join(dir, "restore")))
	app, second, progress := run()
	app.Close()
	assert.Equal(t, first, second)
	var total int64
	for _, p := range progress {
		total += p.Restored
		assert.LessOrEqual(t, p.Restored, p.Total)
	}
	assert.Positive(t, total, "the second run restored from the changelog")

	// While the app is down, one record lands in the changelog past the
	// checkpoints: the next start restores that record and nothing else.
	zebra, _ := serde.Int64().Serialize("", 42)
	part := int32(kgo.StickyKeyPartitioner(nil).ForTopic("").Partition(&kgo.Record{Key: []byte("zebra")}, 2))
	k.Produce(true, &kgo.Record{Topic: "restore-word-counts-changelog", Partition: part, Key: []byte("zebra"), Value: zebra})
	want["zebra"] = 42
	app, third, progress := run()
	app.Close()
	assert.Equal(t, want, third)
	var restored, offsets int64
	for _, p := range progress {
		restored += p.Restored
		offsets += p.Total
	}
	assert.Equal(t, int64(1), restored, "the third run restored more than the record past its checkpoint")
	assert.Equal(t, int64(1), offsets)
}

func TestStateDirLocked(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("l-lines", 1)
	k.Topic("l-counts", 1)
	dir := t.TempDir()
	cfg := stream.Config{AppID: "locked", StateDir: dir}
	start(t, k, testcases.WordCount("l-lines", "l-counts"), cfg)
	time.Sleep(200 * time.Millisecond)
	app, err := stream.New(testcases.WordCount("l-lines", "l-counts"), stream.Config{AppID: "locked", Brokers: k.Addrs, StateDir: dir})
	require.NoError(t, err)
	err = app.Run(context.Background())
	var le *stream.StateDirLockedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, os.Getpid(), le.PID)
	assert.Contains(t, err.Error(), "locked by process")
}

// TestRepartitionReadBeforeWritten merges an aggregation's output with a
// source made earlier, so the sub-topology reading the repartition topic
// is numbered before the one writing it.
func TestRepartitionReadBeforeWritten(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("ord-early", 3)
	k.Topic("ord-words", 3)
	k.Topic("ord-out", 3)
	b := stream.NewBuilder()
	early := stream.Source(b, "ord-early", serde.String(), serde.Int64())
	stream.Source(b, "ord-words", serde.String(), serde.String()).
		GroupBy(func(_, w string) string { return w }, serde.String()).
		Count(stream.Materialized("ord-cnt")).
		ToStream().
		Merge(early).
		To("ord-out", nil, nil)
	start(t, k, b, stream.Config{})
	k.Produce(false, rec("ord-words", "x", "a"), rec("ord-words", "y", "a"), int64Rec("ord-early", "z", 7))
	waitLatest(t, k, "ord-out", serde.Int64(), map[string]int64{"a": 2, "z": 7})
}

func TestSplitKeepsRekeyed(t *testing.T) {
	b := stream.NewBuilder()
	branches := stream.Source(b, "in", serde.String(), serde.String()).
		SelectKey(func(_, v string) string { return v }).
		Split().
		Branch("all", func(string, string) bool { return true }).
		Branches()
	branches["all"].GroupByKey().Count(stream.Materialized("c"))
	assert.Contains(t, b.Describe(), "c-repartition", "grouping a split branch after a key change must repartition")
}

// TestChangelogPartitionMismatch starts an App whose changelog topic exists
// with another number of partitions than the store has tasks.
func TestChangelogPartitionMismatch(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("mm-lines", 3)
	k.Topic("mm-counts", 3)
	k.Topic("mm-word-counts-changelog", 1)
	app, err := stream.New(testcases.WordCount("mm-lines", "mm-counts"), stream.Config{AppID: "mm", Brokers: k.Addrs, StateDir: t.TempDir()})
	require.NoError(t, err)
	err = app.Run(context.Background())
	var ie *stream.InternalTopicError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "mm-word-counts-changelog", ie.Topic)
	assert.Equal(t, int32(3), ie.Want)
	assert.Equal(t, int32(1), ie.Got)
	assert.Contains(t, err.Error(), "delete the internal topic")
}
