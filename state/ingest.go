package state

import (
	"bufio"
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Defaults of the ingesting restore.
const (
	// DefaultRestoreIngestBytes is the memory in which a full restore into
	// an empty store sorts changelog records before writing them as sorted
	// runs: 16 MiB, two buffers of 8 MiB (each about 160,000 records of
	// 10-byte keys and 8-byte values), one filled while the other is
	// sorted and written. Measured with state.BenchmarkRestore and
	// internal/benchmarks' BenchmarkRestore (1M records), 16 MiB used as
	// little CPU as any size tried (8, 16, 64 MiB) and less memory.
	DefaultRestoreIngestBytes = 16 << 20
	// maxRestoreIngestBytes bounds Options.RestoreIngestBytes: offsets in
	// the sort buffer are 32-bit.
	maxRestoreIngestBytes = 1 << 30
	// ingestTableBytes is the size at which the final merge of an
	// ingesting restore starts a new table: Pebble's target file size of
	// its bottom level with the default options.
	ingestTableBytes = 128 << 20
	// maxIngestRuns is the number of sorted runs at which the merge
	// strategy merges and ingests them before the end of the restore:
	// with 8 MiB buffers, about 10M records of small keys and values.
	maxIngestRuns = 64
	// restoreTmpDir is the directory, inside a DB's directory, of the
	// tables and sorted runs of an ingesting restore before they are
	// ingested. Open deletes it: what a crash left there was never
	// ingested.
	restoreTmpDir = "restore.tmp"
)

// ingestStrategy is how an ingesting restore handles a restore larger than
// its sort buffer (a variable for the benchmarks that compare them).
type ingestStrategy int

const (
	// ingestMerge spills each full sort buffer as a sorted run to a file
	// and, at Finish, merges the runs into non-overlapping tables that are
	// ingested at once into the bottom level (an external merge sort).
	ingestMerge ingestStrategy = iota
	// ingestChunks writes each full sort buffer as a table and ingests it
	// at once with the checkpoint it reaches: overlapping tables in L0,
	// merged by Pebble's compactions.
	ingestChunks
)

var restoreIngestStrategy = ingestMerge

// CheckpointWriter is implemented by the Restorers of DB (Restorer and
// FullRestorer).
// WithCheckpoint has the Restorer write checkpoint name with value at its
// next commit (a batch or an ingest), atomically with the records applied
// before it and with the store's own checkpoint: the runtime writes the
// task's stream time this way, so that a restore cut short leaves the
// stream time of the records it applied.
type CheckpointWriter interface {
	WithCheckpoint(name string, value int64)
}

// FullRestorer returns a Restorer for store name. If the store is empty
// (no checkpoint and no entry), a restore from offset 0 into it sorts the
// records in memory (Options.RestoreIngestBytes) and writes them as
// sorted tables that Pebble ingests, instead of writing batches; see
// ingestRestorer. Otherwise it is Restorer(name). Use it only for a
// restore that reads the changelog in offset order to its end, with
// nothing else writing the store meanwhile.
func (db *DB) FullRestorer(name string) (Restorer, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	db.bg.Wait() // an earlier restore left without Finish
	p := storePrefix(name)
	empty, err := db.storeEmpty(name, p)
	if err != nil {
		return nil, err
	}
	if !empty {
		return db.Restorer(name)
	}
	s := db.stores[name]
	if s != nil {
		s.reset()
	}
	tmp := filepath.Join(db.dir, restoreTmpDir, fmt.Sprintf("%x", name))
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	return &ingestRestorer{
		db: db, store: s, name: name, prefix: p, tmp: tmp,
		budget:   min(db.opts.RestoreIngestBytes, maxRestoreIngestBytes) / 2,
		strategy: restoreIngestStrategy,
		cur:      &ingestChunk{},
		next:     -1, committed: -1,
	}, nil
}

// ingestRestorer restores the changelog of a store that was empty into
// sorted tables that Pebble ingests.
//
// Records are appended to a buffer (keys and values in one byte slice,
// a 32-byte entry per record) of at most half of Options.RestoreIngestBytes.
// When it is full, it is handed to a goroutine while Apply fills a second
// one: its entries are sorted by key (their first 16 bytes compared as
// two integers) and, for each key, only the last record (the highest
// offset) is kept: applying a changelog is last-value-wins, and a delete
// is a value like any other. What happens to a sorted buffer then depends
// on the strategy (ingestMerge by default; both were measured, see
// decision 41 in docs/ARCHITECTURE.md):
//
//   - ingestMerge writes it to a file as a sorted run. Finish merges the
//     runs and the last buffer (a later run wins a key) and writes the
//     result as tables that do not overlap, ingested at once, with the
//     checkpoints, into the bottom level: no compaction follows. Deleted
//     keys are left out, since the store was empty and no table holds an
//     older value. When maxIngestRuns runs are spilled before the end,
//     they are merged and ingested then, with the checkpoint they reach,
//     so that the files stay few and a long restore keeps its progress;
//     later ingests overlap it and keep deletes as tombstones. Until the
//     first ingest the store stays empty.
//   - ingestChunks writes it as one table and ingests it with the
//     checkpoints at once. Tables of successive chunks overlap (changelog
//     keys are not sorted), so Pebble puts them in L0 and compacts them;
//     deletes are kept as tombstones, since an earlier chunk may hold
//     the key.
//
// The checkpoints (the store's next offset and those of WithCheckpoint)
// are written in a table of their own that is ingested in the same Ingest
// call as the data (Pebble applies the tables of one call atomically), so
// the store's checkpoint never gets ahead of its data. Pebble syncs an
// ingest, so after a crash the store holds either all of an ingest or
// none of it, and a restore restarts from its checkpoint: from offset 0
// when no ingest was done (and the store is still empty, so it ingests
// again), from the last ingested chunk's offset otherwise (a store no
// longer empty: batches then). Should the data ever be ahead of its
// checkpoint, applying the changelog again from the checkpoint is
// harmless: records are applied in offset order and each sets its key to
// its value, so every key ends with its last value.
type ingestRestorer struct {
	db       *DB
	store    *CachedStore // the open store, whose filter learns the keys; or nil
	name     string
	prefix   []byte
	tmp      string // directory of this restore's files
	budget   int    // bytes of one buffer: half of Options.RestoreIngestBytes
	strategy ingestStrategy

	cur   *ingestChunk // the buffer Apply fills
	spare *ingestChunk // a buffer to reuse
	seq   uint32       // records buffered so far, their order

	// A full buffer is handled on a goroutine while Apply fills the next:
	// busy is closed when it is done, with bgErr.
	busy  chan struct{}
	bgErr error

	// Written by the goroutine that handles a buffer (one at a time).
	runs    []string     // sorted runs spilled and not yet ingested (ingestMerge)
	marks   [][]runMark  // of each run
	chunks  int          // ingests done
	files   atomic.Int64 // files made, for their names
	split   bool         // the final merge ran in two key ranges (for tests)
	scratch []byte

	next      int64            // next offset after the records applied, -1 if none
	committed int64            // checkpoint of the last buffer handed over
	extra     map[string]int64 // checkpoints of WithCheckpoint not yet handed over
	done      bool
}

// ingestChunk is a buffer of records, and the checkpoints it reaches.
type ingestChunk struct {
	buf   []byte      // keys and values of the buffered records
	ents  []ingestEnt // the buffered records
	next  int64
	extra map[string]int64
}

var _ CheckpointWriter = (*ingestRestorer)(nil)

// ingestEnt is a buffered record: key buf[off:off+klen], then its value
// (vlen bytes, or a delete when vlen is -1).
type ingestEnt struct {
	k0   uint64 // the key's bytes 0-7, big-endian, zero-padded: compared first
	k1   uint64 // bytes 8-15, the same
	off  uint32
	klen uint32
	vlen int32
	seq  uint32
}

const ingestEntBytes = 32

func (c *ingestChunk) key(e *ingestEnt) []byte { return c.buf[e.off : e.off+e.klen] }

func (c *ingestChunk) value(e *ingestEnt) []byte {
	if e.vlen < 0 {
		return nil
	}
	o := e.off + e.klen
	return c.buf[o : o+uint32(e.vlen)]
}

// prefix16 returns the first 16 bytes of k as two big-endian integers,
// zero-padded. Integers compare as the bytes do, up to a tie: zeros of
// the padding against zero bytes of a longer key, or longer keys alike in
// their first 16 bytes.
func prefix16(k []byte) (uint64, uint64) {
	if len(k) >= 16 {
		return binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(k[8:])
	}
	var b [16]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:]), binary.BigEndian.Uint64(b[8:])
}

func (r *ingestRestorer) Apply(key, value []byte, offset int64) error {
	if r.done {
		return ErrClosed
	}
	c := r.cur
	if len(c.buf)+len(key)+len(value)+ingestEntBytes*(len(c.ents)+1) > r.budget && len(c.ents) > 0 {
		if err := r.handOver(); err != nil {
			return err
		}
		c = r.cur
	}
	k0, k1 := prefix16(key)
	e := ingestEnt{k0: k0, k1: k1, off: uint32(len(c.buf)), klen: uint32(len(key)), vlen: -1, seq: r.seq}
	c.buf = append(c.buf, key...)
	if value != nil {
		e.vlen = int32(len(value))
		c.buf = append(c.buf, value...)
	}
	c.ents = append(c.ents, e)
	r.seq++
	if offset+1 > r.next {
		r.next = offset + 1
	}
	return nil
}

func (r *ingestRestorer) Advance(next int64) {
	if next > r.next {
		r.next = next
	}
}

func (r *ingestRestorer) WithCheckpoint(name string, value int64) {
	if r.extra == nil {
		r.extra = make(map[string]int64)
	}
	r.extra[name] = value
}

// wait waits for the buffer being handled, if any, and returns its error.
func (r *ingestRestorer) wait() error {
	if r.busy != nil {
		<-r.busy
		r.busy = nil
	}
	return r.bgErr
}

// handOver has the full buffer handled on a goroutine, once the previous
// one is done, and gives Apply an empty buffer.
func (r *ingestRestorer) handOver() error {
	if err := r.wait(); err != nil {
		return err
	}
	if r.db.closed.Load() {
		return ErrClosed
	}
	c := r.cur
	c.next, c.extra = r.next, r.extra
	r.committed, r.extra = r.next, nil
	r.cur, r.spare = r.spare, nil
	if r.cur == nil {
		r.cur = &ingestChunk{}
	}
	r.seq = 0 // seq orders the records of one buffer only
	done := make(chan struct{})
	r.busy = done
	r.db.bg.Add(1)
	go func() {
		defer r.db.bg.Done()
		defer close(done)
		r.bgErr = r.flushChunk(c)
		c.buf, c.ents = c.buf[:0], c.ents[:0]
		r.spare = c
	}()
	return nil
}

// sortChunk sorts the buffered entries by key and keeps the last record
// of each key.
func sortChunk(c *ingestChunk) {
	slices.SortFunc(c.ents, func(a, b ingestEnt) int {
		if a.k0 != b.k0 {
			return cmp.Compare(a.k0, b.k0)
		}
		if a.k1 != b.k1 {
			return cmp.Compare(a.k1, b.k1)
		}
		if a.klen > 16 || b.klen > 16 || a.klen != b.klen {
			if c := bytes.Compare(c.key(&a), c.key(&b)); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.seq, b.seq)
	})
	out := c.ents[:0]
	for i := range c.ents {
		if i+1 < len(c.ents) && c.sameKey(&c.ents[i], &c.ents[i+1]) {
			continue // a later record of the same key follows
		}
		out = append(out, c.ents[i])
	}
	c.ents = out
}

func (c *ingestChunk) sameKey(a, b *ingestEnt) bool {
	return a.k0 == b.k0 && a.k1 == b.k1 && a.klen == b.klen && (a.klen <= 16 || bytes.Equal(c.key(a), c.key(b)))
}

// flushChunk handles a full buffer as the strategy says.
func (r *ingestRestorer) flushChunk(c *ingestChunk) error {
	r.learnKeys(c)
	sortChunk(c)
	if r.strategy == ingestChunks {
		return r.ingestChunk(c)
	}
	if err := r.spillRun(c); err != nil {
		return err
	}
	if len(r.runs) < maxIngestRuns {
		return nil
	}
	// Merge what was spilled so far and ingest it with the checkpoint it
	// reaches: the files stay few, and the restore keeps its progress.
	paths, err := r.mergeRuns(nil)
	if err != nil {
		return err
	}
	if err := r.ingest(c.next, c.extra, paths...); err != nil {
		return err
	}
	for _, p := range r.runs {
		os.Remove(p)
	}
	r.runs, r.marks = r.runs[:0], r.marks[:0]
	r.chunks++
	return nil
}

// learnKeys adds the keys of c's puts to the store's filter (a key put
// and deleted later is added too: a false positive only). It runs before
// the sort, when the entries follow the keys' order in memory (after it,
// each key read is a cache miss), and with the rest of a buffer's
// handling, off the goroutine that applies the records: nothing else uses
// the filter until Finish returns (the store is not processed while it
// restores).
func (r *ingestRestorer) learnKeys(c *ingestChunk) {
	if r.store == nil {
		return
	}
	for i := range c.ents {
		if e := &c.ents[i]; e.vlen >= 0 {
			r.store.addToFilter(c.key(e))
		}
	}
}

// ingestChunk writes the sorted buffer c as a table and ingests it with
// its checkpoints.
func (r *ingestRestorer) ingestChunk(c *ingestChunk) error {
	path, err := r.writeTable(func(w *tableWriter) error {
		for i := range c.ents {
			e := &c.ents[i]
			v := c.value(e)
			if v == nil && r.chunks == 0 {
				continue // nothing older in the store
			}
			if err := w.add(c.key(e), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := r.ingest(c.next, c.extra, path); err != nil {
		return err
	}
	if path != "" {
		r.chunks++
	}
	return nil
}

// spillRun writes the sorted buffer to a run file: per record
// uvarint(len(key)) key uvarint(len(value)+1, 0 for a delete) value.
func (r *ingestRestorer) spillRun(c *ingestChunk) error {
	path := r.newFile("run")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var hdr [2 * binary.MaxVarintLen64]byte
	var idx []runMark
	var off int64
	for i := range c.ents {
		e := &c.ents[i]
		if i%runMarkEvery == 0 {
			idx = append(idx, runMark{key: bytes.Clone(c.key(e)), off: off})
		}
		n := binary.PutUvarint(hdr[:], uint64(e.klen))
		n += binary.PutUvarint(hdr[n:], uint64(e.vlen+1))
		w.Write(hdr[:n])
		w.Write(c.key(e))
		w.Write(c.value(e))
		off += int64(n) + int64(e.klen) + int64(max(e.vlen, 0))
	}
	err = errors.Join(w.Flush(), f.Close())
	if err != nil {
		return fmt.Errorf("state: restore %q: write sorted run: %w", r.name, err)
	}
	r.runs = append(r.runs, path)
	r.marks = append(r.marks, idx)
	return nil
}

func (r *ingestRestorer) newFile(kind string) string {
	return filepath.Join(r.tmp, fmt.Sprintf("%06d.%s", r.files.Add(1), kind))
}

// runMark is a key of a sorted run and the file offset of its record:
// the merge of a key range starts reading a run at the last mark before
// the range.
type runMark struct {
	key []byte
	off int64
}

// runMarkEvery is the number of records between two marks of a run.
const runMarkEvery = 1024

// tableWriter writes the store's entries to sstables.
type tableWriter struct {
	r *ingestRestorer
	w *sstable.Writer
	n int // keys written
}

func (t *tableWriter) add(key, value []byte) error {
	t.n++
	t.r.scratch = append(append(t.r.scratch[:0], t.r.prefix...), key...)
	if value == nil {
		return t.w.Delete(t.r.scratch)
	}
	return t.w.Set(t.r.scratch, value)
}

// createTable returns a writer of a new table file.
func (r *ingestRestorer) createTable() (*sstable.Writer, string, error) {
	path := r.newFile("sst")
	f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, "", err
	}
	level := 0
	if r.strategy == ingestMerge && r.chunks == 0 {
		// The first merge goes to the bottom level (nothing overlaps it)
		// and holds no deletes.
		level = 6
	}
	opts := r.db.po.MakeWriterOptions(level, r.db.pdb.TableFormat())
	return sstable.NewWriter(objstorageprovider.NewFileWritable(f), opts), path, nil
}

// writeTable writes one table with fill, and returns its path, or "" if
// fill wrote nothing.
func (r *ingestRestorer) writeTable(fill func(*tableWriter) error) (string, error) {
	w, path, err := r.createTable()
	if err != nil {
		return "", err
	}
	tw := &tableWriter{r: r, w: w}
	err = fill(tw)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("state: restore %q: write table: %w", r.name, err)
	}
	if tw.n == 0 {
		return "", os.Remove(path)
	}
	return path, nil
}

// checkpointTable writes a table of the checkpoints: the store's (next)
// and extra, in key order.
func (r *ingestRestorer) checkpointTable(next int64, extra map[string]int64) (string, error) {
	names := []string{r.name}
	for n := range extra {
		if n != r.name {
			names = append(names, n)
		}
	}
	slices.Sort(names) // checkpointKey keeps the names' order
	return r.writeTable(func(t *tableWriter) error {
		var v [8]byte
		for _, n := range names {
			off, ok := extra[n]
			if n == r.name {
				off, ok = next, next >= 0
			}
			if !ok {
				continue
			}
			binary.BigEndian.PutUint64(v[:], uint64(off))
			t.n++
			if err := t.w.Set(checkpointKey(n), v[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// ingest ingests the data tables and a table of the checkpoints, all in
// one Ingest call.
func (r *ingestRestorer) ingest(next int64, extra map[string]int64, paths ...string) error {
	ck, err := r.checkpointTable(next, extra)
	if err != nil {
		return err
	}
	paths = slices.DeleteFunc(append(paths, ck), func(p string) bool { return p == "" })
	if len(paths) == 0 {
		return nil
	}
	if r.db.closed.Load() {
		return ErrClosed // Close waits for this goroutine before closing Pebble
	}
	if err := r.db.pdb.Ingest(context.Background(), paths); err != nil {
		return fmt.Errorf("state: restore %q: ingest: %w", r.name, err)
	}
	return nil
}

func (r *ingestRestorer) Finish() error {
	if r.done {
		return nil
	}
	r.done = true
	defer os.RemoveAll(r.tmp)
	if err := r.wait(); err != nil {
		return err
	}
	if r.db.closed.Load() {
		return ErrClosed
	}
	c := r.cur
	r.cur, r.spare = nil, nil
	if len(c.ents) == 0 && r.next == r.committed && r.extra == nil {
		return nil
	}
	c.next, c.extra = r.next, r.extra
	r.learnKeys(c)
	sortChunk(c)
	if r.strategy == ingestChunks || len(r.runs) == 0 {
		return r.ingestChunk(c)
	}
	paths, err := r.mergeRuns(c)
	if err != nil {
		return err
	}
	return r.ingest(c.next, c.extra, paths...)
}

// mergeRuns merges the spilled runs and the sorted buffer into tables of
// at most about ingestTableBytes, leaving deleted keys out.
func (r *ingestRestorer) mergeRuns(c *ingestChunk) ([]string, error) {
	if c == nil || len(c.ents) < 2*runMarkEvery {
		return r.mergeRange(c, nil, nil)
	}
	// Two halves of the key space, split at the middle key of the last
	// buffer (changelog keys come in no order, so any buffer's keys are a
	// sample of all), merged on two goroutines into tables that do not
	// overlap.
	mid := bytes.Clone(c.key(&c.ents[len(c.ents)/2]))
	r.split = true
	var wg sync.WaitGroup
	var lo []string
	var loErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		lo, loErr = r.mergeRange(c, nil, mid)
	}()
	hi, hiErr := r.mergeRange(c, mid, nil)
	wg.Wait()
	return append(lo, hi...), errors.Join(loErr, hiErr)
}

// mergeRange merges the records of keys in [lo, hi) (nil: unbounded) of
// the spilled runs and of the sorted buffer c (if not nil) into tables.
func (r *ingestRestorer) mergeRange(c *ingestChunk, lo, hi []byte) ([]string, error) {
	var h runHeap
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for i, path := range r.runs {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		if lo != nil {
			marks := r.marks[i]
			j, _ := slices.BinarySearchFunc(marks, lo, func(m runMark, k []byte) int { return bytes.Compare(m.key, k) })
			if j > 0 {
				if _, err := f.Seek(marks[j-1].off, io.SeekStart); err != nil {
					return nil, err
				}
			}
		}
		s := &runSource{rank: i, rd: bufio.NewReaderSize(f, 256<<10), hi: hi}
		for {
			if err := s.next(); err != nil {
				return nil, fmt.Errorf("state: restore %q: read sorted run: %w", r.name, err)
			}
			if !s.ok || lo == nil || bytes.Compare(s.key, lo) >= 0 {
				break
			}
		}
		if s.ok {
			h = append(h, s)
		}
	}
	if c != nil {
		mem := &runSource{rank: len(r.runs), mem: c, hi: hi}
		if lo != nil {
			mem.i, _ = slices.BinarySearchFunc(c.ents, lo, func(e ingestEnt, k []byte) int { return bytes.Compare(c.key(&e), k) })
		}
		if err := mem.next(); err != nil {
			return nil, err
		}
		if mem.ok {
			h = append(h, mem)
		}
	}
	heap.Init(&h)
	keepDeletes := r.chunks > 0 // an earlier ingest may hold the key

	var paths []string
	var w *sstable.Writer
	var scratch []byte
	closeTable := func() error {
		if w == nil {
			return nil
		}
		err := w.Close()
		w = nil
		return err
	}
	for len(h) > 0 {
		s := h[0]
		// Sources with the same key pop in rank order: the last popped
		// (the latest run) holds the key's value, the others are skipped.
		k, v, del := s.key, s.val, s.del
		if len(h) > 1 && sameKeyNext(h, k) {
			if err := s.next(); err != nil {
				return nil, err
			}
			fixTop(&h)
			continue
		}
		if !del || keepDeletes {
			if w == nil {
				var err error
				var p string
				w, p, err = r.createTable()
				if err != nil {
					return nil, err
				}
				paths = append(paths, p)
			}
			scratch = append(append(scratch[:0], r.prefix...), k...)
			var err error
			if del {
				err = w.Delete(scratch)
			} else {
				err = w.Set(scratch, v)
			}
			if err != nil {
				return nil, errors.Join(err, closeTable())
			}
			if w.Raw().EstimatedSize() >= ingestTableBytes {
				if err := closeTable(); err != nil {
					return nil, err
				}
			}
		}
		if err := s.next(); err != nil {
			return nil, errors.Join(err, closeTable())
		}
		fixTop(&h)
	}
	if err := closeTable(); err != nil {
		return nil, fmt.Errorf("state: restore %q: write table: %w", r.name, err)
	}
	return paths, nil
}

// sameKeyNext reports whether another source in h holds key k (the top's
// key): the top then does not hold k's last value.
func sameKeyNext(h runHeap, k []byte) bool {
	for i := 1; i <= 2 && i < len(h); i++ {
		if h[i].k0 == h[0].k0 && h[i].k1 == h[0].k1 && bytes.Equal(h[i].key, k) {
			return true
		}
	}
	return false
}

func fixTop(h *runHeap) {
	if !(*h)[0].ok {
		heap.Pop(h)
		return
	}
	heap.Fix(h, 0)
}

// runSource is a sorted run being merged: a spilled file or the sorted
// buffer.
type runSource struct {
	rank int // later runs have higher ranks and win a key
	rd   *bufio.Reader
	mem  *ingestChunk
	i    int
	ok   bool
	key  []byte
	val  []byte
	del  bool
	kbuf []byte
	vbuf []byte
	k0   uint64 // prefix16 of key
	k1   uint64
	hi   []byte // the source ends before this key (nil: at its end)
}

func (s *runSource) next() error {
	if err := s.read(); err != nil || !s.ok || s.hi == nil {
		return err
	}
	if bytes.Compare(s.key, s.hi) >= 0 {
		s.ok = false
	}
	return nil
}

func (s *runSource) read() error {
	if s.mem != nil {
		if s.i >= len(s.mem.ents) {
			s.ok = false
			return nil
		}
		e := &s.mem.ents[s.i]
		s.i++
		s.key, s.val, s.del, s.ok = s.mem.key(e), s.mem.value(e), e.vlen < 0, true
		s.k0, s.k1 = e.k0, e.k1
		return nil
	}
	kl, err := binary.ReadUvarint(s.rd)
	if err == io.EOF {
		s.ok = false
		return nil
	}
	if err != nil {
		return err
	}
	vl, err := binary.ReadUvarint(s.rd)
	if err != nil {
		return err
	}
	s.kbuf = slices.Grow(s.kbuf[:0], int(kl))[:kl]
	if _, err := io.ReadFull(s.rd, s.kbuf); err != nil {
		return err
	}
	s.del = vl == 0
	s.vbuf = s.vbuf[:0]
	if vl > 0 {
		s.vbuf = slices.Grow(s.vbuf, int(vl-1))[:vl-1]
		if _, err := io.ReadFull(s.rd, s.vbuf); err != nil {
			return err
		}
	}
	s.key, s.val, s.ok = s.kbuf, s.vbuf, true
	s.k0, s.k1 = prefix16(s.key)
	return nil
}

// runHeap orders sources by key, then by rank (the earliest run first).
type runHeap []*runSource

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.k0 != b.k0 {
		return a.k0 < b.k0
	}
	if a.k1 != b.k1 {
		return a.k1 < b.k1
	}
	if len(a.key) > 16 || len(b.key) > 16 || len(a.key) != len(b.key) {
		if c := bytes.Compare(a.key, b.key); c != 0 {
			return c < 0
		}
	}
	return a.rank < b.rank
}
func (h runHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*runSource)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
