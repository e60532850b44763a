package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The example prints each final count once, in the order the windows
// closed, and the one late view it dropped.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	require.NoError(t, run(ctx, "", &out))
	_, output, ok := strings.Cut(out.String(), "Final views")
	require.True(t, ok, out.String())
	assert.Equal(t, ` per page per minute (topic "views-per-minute"):
  /about    minute 0: 1
  /home     minute 0: 4
  /home     minute 1: 1
  /pricing  minute 1: 2
  /home     minute 2: 1
Late views dropped: 1
`, output)
}
