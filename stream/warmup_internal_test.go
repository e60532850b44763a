package stream

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWarmupDefaults: zero warm-up settings get Kafka Streams' defaults;
// set ones are kept.
func TestWarmupDefaults(t *testing.T) {
	cfg := Config{AppID: "a", Brokers: []string{"k:1"}}
	require.NoError(t, cfg.validate())
	assert.Equal(t, int64(10_000), cfg.AcceptableRecoveryLag)
	assert.Equal(t, 2, cfg.MaxWarmupReplicas)
	assert.Equal(t, 10*time.Minute, cfg.ProbingRebalanceInterval)

	cfg = Config{AppID: "a", Brokers: []string{"k:1"}, AcceptableRecoveryLag: 5, MaxWarmupReplicas: 7, ProbingRebalanceInterval: time.Second}
	require.NoError(t, cfg.validate())
	assert.Equal(t, int64(5), cfg.AcceptableRecoveryLag)
	assert.Equal(t, 7, cfg.MaxWarmupReplicas)
	assert.Equal(t, time.Second, cfg.ProbingRebalanceInterval)
}
