package stream_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
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

// start runs an App over b in the background; the returned function stops
// it and returns Run's error.
func start(t *testing.T, k *kafkatest.Kafka, b *stream.Builder, cfg stream.Config) func() error {
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
	return stop
}

func rec(topic, key, value string) *kgo.Record {
	r := &kgo.Record{Topic: topic, Value: []byte(value)}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

func kvs(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Key) + "=" + string(r.Value)
	}
	return out
}

func TestOperators(t *testing.T) {
	k := kafkatest.New(t)
	input := []string{"a=1", "b=2", "c=3", "a=4"}
	tests := []struct {
		name  string
		build func(s stream.Stream[string, string])
		want  []string
	}{
		{"filter", func(s stream.Stream[string, string]) {
			s.Filter(func(_, v string) bool { return v != "2" }).To("out-filter", nil, nil)
		}, []string{"a=1", "c=3", "a=4"}},
		{"filternot", func(s stream.Stream[string, string]) {
			s.FilterNot(func(k, _ string) bool { return k == "a" }).To("out-filternot", nil, nil)
		}, []string{"b=2", "c=3"}},
		{"map", func(s stream.Stream[string, string]) {
			s.Map(func(k, v string) (string, int64) {
				n, _ := strconv.Atoi(v)
				return strings.ToUpper(k), int64(n * 10)
			}).MapValues(func(v int64) string { return strconv.FormatInt(v, 10) }).To("out-map", nil, serde.String())
		}, []string{"A=10", "B=20", "C=30", "A=40"}},
		{"mapvalues", func(s stream.Stream[string, string]) {
			s.MapValues(func(v string) string { return v + v }).To("out-mapvalues", nil, nil)
		}, []string{"a=11", "b=22", "c=33", "a=44"}},
		{"flatmap", func(s stream.Stream[string, string]) {
			s.FlatMap(func(k, v string) []stream.KeyValue[string, string] {
				if k == "b" {
					return nil
				}
				return []stream.KeyValue[string, string]{stream.KV(k+"1", v), stream.KV(k+"2", v)}
			}).To("out-flatmap", nil, nil)
		}, []string{"a1=1", "a2=1", "c1=3", "c2=3", "a1=4", "a2=4"}},
		{"flatmapvalues", func(s stream.Stream[string, string]) {
			s.FlatMapValues(func(v string) []string { return []string{v, "x"} }).To("out-flatmapvalues", nil, nil)
		}, []string{"a=1", "a=x", "b=2", "b=x", "c=3", "c=x", "a=4", "a=x"}},
		{"selectkey", func(s stream.Stream[string, string]) {
			s.SelectKey(func(k, v string) string { return v + k }).To("out-selectkey", nil, nil)
		}, []string{"1a=1", "2b=2", "3c=3", "4a=4"}},
		{"peek", func(s stream.Stream[string, string]) {
			s.Peek(func(string, string) {}).To("out-peek", nil, nil)
		}, []string{"a=1", "b=2", "c=3", "a=4"}},
		{"int64 values", func(s stream.Stream[string, string]) {
			s.MapValues(func(v string) int64 { n, _ := strconv.Atoi(v); return int64(n) }).
				Filter(func(_ string, v int64) bool { return v%2 == 0 }).
				To("out-int64", nil, serde.Int64())
		}, []string{"b=\x00\x00\x00\x00\x00\x00\x00\x02", "a=\x00\x00\x00\x00\x00\x00\x00\x04"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := "in-" + strings.ReplaceAll(tc.name, " ", "-")
			out := "out-" + strings.ReplaceAll(tc.name, " ", "")
			if tc.name == "int64 values" {
				out = "out-int64"
			}
			k.Topic(in, 1)
			k.Topic(out, 1)
			for _, kv := range input {
				key, val, _ := strings.Cut(kv, "=")
				k.Produce(false, rec(in, key, val))
			}
			b := stream.NewBuilder()
			tc.build(stream.Source(b, in, serde.String(), serde.String()))
			start(t, k, b, stream.Config{})
			got := k.Read(out, len(tc.want), 10*time.Second)
			assert.Equal(t, tc.want, kvs(got))
		})
	}
}

func TestMergeSplitForeach(t *testing.T) {
	k := kafkatest.New(t)
	for _, n := range []string{"left", "right", "small", "big", "rest"} {
		k.Topic(n, 2)
	}
	for i := range 10 {
		k.Produce(true, &kgo.Record{Topic: "left", Partition: int32(i % 2), Key: []byte("l"), Value: []byte(strconv.Itoa(i))})
		k.Produce(true, &kgo.Record{Topic: "right", Partition: int32(i % 2), Key: []byte("r"), Value: []byte(strconv.Itoa(i * 10))})
	}
	b := stream.NewBuilder()
	l := stream.Source(b, "left", serde.String(), serde.String())
	r := stream.Source(b, "right", serde.String(), serde.String())
	num := l.Merge(r).MapValues(func(v string) int64 { n, _ := strconv.Atoi(v); return int64(n) })
	seen := make(chan int64, 100)
	num.Foreach(func(_ string, v int64) { seen <- v })
	routes := num.Split(stream.Named("size-")).
		Branch("small", func(_ string, v int64) bool { return v < 5 }).
		Branch("big", func(_ string, v int64) bool { return v >= 50 }).
		Default("rest")
	require.Len(t, routes, 3)
	routes["size-small"].To("small", nil, serde.Int64())
	routes["size-big"].To("big", nil, serde.Int64())
	routes["size-rest"].To("rest", nil, serde.Int64())
	start(t, k, b, stream.Config{Workers: 2})

	values := func(topic string, n int) []int64 {
		var out []int64
		for _, r := range k.Read(topic, n, 10*time.Second) {
			v, err := serde.Int64().Deserialize(topic, r.Value)
			require.NoError(t, err)
			out = append(out, v)
		}
		return out
	}
	assert.ElementsMatch(t, []int64{0, 1, 2, 3, 4, 0}, values("small", 6))
	assert.ElementsMatch(t, []int64{50, 60, 70, 80, 90}, values("big", 5))
	assert.ElementsMatch(t, []int64{5, 6, 7, 8, 9, 10, 20, 30, 40}, values("rest", 9))
	var all []int64
	for range 20 {
		all = append(all, <-seen)
	}
	assert.Len(t, all, 20)
}

func TestToTopicFunc(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("events", 1)
	k.Topic("even", 1)
	k.Topic("odd", 1)
	for i := range 6 {
		k.Produce(false, rec("events", strconv.Itoa(i), strconv.Itoa(i)))
	}
	b := stream.NewBuilder()
	stream.Source(b, "events", serde.String(), serde.String()).
		ToTopicFunc(func(_, v string) string {
			if n, _ := strconv.Atoi(v); n%2 == 0 {
				return "even"
			}
			return "odd"
		}, nil, nil)
	start(t, k, b, stream.Config{})
	assert.Equal(t, []string{"0=0", "2=2", "4=4"}, kvs(k.Read("even", 3, 10*time.Second)))
	assert.Equal(t, []string{"1=1", "3=3", "5=5"}, kvs(k.Read("odd", 3, 10*time.Second)))
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
      --> route-BRANCH
      <-- KSTREAM-SOURCE-0000000000
    Processor: route-BRANCH (stores: [])
      --> route-clicks, route-views, route-other
      <-- KSTREAM-FILTER-0000000001
    Processor: route-clicks (stores: [])
      --> KSTREAM-SINK-0000000006
      <-- route-BRANCH
    Processor: route-views (stores: [])
      --> KSTREAM-MAPVALUES-0000000007
      <-- route-BRANCH
    Processor: route-other (stores: [])
      --> other-sink
      <-- route-BRANCH
    Sink: KSTREAM-SINK-0000000006 (topic: clicks)
      <-- route-clicks
    Processor: KSTREAM-MAPVALUES-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- route-views
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
