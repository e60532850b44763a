package state_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A session view over sessions in several segments (retention 240000:
// segments of 120000 ms), with empty segments between them, keys that
// share a prefix ("a", "ab") and a bookkeeping key in segment 0xFF..FF.
func TestReadOnlySession(t *testing.T) {
	const retention, segI = 240_000, 120_000
	db := state.NewMemDB()
	st, err := db.Store("sessions", 0)
	require.NoError(t, err)
	enc := func(n int64) []byte {
		b, err := serde.Int64().Serialize("sessions", n)
		require.NoError(t, err)
		return b
	}
	for _, s := range []struct {
		key             string
		start, end, cnt int64
	}{
		{"a", 1000, 5000, 3},
		{"ab", 2000, 2000, 1},
		{"a", 600_000, 610_000, 2}, // segment 5
		{"a", 100_000, 130_000, 4}, // segment 1
		{"b", 900_000, 900_000, 1}, // segment 7
		{"a", 125_000, 125_000, 1}, // segment 1, ends before the other
	} {
		require.NoError(t, st.Put(state.AppendSessionKey(nil, segI, []byte(s.key), s.start, s.end), enc(s.cnt)))
	}
	require.NoError(t, st.Put(append(bytes.Repeat([]byte{0xff}, 8), "emitted"...), enc(99)))
	v := state.NewReadOnlySession(st, serde.String(), serde.Int64(), "sessions", retention)
	fetch := func(key string) []string {
		var out []string
		for w, n := range v.Fetch(key) {
			out = append(out, fmt.Sprintf("%s [%d,%d] %d", w.Key, w.Window.Start, w.Window.End, n))
		}
		return out
	}
	assert.Equal(t, []string{"a [1000,5000] 3", "a [125000,125000] 1", "a [100000,130000] 4", "a [600000,610000] 2"}, fetch("a"))
	assert.Equal(t, []string{"ab [2000,2000] 1"}, fetch("ab"))
	assert.Equal(t, []string{"b [900000,900000] 1"}, fetch("b"))
	assert.Empty(t, fetch("c"))
	var all []string
	for w, n := range v.FetchAll() {
		all = append(all, fmt.Sprintf("%s [%d,%d] %d", w.Key, w.Window.Start, w.Window.End, n))
	}
	assert.Equal(t, []string{
		"a [1000,5000] 3", "ab [2000,2000] 1",
		"a [125000,125000] 1", "a [100000,130000] 4",
		"a [600000,610000] 2", "b [900000,900000] 1",
	}, all, "by segment, key bytes, end, start; no bookkeeping key")
	n, ok, err := v.FetchSession("a", 100_000, 130_000)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(4), n)
	_, ok, err = v.FetchSession("a", 100_000, 125_000)
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, v.Err())
}
