package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Suppress in an App, across a restart that lost the state directory:
// the held updates come back from the buffer's changelog and each goes on
// once, when stream time passes its limit.
func TestSuppressRestartApp(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("clicks", 1)
	k.Topic("click-counts", 1)
	topology := func() *stream.Builder {
		b := stream.NewBuilder()
		stream.Source(b, "clicks", serde.String(), serde.String()).
			GroupByKey().
			Count(stream.Materialized("clicks-per-user")).
			Suppress(stream.UntilTimeLimit(10*time.Second, stream.BufferConfig{})).
			ToStream().To("click-counts", nil, nil)
		return b
	}
	rec := func(key string, ts int64) *kgo.Record {
		return &kgo.Record{Topic: "clicks", Key: []byte(key), Value: []byte("x"), Timestamp: time.UnixMilli(ts)}
	}
	run := func(recs []*kgo.Record, wait func(app *stream.App)) {
		app, err := stream.New(topology(), stream.Config{AppID: "suppress-restart", Brokers: k.Addrs, StateDir: t.TempDir()})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- app.Run(ctx) }()
		defer func() {
			cancel()
			require.NoError(t, <-errc)
		}()
		k.Produce(false, recs...)
		wait(app)
	}
	// Nothing goes on yet: wait until the counts are committed.
	run([]*kgo.Record{rec("a", 1000), rec("a", 2000), rec("b", 3000)}, func(app *stream.App) {
		counts, err := app.Store[string, int64]("clicks-per-user")
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			a, _, _ := counts.Get("a")
			b, _, _ := counts.Get("b")
			return a == 2 && b == 1
		}, 60*time.Second, 50*time.Millisecond)
		time.Sleep(500 * time.Millisecond) // a few commit intervals: nothing may come out
	})
	assert.Empty(t, k.ReadAll("click-counts", time.Second), "updates are held")
	run([]*kgo.Record{rec("a", 12000), rec("b", 13000)}, func(*stream.App) {
		k.Read("click-counts", 2, 60*time.Second)
	})
	var got []string
	for _, r := range k.ReadAll("click-counts", time.Second) {
		n, err := serde.Int64().Deserialize("click-counts", r.Value)
		require.NoError(t, err)
		got = append(got, fmt.Sprintf("%s %d @%d", r.Key, n, r.Timestamp.UnixMilli()))
	}
	assert.Equal(t, []string{"a 3 @12000", "b 2 @13000"}, got)
}
