package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// Defaults of Options.
const (
	// DefaultMemTableSize is the Pebble memtable size per DB: 8 MiB.
	//
	// Measured with BenchmarkCountStore (a count over 250k distinct keys,
	// one DB): 4 MiB memtables cost about twice the CPU per record of 8
	// MiB ones, most of it compactions merging many small L0 tables.
	DefaultMemTableSize = 8 << 20
	// DefaultRestoreBatchRecords is the number of changelog records a
	// Restorer applies per Pebble batch: 100,000.
	//
	// Batches this large (for small records) exceed Pebble's large-batch
	// threshold (half the memtable size, counting about 200 bytes of
	// memtable overhead per record), so each one is flushed as its own
	// sorted table instead of being inserted into the memtable: about 2M
	// records/s for 10-byte keys and 8-byte values, against about 1.4M/s
	// for batches small enough for the memtable (~7k records with 4 MiB
	// memtables) and 0.4M/s for batches just over the threshold (10k
	// records), which produce one tiny table each.
	DefaultRestoreBatchRecords = 100_000
	// DefaultRestoreBatchBytes is the size at which a Restorer commits its
	// Pebble batch early: 4 MiB.
	DefaultRestoreBatchBytes = 4 << 20
	// DefaultPrivateCacheSize is the block cache size of a DB opened without
	// Options.Cache: 8 MiB.
	DefaultPrivateCacheSize = 8 << 20
)

// exactCountBytes is the estimated on-disk size of a store below which
// ApproximateCount counts entries exactly by iterating (a variable for
// tests).
var exactCountBytes uint64 = 16 << 20

// formatVersion is the layout version stored under versionKey. Version 2
// (brook after issue 10) stores the values of DSL tables and aggregations
// with their timestamp (see AppendTimestamped); a version 1 DB is
// incompatible, and OpenOrWipe replaces it with an empty one that the
// runtime restores from the changelogs, which hold plain values in both
// versions.
const formatVersion = 2

// Key layout prefixes. See DB.
const (
	metaPrefix = 0x00
	dataPrefix = 0x01
)

var versionKey = []byte{metaPrefix, 'v'}

// Error returned when opening a DB fails because of what is on disk.
var (
	// ErrIncompatible is returned by Open when the directory holds a DB
	// written with an unknown key layout version.
	ErrIncompatible = errors.New("state: incompatible DB format")
	// ErrLocked is returned by Open and Wipe when the directory is in use by
	// a DB of this process, or locked by another process.
	ErrLocked = errors.New("state: DB directory in use")
)

// Cache is a Pebble block cache shared by all the DBs of a process, sized
// once from the memory budget. Create it with NewCache, pass it in
// Options.Cache to every Open, and call Close (or Unref) once when no more
// DBs will be opened with it; each open DB holds its own reference, so the
// memory is freed when the last of them closes.
type Cache struct {
	c    *pebble.Cache
	once sync.Once
}

// NewCache returns a block cache of size bytes. Memory is
// allocated on demand, not up front.
func NewCache(size int64) *Cache { return &Cache{c: pebble.NewCache(size)} }

// Unref releases the creator's reference to the cache. It is idempotent.
func (c *Cache) Unref() { c.once.Do(c.c.Unref) }

// Close is Unref.
func (c *Cache) Close() { c.Unref() }

// Options configures a DB.
type Options struct {
	// Cache is the shared block cache. If nil, the DB gets a private cache
	// of DefaultPrivateCacheSize.
	Cache *Cache
	// MemTableSize is the Pebble memtable size in bytes. Default
	// DefaultMemTableSize (8 MiB). At most two memtables per DB are normally
	// in memory.
	MemTableSize int
	// Logger receives Pebble's log messages (Infof at Debug, since Pebble
	// logs routine events such as WAL replay at Info; Errorf at Error;
	// Fatalf logs at Error and panics) and OpenOrWipe's warnings. Default
	// slog.Default(). Pebble's messages carry the attribute dir.
	Logger *slog.Logger
	// RestoreBatchRecords is the number of records a Restorer applies per
	// Pebble batch. Default DefaultRestoreBatchRecords.
	RestoreBatchRecords int
	// RestoreBatchBytes is the Pebble batch size at which a Restorer commits
	// early. Default DefaultRestoreBatchBytes.
	RestoreBatchBytes int
	// RestoreIngestBytes is the memory in which a FullRestorer sorts
	// changelog records before writing them to a sorted run (at most 1
	// GiB). Default DefaultRestoreIngestBytes. Besides it, a FullRestorer
	// writes runs through a 1 MiB buffer and, while it merges them into
	// tables, reads each run through 64 KiB on each of at most 4
	// goroutines (with at most 64 runs, 16 MiB).
	RestoreIngestBytes int
}

func (o Options) withDefaults() Options {
	if o.MemTableSize <= 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RestoreBatchRecords <= 0 {
		o.RestoreBatchRecords = DefaultRestoreBatchRecords
	}
	if o.RestoreBatchBytes <= 0 {
		o.RestoreBatchBytes = DefaultRestoreBatchBytes
	}
	if o.RestoreIngestBytes <= 0 {
		o.RestoreIngestBytes = DefaultRestoreIngestBytes
	}
	return o
}

// pebbleLogger adapts slog to pebble.Logger.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) { p.l.Debug(fmt.Sprintf(format, args...)) }

func (p pebbleLogger) Errorf(format string, args ...any) { p.l.Error(fmt.Sprintf(format, args...)) }

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "fatal", true)
	panic("state: pebble fatal error: " + msg)
}

// openDirs holds the absolute directories of the DBs open in this process.
var openDirs struct {
	sync.Mutex
	m map[string]bool
}

func lockDir(abs string) bool {
	openDirs.Lock()
	defer openDirs.Unlock()
	if openDirs.m == nil {
		openDirs.m = make(map[string]bool)
	}
	if openDirs.m[abs] {
		return false
	}
	openDirs.m[abs] = true
	return true
}

func unlockDir(abs string) {
	openDirs.Lock()
	delete(openDirs.m, abs)
	openDirs.Unlock()
}

// DB is the Pebble database of one task: every persistent store of the task
// lives in it, so one commit covers them all atomically.
//
// Pebble's write-ahead log is disabled: the changelog topics are the durable
// log. Each commit is one Pebble batch holding the flushed store writes and
// the checkpoints, so after a crash the DB holds a prefix of the commits with
// checkpoints that match the data, and restoring from the checkpoints
// catches up. Close flushes memtables so a clean shutdown loses nothing.
//
// Key layout (all in one Pebble keyspace, ordered by bytes.Compare):
//
//	0x00 'v'                              layout version (uvarint, currently 2)
//	0x00 'c' <store name>                 checkpoint of a store: next changelog
//	                                      offset, 8 bytes big-endian
//	0x01 uvarint(len(name)) <name> <key>  entry <key> of store <name>
//
// The length-prefixed name makes the prefixes of distinct stores disjoint,
// and keys of one store keep their byte order.
//
// A DB is driven by a single task goroutine; only the stores returned by
// ReadOnly may be used from other goroutines.
type DB struct {
	dir     string
	abs     string
	pdb     *pebble.DB
	po      *pebble.Options // for the writer options of ingested tables
	opts    Options
	log     *slog.Logger
	pending *pebble.Batch
	stores  map[string]*CachedStore
	scratch []byte

	closed  atomic.Bool
	bg      sync.WaitGroup // buffers of ingesting restores being handled
	mu      sync.Mutex     // guards readers and the close handshake
	cond    sync.Cond
	readers int
}

var _ TaskDB = (*DB)(nil)

// Open opens (creating it if needed, including a missing directory) the DB
// in dir. It fails with ErrLocked if dir is open in this process or locked
// by another one, with ErrIncompatible on an unknown layout version, and
// with Pebble's error if the files are corrupt; OpenOrWipe recovers from the
// last two.
func Open(dir string, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	if !lockDir(abs) {
		return nil, fmt.Errorf("state: open %s: %w", dir, ErrLocked)
	}
	db, err := open(dir, abs, opts)
	if err != nil {
		unlockDir(abs)
		return nil, err
	}
	return db, nil
}

func open(dir, abs string, opts Options) (*DB, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	// Files of an ingesting restore that a crash cut short were never
	// ingested.
	if err := os.RemoveAll(filepath.Join(dir, restoreTmpDir)); err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	log := opts.Logger.With("dir", dir)
	po := &pebble.Options{
		MemTableSize:       uint64(opts.MemTableSize),
		DisableWAL:         true,
		Logger:             pebbleLogger{log},
		FormatMajorVersion: pebble.FormatNewest,
	}
	// Bloom filters on every level: an aggregation looks up every new key,
	// and most lookups of new keys then skip the tables.
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	// Compact L0 when it holds 8 sublevels rather than Pebble's 2 (Pebble
	// compacts L0 once 2 x sublevels / L0CompactionThreshold reaches 1,
	// so 16 means 8 sublevels; decision 61): each L0 compaction rewrites
	// the overlapping part of the base level, and with keys spread
	// uniformly (an aggregation over many distinct keys)
	// that is all of it, so fewer, larger compactions write less. Reads
	// probe more L0 tables meanwhile, which the bloom filters keep cheap
	// for absent keys (and CachedStore's key filter avoids for new ones).
	// Writes stop at 32 sublevels instead of 12 so that a burst does not
	// stall the task while its compaction catches up.
	po.L0CompactionThreshold = 16
	po.L0StopWritesThreshold = 32
	if opts.Cache != nil {
		po.Cache = opts.Cache.c
	} else {
		po.CacheSize = DefaultPrivateCacheSize
	}
	pdb, err := pebble.Open(dir, po)
	if err != nil {
		if isLockErr(err) {
			err = errors.Join(ErrLocked, err)
		}
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	po = po.Clone() // Open used a copy with its defaults filled in: so do ingested tables
	po.EnsureDefaults()
	db := &DB{
		dir: dir, abs: abs, pdb: pdb, po: po, opts: opts, log: log,
		pending: pdb.NewBatch(),
		stores:  make(map[string]*CachedStore),
	}
	db.cond.L = &db.mu
	if err := db.checkVersion(); err != nil {
		_ = db.pending.Close()
		_ = pdb.Close()
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	return db, nil
}

func (db *DB) checkVersion() error {
	v, closer, err := db.pdb.Get(versionKey)
	if errors.Is(err, pebble.ErrNotFound) {
		it, err := db.pdb.NewIter(nil)
		if err != nil {
			return err
		}
		nonEmpty := it.First()
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return err
		}
		if nonEmpty {
			return fmt.Errorf("%w: data without a version key", ErrIncompatible)
		}
		return db.pdb.Set(versionKey, binary.AppendUvarint(nil, formatVersion), pebble.NoSync)
	}
	if err != nil {
		return err
	}
	ver, n := binary.Uvarint(v)
	_ = closer.Close()
	if n <= 0 || ver != formatVersion {
		return fmt.Errorf("%w: layout version %d, want %d", ErrIncompatible, ver, formatVersion)
	}
	return nil
}

func isLockErr(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		errors.Is(err, syscall.EWOULDBLOCK)
}

// transient reports whether err comes from the machine rather than the
// data (no file descriptors, no space, no permission, a failing disk):
// wiping the state would not help, and would throw away good data.
func transient(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOSPC, syscall.EACCES, syscall.EPERM, syscall.ENOMEM, syscall.EIO, syscall.EROFS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// OpenOrWipe opens the DB in dir. If that fails because of the data
// (corrupt or incompatible files, a half-deleted directory, ...), it logs
// the error, wipes dir and opens an empty DB, reporting wiped. ErrLocked and
// faults of the machine (no file descriptors, no space, no permission, a
// failing disk) are returned as they are, with nothing wiped. The
// runtime then restores every store from offset 0, since Checkpoint reports
// no checkpoint.
func OpenOrWipe(dir string, opts Options) (db *DB, wiped bool, err error) {
	db, err = Open(dir, opts)
	if err == nil || errors.Is(err, ErrLocked) || transient(err) {
		return db, false, err
	}
	opts = opts.withDefaults()
	opts.Logger.Warn("state: wiping DB that failed to open", "dir", dir, "err", err)
	if werr := Wipe(dir); werr != nil {
		return nil, false, errors.Join(err, werr)
	}
	db, err = Open(dir, opts)
	return db, err == nil, err
}

// Wipe deletes dir and everything in it. It fails with ErrLocked if a DB of
// this process has dir open. A missing dir is not an error.
func Wipe(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if !lockDir(abs) {
		return fmt.Errorf("state: wipe %s: %w", dir, ErrLocked)
	}
	defer unlockDir(abs)
	return os.RemoveAll(dir)
}

// Dir returns the directory of the DB.
func (db *DB) Dir() string { return db.dir }

func storePrefix(name string) []byte {
	p := make([]byte, 0, 1+binary.MaxVarintLen64+len(name))
	p = append(p, dataPrefix)
	p = binary.AppendUvarint(p, uint64(len(name)))
	return append(p, name...)
}

func checkpointKey(name string) []byte {
	return append([]byte{metaPrefix, 'c'}, name...)
}

// prefixEnd returns the smallest key greater than every key with prefix p
// (p never consists only of 0xff bytes here).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Store opens the store name with a write-back cache of cacheBudgetBytes
// (DefaultCacheBudget if <= 0). Each name can be opened once per DB.
func (db *DB) Store(name string, cacheBudgetBytes int) (*CachedStore, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	if _, ok := db.stores[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrStoreOpen, name)
	}
	p := storePrefix(name)
	s := newCachedStore(name, &pebbleBackend{db: db, prefix: p, end: prefixEnd(p)}, cacheBudgetBytes)
	empty, err := db.storeEmpty(name, p)
	if err != nil {
		return nil, fmt.Errorf("state: open store %q in %s: %w", name, db.dir, err)
	}
	if empty {
		s.filter = newKeyFilter(s.budget / 4)
	}
	db.stores[name] = s
	return s, nil
}

// storeEmpty reports whether the store with prefix p has neither a
// checkpoint nor an entry.
func (db *DB) storeEmpty(name string, p []byte) (bool, error) {
	if _, ok, err := db.Checkpoint(name); err != nil || ok {
		return false, err
	}
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return false, err
	}
	found := it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return false, err
	}
	return !found, nil
}

// NeedsCommit reports whether any store of the DB is over its cache budget.
func (db *DB) NeedsCommit() bool {
	for _, s := range db.stores {
		if s.NeedsCommit() {
			return true
		}
	}
	return false
}

// Commit writes the entries staged by the stores' Flush and the given
// checkpoints (store name -> next changelog offset) in one non-synced
// Pebble batch, then trims store caches that are over budget. Call it after
// the changelog records emitted by Flush are committed to Kafka.
//
// If Commit fails, it behaves as Abort: the DB then lags the changelog and
// the runtime must restore from Checkpoint before processing again (or
// close the DB and wipe it).
func (db *DB) Commit(checkpoints map[string]int64) error {
	if db.closed.Load() {
		return ErrClosed
	}
	var buf [8]byte
	for name, off := range checkpoints {
		binary.BigEndian.PutUint64(buf[:], uint64(off))
		if err := db.pending.Set(checkpointKey(name), buf[:], nil); err != nil {
			db.Abort()
			return err
		}
	}
	if !db.pending.Empty() {
		if err := db.pending.Commit(pebble.NoSync); err != nil {
			db.Abort()
			return fmt.Errorf("state: commit %s: %w", db.dir, err)
		}
		db.pending.Reset()
	}
	for _, s := range db.stores {
		s.afterCommit()
	}
	return nil
}

// Abort discards the staged entries and the whole cache of every store, so
// reads see the last committed state.
func (db *DB) Abort() {
	if db.closed.Load() {
		return
	}
	db.pending.Reset()
	for _, s := range db.stores {
		s.reset()
	}
}

// Checkpoint returns the committed checkpoint of store name: the next
// changelog offset to restore from. ok is false if there is none (a new or
// wiped DB), in which case restore starts at offset 0.
func (db *DB) Checkpoint(name string) (offset int64, ok bool, err error) {
	if db.closed.Load() {
		return 0, false, ErrClosed
	}
	v, closer, err := db.pdb.Get(checkpointKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, false, fmt.Errorf("state: corrupt checkpoint of store %q", name)
	}
	return int64(binary.BigEndian.Uint64(v)), true, nil
}

// Restorer returns a Restorer writing changelog records of store name
// straight to Pebble, bypassing the cache, in batches of
// Options.RestoreBatchRecords records or Options.RestoreBatchBytes bytes,
// each committed with the store's checkpoint. It drops the store's cache;
// use it only while the store has no uncommitted writes (before processing,
// or after Abort).
func (db *DB) Restorer(name string) (Restorer, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	db.bg.Wait() // an earlier restore left without Finish
	s := db.stores[name]
	if s != nil {
		s.reset()
	}
	off, ok, err := db.Checkpoint(name)
	if err != nil {
		return nil, err
	}
	if !ok {
		off = -1
	}
	return &pebbleRestorer{
		db: db, store: s, b: db.pdb.NewBatch(), prefix: storePrefix(name), ckpt: checkpointKey(name),
		next: off, committed: off,
		maxRecords: db.opts.RestoreBatchRecords, maxBytes: db.opts.RestoreBatchBytes,
	}, nil
}

// ReadOnly returns a view of store name that reads only committed data.
// ReadOnly and the view are safe for concurrent use from any goroutine while
// the task writes; they are meant for interactive queries. Each iteration reads a consistent
// snapshot. After Close the view fails with ErrClosed; Close waits for
// running Get calls and iterations of views to end.
func (db *DB) ReadOnly(name string) (ReadOnlyStore, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	p := storePrefix(name)
	return &pebbleReadOnly{db: db, name: name, prefix: p, end: prefixEnd(p)}, nil
}

// ClearStore deletes every committed entry and the checkpoint of store name
// (one range deletion, committed at once) and drops its cache, so that it
// can be restored from offset 0, for example when its checkpoint is no
// longer valid for the changelog. Use it only while the store has no
// uncommitted writes.
func (db *DB) ClearStore(name string) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if s, ok := db.stores[name]; ok {
		s.reset()
	}
	p := storePrefix(name)
	b := db.pdb.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
		return err
	}
	if err := b.Delete(checkpointKey(name), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	if s, ok := db.stores[name]; ok {
		s.filter = newKeyFilter(s.budget / 4) // the store is empty again
	}
	return nil
}

// Close discards uncommitted writes, waits for running read-only accesses,
// flushes memtables to disk (the WAL is off) and closes Pebble. Closing a
// closed DB returns nil.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed.Load() {
		db.mu.Unlock()
		return nil
	}
	db.closed.Store(true)
	for db.readers > 0 {
		db.cond.Wait()
	}
	db.mu.Unlock()
	defer unlockDir(db.abs)
	db.bg.Wait() // a restore left without Finish may still write a table
	for _, s := range db.stores {
		s.reset()
	}
	err := db.pending.Close()
	if ferr := db.pdb.Flush(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if cerr := db.pdb.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return fmt.Errorf("state: close %s: %w", db.dir, err)
	}
	return nil
}

// acquire registers a read-only access; false if the DB is closed.
func (db *DB) acquire() bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed.Load() {
		return false
	}
	db.readers++
	return true
}

func (db *DB) release() {
	db.mu.Lock()
	db.readers--
	if db.readers == 0 {
		db.cond.Broadcast()
	}
	db.mu.Unlock()
}

// getCopy reads key from Pebble and returns a copy of its value.
func (db *DB) getCopy(key []byte) ([]byte, bool, error) {
	v, closer, err := db.pdb.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := make([]byte, len(v))
	copy(out, v)
	return out, true, closer.Close()
}

// newIter returns a Pebble iterator over [prefix+from, prefix+to) (to nil:
// up to end), positioned at the first entry.
func (db *DB) newIter(prefix, end, from, to []byte) (*pebbleIter, error) {
	lo := append(bytes.Clone(prefix), from...)
	hi := end
	if to != nil {
		hi = append(bytes.Clone(prefix), to...)
	}
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	it.First()
	return &pebbleIter{it: it, plen: len(prefix)}, nil
}

// countRange estimates the entries in [lo, hi). small reports that the
// store is small enough to count exactly by iterating instead.
func (db *DB) countRange(lo, hi []byte) (n int64, small bool) {
	du, err := db.pdb.EstimateDiskUsage(lo, hi)
	if err != nil || du < exactCountBytes {
		return 0, true
	}
	levels, err := db.pdb.SSTables(pebble.WithKeyRangeFilter(lo, hi), pebble.WithProperties(),
		pebble.WithApproximateSpanBytes())
	if err != nil {
		return 0, true
	}
	for _, level := range levels {
		for _, t := range level {
			var entries, dels uint64
			if t.Properties != nil {
				entries, dels = t.Properties.NumEntries, t.Properties.NumDeletions
			} else {
				entries, dels = t.TableStats.NumEntries, t.TableStats.NumDeletions
			}
			if dels >= entries {
				continue
			}
			live := entries - dels
			if t.Size > 0 && t.ApproximateSpanBytes < t.Size {
				live = uint64(float64(live) * float64(t.ApproximateSpanBytes) / float64(t.Size))
			}
			n += int64(live)
		}
	}
	return n, false
}

type pebbleIter struct {
	it   *pebble.Iterator
	plen int
}

func (p *pebbleIter) valid() bool            { return p.it.Valid() }
func (p *pebbleIter) key() []byte            { return p.it.Key()[p.plen:] }
func (p *pebbleIter) value() ([]byte, error) { return p.it.ValueAndErr() }
func (p *pebbleIter) next()                  { p.it.Next() }
func (p *pebbleIter) err() error             { return p.it.Error() }
func (p *pebbleIter) close() error           { return p.it.Close() }

// pebbleBackend is the committed data of one store of a DB, as seen by its
// CachedStore on the task goroutine.
type pebbleBackend struct {
	db      *DB
	prefix  []byte
	end     []byte
	scratch []byte
}

func (b *pebbleBackend) closed() bool { return b.db.closed.Load() }

func (b *pebbleBackend) key(k []byte) []byte {
	b.scratch = append(append(b.scratch[:0], b.prefix...), k...)
	return b.scratch
}

func (b *pebbleBackend) get(key []byte) ([]byte, bool, error) { return b.db.getCopy(b.key(key)) }

func (b *pebbleBackend) iter(from, to []byte) (kvIter, error) {
	return b.db.newIter(b.prefix, b.end, from, to)
}

func (b *pebbleBackend) stage(key, value []byte, del bool) error {
	if del {
		return b.db.pending.Delete(b.key(key), nil)
	}
	return b.db.pending.Set(b.key(key), value, nil)
}

func (b *pebbleBackend) stageRange(from, to []byte) error {
	lo := append(append([]byte(nil), b.prefix...), from...)
	return b.db.pending.DeleteRange(lo, b.key(to), nil)
}

func (b *pebbleBackend) count(s *CachedStore) int64 {
	n, small := b.db.countRange(b.prefix, b.end)
	if small {
		return s.countMerged()
	}
	return n
}

// pebbleReadOnly is the concurrent read-only view of a store of a DB.
type pebbleReadOnly struct {
	db     *DB
	name   string
	prefix []byte
	end    []byte
	err    stickyErr
}

func (r *pebbleReadOnly) Name() string { return r.name }

func (r *pebbleReadOnly) Get(key []byte) ([]byte, bool, error) {
	if !r.db.acquire() {
		return nil, false, ErrClosed
	}
	defer r.db.release()
	return r.db.getCopy(append(bytes.Clone(r.prefix), key...))
}

func (r *pebbleReadOnly) Range(from, to []byte) iter.Seq2[[]byte, []byte] {
	from = bytes.Clone(from)
	if to != nil {
		to = append([]byte{}, to...)
	}
	return func(yield func([]byte, []byte) bool) { r.iterate(from, to, yield) }
}

func (r *pebbleReadOnly) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) { r.iterate(nil, nil, yield) }
}

func (r *pebbleReadOnly) iterate(from, to []byte, yield func([]byte, []byte) bool) {
	if to != nil && bytes.Compare(from, to) >= 0 {
		return
	}
	if !r.db.acquire() {
		r.err.set(ErrClosed)
		return
	}
	defer r.db.release()
	it, err := r.db.newIter(r.prefix, r.end, from, to)
	if err != nil {
		r.err.set(err)
		return
	}
	defer func() { r.err.set(it.close()) }()
	for ; it.valid(); it.next() {
		v, err := it.value()
		if err != nil {
			r.err.set(err)
			return
		}
		if !yield(it.key(), v) {
			return
		}
	}
	r.err.set(it.err())
}

func (r *pebbleReadOnly) ApproximateCount() int64 {
	if !r.db.acquire() {
		return 0
	}
	n, small := r.db.countRange(r.prefix, r.end)
	r.db.release()
	if small {
		n = 0
		for range r.All() {
			n++
		}
	}
	return n
}

func (r *pebbleReadOnly) Err() error { return r.err.get() }

// pebbleRestorer applies changelog records to Pebble in batches.
type pebbleRestorer struct {
	db         *DB
	store      *CachedStore // the open store, whose filter learns the keys; or nil
	b          *pebble.Batch
	prefix     []byte
	ckpt       []byte
	scratch    []byte
	n          int
	next       int64 // next offset after the records applied, -1 if none
	committed  int64 // checkpoint last written
	maxRecords int
	maxBytes   int
	done       bool
	extra      map[string]int64 // checkpoints of WithCheckpoint
}

var _ CheckpointWriter = (*pebbleRestorer)(nil)

func (r *pebbleRestorer) WithCheckpoint(name string, value int64) {
	if r.extra == nil {
		r.extra = make(map[string]int64)
	}
	r.extra[name] = value
}

func (r *pebbleRestorer) Apply(key, value []byte, offset int64) error {
	if r.done {
		return ErrClosed
	}
	if value == nil {
		r.scratch = append(append(r.scratch[:0], r.prefix...), key...)
		if err := r.b.Delete(r.scratch, nil); err != nil {
			return err
		}
	} else {
		if r.store != nil {
			r.store.addToFilter(key)
		}
		op := r.b.SetDeferred(len(r.prefix)+len(key), len(value))
		copy(op.Key, r.prefix)
		copy(op.Key[len(r.prefix):], key)
		copy(op.Value, value)
		if err := op.Finish(); err != nil {
			return err
		}
	}
	if offset+1 > r.next {
		r.next = offset + 1
	}
	r.n++
	if r.n >= r.maxRecords || r.b.Len() >= r.maxBytes {
		return r.commit()
	}
	return nil
}

func (r *pebbleRestorer) Advance(next int64) {
	if next > r.next {
		r.next = next
	}
}

func (r *pebbleRestorer) commit() error {
	if r.db.closed.Load() {
		return ErrClosed
	}
	if r.next != r.committed {
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], uint64(r.next))
		if err := r.b.Set(r.ckpt, buf[:], nil); err != nil {
			return err
		}
	}
	for name, v := range r.extra {
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], uint64(v))
		if err := r.b.Set(checkpointKey(name), buf[:], nil); err != nil {
			return err
		}
	}
	r.extra = nil
	if !r.b.Empty() {
		if err := r.b.Commit(pebble.NoSync); err != nil {
			return err
		}
		r.b.Reset()
	}
	r.committed = r.next
	r.n = 0
	return nil
}

func (r *pebbleRestorer) Finish() error {
	if r.done {
		return nil
	}
	err := r.commit()
	r.done = true
	return errors.Join(err, r.b.Close())
}
