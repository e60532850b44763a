package state

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type stringSerde struct{}

func (stringSerde) Serialize(_ string, v string) ([]byte, error) { return []byte(v), nil }
func (stringSerde) Deserialize(_ string, b []byte) (string, error) {
	return string(b), nil
}

type int64Serde struct{}

func (int64Serde) Serialize(_ string, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(v)), nil
}

func (int64Serde) Deserialize(_ string, b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, errors.New("int64Serde: need 8 bytes")
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func TestTypedKeyValue(t *testing.T) {
	forEach(t, func(t *testing.T, db TaskDB) {
		s, err := db.Store("counts", 0)
		require.NoError(t, err)
		kv := NewKeyValue(s, stringSerde{}, int64Serde{}, "counts-changelog")
		for _, w := range []string{"b", "a", "c", "a", "b", "a"} {
			n, _, err := kv.Get(w)
			require.NoError(t, err)
			require.NoError(t, kv.Put(w, n+1))
		}
		got := map[string]int64{}
		var order []string
		for k, v := range kv.All() {
			got[k] = v
			order = append(order, k)
		}
		require.NoError(t, kv.Err())
		require.Equal(t, map[string]int64{"a": 3, "b": 2, "c": 1}, got)
		require.Equal(t, []string{"a", "b", "c"}, order)

		order = nil
		for k := range kv.Range("b", "c") {
			order = append(order, k)
		}
		require.Equal(t, []string{"b"}, order)
		// An empty serialized upper bound is an empty range, not an unbounded one.
		for range kv.Range("", "") {
			t.Fatal("empty range expected")
		}
		require.NoError(t, kv.Delete("b"))
		_, ok, err := kv.Get("b")
		require.NoError(t, err)
		require.False(t, ok)
		require.EqualValues(t, 2, kv.ApproximateCount())

		require.NoError(t, s.Flush(nil))
		require.NoError(t, db.Commit(nil))
		ro, err := db.ReadOnly("counts")
		require.NoError(t, err)
		rkv := NewReadOnlyKeyValue(ro, stringSerde{}, int64Serde{}, "counts-changelog")
		n, ok, err := rkv.Get("a")
		require.NoError(t, err)
		require.True(t, ok)
		require.EqualValues(t, 3, n)

		// A value that fails to deserialize stops the iteration and sets Err.
		require.NoError(t, s.Put([]byte("bad"), []byte("x")))
		count := 0
		for range kv.All() {
			count++
		}
		require.Equal(t, 1, count) // "a", then "bad" fails
		require.Error(t, kv.Err())
		_, _, err = kv.Get("bad")
		require.Error(t, err)
	})
}
