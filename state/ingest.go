package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
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
	runs     []string     // sorted runs spilled and not yet ingested (ingestMerge)
	marks    [][]runMark  // of each run
	chunks   int          // ingests done
	files    atomic.Int64 // files made, for their names
	split    bool         // the final merge ran in key ranges (for tests)
	scratch  []byte
	spillBuf []byte // what spillRun writes, 1 MiB at a time

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
	// The store's filter learns the keys here, on the goroutine that
	// applies, and not with the sort of a full buffer: that goroutine
	// (sort, spill) was the restore's slowest step, and nothing else
	// uses the filter until Finish returns (the store is not processed
	// while it restores). A key put and deleted later is added too: a
	// false positive only.
	if value != nil && r.store != nil {
		r.store.addToFilter(key)
	}
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
		// The second buffer: as large as the first filled, and an eighth,
		// so that it does not grow (and copy) from nothing again; the
		// first grew by doubling and may have room for up to twice that.
		r.cur = &ingestChunk{buf: make([]byte, 0, len(c.buf)+len(c.buf)/8), ents: make([]ingestEnt, 0, len(c.ents)+len(c.ents)/8)}
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
	sortEnts(c.buf, c.ents, 2*bits.Len(uint(len(c.ents))))
	out := c.ents[:0]
	for i := range c.ents {
		if i+1 < len(c.ents) && c.sameKey(&c.ents[i], &c.ents[i+1]) {
			continue // a later record of the same key follows
		}
		out = append(out, c.ents[i])
	}
	c.ents = out
}

// entLess orders the entries of a buffer by key, then by seq (the order in
// which they were buffered). No two entries of a buffer are equal: seq is
// unique in a buffer.
func entLess(buf []byte, a, b *ingestEnt) bool {
	if a.k0 != b.k0 {
		return a.k0 < b.k0
	}
	if a.k1 != b.k1 {
		return a.k1 < b.k1
	}
	if a.klen > 16 || b.klen > 16 || a.klen != b.klen {
		if c := bytes.Compare(buf[a.off:a.off+a.klen], buf[b.off:b.off+b.klen]); c != 0 {
			return c < 0
		}
	}
	return a.seq < b.seq
}

// sortEnts sorts e by entLess: a quicksort that calls the comparison
// directly (slices.SortFunc calls it through a function value, and moves
// entries through a generic shape), a median-of-three pivot, insertion
// sort for short ranges and heapsort past a depth of 2 × log2(len(e)), so
// that no input order makes it quadratic.
func sortEnts(buf []byte, e []ingestEnt, depth int) {
	for len(e) > 16 {
		if depth == 0 {
			heapSortEnts(buf, e)
			return
		}
		depth--
		// Median of three to e[0], then partition e[1:] around it.
		m, l := len(e)/2, len(e)-1
		if entLess(buf, &e[m], &e[0]) {
			e[m], e[0] = e[0], e[m]
		}
		if entLess(buf, &e[l], &e[m]) {
			e[l], e[m] = e[m], e[l]
			if entLess(buf, &e[m], &e[0]) {
				e[m], e[0] = e[0], e[m]
			}
		}
		e[0], e[m] = e[m], e[0]
		p := &e[0]
		i, j := 1, l
		for {
			for i <= j && entLess(buf, &e[i], p) {
				i++
			}
			for i <= j && entLess(buf, p, &e[j]) {
				j--
			}
			if i >= j {
				break
			}
			e[i], e[j] = e[j], e[i]
			i++
			j--
		}
		e[0], e[j] = e[j], e[0]
		// Recurse into the shorter side, loop on the longer.
		if j < len(e)-1-j {
			sortEnts(buf, e[:j], depth)
			e = e[j+1:]
		} else {
			sortEnts(buf, e[j+1:], depth)
			e = e[:j]
		}
	}
	for i := 1; i < len(e); i++ {
		for j := i; j > 0 && entLess(buf, &e[j], &e[j-1]); j-- {
			e[j], e[j-1] = e[j-1], e[j]
		}
	}
}

func heapSortEnts(buf []byte, e []ingestEnt) {
	down := func(i, n int) {
		for {
			c := 2*i + 1
			if c >= n {
				return
			}
			if c+1 < n && entLess(buf, &e[c], &e[c+1]) {
				c++
			}
			if !entLess(buf, &e[i], &e[c]) {
				return
			}
			e[i], e[c] = e[c], e[i]
			i = c
		}
	}
	for i := len(e)/2 - 1; i >= 0; i-- {
		down(i, len(e))
	}
	for n := len(e) - 1; n > 0; n-- {
		e[0], e[n] = e[n], e[0]
		down(0, n)
	}
}

func (c *ingestChunk) sameKey(a, b *ingestEnt) bool {
	return a.k0 == b.k0 && a.k1 == b.k1 && a.klen == b.klen && (a.klen <= 16 || bytes.Equal(c.key(a), c.key(b)))
}

// flushChunk handles a full buffer as the strategy says.
func (r *ingestRestorer) flushChunk(c *ingestChunk) error {
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
	const flushAt = 1 << 20
	w := r.spillBuf[:0]
	var idx []runMark
	var off int64
	for i := range c.ents {
		e := &c.ents[i]
		if i%runMarkEvery == 0 {
			idx = append(idx, runMark{key: bytes.Clone(c.key(e)), off: off + int64(len(w))})
		}
		w = binary.AppendUvarint(w, uint64(e.klen))
		w = binary.AppendUvarint(w, uint64(e.vlen+1))
		w = append(w, c.key(e)...)
		w = append(w, c.value(e)...)
		if len(w) >= flushAt {
			if _, err = f.Write(w); err != nil {
				break
			}
			off += int64(len(w))
			w = w[:0]
		}
	}
	if err == nil {
		_, err = f.Write(w)
	}
	r.spillBuf = w[:0]
	err = errors.Join(err, f.Close())
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
	// The last buffer is sorted while the previous one may still be
	// written as a run on its goroutine.
	c := r.cur
	sortChunk(c)
	if err := r.wait(); err != nil {
		return err
	}
	if r.db.closed.Load() {
		return ErrClosed
	}
	r.cur, r.spare = nil, nil
	if len(c.ents) == 0 && r.next == r.committed && r.extra == nil {
		return nil
	}
	c.next, c.extra = r.next, r.extra
	if r.strategy == ingestChunks || len(r.runs) == 0 {
		return r.ingestChunk(c)
	}
	paths, err := r.mergeRuns(c)
	if err != nil {
		return err
	}
	return r.ingest(c.next, c.extra, paths...)
}

// maxMergeWorkers bounds the goroutines of the final merge (each reads
// every run through a buffer of runReadBytes and writes its own table).
const maxMergeWorkers = 4

// mergeRuns merges the spilled runs and the sorted buffer into tables of
// at most about ingestTableBytes, leaving deleted keys out.
func (r *ingestRestorer) mergeRuns(c *ingestChunk) ([]string, error) {
	if c == nil || len(c.ents) < 2*runMarkEvery {
		return r.mergeRange(c, nil, nil)
	}
	// Key ranges split at quantiles of the last buffer's keys (changelog
	// keys come in no order, so any buffer's keys are a sample of all),
	// merged by one goroutine per CPU into tables that do not overlap.
	// There are twice as many ranges as goroutines, so that a goroutine
	// that gets less CPU (the machine is shared) holds up the end less.
	workers := max(2, min(runtime.GOMAXPROCS(0), maxMergeWorkers))
	parts := 2 * workers
	bounds := make([][]byte, parts+1) // bounds[0] and bounds[parts] nil: unbounded
	for i := 1; i < parts; i++ {
		bounds[i] = bytes.Clone(c.key(&c.ents[i*len(c.ents)/parts]))
	}
	r.split = true
	tables := make([][]string, parts)
	errs := make([]error, parts)
	var nextPart atomic.Int32
	var failed atomic.Bool // a range failed: the others stop taking ranges
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(nextPart.Add(1)) - 1
				if i >= parts {
					return
				}
				if tables[i], errs[i] = r.mergeRange(c, bounds[i], bounds[i+1]); errs[i] != nil {
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return slices.Concat(tables...), errors.Join(errs...)
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
		s := &runSource{rank: i, rd: runReader{f: f, buf: make([]byte, runReadBytes)}, hi: hi}
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
	h.init()
	keepDeletes := r.chunks > 0 // an earlier ingest may hold the key

	var paths []string
	var w *sstable.Writer
	var scratch []byte
	var added int // keys added to w
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
				return nil, errors.Join(fmt.Errorf("state: restore %q: read sorted run: %w", r.name, err), closeTable())
			}
			h.fixTop()
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
			// The size estimate costs as much as a small Set: look every
			// 256 keys.
			if added++; added%256 == 0 && w.Raw().EstimatedSize() >= ingestTableBytes {
				if err := closeTable(); err != nil {
					return nil, err
				}
			}
		}
		if err := s.next(); err != nil {
			return nil, errors.Join(fmt.Errorf("state: restore %q: read sorted run: %w", r.name, err), closeTable())
		}
		h.fixTop()
	}
	if err := closeTable(); err != nil {
		return nil, fmt.Errorf("state: restore %q: write table: %w", r.name, err)
	}
	return paths, nil
}

// sameKeyNext reports whether another source in h holds key k (the top's
// key): the top then does not hold k's last value. In a heap, a source
// with the top's key has only such sources above it, so one of the top's
// children holds it if any source does.
func sameKeyNext(h runHeap, k []byte) bool {
	for i := 1; i <= 2 && i < len(h); i++ {
		if h[i].k0 == h[0].k0 && h[i].k1 == h[0].k1 && bytes.Equal(h[i].key, k) {
			return true
		}
	}
	return false
}

// runSource is a sorted run being merged: a spilled file or the sorted
// buffer.
type runSource struct {
	rank int // later runs have higher ranks and win a key
	rd   runReader
	mem  *ingestChunk
	i    int
	ok   bool
	key  []byte // valid until the next call of next
	val  []byte
	del  bool
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
	var err error
	s.key, s.val, s.del, s.ok, err = s.rd.record()
	if s.ok {
		s.k0, s.k1 = prefix16(s.key)
	}
	return err
}

// runReadBytes is the read buffer of a sorted run being merged: a merge
// goroutine reads every run through one (at most maxIngestRuns × 64 KiB =
// 4 MiB per goroutine).
const runReadBytes = 64 << 10

// runReader reads the records of a sorted run file (see spillRun) from a
// buffer, without copying them.
type runReader struct {
	f        *os.File
	buf      []byte
	pos, end int
	eof      bool
}

// record returns the next record; its key and value are valid until the
// next call. ok is false at the end of the file.
func (r *runReader) record() (key, val []byte, del, ok bool, err error) {
	// A record's header is at most 2 × MaxVarintLen64 bytes.
	if err := r.fill(2 * binary.MaxVarintLen64); err != nil {
		return nil, nil, false, false, err
	}
	if r.pos == r.end {
		return nil, nil, false, false, nil
	}
	kl, n := binary.Uvarint(r.buf[r.pos:r.end])
	if n <= 0 {
		return nil, nil, false, false, io.ErrUnexpectedEOF
	}
	vl, m := binary.Uvarint(r.buf[r.pos+n : r.end])
	if m <= 0 {
		return nil, nil, false, false, io.ErrUnexpectedEOF
	}
	size := n + m + int(kl) + int(max(vl, 1)-1)
	if err := r.fill(size); err != nil {
		return nil, nil, false, false, err
	}
	if r.end-r.pos < size {
		return nil, nil, false, false, io.ErrUnexpectedEOF
	}
	k := r.pos + n + m
	v := k + int(kl)
	r.pos += size
	if vl == 0 {
		return r.buf[k:v], nil, true, true, nil
	}
	return r.buf[k:v], r.buf[v:r.pos], false, true, nil
}

// fill makes at least n bytes readable after pos, unless the file ends
// first, moving what is left to the front and growing the buffer for a
// record larger than it.
func (r *runReader) fill(n int) error {
	if r.end-r.pos >= n || r.eof {
		return nil
	}
	if n > len(r.buf) {
		b := make([]byte, n)
		r.end = copy(b, r.buf[r.pos:r.end])
		r.buf = b
	} else {
		r.end = copy(r.buf, r.buf[r.pos:r.end])
	}
	r.pos = 0
	for r.end < n && !r.eof {
		m, err := r.f.Read(r.buf[r.end:])
		r.end += m
		if err == io.EOF {
			r.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

// runHeap orders sources by key, then by rank (the earliest run first).
type runHeap []*runSource

func (h runHeap) less(i, j int) bool {
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

func (h runHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h runHeap) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && h.less(c+1, c) {
			c++
		}
		if !h.less(c, i) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// fixTop restores the heap after the top source moved on, dropping it if
// it has ended.
func (h *runHeap) fixTop() {
	if !(*h)[0].ok {
		n := len(*h) - 1
		(*h)[0] = (*h)[n]
		(*h)[n] = nil
		*h = (*h)[:n]
	}
	if len(*h) > 0 {
		h.down(0)
	}
}
