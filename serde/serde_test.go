package serde_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brookstream/brook/serde"
)

const topic = "test-topic"

func hexBytes(b ...byte) []byte { return b }

func TestString(t *testing.T) {
	s := serde.String()
	tests := []struct {
		name string
		v    string
		want []byte
	}{
		{"ascii", "abc", []byte("abc")},
		{"utf8", "héllo, 世界", []byte("héllo, 世界")},
		{"nul byte", "a\x00b", hexBytes('a', 0, 'b')},
		{"invalid utf8 passes through", "\xff\xfe", hexBytes(0xff, 0xfe)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Serialize(topic, tt.v)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			back, err := s.Deserialize(topic, got)
			require.NoError(t, err)
			assert.Equal(t, tt.v, back)
		})
	}

	t.Run("empty serializes to non-nil empty", func(t *testing.T) {
		got, err := s.Serialize(topic, "")
		require.NoError(t, err)
		require.NotNil(t, got)
		assert.Empty(t, got)
	})
	t.Run("empty deserializes to empty string", func(t *testing.T) {
		got, err := s.Deserialize(topic, []byte{})
		require.NoError(t, err)
		assert.Equal(t, "", got)
	})
	t.Run("nil is ErrNull", func(t *testing.T) {
		_, err := s.Deserialize(topic, nil)
		require.ErrorIs(t, err, serde.ErrNull)
		assert.Contains(t, err.Error(), "serde.Nullable")
		assert.Contains(t, err.Error(), topic)
	})
	t.Run("deserialize does not alias input", func(t *testing.T) {
		data := []byte("abc")
		got, err := s.Deserialize(topic, data)
		require.NoError(t, err)
		data[0] = 'x'
		assert.Equal(t, "abc", got)
	})
}

func TestBytes(t *testing.T) {
	s := serde.Bytes()
	t.Run("identity", func(t *testing.T) {
		in := hexBytes(0, 1, 0xff)
		got, err := s.Serialize(topic, in)
		require.NoError(t, err)
		assert.Equal(t, in, got)
		back, err := s.Deserialize(topic, got)
		require.NoError(t, err)
		assert.Equal(t, in, back)
	})
	t.Run("nil stays nil", func(t *testing.T) {
		got, err := s.Serialize(topic, nil)
		require.NoError(t, err)
		assert.Nil(t, got)
		back, err := s.Deserialize(topic, nil)
		require.NoError(t, err)
		assert.Nil(t, back)
	})
	t.Run("empty stays empty non-nil", func(t *testing.T) {
		got, err := s.Serialize(topic, []byte{})
		require.NoError(t, err)
		require.NotNil(t, got)
		assert.Empty(t, got)
		back, err := s.Deserialize(topic, []byte{})
		require.NoError(t, err)
		require.NotNil(t, back)
		assert.Empty(t, back)
	})
	t.Run("deserialize copies", func(t *testing.T) {
		data := []byte("abc")
		got, err := s.Deserialize(topic, data)
		require.NoError(t, err)
		data[0] = 'x'
		assert.Equal(t, []byte("abc"), got)
	})
	t.Run("serialize copies", func(t *testing.T) {
		v := []byte("abc")
		got, err := s.Serialize(topic, v)
		require.NoError(t, err)
		v[0] = 'x'
		assert.Equal(t, []byte("abc"), got)
	})
}

func TestInt64(t *testing.T) {
	s := serde.Int64()
	tests := []struct {
		v    int64
		want []byte
	}{
		{0, hexBytes(0, 0, 0, 0, 0, 0, 0, 0)},
		{1, hexBytes(0, 0, 0, 0, 0, 0, 0, 1)},
		{-1, hexBytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)},
		{256, hexBytes(0, 0, 0, 0, 0, 0, 1, 0)},
		{0x0102030405060708, hexBytes(1, 2, 3, 4, 5, 6, 7, 8)},
		{math.MaxInt64, hexBytes(0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)},
		{math.MinInt64, hexBytes(0x80, 0, 0, 0, 0, 0, 0, 0)},
		{-2, hexBytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe)},
	}
	for _, tt := range tests {
		got, err := s.Serialize(topic, tt.v)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "Serialize(%d)", tt.v)
		back, err := s.Deserialize(topic, tt.want)
		require.NoError(t, err)
		assert.Equal(t, tt.v, back, "Deserialize(% x)", tt.want)
	}
	testFixedSizeErrors(t, "serde.Int64", 8, func(data []byte) error {
		_, err := s.Deserialize(topic, data)
		return err
	})
}

func TestInt32(t *testing.T) {
	s := serde.Int32()
	tests := []struct {
		v    int32
		want []byte
	}{
		{0, hexBytes(0, 0, 0, 0)},
		{1, hexBytes(0, 0, 0, 1)},
		{-1, hexBytes(0xff, 0xff, 0xff, 0xff)},
		{256, hexBytes(0, 0, 1, 0)},
		{0x01020304, hexBytes(1, 2, 3, 4)},
		{math.MaxInt32, hexBytes(0x7f, 0xff, 0xff, 0xff)},
		{math.MinInt32, hexBytes(0x80, 0, 0, 0)},
	}
	for _, tt := range tests {
		got, err := s.Serialize(topic, tt.v)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "Serialize(%d)", tt.v)
		back, err := s.Deserialize(topic, tt.want)
		require.NoError(t, err)
		assert.Equal(t, tt.v, back, "Deserialize(% x)", tt.want)
	}
	testFixedSizeErrors(t, "serde.Int32", 4, func(data []byte) error {
		_, err := s.Deserialize(topic, data)
		return err
	})
}

func TestFloat64(t *testing.T) {
	s := serde.Float64()
	tests := []struct {
		v    float64
		want []byte
	}{
		{0, hexBytes(0, 0, 0, 0, 0, 0, 0, 0)},
		{math.Copysign(0, -1), hexBytes(0x80, 0, 0, 0, 0, 0, 0, 0)},
		{1, hexBytes(0x3f, 0xf0, 0, 0, 0, 0, 0, 0)},
		{1.5, hexBytes(0x3f, 0xf8, 0, 0, 0, 0, 0, 0)},
		{-2, hexBytes(0xc0, 0, 0, 0, 0, 0, 0, 0)},
		{math.Inf(1), hexBytes(0x7f, 0xf0, 0, 0, 0, 0, 0, 0)},
		{math.Inf(-1), hexBytes(0xff, 0xf0, 0, 0, 0, 0, 0, 0)},
		{math.SmallestNonzeroFloat64, hexBytes(0, 0, 0, 0, 0, 0, 0, 1)},
		{math.MaxFloat64, hexBytes(0x7f, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)},
	}
	for _, tt := range tests {
		got, err := s.Serialize(topic, tt.v)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "Serialize(%v)", tt.v)
		back, err := s.Deserialize(topic, tt.want)
		require.NoError(t, err)
		assert.Equal(t, math.Float64bits(tt.v), math.Float64bits(back), "Deserialize(% x)", tt.want)
	}

	t.Run("NaN payloads preserved", func(t *testing.T) {
		for _, bits := range []uint64{
			0x7ff8000000000001, // math.NaN()
			0x7ff0000000000001, // signalling NaN
			0xfff8000000000000, // negative quiet NaN
			0x7fffffffffffffff,
			0x7ff4000000c0ffee,
		} {
			v := math.Float64frombits(bits)
			require.True(t, math.IsNaN(v))
			b, err := s.Serialize(topic, v)
			require.NoError(t, err)
			back, err := s.Deserialize(topic, b)
			require.NoError(t, err)
			assert.Equal(t, bits, math.Float64bits(back), "bits %#x", bits)
		}
	})

	testFixedSizeErrors(t, "serde.Float64", 8, func(data []byte) error {
		_, err := s.Deserialize(topic, data)
		return err
	})
}

// testFixedSizeErrors checks the nil and wrong-length errors of a fixed-size
// serde's Deserialize.
func testFixedSizeErrors(t *testing.T, name string, size int, deserialize func([]byte) error) {
	t.Helper()
	t.Run("nil is ErrNull", func(t *testing.T) {
		err := deserialize(nil)
		require.ErrorIs(t, err, serde.ErrNull)
		assert.NotErrorIs(t, err, serde.ErrSize)
		assert.Contains(t, err.Error(), name)
		assert.Contains(t, err.Error(), "serde.Nullable")
	})
	t.Run("empty is ErrSize", func(t *testing.T) {
		err := deserialize([]byte{})
		require.ErrorIs(t, err, serde.ErrSize)
		assert.NotErrorIs(t, err, serde.ErrNull)
		assert.Contains(t, err.Error(), "got 0")
	})
	for _, n := range []int{1, size - 1, size + 1, 2 * size} {
		err := deserialize(make([]byte, n))
		require.ErrorIs(t, err, serde.ErrSize, "len %d", n)
		msg := err.Error()
		assert.Contains(t, msg, name)
		assert.Contains(t, msg, topic)
		assert.Contains(t, msg, "expected "+strconv.Itoa(size)+" bytes")
		assert.Contains(t, msg, "got "+strconv.Itoa(n))
	}
}

type event struct {
	Name  string            `json:"name"`
	Count int               `json:"count"`
	Tags  map[string]string `json:"tags,omitempty"`
}

func TestJSON(t *testing.T) {
	s := serde.JSON[event]()
	t.Run("round trip", func(t *testing.T) {
		v := event{Name: "a", Count: 3, Tags: map[string]string{"k": "v"}}
		b, err := s.Serialize(topic, v)
		require.NoError(t, err)
		assert.Equal(t, `{"name":"a","count":3,"tags":{"k":"v"}}`, string(b))
		back, err := s.Deserialize(topic, b)
		require.NoError(t, err)
		assert.Equal(t, v, back)
	})
	t.Run("zero value", func(t *testing.T) {
		b, err := s.Serialize(topic, event{})
		require.NoError(t, err)
		assert.Equal(t, `{"name":"","count":0}`, string(b))
	})
	t.Run("nil is ErrNull", func(t *testing.T) {
		_, err := s.Deserialize(topic, nil)
		require.ErrorIs(t, err, serde.ErrNull)
		assert.Contains(t, err.Error(), "serde.JSON[serde_test.event]")
	})
	t.Run("empty is a syntax error", func(t *testing.T) {
		_, err := s.Deserialize(topic, []byte{})
		require.Error(t, err)
		assert.NotErrorIs(t, err, serde.ErrNull)
		var syn *json.SyntaxError
		assert.ErrorAs(t, err, &syn)
	})
	t.Run("invalid JSON wraps json error", func(t *testing.T) {
		_, err := s.Deserialize(topic, []byte(`{"name":`))
		var syn *json.SyntaxError
		require.ErrorAs(t, err, &syn)
		assert.Contains(t, err.Error(), topic)
	})
	t.Run("type mismatch wraps json error", func(t *testing.T) {
		v, err := s.Deserialize(topic, []byte(`{"name":"a","count":"three"}`))
		var ute *json.UnmarshalTypeError
		require.ErrorAs(t, err, &ute)
		assert.Equal(t, event{}, v, "failed decode returns the zero value")
	})
	t.Run("nil pointer serializes to JSON null, not tombstone", func(t *testing.T) {
		p := serde.JSON[*event]()
		b, err := p.Serialize(topic, nil)
		require.NoError(t, err)
		assert.Equal(t, "null", string(b))
		back, err := p.Deserialize(topic, b)
		require.NoError(t, err)
		assert.Nil(t, back)
	})
	t.Run("encode error wraps json error", func(t *testing.T) {
		c := serde.JSON[chan int]()
		_, err := c.Serialize(topic, make(chan int))
		var ute *json.UnsupportedTypeError
		require.ErrorAs(t, err, &ute)
		assert.Contains(t, err.Error(), "encode")
	})
	t.Run("deserialize does not keep data", func(t *testing.T) {
		data := []byte(`{"name":"abc","count":1}`)
		v, err := s.Deserialize(topic, data)
		require.NoError(t, err)
		for i := range data {
			data[i] = 'x'
		}
		assert.Equal(t, event{Name: "abc", Count: 1}, v)
	})
}

func TestNullable(t *testing.T) {
	t.Run("nil pointer is tombstone", func(t *testing.T) {
		s := serde.Nullable(serde.Int64())
		b, err := s.Serialize(topic, nil)
		require.NoError(t, err)
		assert.Nil(t, b)
		v, err := s.Deserialize(topic, nil)
		require.NoError(t, err)
		assert.Nil(t, v)
	})
	t.Run("value delegates", func(t *testing.T) {
		s := serde.Nullable(serde.Int64())
		x := int64(1)
		b, err := s.Serialize(topic, &x)
		require.NoError(t, err)
		assert.Equal(t, hexBytes(0, 0, 0, 0, 0, 0, 0, 1), b)
		v, err := s.Deserialize(topic, b)
		require.NoError(t, err)
		require.NotNil(t, v)
		assert.Equal(t, x, *v)
	})
	t.Run("empty string is not a tombstone", func(t *testing.T) {
		s := serde.Nullable(serde.String())
		empty := ""
		b, err := s.Serialize(topic, &empty)
		require.NoError(t, err)
		require.NotNil(t, b)
		assert.Empty(t, b)
		v, err := s.Deserialize(topic, []byte{})
		require.NoError(t, err)
		require.NotNil(t, v)
		assert.Equal(t, "", *v)
	})
	t.Run("inner errors pass through", func(t *testing.T) {
		s := serde.Nullable(serde.Int32())
		v, err := s.Deserialize(topic, []byte{1, 2})
		require.ErrorIs(t, err, serde.ErrSize)
		assert.Nil(t, v)
	})
	t.Run("JSON", func(t *testing.T) {
		s := serde.Nullable(serde.JSON[event]())
		b, err := s.Serialize(topic, &event{Name: "n", Count: 2})
		require.NoError(t, err)
		assert.Equal(t, `{"name":"n","count":2}`, string(b))
		v, err := s.Deserialize(topic, b)
		require.NoError(t, err)
		assert.Equal(t, &event{Name: "n", Count: 2}, v)
	})
	t.Run("each deserialize returns a new pointer", func(t *testing.T) {
		s := serde.Nullable(serde.String())
		a, err := s.Deserialize(topic, []byte("a"))
		require.NoError(t, err)
		b, err := s.Deserialize(topic, []byte("a"))
		require.NoError(t, err)
		assert.NotSame(t, a, b)
	})
	t.Run("nil inner panics", func(t *testing.T) {
		assert.PanicsWithValue(t, "serde.Nullable: nil Serde", func() {
			serde.Nullable[int64](nil)
		})
	})
}

func TestFunc(t *testing.T) {
	errBad := errors.New("bad")
	var gotTopics []string
	s := serde.Func(
		func(tp string, v bool) ([]byte, error) {
			gotTopics = append(gotTopics, tp)
			if v {
				return []byte{1}, nil
			}
			return []byte{0}, nil
		},
		func(tp string, data []byte) (bool, error) {
			gotTopics = append(gotTopics, tp)
			if len(data) != 1 {
				return false, errBad
			}
			return data[0] == 1, nil
		},
	)
	b, err := s.Serialize("t1", true)
	require.NoError(t, err)
	assert.Equal(t, []byte{1}, b)
	v, err := s.Deserialize("t2", b)
	require.NoError(t, err)
	assert.True(t, v)
	_, err = s.Deserialize("t3", nil)
	assert.Same(t, errBad, err, "errors pass through unchanged")
	assert.Equal(t, []string{"t1", "t2", "t3"}, gotTopics)

	assert.Panics(t, func() { serde.Func[int](nil, nil) })
	assert.Panics(t, func() {
		serde.Func(func(string, int) ([]byte, error) { return nil, nil }, nil)
	})
}

func TestErrorsAreDistinct(t *testing.T) {
	assert.NotErrorIs(t, serde.ErrNull, serde.ErrSize)
	assert.Equal(t, "serde: null data (tombstone) for a non-nullable type", serde.ErrNull.Error())
}

func TestBuiltinsAreZeroSize(t *testing.T) {
	// The dynamic type of each built-in is a zero-size struct, so storing it
	// in the Serde interface allocates nothing.
	for name, s := range map[string]any{
		"String":  serde.String(),
		"Bytes":   serde.Bytes(),
		"Int64":   serde.Int64(),
		"Int32":   serde.Int32(),
		"Float64": serde.Float64(),
		"JSON":    serde.JSON[event](),
	} {
		assert.Zero(t, reflect.TypeOf(s).Size(), name)
	}
}

func TestAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	i64, i32, f64, str := serde.Int64(), serde.Int32(), serde.Float64(), serde.String()
	b8 := make([]byte, 8)
	b4 := make([]byte, 4)
	var sink []byte
	var n64 int64
	var n32 int32
	var f float64

	assert.Zero(t, testing.AllocsPerRun(100, func() { n64, _ = i64.Deserialize(topic, b8) }), "Int64.Deserialize")
	assert.Zero(t, testing.AllocsPerRun(100, func() { n32, _ = i32.Deserialize(topic, b4) }), "Int32.Deserialize")
	assert.Zero(t, testing.AllocsPerRun(100, func() { f, _ = f64.Deserialize(topic, b8) }), "Float64.Deserialize")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = serde.Int64(); _ = serde.String() }), "constructors")

	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { sink, _ = i64.Serialize(topic, 42) }), "Int64.Serialize")
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { sink, _ = i32.Serialize(topic, 42) }), "Int32.Serialize")
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { sink, _ = f64.Serialize(topic, 1.5) }), "Float64.Serialize")
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { sink, _ = str.Serialize(topic, "hello") }), "String.Serialize")
	assert.Zero(t, testing.AllocsPerRun(100, func() { sink, _ = str.Serialize(topic, "") }), "String.Serialize empty")
	_, _, _, _ = sink, n64, n32, f
}
