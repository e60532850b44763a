// Package state implements the state stores of brook tasks: byte-level
// key-value stores with a write-back cache, backed by Pebble (DB) or by
// memory (MemDB), and typed views over them (KeyValue).
//
// # Layout
//
// A task (one input partition of a sub-topology) owns one TaskDB: a DB, one
// Pebble database in a directory the runtime chooses, or a MemDB. A TaskDB
// holds any number of named stores (CachedStore), each under its own key
// prefix (see DB for the key layout). The changelog topic of each store is
// the durable log, so Pebble's write-ahead log is disabled. The Pebble block
// cache is shared by all DBs of a process (NewCache, Options.Cache); the
// memtable size is per DB (Options.MemTableSize).
//
// # Commit protocol
//
// A TaskDB and its stores are driven by the task's goroutine:
//
//  1. Processing: Put and Delete go to the store's write-back cache (in
//     memory, bytes-level: key -> value or tombstone). Reads see the cache
//     first, then committed data. When a store's dirty bytes exceed its
//     budget, NeedsCommit returns true and the runtime should commit early;
//     uncommitted data is never written to Pebble.
//  2. Flush: at commit time the runtime calls CachedStore.Flush(emit) on
//     every store. emit is called once per dirty key however many times it
//     was updated (value nil for a delete); the runtime produces these
//     records to the changelog. The entries are staged into the TaskDB's
//     pending batch and stay in the cache, clean.
//  3. Commit: once the Kafka transaction (or produce) succeeded, the runtime
//     calls TaskDB.Commit(checkpoints), with the next changelog offset of
//     each store. Staged entries and checkpoints are applied in one Pebble
//     batch (not synced). Caches over budget then drop their clean entries.
//  4. Abort: if the transaction fails, TaskDB.Abort drops the staged batch
//     and every cache (they hold uncommitted writes), so reads see the last
//     committed state.
//  5. Restore: TaskDB.Checkpoint(store) gives the offset to restore from;
//     TaskDB.Restorer applies changelog records straight to committed data
//     (no cache) in large batches, each committed together with the
//     store's checkpoint.
//  6. Recovery: Open creates a missing directory; OpenOrWipe (or Wipe then
//     Open) replaces a DB that fails to open with an empty one, which the
//     runtime restores from offset 0.
//
// Because data and checkpoints are always written in the same batch, the
// DB is consistent after a crash (it holds a prefix of the commits), and a
// restore from the checkpoints brings it up to date.
//
// Interactive queries use TaskDB.ReadOnly, a view of committed data that is
// safe to use from other goroutines while the task writes.
//
// Typed access goes through NewKeyValue, which serializes with serde.Serde;
// iteration order is the order of the serialized keys.
package state
