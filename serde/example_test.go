package serde_test

import (
	"errors"
	"fmt"

	"github.com/brookstream/brook/serde"
)

func ExampleString() {
	s := serde.String()

	b, _ := s.Serialize("greetings", "héllo")
	fmt.Printf("% x\n", b)

	empty, _ := s.Serialize("greetings", "")
	fmt.Println(empty != nil, len(empty)) // an empty string is not a tombstone

	v, _ := s.Deserialize("greetings", b)
	fmt.Println(v)

	_, err := s.Deserialize("greetings", nil) // a tombstone
	fmt.Println(errors.Is(err, serde.ErrNull))
	// Output:
	// 68 c3 a9 6c 6c 6f
	// true 0
	// héllo
	// true
}

func ExampleInt64() {
	s := serde.Int64()

	b, _ := s.Serialize("counts", 1)
	fmt.Printf("% x\n", b)
	b, _ = s.Serialize("counts", -1)
	fmt.Printf("% x\n", b)

	v, _ := s.Deserialize("counts", []byte{0, 0, 0, 0, 0, 0, 1, 0})
	fmt.Println(v)

	_, err := s.Deserialize("counts", []byte{0, 1})
	fmt.Println(errors.Is(err, serde.ErrSize))
	fmt.Println(err)
	// Output:
	// 00 00 00 00 00 00 00 01
	// ff ff ff ff ff ff ff ff
	// 256
	// true
	// serde.Int64: topic "counts": serde: data has the wrong size for the type: expected 8 bytes, got 2; check that the topic is written with serde.Int64 or Kafka's LongSerializer
}

func ExampleJSON() {
	type Order struct {
		ID    string `json:"id"`
		Items int    `json:"items"`
	}
	s := serde.JSON[Order]()

	b, _ := s.Serialize("orders", Order{ID: "o-1", Items: 3})
	fmt.Println(string(b))

	o, _ := s.Deserialize("orders", []byte(`{"id":"o-2","items":5}`))
	fmt.Printf("%+v\n", o)
	// Output:
	// {"id":"o-1","items":3}
	// {ID:o-2 Items:5}
}

func ExampleNullable() {
	// A table's values: a tombstone (nil bytes) deletes the key.
	s := serde.Nullable(serde.Int64())

	n := int64(7)
	b, _ := s.Serialize("balances", &n)
	fmt.Printf("% x\n", b)

	tomb, _ := s.Serialize("balances", nil)
	fmt.Println(tomb == nil)

	v, _ := s.Deserialize("balances", b)
	fmt.Println(*v)

	v, _ = s.Deserialize("balances", nil)
	fmt.Println(v == nil)
	// Output:
	// 00 00 00 00 00 00 00 07
	// true
	// 7
	// true
}

func ExampleFunc() {
	// A boolean stored as a single byte.
	s := serde.Func(
		func(_ string, v bool) ([]byte, error) {
			if v {
				return []byte{1}, nil
			}
			return []byte{0}, nil
		},
		func(_ string, data []byte) (bool, error) {
			if data == nil {
				return false, serde.ErrNull
			}
			if len(data) != 1 {
				return false, fmt.Errorf("bool: %w: expected 1 byte, got %d", serde.ErrSize, len(data))
			}
			return data[0] != 0, nil
		},
	)
	b, _ := s.Serialize("flags", true)
	v, _ := s.Deserialize("flags", b)
	fmt.Println(b, v)
	// Output: [1] true
}
