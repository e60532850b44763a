package streamtest_test

import (
	"fmt"
	"testing"

	"github.com/brookstream/brook/internal/testcases"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pipeInputs writes testcases.Input records, values as strings or, with
// int64Values, as decimal int64s.
func pipeInputs[V any](t *testing.T, in *streamtest.InputTopic[string, V], vs serde.Serde[V], parse func(string) V, recs []testcases.Input) {
	t.Helper()
	for _, r := range recs {
		var kb, vb []byte
		if !r.NoKey {
			kb = []byte(r.Key)
		}
		if !r.NoValue {
			var err error
			vb, err = vs.Serialize("", parse(r.Value))
			require.NoError(t, err)
		}
		in.PipeBytesAt(kb, vb, r.Timestamp)
	}
}

// outs formats the output records as testcases.Out.
func outs[V any](recs []streamtest.OutputRecord[string, V]) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		v := fmt.Sprint(r.Value)
		if r.Tombstone {
			v = testcases.Tombstone
		}
		out[i] = testcases.Out(r.Key, v, r.Timestamp)
	}
	return out
}

func str(s string) string { return s }

func i64(s string) int64 {
	var n int64
	_, _ = fmt.Sscan(s, &n)
	return n
}

// As state_test.go's TestNullSkips (Kafka Streams' KStreamAggregate,
// KGroupedStreamImplTest#shouldCountAndIgnoreNullKeysAndValues... ): null
// keys and values are skipped and counted, and timestamps never go back.
func TestNullSkips(t *testing.T) {
	d := streamtest.New(t, testcases.NullSkips(), streamtest.Config{})
	pipeInputs(t, d.Input("events", serde.String(), serde.String()), serde.String(), str, testcases.NullSkipsInput)
	assert.Equal(t, testcases.NullSkipsWant, outs(d.Output("event-counts", serde.String(), serde.Int64()).Records()))
	assert.Equal(t, map[string]stream.DroppedCounts{"0_0": testcases.NullSkipsDropped}, d.DroppedRecords())
	// The store holds the counts; the timestamps stay in the store's
	// layout, not in what a query reads.
	n, ok, err := d.Store[string, int64]("event-counts").Get("a")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(2), n)
}

// As state_test.go's TestRegionCounts (Kafka Streams' KTableAggregateTest,
// KTableRepartitionMap since KIP-904, KTableSourceTest).
func TestRegionCounts(t *testing.T) {
	d := streamtest.New(t, testcases.RegionCounts(), streamtest.Config{})
	pipeInputs(t, d.Input("members", serde.String(), serde.String()), serde.String(), str, testcases.RegionCountsInput)
	assert.Equal(t, testcases.RegionCountsWant, outs(d.Output("region-counts", serde.String(), serde.Int64()).Records()))
	assert.Equal(t, testcases.RegionCountsDropped, d.DroppedRecords()["0_0"])
}

// As state_test.go's TestPriceChanges (Kafka Streams' KTableImpl#toStream
// forwards deletes).
func TestPriceChanges(t *testing.T) {
	d := streamtest.New(t, testcases.PriceChanges(), streamtest.Config{})
	pipeInputs(t, d.Input("price-list", serde.String(), serde.Int64()), serde.Int64(), i64, testcases.PriceChangesInput)
	assert.Equal(t, testcases.PriceChangesWant, outs(d.Output("price-changes", serde.String(), serde.Int64()).Records()))
}
