package embedded

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestExternalParsesEnv(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want []string
	}{
		{"", nil},
		{" , ", nil},
		{"127.0.0.1:9092", []string{"127.0.0.1:9092"}},
		{" a:1, b:2 ,", []string{"a:1", "b:2"}},
	} {
		t.Setenv(EnvBrokers, tc.env)
		assert.Equal(t, tc.want, External(), "%s=%q", EnvBrokers, tc.env)
	}
}

// On an external broker, every Start empties it: a topic and a group left
// by the previous test are gone. It runs only with BROOK_TEST_KAFKA set.
func TestExternalStartEmpties(t *testing.T) {
	if External() == nil {
		t.Skipf("runs against an external broker: set %s", EnvBrokers)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start()
	require.NoError(t, err)
	require.Nil(t, c.Kfake())
	require.NoError(t, CreateTopic(ctx, c.Addrs(), "leftover", 2, nil))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumerGroup("leftover-group"), kgo.ConsumeTopics("leftover"))
	require.NoError(t, err)
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "leftover", Value: []byte("v")}).FirstErr())
	for n := 0; n == 0; {
		n = cl.PollFetches(ctx).NumRecords()
	}
	require.NoError(t, cl.CommitUncommittedOffsets(ctx))
	cl.Close()
	c.Close()

	c, err = Start()
	require.NoError(t, err)
	defer c.Close()
	adm, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.MetadataMinAge(50*time.Millisecond))
	require.NoError(t, err)
	defer adm.Close()
	td, err := kadm.NewClient(adm).ListTopics(ctx)
	require.NoError(t, err)
	assert.Empty(t, td.Names())
	lg, err := kadm.NewClient(adm).ListGroups(ctx)
	require.NoError(t, err)
	assert.Empty(t, lg.Groups())
}
