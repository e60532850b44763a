package stream_test

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/embedded"
	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const bigLimit = 8 << 20 // max.message.bytes of the topics that allow large records

// bigTopic creates topic with max.message.bytes limit (0: the default).
func bigTopic(t *testing.T, k *kafkatest.Kafka, topic string, limit int) {
	t.Helper()
	var configs map[string]*string
	if limit > 0 {
		v := strconv.Itoa(limit)
		configs = map[string]*string{"max.message.bytes": &v}
	}
	require.NoError(t, embedded.CreateTopic(context.Background(), k.Addrs, topic, 1, configs))
}

// produceBig writes records with a producer sized for bigLimit.
func produceBig(t *testing.T, k *kafkatest.Kafka, recs ...*kgo.Record) {
	t.Helper()
	cl := k.Client(kgo.ProducerBatchMaxBytes(bigLimit))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

// TestLargeRecordFlows: a 5 MB value goes through a stateless operator
// and a store (its changelog) to the output topics, when the topics allow
// records that large, by their own max.message.bytes or by the brokers'
// message.max.bytes.
func TestLargeRecordFlows(t *testing.T) {
	for _, level := range []string{"topic", "broker"} {
		t.Run(level, func(t *testing.T) {
			k := kafkatest.New(t)
			topicLimit := bigLimit
			if level == "broker" {
				topicLimit = 0
				v := strconv.Itoa(bigLimit)
				adm := kadm.NewClient(k.Client())
				_, err := adm.AlterBrokerConfigs(context.Background(), []kadm.AlterConfig{{Name: "message.max.bytes", Value: &v}})
				require.NoError(t, err)
				// A shared broker (BROOK_TEST_KAFKA) keeps broker configs
				// across tests: put the default back for the next ones.
				t.Cleanup(func() {
					_, err := adm.AlterBrokerConfigs(context.Background(), []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "message.max.bytes"}})
					assert.NoError(t, err)
				})
			}
			for _, topic := range []string{"big-in", "big-out", "big-latest"} {
				bigTopic(t, k, topic, topicLimit)
			}
			b := stream.NewBuilder()
			in := stream.Source(b, "big-in", serde.String(), serde.Bytes())
			in.MapValues(func(v []byte) []byte { return append(v, '!') }).To("big-out", nil, nil)
			in.GroupByKey().Reduce(func(_, v []byte) []byte { return v }, stream.Materialized("latest")).ToStream().To("big-latest", nil, nil)
			stop := start(t, k, b, stream.Config{AppID: "big"})
			defer func() { require.NoError(t, stop()) }()

			big := bytes.Repeat([]byte("0123456789"), 512<<10) // 5 MiB
			produceBig(t, k, &kgo.Record{Topic: "big-in", Key: []byte("k"), Value: big})
			out := k.Read("big-out", 1, 60*time.Second)
			require.Len(t, out, 1)
			assert.Equal(t, "k", string(out[0].Key))
			assert.Equal(t, len(big)+1, len(out[0].Value))
			assert.True(t, bytes.Equal(append(big, '!'), out[0].Value))
			latest := k.Read("big-latest", 1, 60*time.Second)
			require.Len(t, latest, 1)
			assert.True(t, bytes.Equal(big, latest[0].Value))
			// The store's changelog holds the 5 MB value too.
			cl := k.Read("big-latest-changelog", 1, 30*time.Second)
			require.Len(t, cl, 1)
			assert.True(t, bytes.Equal(big, cl[0].Value))
		})
	}
}

// TestTooLargeRecordPolicy: a record larger than its output topic accepts
// is a bad record: skipped or dead-lettered (and the App goes on), or it
// stops the App, with an error that states the size, the limit and the
// topic.
func TestTooLargeRecordPolicy(t *testing.T) {
	const defaultLimit = 1048588 // kfake's message.max.bytes, as Kafka's
	for _, tc := range []struct {
		name   string
		policy stream.BadRecordPolicy
	}{
		{"skip", stream.SkipBadRecord()},
		{"dead-letter", stream.DeadLetterTopic("tl-dlq")},
		{"fail", stream.FailOnBadRecord()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := kafkatest.New(t)
			bigTopic(t, k, "tl-in", bigLimit)
			bigTopic(t, k, "tl-out", 0)
			b := stream.NewBuilder()
			stream.Source(b, "tl-in", serde.String(), serde.Bytes()).To("tl-out", nil, nil)
			big := bytes.Repeat([]byte("x"), 2<<20)
			produceBig(t, k,
				&kgo.Record{Topic: "tl-in", Key: []byte("a"), Value: []byte("small")},
				&kgo.Record{Topic: "tl-in", Key: []byte("b"), Value: big},
				&kgo.Record{Topic: "tl-in", Key: []byte("c"), Value: []byte("small")},
			)
			logs := newCapture(slog.LevelWarn)
			cfg := stream.Config{AppID: "tl", Brokers: k.Addrs, StateDir: t.TempDir(), OnBadRecord: tc.policy, Logger: slog.New(logs)}
			app, err := stream.New(b, cfg)
			require.NoError(t, err)
			errc := make(chan error, 1)
			go func() { errc <- app.Run(context.Background()) }()
			defer app.Close() // also when an assertion fails: the next case reuses the names
			wantMsg := "record of 2097250 bytes is larger than the " + strconv.Itoa(defaultLimit) + ` bytes topic "tl-out" accepts (max.message.bytes)`

			if tc.name == "fail" {
				var err error
				select {
				case err = <-errc:
				case <-time.After(60 * time.Second):
					t.Fatal("Run did not stop on the too large record")
				}
				var re *stream.RecordError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, "tl-in", re.Topic)
				assert.Equal(t, int64(1), re.Offset)
				assert.Contains(t, err.Error(), wantMsg)
				var tl *stream.RecordTooLargeError
				require.ErrorAs(t, err, &tl)
				assert.Equal(t, stream.RecordTooLargeError{Topic: "tl-out", Size: 2097250, Limit: defaultLimit}, *tl)
				// The large record was not written.
				for _, r := range k.ReadAll("tl-out", 2*time.Second) {
					assert.NotEqual(t, "b", string(r.Key))
				}
				return
			}
			// The App goes on: the records around the large one arrive, and
			// the large one never does.
			require.Len(t, k.Read("tl-out", 2, 60*time.Second), 2)
			var keys []string
			for _, r := range k.ReadAll("tl-out", 3*time.Second) {
				t.Logf("tl-out: key %q, %d bytes, offset %d", r.Key, len(r.Value), r.Offset)
				keys = append(keys, string(r.Key))
			}
			assert.Equal(t, []string{"a", "c"}, keys)
			if tc.name == "dead-letter" {
				dead := k.Read("tl-dlq", 1, 30*time.Second)
				require.Len(t, dead, 1)
				assert.Equal(t, "b", string(dead[0].Key))
				assert.True(t, bytes.Equal(big, dead[0].Value))
				h := map[string]string{}
				for _, x := range dead[0].Headers {
					h[x.Key] = string(x.Value)
				}
				assert.Contains(t, h[stream.HeaderError], wantMsg)
				assert.Equal(t, "1", h[stream.HeaderOffset])
			}
			var warned bool
			for _, r := range logs.all() {
				if r.level == slog.LevelWarn && strings.Contains(r.attrs, wantMsg) {
					warned = true
				}
			}
			assert.True(t, warned, "a warning with the size and the limit: %v", logs.all())
			app.Close()
			require.NoError(t, <-errc)
		})
	}
}
