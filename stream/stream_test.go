package stream_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
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

// start runs an App over b in the background; the returned function stops
// it and returns Run's error.
func start(t *testing.T, k *kafkatest.Kafka, b *stream.Builder, cfg stream.Config) func() error {
	t.Helper()
	_, stop := startApp(t, k, b, cfg)
	return stop
}

// runChild runs an App over b as a test's child process until SIGTERM; if
// the App cannot be made or Run fails, the process exits with status 2 or
// 3 and says why, prefixed with name.
func runChild(name string, b *stream.Builder, cfg stream.Config) {
	app, err := stream.New(b, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(3)
	}
}

// startApp is start, and also returns the running App (for its Metrics).
func startApp(t *testing.T, k *kafkatest.Kafka, b *stream.Builder, cfg stream.Config) (*stream.App, func() error) {
	t.Helper()
	if cfg.AppID == "" {
		cfg.AppID = strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	}
	cfg.Brokers = k.Addrs
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.Logger == nil && os.Getenv("BROOK_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	app, err := stream.New(b, cfg)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { errc <- app.Run(context.Background()) }()
	var once bool
	var res error
	stop := func() error {
		if !once {
			once = true
			app.Close()
			res = <-errc
		}
		return res
	}
	t.Cleanup(func() { stop() })
	return app, stop
}

func rec(topic, key, value string) *kgo.Record {
	r := &kgo.Record{Topic: topic, Value: []byte(value)}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

// kvs formats records as testcases.Pair of their raw key and value.
func kvs(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = testcases.Pair(string(r.Key), string(r.Value))
	}
	return out
}

func TestOperators(t *testing.T) {
	k := kafkatest.New(t)
	for _, tc := range testcases.Operators {
		t.Run(tc.Name, func(t *testing.T) {
			// One cluster for all cases: each has its own topics.
			in := "in-" + strings.ReplaceAll(tc.Name, " ", "-")
			out := "out-" + strings.ReplaceAll(tc.Name, " ", "-")
			k.Topic(in, 1)
			k.Topic(out, 1)
			for _, kv := range testcases.OperatorInput {
				k.Produce(false, rec(in, kv.Key, kv.Value))
			}
			b := stream.NewBuilder()
			tc.Build(stream.Source(b, in, serde.String(), serde.String()), out)
			start(t, k, b, stream.Config{})
			got := k.Read(out, len(tc.Want), 10*time.Second)
			assert.Equal(t, tc.Want, kvs(got))
		})
	}
}

func TestMergeSplitForeach(t *testing.T) {
	k := kafkatest.New(t)
	for _, n := range []string{"left", "right", "small", "big", "rest"} {
		k.Topic(n, 2)
	}
	// The i-th record of each input goes to partition i%2.
	var recs []*kgo.Record
	for topic, kvs := range map[string][]stream.KeyValue[string, string]{"left": testcases.MergeLeft, "right": testcases.MergeRight} {
		for i, kv := range kvs {
			r := rec(topic, kv.Key, kv.Value)
			r.Partition = int32(i % 2)
			recs = append(recs, r)
		}
	}
	k.Produce(true, recs...)
	b := stream.NewBuilder()
	seen := make(chan int64, 100)
	routes := testcases.MergeSplitForeach(b, func(v int64) { seen <- v })
	require.Len(t, routes, 3)
	start(t, k, b, stream.Config{Workers: 2})

	for topic, want := range testcases.MergeSplitWant {
		var got []int64
		for _, r := range k.Read(topic, len(want), 10*time.Second) {
			v, err := serde.Int64().Deserialize(topic, r.Value)
			require.NoError(t, err)
			got = append(got, v)
		}
		assert.ElementsMatch(t, want, got, topic)
	}
	var all []int64
	for range testcases.MergeSeen {
		all = append(all, <-seen)
	}
	assert.ElementsMatch(t, testcases.MergeSeen, all)
}

func TestToTopicFunc(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("events", 1)
	k.Topic("even", 1)
	k.Topic("odd", 1)
	for _, kv := range testcases.EventsInput {
		k.Produce(false, rec("events", kv.Key, kv.Value))
	}
	b := stream.NewBuilder()
	testcases.ToTopicFunc(b)
	start(t, k, b, stream.Config{})
	for topic, want := range testcases.ToTopicFuncWant {
		assert.Equal(t, want, kvs(k.Read(topic, len(want), 10*time.Second)), topic)
	}
}

func TestDescribeMultiBranch(t *testing.T) {
	b := stream.NewBuilder()
	events := stream.Source(b, "events", serde.String(), serde.String())
	routes := events.
		Filter(func(_, v string) bool { return v != "" }).
		Split(stream.Named("route-")).
		Branch("clicks", func(_, v string) bool { return strings.HasPrefix(v, "click") }).
		Branch("views", func(_, v string) bool { return strings.HasPrefix(v, "view") }).
		Default("other")
	routes["route-clicks"].To("clicks", nil, nil)
	routes["route-views"].MapValues(strings.ToUpper).To("views", nil, nil)
	routes["route-other"].To("other", nil, nil, stream.Named("other-sink"))
	stream.Source(b, "audit", serde.String(), serde.String()).Foreach(func(string, string) {})

	want := `Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [events])
      --> KSTREAM-FILTER-0000000001
    Processor: KSTREAM-FILTER-0000000001 (stores: [])
      --> route-
      <-- KSTREAM-SOURCE-0000000000
    Processor: route- (stores: [])
      --> route-clicks, route-views, route-other
      <-- KSTREAM-FILTER-0000000001
    Processor: route-views (stores: [])
      --> KSTREAM-MAPVALUES-0000000007
      <-- route-
    Processor: KSTREAM-MAPVALUES-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- route-views
    Processor: route-clicks (stores: [])
      --> KSTREAM-SINK-0000000006
      <-- route-
    Processor: route-other (stores: [])
      --> other-sink
      <-- route-
    Sink: KSTREAM-SINK-0000000006 (topic: clicks)
      <-- route-clicks
    Sink: KSTREAM-SINK-0000000008 (topic: views)
      <-- KSTREAM-MAPVALUES-0000000007
    Sink: other-sink (topic: other)
      <-- route-other

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000010 (topics: [audit])
      --> KSTREAM-FOREACH-0000000011
    Processor: KSTREAM-FOREACH-0000000011 (stores: [])
      --> none
      <-- KSTREAM-SOURCE-0000000010

`
	assert.Equal(t, want, b.Describe())
	require.NoError(t, b.Build())
}

func TestBuildErrors(t *testing.T) {
	b := stream.NewBuilder()
	s := stream.Source(b, "in", serde.String(), serde.String(), stream.Named("x"))
	s.MapValues(func(v string) int { return len(v) }).To("out", nil, nil)
	s.Filter(func(string, string) bool { return true }, stream.Named("x"))
	_, err := stream.New(b, stream.Config{AppID: "a", Brokers: []string{"localhost:1"}})
	var be *stream.BuildError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Errs, 2)
	assert.Contains(t, be.Errs[0].Error(), "To needs a key serde and a value serde")
	assert.Contains(t, be.Errs[1].Error(), `two nodes are named "x"`)
}

func TestConfigErrors(t *testing.T) {
	b := stream.NewBuilder()
	stream.Source(b, "in", serde.String(), serde.String()).To("out", nil, nil)
	_, err := stream.New(b, stream.Config{AppID: "bad id", Workers: -1, OnBadRecord: stream.DeadLetterTopic("")})
	var ce *stream.ConfigError
	require.ErrorAs(t, err, &ce)
	msg := err.Error()
	for _, field := range []string{"Config.AppID", "Config.Brokers", "Config.Workers", "Config.OnBadRecord"} {
		assert.Contains(t, msg, field)
	}
}

func TestMissingTopics(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("in", 1)
	b := stream.NewBuilder()
	stream.Source(b, "in", serde.String(), serde.String()).To("nowhere", nil, nil)
	app, err := stream.New(b, stream.Config{AppID: "missing", Brokers: k.Addrs})
	require.NoError(t, err)
	err = app.Run(context.Background())
	var me *stream.MissingTopicsError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, []string{"nowhere"}, me.Topics)
}

func TestCopartitionMismatch(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("two", 2)
	k.Topic("three", 3)
	b := stream.NewBuilder()
	stream.Source(b, "two", serde.String(), serde.String()).
		Merge(stream.Source(b, "three", serde.String(), serde.String())).
		Foreach(func(string, string) {})
	app, err := stream.New(b, stream.Config{AppID: "copart", Brokers: k.Addrs})
	require.NoError(t, err)
	err = app.Run(context.Background())
	var ce *stream.CopartitionError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, map[string]int{"two": 2, "three": 3}, ce.Partitions)
	assert.Contains(t, err.Error(), "same number of partitions")
}

var _ = errors.New
var _ = fmt.Sprint
