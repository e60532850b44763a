package window_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/window"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTimeWindowsFor(t *testing.T) {
	tests := []struct {
		name string
		w    window.TimeWindows
		ts   int64
		want []window.Window
	}{
		{"tumbling", window.Tumbling(time.Minute), 61_000, []window.Window{{60_000, 120_000}}},
		{"tumbling at start", window.Tumbling(time.Minute), 60_000, []window.Window{{60_000, 120_000}}},
		{"tumbling at 0", window.Tumbling(time.Minute), 0, []window.Window{{0, 60_000}}},
		{"hopping", window.Hopping(10*time.Millisecond, 5*time.Millisecond), 12, []window.Window{{5, 15}, {10, 20}}},
		{"hopping on a boundary", window.Hopping(10*time.Millisecond, 5*time.Millisecond), 10, []window.Window{{5, 15}, {10, 20}}},
		{"hopping near the epoch", window.Hopping(10*time.Millisecond, 3*time.Millisecond), 4, []window.Window{{0, 10}, {3, 13}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.w.Validate())
			assert.Equal(t, tc.want, tc.w.For(tc.ts))
		})
	}
}

func TestValidate(t *testing.T) {
	assert.Error(t, window.Tumbling(0).Validate())
	assert.Error(t, window.Hopping(time.Second, 2*time.Second).Validate())
	assert.Error(t, window.Tumbling(time.Second).Grace(-time.Second).Validate())
	assert.Error(t, window.Sliding(0).Validate())
	assert.Error(t, window.Session(0).Validate())
	assert.NoError(t, window.Session(time.Second).Grace(time.Second).Validate())
	assert.Equal(t, int64(0), window.Tumbling(time.Second).GracePeriod(), "default grace")
	assert.Equal(t, int64(1500), window.Tumbling(time.Second).Grace(500*time.Millisecond).Retention())
	assert.Equal(t, int64(2500), window.Sliding(time.Second).Grace(500*time.Millisecond).Retention(), "2*difference + grace, as Kafka Streams")
}

// The bytes Kafka Streams' TimeWindowedSerializer and
// SessionWindowedSerializer write for the key "a" (StringSerializer).
func TestSerdeLayout(t *testing.T) {
	ts := window.TimeWindowedSerde(serde.String(), 500)
	b, err := ts.Serialize("t", window.Windowed[string]{Key: "a", Window: window.Window{Start: 1000, End: 1500}})
	require.NoError(t, err)
	assert.Equal(t, []byte{'a', 0, 0, 0, 0, 0, 0, 0x03, 0xe8}, b)
	w, err := ts.Deserialize("t", b)
	require.NoError(t, err)
	assert.Equal(t, window.Windowed[string]{Key: "a", Window: window.Window{Start: 1000, End: 1500}}, w)

	ss := window.SessionWindowedSerde(serde.String())
	b, err = ss.Serialize("t", window.Windowed[string]{Key: "a", Window: window.Window{Start: 1000, End: 2000}})
	require.NoError(t, err)
	assert.Equal(t, []byte{'a', 0, 0, 0, 0, 0, 0, 0x07, 0xd0, 0, 0, 0, 0, 0, 0, 0x03, 0xe8}, b)
	w, err = ss.Deserialize("t", b)
	require.NoError(t, err)
	assert.Equal(t, window.Windowed[string]{Key: "a", Window: window.Window{Start: 1000, End: 2000}}, w)

	_, err = ts.Deserialize("t", []byte{1, 2, 3})
	assert.ErrorIs(t, err, window.ErrShort)
	_, err = ss.Deserialize("t", make([]byte, 15))
	assert.ErrorIs(t, err, window.ErrShort)
}

func FuzzTimeWindowedSerde(f *testing.F) {
	f.Add([]byte("a"), int64(1000))
	f.Add([]byte{}, int64(-1))
	f.Fuzz(func(t *testing.T, key []byte, start int64) {
		s := window.TimeWindowedSerde(serde.Bytes(), 10)
		in := window.Windowed[[]byte]{Key: key, Window: window.Window{Start: start}}
		b, err := s.Serialize("t", in)
		if key == nil {
			return
		}
		require.NoError(t, err)
		out, err := s.Deserialize("t", b)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(key, out.Key))
		assert.Equal(t, start, out.Window.Start)
		// Any bytes of 8 or more decode; fewer are ErrShort, never a panic.
		_, err = s.Deserialize("t", key)
		assert.Equal(t, len(key) < 8, err != nil)
	})
}

func FuzzSessionWindowedSerde(f *testing.F) {
	f.Add([]byte("a"), int64(1000), int64(2000))
	f.Fuzz(func(t *testing.T, key []byte, start, end int64) {
		s := window.SessionWindowedSerde(serde.Bytes())
		in := window.Windowed[[]byte]{Key: key, Window: window.Window{Start: start, End: end}}
		b, err := s.Serialize("t", in)
		if key == nil {
			return
		}
		require.NoError(t, err)
		out, err := s.Deserialize("t", b)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(key, out.Key))
		assert.Equal(t, in.Window, out.Window)
		_, err = s.Deserialize("t", key)
		assert.Equal(t, len(key) < 16, err != nil)
	})
}
