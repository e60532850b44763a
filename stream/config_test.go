package stream_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// regroupCount reads "in", regroups by value (a repartition topic
// "<app>-words-repartition") and counts in the store "words" (its changelog
// "<app>-words-changelog").
func regroupCount() *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, "in", serde.String(), serde.String()).
		GroupBy(func(_, v string) string { return v }, serde.String()).
		// The repartition topic is named after the aggregation.
		Count(stream.Materialized("words")).
		ToStream().
		To("out", nil, nil)
	return b
}

// TestNewRejectsConfig: New refuses each config that would break later,
// with a *ConfigError naming the field at fault.
func TestNewRejectsConfig(t *testing.T) {
	ok := func() stream.Config {
		return stream.Config{AppID: "app", Brokers: []string{"localhost:9092"}}
	}
	for _, tc := range []struct {
		name  string
		nilB  bool
		edit  func(*stream.Config)
		field string
		msg   string
	}{
		{name: "nil builder", nilB: true, edit: func(*stream.Config) {}, field: "Builder", msg: "Builder is nil"},
		{name: "dead letter is the input", edit: func(c *stream.Config) { c.OnBadRecord = stream.DeadLetterTopic("in") }, field: "OnBadRecord", msg: "an input topic"},
		{name: "dead letter is the repartition topic", edit: func(c *stream.Config) { c.OnBadRecord = stream.DeadLetterTopic("app-words-repartition") }, field: "OnBadRecord", msg: "a repartition topic"},
		{name: "dead letter is the changelog", edit: func(c *stream.Config) { c.OnBadRecord = stream.DeadLetterTopic("app-words-changelog") }, field: "OnBadRecord", msg: `changelog topic of store "words"`},
		{name: "dead letter name invalid", edit: func(c *stream.Config) { c.OnBadRecord = stream.DeadLetterTopic("dead letters") }, field: "OnBadRecord", msg: "not a valid topic name"},
		{name: "memtable 1 byte", edit: func(c *stream.Config) { c.MemTableBytes = 1 }, field: "MemTableBytes", msg: "Pebble needs at least 65536"},
		{name: "memtable below minimum", edit: func(c *stream.Config) { c.MemTableBytes = stream.MinMemTableBytes - 1 }, field: "MemTableBytes"},
		{name: "memtable negative", edit: func(c *stream.Config) { c.MemTableBytes = -1 }, field: "MemTableBytes", msg: "must not be negative"},
		{name: "state cleanup delay negative", edit: func(c *stream.Config) { c.StateCleanupDelay = -time.Second }, field: "StateCleanupDelay", msg: "must not be negative (zero means the default 10m0s)"},
		{name: "state cache negative", edit: func(c *stream.Config) { c.StateCacheBytes = -1 }, field: "StateCacheBytes", msg: "must not be negative"},
		{name: "store cache negative", edit: func(c *stream.Config) { c.StoreCacheBytes = -1 }, field: "StoreCacheBytes", msg: "must not be negative"},
		{name: "recovery lag negative", edit: func(c *stream.Config) { c.AcceptableRecoveryLag = -1 }, field: "AcceptableRecoveryLag", msg: "must not be negative"},
		{name: "warm-ups negative", edit: func(c *stream.Config) { c.MaxWarmupReplicas = -1 }, field: "MaxWarmupReplicas", msg: "must be positive"},
		{name: "probing interval negative", edit: func(c *stream.Config) { c.ProbingRebalanceInterval = -time.Second }, field: "ProbingRebalanceInterval", msg: "must be positive"},
		{name: "AppID dot", edit: func(c *stream.Config) { c.AppID = "." }, field: "AppID", msg: "start with a letter or a digit"},
		{name: "AppID dot dot", edit: func(c *stream.Config) { c.AppID = ".." }, field: "AppID", msg: "start with a letter or a digit"},
		{name: "AppID dash", edit: func(c *stream.Config) { c.AppID = "-" }, field: "AppID", msg: "start with a letter or a digit"},
		{name: "AppID slash", edit: func(c *stream.Config) { c.AppID = "a/../b" }, field: "AppID", msg: "use letters, digits"},
		{name: "AppID empty", edit: func(c *stream.Config) { c.AppID = "" }, field: "AppID", msg: "is required"},
		{name: "AppID too long", edit: func(c *stream.Config) { c.AppID = strings.Repeat("a", 240) }, field: "AppID", msg: "249"},
		{name: "AppID too long for the internal topics", edit: func(c *stream.Config) { c.AppID = strings.Repeat("a", 235) }, field: "AppID", msg: "-words-repartition"},
		{name: "broker without port", edit: func(c *stream.Config) { c.Brokers = []string{"localhost"} }, field: "Brokers", msg: `entry 0 "localhost" is not host:port`},
		{name: "broker port not a number", edit: func(c *stream.Config) { c.Brokers = []string{"localhost:9092", "kafka:x"} }, field: "Brokers", msg: "entry 1"},
		{name: "broker port out of range", edit: func(c *stream.Config) { c.Brokers = []string{"kafka:70000"} }, field: "Brokers", msg: "1 to 65535"},
		{name: "broker empty host", edit: func(c *stream.Config) { c.Brokers = []string{":9092"} }, field: "Brokers", msg: "bad host"},
		{name: "broker URL", edit: func(c *stream.Config) { c.Brokers = []string{"kafka://host:9092"} }, field: "Brokers"},
		{name: "no brokers", edit: func(c *stream.Config) { c.Brokers = nil }, field: "Brokers", msg: "is required"},
		{name: "InstanceID with a space", edit: func(c *stream.Config) { c.InstanceID = "node 1" }, field: "InstanceID", msg: `has ' '`},
		{name: "InstanceID with a slash", edit: func(c *stream.Config) { c.InstanceID = "a/b" }, field: "InstanceID", msg: `has '/'`},
		{name: "InstanceID dot dot", edit: func(c *stream.Config) { c.InstanceID = ".." }, field: "InstanceID"},
		{name: "InstanceID too long", edit: func(c *stream.Config) { c.InstanceID = strings.Repeat("i", 250) }, field: "InstanceID", msg: "at most 249"},
		{name: "TransactionTimeout below the minimum", edit: func(c *stream.Config) { c.TransactionTimeout = 500 * time.Millisecond }, field: "TransactionTimeout", msg: "at least 1s"},
		{name: "TransactionTimeout below two commit intervals", edit: func(c *stream.Config) {
			c.CommitInterval = 5 * time.Second
			c.TransactionTimeout = 8 * time.Second
		}, field: "TransactionTimeout", msg: "twice CommitInterval (5s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok()
			tc.edit(&cfg)
			b := regroupCount()
			if tc.nilB {
				b = nil
			}
			app, err := stream.New(b, cfg)
			require.Nil(t, app)
			require.Error(t, err)
			// Exactly one field at fault, and it is named.
			var ce *stream.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
			if u, ok := err.(interface{ Unwrap() []error }); ok {
				require.Len(t, u.Unwrap(), 1, "one error: %v", err)
			}
			assert.Contains(t, err.Error(), tc.msg)
			if tc.field != "Builder" {
				assert.Contains(t, err.Error(), "Config."+tc.field)
			}
		})
	}
}

// TestNewAcceptsConfig: the limits leave valid configs alone.
func TestNewAcceptsConfig(t *testing.T) {
	for _, cfg := range []stream.Config{
		{AppID: "app", Brokers: []string{"localhost:9092", "10.0.0.1:9093", "[::1]:9094"}},
		{AppID: "0.app_2-x", Brokers: []string{"k:1"}, InstanceID: "node-1.a_b", MemTableBytes: stream.MinMemTableBytes,
			TransactionTimeout: time.Second, CommitInterval: 500 * time.Millisecond, OnBadRecord: stream.DeadLetterTopic("app-dlq")},
		{AppID: strings.Repeat("a", 200), Brokers: []string{"k:1"}},
		// The default TransactionTimeout grows with a long CommitInterval.
		{AppID: "slow", Brokers: []string{"k:1"}, CommitInterval: 6 * time.Second},
	} {
		app, err := stream.New(regroupCount(), cfg)
		require.NoError(t, err)
		require.NotNil(t, app)
	}
}

// TestConfigErrorsEachField: negative sizes are reported per field.
func TestConfigErrorsEachField(t *testing.T) {
	_, err := stream.New(regroupCount(), stream.Config{AppID: "a", Brokers: []string{"k:1"}, StateCacheBytes: -1, MemTableBytes: -1, StoreCacheBytes: -1})
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *stream.ConfigError
		require.True(t, errors.As(e, &ce))
		fields = append(fields, ce.Field)
	}
	assert.Equal(t, []string{"StateCacheBytes", "MemTableBytes", "StoreCacheBytes"}, fields)
}
