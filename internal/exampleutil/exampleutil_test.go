package exampleutil_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/exampleutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestBrokersFlag(t *testing.T) {
	addrs, cleanup, err := exampleutil.Brokers(" a:9092, b:9092 ,")
	require.NoError(t, err)
	cleanup()
	assert.Equal(t, []string{"a:9092", "b:9092"}, addrs)

	_, cleanup, err = exampleutil.Brokers(",")
	cleanup()
	assert.Error(t, err)
}

func TestRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addrs, cleanup, err := exampleutil.Brokers("")
	require.NoError(t, err)
	defer cleanup()
	require.NotEmpty(t, addrs)

	require.NoError(t, exampleutil.CreateTopics(ctx, addrs, 2, "t"))
	require.NoError(t, exampleutil.CreateTopics(ctx, addrs, 2, "t"), "an existing topic is not an error")
	var recs []*kgo.Record
	for i := range 5 {
		recs = append(recs, &kgo.Record{Topic: "t", Key: []byte("k"), Value: []byte(strconv.Itoa(i))})
	}
	require.NoError(t, exampleutil.Produce(ctx, addrs, recs...))

	got, err := exampleutil.ReadN(ctx, addrs, "t", 5)
	require.NoError(t, err)
	var vals []string
	for _, r := range got {
		vals = append(vals, string(r.Value))
	}
	assert.Equal(t, []string{"0", "1", "2", "3", "4"}, vals, "one key: one partition, offset order")

	// Asking for more than there is stops at the deadline with an error
	// and what was read.
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort()
	got, err = exampleutil.ReadN(short, addrs, "t", 6)
	assert.Len(t, got, 5)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "read 5 of 6 records")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}
