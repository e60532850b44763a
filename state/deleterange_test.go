package state

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// DeleteRange drops cached and committed keys of the range, other stores'
// keys and keys outside it stay, and nothing goes to the changelog.
func TestDeleteRange(t *testing.T) {
	forEach(t, func(t *testing.T, db TaskDB) {
		s, err := db.Store("w", 0)
		require.NoError(t, err)
		o, err := db.Store("other", 0)
		require.NoError(t, err)
		for _, k := range []string{"a1", "b1", "b2", "c1"} {
			put(t, s, k, "v"+k)
		}
		put(t, o, "b1", "o")
		flush(t, s)
		flush(t, o)
		require.NoError(t, db.Commit(nil))
		put(t, s, "b3", "dirty") // in the range, never flushed
		put(t, s, "c2", "vc2")
		require.NoError(t, s.DeleteRange([]byte("b"), []byte("c")))
		assert.Equal(t, []rec{{k: "c2", v: []byte("vc2")}}, flush(t, s))
		require.NoError(t, db.Commit(nil))
		assert.Equal(t, []kv{{"a1", "va1"}, {"c1", "vc1"}, {"c2", "vc2"}}, collectAll(t, s))
		ro, err := db.ReadOnly("w")
		require.NoError(t, err)
		assert.Equal(t, []kv{{"a1", "va1"}, {"c1", "vc1"}, {"c2", "vc2"}}, collectAll(t, ro))
		assert.Equal(t, []kv{{"b1", "o"}}, collectAll(t, o))
		// An abort drops a range delete not yet committed.
		require.NoError(t, s.DeleteRange([]byte("a"), []byte("d")))
		db.Abort()
		assert.Equal(t, []kv{{"a1", "va1"}, {"c1", "vc1"}, {"c2", "vc2"}}, collectAll(t, s))
	})
}
