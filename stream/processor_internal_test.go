package stream

import (
	"errors"
	"testing"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Errors of a processor's store are fatal, also wrapped by the processor;
// errors of its serdes are not (they are bad records).
func TestProcessorStoreErrorsAreFatal(t *testing.T) {
	db := state.NewMemDB()
	st, err := db.Store("s", 0)
	require.NoError(t, err)
	kv := state.NewKeyValue(fatalStore{st}, serde.String(), serde.Int64(), "s")
	require.NoError(t, kv.Put("a", 1))
	_, _, err = kv.Get("a")
	require.NoError(t, err)

	bad := state.NewKeyValue(fatalStore{st}, serde.String(), serde.Func(
		func(string, int64) ([]byte, error) { return nil, errors.New("no bytes") },
		func(string, []byte) (int64, error) { return 0, nil }), "s")
	var fe *topo.FatalError
	assert.False(t, errors.As(bad.Put("a", 1), &fe), "a serde error is a bad record")

	require.NoError(t, db.Close())
	err = kv.Put("b", 2)
	require.ErrorAs(t, err, &fe)
	assert.ErrorIs(t, err, state.ErrClosed)
	assert.ErrorContains(t, err, `store "s"`)
}
