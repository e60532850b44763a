package window_test

import (
	"testing"
	"time"

	"github.com/brookstream/brook/window"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJoinWindows(t *testing.T) {
	w := window.JoinTimeDifference(10 * time.Second)
	assert.Equal(t, window.JoinWindows{BeforeMs: 10_000, AfterMs: 10_000}, w, "symmetric, no grace by default")
	w = w.Before(2 * time.Second).After(30 * time.Second).Grace(time.Minute)
	assert.Equal(t, window.JoinWindows{BeforeMs: 2_000, AfterMs: 30_000, GraceMs: 60_000}, w)
	assert.Equal(t, int64(32_000), w.SizeMs())
	assert.Equal(t, int64(92_000), w.Retention())
	assert.Equal(t, int64(60_000), w.GracePeriod())
	require.NoError(t, w.Validate())
	// One side may be negative while the span is not.
	require.NoError(t, window.JoinTimeDifference(time.Second).Before(-time.Second).Validate())
	for _, bad := range []window.JoinWindows{
		window.JoinTimeDifference(time.Second).After(-2 * time.Second),
		window.JoinTimeDifference(time.Second).Grace(-time.Millisecond),
	} {
		assert.Error(t, bad.Validate(), "%+v", bad)
	}
}
