package state

import (
	"encoding/binary"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTimestampedLayout(t *testing.T) {
	b := AppendTimestamped(nil, 1700000000123, []byte("v"))
	assert.Equal(t, []byte{0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b, 'v'}, b)
	ts, v, err := SplitTimestamped(b)
	require.NoError(t, err)
	assert.Equal(t, int64(1700000000123), ts)
	assert.Equal(t, []byte("v"), v)
	_, _, err = SplitTimestamped([]byte{1, 2})
	assert.ErrorIs(t, err, ErrShortTimestamped)
}

// A DB written with layout version 1 (values without timestamps) is
// incompatible with version 2: Open says so, and OpenOrWipe replaces it
// with an empty DB, which the runtime restores from the changelogs.
func TestLayoutVersion1IsWiped(t *testing.T) {
	dir := t.TempDir()
	pdb, err := pebble.Open(dir, &pebble.Options{})
	require.NoError(t, err)
	require.NoError(t, pdb.Set(versionKey, binary.AppendUvarint(nil, 1), pebble.Sync))
	require.NoError(t, pdb.Set(append(storePrefix("counts"), 'k'), []byte{0, 0, 0, 0, 0, 0, 0, 1}, pebble.Sync))
	require.NoError(t, pdb.Close())

	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrIncompatible)
	assert.ErrorContains(t, err, "layout version 1, want 2")

	db, wiped, err := OpenOrWipe(dir, Options{})
	require.NoError(t, err)
	assert.True(t, wiped)
	_, ok, err := db.Checkpoint("counts")
	require.NoError(t, err)
	assert.False(t, ok, "no checkpoint: restore from offset 0")
	require.NoError(t, db.Close())
}
