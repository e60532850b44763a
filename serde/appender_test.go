package serde_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brookstream/brook/serde"
)

// checkAppender checks that Append writes exactly Serialize's bytes behind
// any prefix, keeps the prefix, and allocates nothing into a buffer large
// enough.
func checkAppender[T any](t *testing.T, s serde.Serde[T], values ...T) {
	t.Helper()
	a, ok := s.(serde.Appender[T])
	require.True(t, ok, "%T does not implement serde.Appender", s)
	for _, v := range values {
		want, err := s.Serialize(topic, v)
		require.NoError(t, err)
		for _, prefix := range [][]byte{nil, {}, []byte("pre")} {
			got, err := a.Append(prefix, topic, v)
			require.NoError(t, err)
			require.NotNil(t, got, "Append(%q, %v) returned nil: it would read as a tombstone", prefix, v)
			assert.Equal(t, append(append([]byte{}, prefix...), want...), got, "Append(%q, %v)", prefix, v)
		}
		buf := make([]byte, 0, 64)
		allocs := testing.AllocsPerRun(100, func() { _, _ = a.Append(buf[:0], topic, v) })
		assert.Zero(t, allocs, "Append(%v) into a large enough buffer allocates", v)
	}
}

func TestAppender(t *testing.T) {
	t.Run("String", func(t *testing.T) { checkAppender(t, serde.String(), "", "abc", "héllo, 世界", "\xff\xfe") })
	t.Run("Int64", func(t *testing.T) { checkAppender(t, serde.Int64(), 0, 1, -1, math.MaxInt64, math.MinInt64) })
	t.Run("Int32", func(t *testing.T) { checkAppender(t, serde.Int32(), 0, 256, -1, math.MaxInt32, math.MinInt32) })
	t.Run("Float64", func(t *testing.T) { checkAppender(t, serde.Float64(), 0, 1.5, math.Copysign(0, -1), math.Inf(-1)) })

	// Serdes that can write a tombstone for a value cannot append.
	t.Run("no Appender where nil bytes are possible", func(t *testing.T) {
		_, ok := serde.Bytes().(serde.Appender[[]byte])
		assert.False(t, ok, "Bytes")
		_, ok = serde.Nullable(serde.String()).(serde.Appender[*string])
		assert.False(t, ok, "Nullable")
		_, ok = serde.JSON[map[string]int]().(serde.Appender[map[string]int])
		assert.False(t, ok, "JSON")
	})
}
