package benchmarks

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// durableCounter is counter made durable by hand, the way brook's count
// is: the counts stay in a Go map (all of them: no memory bound), and at
// each commit, before the producer is flushed, every key updated since
// the last commit is written once, in key order, to a changelog topic
// (one record per key, the partition the key hashes to, as the input's)
// and to a Pebble database of the input partition (one batch, no WAL,
// the memtable size and L0 thresholds of brook's stores). It is the
// least work that writes the same output and the same durable state as
// brook's count: the floor of BenchmarkCountCardinality's rawstate
// pipelines. It never reads Pebble: every count is in the map.
type durableCounter struct {
	output, changelog string
	counts            map[string]uint64  // the count, with dirtyBit set while the key is in dirty
	dirty             map[int32][]string // keys updated since the last commit, by input partition
	dbs               map[int32]*pebble.DB
	dir               string
	val               []byte
}

func newDurableCounter(output, changelog, dir string) *durableCounter {
	return &durableCounter{output: output, changelog: changelog, counts: make(map[string]uint64),
		dirty: make(map[int32][]string), dbs: make(map[int32]*pebble.DB), dir: dir}
}

// dirtyBit marks a count whose key is in durableCounter.dirty.
const dirtyBit = 1 << 63

// work counts r as counter does and notes its key as updated, once per
// commit.
func (c *durableCounter) work(r *kgo.Record, produce func(*kgo.Record)) bool {
	k := string(r.Key)
	v := c.counts[k]
	if v&dirtyBit == 0 {
		c.dirty[r.Partition] = append(c.dirty[r.Partition], k)
	}
	n := v&^dirtyBit + 1
	c.counts[k] = n | dirtyBit
	produce(&kgo.Record{Topic: c.output, Key: r.Key, Value: binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(n)), Timestamp: r.Timestamp})
	return true
}

// flush writes the keys updated since the last commit to the changelog
// and to Pebble.
func (c *durableCounter) flush(produce func(*kgo.Record)) error {
	for p, keys := range c.dirty {
		if len(keys) == 0 {
			continue
		}
		db := c.dbs[p]
		if db == nil {
			o := &pebble.Options{DisableWAL: true, MemTableSize: 8 << 20, FormatMajorVersion: pebble.FormatNewest,
				L0CompactionThreshold: 16, L0StopWritesThreshold: 32}
			var err error
			if db, err = pebble.Open(fmt.Sprintf("%s/%d", c.dir, p), o); err != nil {
				return err
			}
			c.dbs[p] = db
		}
		slices.Sort(keys)
		b := db.NewBatch()
		for _, k := range keys {
			n := c.counts[k] &^ dirtyBit
			c.counts[k] = n
			v := binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
			key := []byte(k)
			produce(&kgo.Record{Topic: c.changelog, Key: key, Value: v})
			if err := b.Set(key, v, nil); err != nil {
				return err
			}
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return err
		}
		clear(keys)
		c.dirty[p] = keys[:0]
	}
	return nil
}

// close closes the databases.
func (c *durableCounter) close() error {
	var first error
	for _, db := range c.dbs {
		if err := db.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
