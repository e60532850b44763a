package state_test

import (
	"encoding/binary"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/brookstream/brook/state"
)

type stringSerde struct{}

func (stringSerde) Serialize(_ string, v string) ([]byte, error)   { return []byte(v), nil }
func (stringSerde) Deserialize(_ string, b []byte) (string, error) { return string(b), nil }

type int64Serde struct{}

func (int64Serde) Serialize(_ string, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(v)), nil
}
func (int64Serde) Deserialize(_ string, b []byte) (int64, error) {
	return int64(binary.BigEndian.Uint64(b)), nil
}

// Example walks through the commit protocol a task runtime follows: process
// into the cache, flush to the changelog, commit with checkpoints, reopen.
func Example() {
	root, err := os.MkdirTemp("", "brook-state-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	dir := filepath.Join(root, "0_3") // one directory per task

	cache := state.NewCache(64 << 20) // shared by every DB of the process
	defer cache.Close()

	db, err := state.Open(dir, state.Options{Cache: cache})
	if err != nil {
		log.Fatal(err)
	}
	s, err := db.Store("word-counts", 0)
	if err != nil {
		log.Fatal(err)
	}
	counts := state.NewKeyValue(s, stringSerde{}, int64Serde{}, "app-word-counts-changelog")

	// 1. Processing: writes go to the write-back cache.
	for _, w := range []string{"kafka", "go", "kafka", "streams", "kafka"} {
		n, _, err := counts.Get(w)
		if err != nil {
			log.Fatal(err)
		}
		if err := counts.Put(w, n+1); err != nil {
			log.Fatal(err)
		}
	}

	// 2. Flush: one changelog record per dirty key, in key order.
	var next int64 // next changelog offset
	err = s.Flush(func(key, value []byte) {
		fmt.Printf("changelog %s=%d\n", key, binary.BigEndian.Uint64(value))
		next++
	})
	if err != nil {
		log.Fatal(err)
	}

	// 3. Commit, after the Kafka transaction succeeded.
	if err := db.Commit(map[string]int64{"word-counts": next}); err != nil {
		log.Fatal(err)
	}
	if err := db.Close(); err != nil {
		log.Fatal(err)
	}

	// 5. Reopen: data and checkpoint survived.
	db, err = state.Open(dir, state.Options{Cache: cache})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	off, ok, _ := db.Checkpoint("word-counts")
	fmt.Println("checkpoint", off, ok)
	ro, _ := db.ReadOnly("word-counts") // safe from query goroutines
	view := state.NewReadOnlyKeyValue(ro, stringSerde{}, int64Serde{}, "app-word-counts-changelog")
	for w, n := range view.All() {
		fmt.Println(w, n)
	}
	if err := view.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// changelog go=1
	// changelog kafka=3
	// changelog streams=1
	// checkpoint 3 true
	// go 1
	// kafka 3
	// streams 1
}
