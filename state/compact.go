package state

import (
	"context"
	"fmt"
)

// Compact compacts the whole database now, so that deleted data (expired
// window segments, dropped as range deletes, included) leaves the disk at
// once rather than at Pebble's next compactions, which it schedules as
// data comes in. It blocks until done, which on a large database takes
// long; brook itself never calls it. For tests and tools.
func (db *DB) Compact(ctx context.Context) error {
	if !db.acquire() {
		return fmt.Errorf("state: compact %s: %w", db.dir, ErrClosed)
	}
	defer db.release()
	if err := db.pdb.Compact(ctx, []byte{0x00}, []byte{0xff}, false); err != nil {
		return fmt.Errorf("state: compact %s: %w", db.dir, err)
	}
	return nil
}

// TableBytes returns the bytes of the database's live tables (its data
// files on disk), not counting the files that a compaction replaced and
// Pebble has yet to delete.
func (db *DB) TableBytes() uint64 { return db.pdb.Metrics().Table.Local.LiveSize }
