package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A restore that starts right after its changelog was created can see the
// topic before every broker has its metadata; endOffset waits for it.
func TestEndOffsetWaitsForTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)

	go func() {
		time.Sleep(300 * time.Millisecond)
		if _, err := adm.CreateTopic(context.Background(), 2, 1, nil, "late-changelog"); err != nil {
			panic(err)
		}
		cl.ProduceSync(context.Background(), &kgo.Record{Topic: "late-changelog", Partition: 1, Value: []byte("v")})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	end, err := endOffset(ctx, slog.New(slog.DiscardHandler), adm, "late-changelog", 1)
	require.NoError(t, err)
	assert.LessOrEqual(t, end, int64(1))

	// A topic that never comes ends with the context, and says why.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	_, err = endOffset(ctx2, slog.New(slog.DiscardHandler), adm, "never-created", 0)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, kerr.UnknownTopicOrPartition)

	// A topic unknown for longer than unknownTopicWait is taken as gone.
	defer func(d time.Duration) { unknownTopicWait = d }(unknownTopicWait)
	unknownTopicWait = 200 * time.Millisecond
	_, err = endOffset(context.Background(), slog.New(slog.DiscardHandler), adm, "deleted-changelog", 0)
	require.ErrorIs(t, err, kerr.UnknownTopicOrPartition)
	assert.Contains(t, err.Error(), "was the topic deleted?")
}

func TestRetriableOffsetErr(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{kerr.NotLeaderForPartition, true},
		{kerr.UnknownTopicOrPartition, true},
		{kerr.LeaderNotAvailable, true},
		{fmt.Errorf("wrapped: %w", kerr.NotLeaderForPartition), true},
		{kerr.TopicAuthorizationFailed, false},
		{errors.New("disk on fire"), false},
		{&kadm.ShardErrors{Errs: []kadm.ShardError{{Err: kerr.NotLeaderForPartition}}}, true},
		{&kadm.ShardErrors{Errs: []kadm.ShardError{{Err: kerr.NotLeaderForPartition}, {Err: kerr.ClusterAuthorizationFailed}}}, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, retriableOffsetErr(tt.err), "%v", tt.err)
	}
}
