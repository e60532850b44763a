package stream_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
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

func int64Rec(topic, key string, v int64) *kgo.Record {
	b, _ := serde.Int64().Serialize(topic, v)
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: b}
}

// produceBad writes testcases.BadRecords to the topic in.
func produceBad(k *kafkatest.Kafka, in string) {
	var recs []*kgo.Record
	for _, br := range testcases.BadRecords {
		r := int64Rec(in, br.Key, br.Value)
		if br.Raw != nil {
			r.Value = br.Raw
		}
		for _, h := range br.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		recs = append(recs, r)
	}
	k.Produce(false, recs...)
}

func outValues(t *testing.T, recs []*kgo.Record) []string {
	var s []string
	for _, r := range recs {
		v, err := serde.Int64().Deserialize("", r.Value)
		require.NoError(t, err)
		s = append(s, testcases.Pair(string(r.Key), strconv.FormatInt(v, 10)))
	}
	return s
}

func TestBadRecordFail(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("bad-in", 1)
	k.Topic("bad-out", 1)
	produceBad(k, "bad-in")
	app, err := stream.New(testcases.BadInput("bad-in", "bad-out"), stream.Config{AppID: "fail", Brokers: k.Addrs, Guarantee: stream.AtLeastOnce})
	require.NoError(t, err)
	err = app.Run(context.Background())
	var re *stream.RecordError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "bad-in", re.Topic)
	assert.Equal(t, int32(0), re.Partition)
	assert.Equal(t, int64(2), re.Offset)
	var se *stream.SerdeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "value", se.Part)
	assert.ErrorIs(t, err, serde.ErrSize)
	assert.Contains(t, err.Error(), `topic "bad-in" partition 0 offset 2`)
	assert.Contains(t, err.Error(), "OnBadRecord")
	// The records before the bad one were written and committed: a restart
	// begins at the bad record.
	assert.Equal(t, testcases.BadInputFailed, outValues(t, k.Read("bad-out", 2, 5*time.Second)))
	adm := k.Client()
	offs := committed(t, adm, "fail", "bad-in")
	assert.Equal(t, int64(2), offs[0])
}

func TestBadRecordSkip(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("skip-in", 1)
	k.Topic("skip-out", 1)
	produceBad(k, "skip-in")
	start(t, k, testcases.BadInput("skip-in", "skip-out"), stream.Config{OnBadRecord: stream.SkipBadRecord()})
	assert.Equal(t, testcases.BadInputSkipped, outValues(t, k.Read("skip-out", len(testcases.BadInputSkipped), 10*time.Second)))
}

func TestBadRecordDeadLetter(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("dlq-in", 1)
	k.Topic("dlq-out", 1)
	produceBad(k, "dlq-in")
	start(t, k, testcases.BadInput("dlq-in", "dlq-out"), stream.Config{OnBadRecord: stream.DeadLetterTopic("dlq")})
	assert.Equal(t, testcases.BadInputSkipped, outValues(t, k.Read("dlq-out", len(testcases.BadInputSkipped), 10*time.Second)))
	dead := k.Read("dlq", 2, 10*time.Second)
	require.Len(t, dead, 2)
	hdr := func(r *kgo.Record) map[string]string {
		m := map[string]string{}
		for _, h := range r.Headers {
			m[h.Key] = string(h.Value)
		}
		return m
	}
	// The undecodable record: original bytes and headers, plus the origin.
	assert.Equal(t, "c", string(dead[0].Key))
	assert.Equal(t, "x", string(dead[0].Value))
	h := hdr(dead[0])
	assert.Equal(t, "v", h["h"])
	assert.Equal(t, "dlq-in", h[stream.HeaderTopic])
	assert.Equal(t, "0", h[stream.HeaderPartition])
	assert.Equal(t, "2", h[stream.HeaderOffset])
	assert.Equal(t, "0_0", h[stream.HeaderTask])
	assert.Contains(t, h[stream.HeaderError], "deserialize value")
	// The record whose processing panicked.
	v99, _ := serde.Int64().Serialize("", 99)
	assert.Equal(t, "e", string(dead[1].Key))
	assert.Equal(t, v99, dead[1].Value)
	assert.Equal(t, "4", hdr(dead[1])[stream.HeaderOffset])
	assert.Contains(t, hdr(dead[1])[stream.HeaderError], "panic: ninety-nine is not allowed")
}

func committed(t *testing.T, cl *kgo.Client, group, topic string) map[int32]int64 {
	t.Helper()
	adm := newAdm(cl)
	resp, err := adm.FetchOffsets(context.Background(), group)
	require.NoError(t, err)
	out := map[int32]int64{}
	for _, o := range resp[topic] {
		out[o.Partition] = o.At
	}
	return out
}

// TestOrderPerPartition checks that with several workers and partitions,
// every key's records come out in input order.
func TestOrderPerPartition(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("ord-in", 6)
	k.Topic("ord-out", 6)
	const keys, per = 12, 300
	var recs []*kgo.Record
	for i := range per {
		for key := range keys {
			recs = append(recs, rec("ord-in", fmt.Sprintf("k%02d", key), strconv.Itoa(i)))
		}
	}
	k.Produce(false, recs...)
	b := stream.NewBuilder()
	stream.Source(b, "ord-in", serde.String(), serde.String()).
		MapValues(func(v string) string { return v + "!" }).
		To("ord-out", nil, nil)
	start(t, k, b, stream.Config{Workers: 3})
	out := k.Read("ord-out", keys*per, 20*time.Second)
	require.Len(t, out, keys*per)
	next := map[string]int{}
	for _, r := range out {
		key := string(r.Key)
		assert.Equal(t, strconv.Itoa(next[key])+"!", string(r.Value), "key %s", key)
		next[key]++
	}
	assert.Len(t, next, keys)
}

// TestRebalanceMidStream runs one App, adds a second to the group while
// records flow, then stops the second: every input record's output is
// present; under exactly-once none twice.
func TestRebalanceMidStream(t *testing.T) {
	for _, g := range []stream.Guarantee{stream.AtLeastOnce, stream.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) { testRebalanceMidStream(t, g) })
	}
}

func testRebalanceMidStream(t *testing.T, g stream.Guarantee) {
	k := kafkatest.New(t)
	k.Topic("rb-in", 4)
	k.Topic("rb-out", 4)
	b := func(n *atomic.Int64) *stream.Builder {
		b := stream.NewBuilder()
		stream.Source(b, "rb-in", serde.String(), serde.String()).
			Peek(func(string, string) { n.Add(1) }).
			MapValues(func(v string) string { return "out-" + v }).
			To("rb-out", nil, nil)
		return b
	}
	cfg := stream.Config{AppID: "rebalance", Guarantee: g}
	var produced atomic.Int64
	feed := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, rec("rb-in", "k"+strconv.Itoa(i%50), strconv.Itoa(i)))
		}
		k.Produce(false, recs...)
		produced.Add(int64(to - from))
	}
	var n1, n2 atomic.Int64
	stop1 := start(t, k, b(&n1), cfg)
	feed(0, 2000)
	stop2 := start(t, k, b(&n2), cfg)
	deadline := time.Now().Add(20 * time.Second)
	for i := 2000; n2.Load() == 0; i += 20 {
		require.True(t, time.Now().Before(deadline), "the second app got no records")
		feed(i, i+20)
		time.Sleep(50 * time.Millisecond)
	}
	feed(int(produced.Load()), int(produced.Load())+1000)
	require.NoError(t, stop2())
	total := int(produced.Load()) + 2000
	feed(int(produced.Load()), total)
	// The remaining app takes the second's partitions back after a
	// rebalance; wait until every output is there (or 30s).
	var out []*kgo.Record
	var missing []string
	for end := time.Now().Add(30 * time.Second); ; {
		out = k.ReadAll("rb-out", 500*time.Millisecond)
		seen := map[string]bool{}
		for _, r := range out {
			seen[string(r.Value)] = true
		}
		missing = missing[:0]
		for i := range total {
			if !seen["out-"+strconv.Itoa(i)] {
				missing = append(missing, strconv.Itoa(i))
			}
		}
		if len(missing) == 0 || time.Now().After(end) {
			break
		}
	}
	require.NoError(t, stop1())
	assert.Empty(t, missing, "outputs missing after the rebalance")
	if g == stream.ExactlyOnce {
		assert.Len(t, out, total, "exactly-once: no output twice")
	}
	t.Logf("%d outputs for %d inputs (%d duplicates); first app processed %d, second %d", len(out), total, len(out)-total, n1.Load(), n2.Load())
}
