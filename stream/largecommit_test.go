package stream_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestLargeCommit counts 30,000 distinct keys, each twice, over 4
// partitions with a cache large enough for one commit to flush them all
// (several megabytes of dirty entries in four tasks at once, as in a
// count over a million keys). The changelog, the output and a store
// restored from the changelog by a second App hold exactly each key's
// count, under both guarantees.
func TestLargeCommit(t *testing.T) {
	const keys = 30_000
	for _, g := range []stream.Guarantee{stream.AtLeastOnce, stream.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			k := kafkatest.New(t)
			k.Topic("in", 4)
			k.Topic("out", 4)
			var recs []*kgo.Record
			for range 2 {
				for i := range keys {
					recs = append(recs, rec("in", fmt.Sprintf("k%05d", i), "x"))
				}
			}
			k.Produce(false, recs...)
			build := func() *stream.Builder {
				b := stream.NewBuilder()
				stream.Source(b, "in", serde.String(), serde.String()).GroupByKey().
					Count(stream.Materialized("n")).ToStream().To("out", nil, nil)
				return b
			}
			want := make(map[string]int64, keys)
			for i := range keys {
				want[fmt.Sprintf("k%05d", i)] = 2
			}
			cfg := stream.Config{AppID: "pflush", Guarantee: g, StoreCacheBytes: 64 << 20, CommitInterval: 2 * time.Second}
			stop := start(t, k, build(), cfg)
			waitLatest(t, k, "out", serde.Int64(), want)
			require.NoError(t, stop())
			require.Equal(t, want, latest(t, k, "pflush-n-changelog", serde.Int64(), time.Second))

			// A second App with a fresh state directory restores the
			// store from the changelog alone.
			cfg.StateDir = t.TempDir()
			app, _ := startApp(t, k, build(), cfg)
			view, err := app.Store[string, int64]("n")
			require.NoError(t, err)
			got := map[string]int64{}
			require.Eventually(t, func() bool {
				clear(got)
				for key, n := range view.All() {
					got[key] = n
				}
				return len(got) == keys
			}, 60*time.Second, 100*time.Millisecond)
			require.Equal(t, want, got)
		})
	}
}
