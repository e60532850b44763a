package stream_test

import (
	"errors"
	"testing"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A record on a foreign-key join's internal topic that brook did not
// write is a bad record naming its topic, partition and offset.
func TestFKJoinBadInternalRecord(t *testing.T) {
	for _, topic := range []string{"streamtest-fk-subscription-registration-topic", "streamtest-fk-subscription-response-topic"} {
		t.Run(topic, func(t *testing.T) {
			d := streamtest.New(t, fkJoinTopology(false), streamtest.Config{})
			err := d.Input(topic, serde.String(), serde.String()).TryPipeBytes([]byte("k"), []byte{9, 9})
			var re *stream.RecordError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, topic, re.Topic)
			assert.Equal(t, int32(0), re.Partition)
			assert.Equal(t, int64(0), re.Offset)
			var se *stream.SerdeError
			require.True(t, errors.As(err, &se), "%v", err)
			assert.Contains(t, err.Error(), "not written by this version of brook")
		})
	}
}

// A foreign-key join whose result type differs from the left value's
// needs a value serde for its store, and says so.
func TestFKJoinNeedsResultSerde(t *testing.T) {
	b := stream.NewBuilder()
	orders := stream.SourceTable(b, "orders", serde.String(), serde.String())
	customers := stream.SourceTable(b, "customers", serde.String(), serde.String())
	orders.JoinForeignKey(customers, func(_, v string) string { return v }, func(v, c string) int64 { return 1 })
	err := b.Build()
	var be *stream.BuildError
	require.ErrorAs(t, err, &be)
	assert.Contains(t, err.Error(), "KTABLE-FK-JOIN-OUTPUT-0000000018 (store KTABLE-FK-JOIN-OUTPUT-STATE-STORE-0000000019): the result is kept in a store and needs a serde: give one with the ValueSerde option")
}

// A table joined with itself by a foreign key: each employee with their
// manager's name. Both internal topics are read by the table's own
// sub-topology.
func TestFKJoinSelf(t *testing.T) {
	b := stream.NewBuilder()
	ns := serde.Nullable(serde.String())
	// value "name:managerId"
	emps := stream.SourceTable(b, "employees", serde.String(), serde.String(), stream.Materialized("emps"))
	name := func(v string) string { n, _, _ := cut(v); return n }
	emps.LeftJoinForeignKey(emps, func(_ string, v string) string { _, m, _ := cut(v); return m },
		func(v, mv string) *string {
			out := name(v) + " reports to " + name(mv)
			if mv == "" {
				out = name(v) + " reports to nobody"
			}
			return &out
		}, stream.Materialized("reports"), stream.ValueSerde(ns)).
		ToStream().To("out", nil, nil)
	d := streamtest.New(t, b, streamtest.Config{Partitions: 2})
	in := d.Input("employees", serde.String(), serde.String())
	in.PipeAt("e1", "Ann:", 1)
	in.PipeAt("e2", "Bob:e1", 2)
	in.PipeAt("e3", "Cid:e1", 3)
	in.PipeAt("e1", "Anne:", 4) // fans out to e2 and e3
	got := map[string]string{}
	for k, v := range d.Store[string, *string]("reports").All() {
		got[k] = *v
	}
	assert.Equal(t, map[string]string{"e1": "Anne reports to nobody", "e2": "Bob reports to Anne", "e3": "Cid reports to Anne"}, got)
	latest := d.Output("out", serde.String(), ns).Latest()
	assert.Equal(t, "Bob reports to Anne", *latest["e2"])
}

func cut(v string) (string, string, bool) {
	for i := range len(v) {
		if v[i] == ':' {
			return v[:i], v[i+1:], true
		}
	}
	return v, "", false
}
