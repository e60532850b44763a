package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// recPathTopologies are the topologies of BenchmarkRecordPath and
// TestRecordPathAllocs, with the allocations per record each may make at
// most: count, one copy of the new count in the write-back cache (the
// store keeps values handed out valid) and one output record with its
// value; mapvalues, the key and the value decoded, the output record and
// its value (longer than sinkRecord's room).
var recPathTopologies = []struct {
	name      string
	maxAllocs float64
	build     func() *Builder
}{
	{"count", 1.1, func() *Builder {
		sb := NewBuilder()
		Source(sb, "in", serde.String(), serde.String()).
			GroupByKey().
			Count(Materialized("counts")).
			ToStream().
			To("out", nil, nil)
		return sb
	}},
	{"mapvalues", 3.1, func() *Builder {
		sb := NewBuilder()
		Source(sb, "in", serde.String(), serde.String()).
			MapValues(func(v string) string { return v[:len(v)/2] }).
			To("out", nil, nil)
		return sb
	}},
}

// recPath runs the records of one partition through a task, as the
// runtime's worker does, with no broker: the sink's records go to a
// producer that drops them, and commit flushes the stores (one changelog
// record each, dropped too) and commits the task's Pebble DB, as the
// runtime's commit does.
type recPath struct {
	t         *topo.Task
	db        state.TaskDB
	p         *dropProducer
	in        []*kgo.Record
	n         int   // records processed
	changelog int64 // changelog records flushed
}

// newRecPath builds sb's first sub-topology as task 0_0 over a Pebble DB
// in a temporary directory, and makes 100,000 input records over keys
// distinct keys "c00000000".. with small JSON values, as
// internal/benchmarks' BenchmarkCountCardinality.
func newRecPath(tb testing.TB, sb *Builder, keys int) *recPath {
	tb.Helper()
	require.NoError(tb, sb.Build())
	sb.g.Resolve("bench")
	sub := sb.g.Subtopologies()[0]
	rp := &recPath{p: &dropProducer{}}
	if len(sub.Stores) > 0 {
		pdb, err := state.Open(tb.TempDir(), state.Options{})
		require.NoError(tb, err)
		tb.Cleanup(func() { pdb.Close() })
		rp.db = pdb
	}
	t, err := topo.NewTask(sub, topo.TaskID{}, rp.p, topo.Policy{}, nil, rp.db, 4<<20)
	require.NoError(tb, err)
	for _, name := range sub.Stores {
		_, err := t.Store(name)
		require.NoError(tb, err)
	}
	require.NoError(tb, t.Init())
	rp.t = t
	rp.in = make([]*kgo.Record, 100_000)
	for i := range rp.in {
		rp.in[i] = &kgo.Record{Topic: "in", Key: fmt.Appendf(nil, "c%08d", (i*7919)%keys),
			Value: fmt.Appendf(nil, `{"seq":%d,"note":"cardinality"}`, i), Timestamp: time.UnixMilli(int64(1_700_000_000_000 + i)), Offset: int64(i)}
	}
	return rp
}

// process runs the next input record through the task.
func (rp *recPath) process(tb testing.TB) {
	if err := rp.t.Process(rp.in[rp.n%len(rp.in)]); err != nil {
		tb.Fatal(err)
	}
	rp.n++
}

// commit flushes the task's stores and commits its DB.
func (rp *recPath) commit(tb testing.TB) {
	for _, s := range rp.t.Stores {
		if err := s.Flush(func(k, v []byte) {
			// What the runtime allocates per changelog record.
			rp.p.Produce(&kgo.Record{Topic: "changelog", Key: k, Value: v})
			rp.changelog++
		}); err != nil {
			tb.Fatal(err)
		}
	}
	if rp.db != nil {
		cps := map[string]int64{}
		for name := range rp.t.Stores {
			cps[name] = rp.changelog
		}
		if err := rp.db.Commit(cps); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkRecordPath measures the CPU and the allocations per record of
// brook's record path alone: a task's Process over the records of one
// partition, as the runtime's worker calls it, with no broker (see
// recPath). A commit comes every 50,000 records: in
// internal/benchmarks' BenchmarkCountCardinality over 10k keys, a task
// gets about that many records between two commits, since a fetch brings
// records of one or two partitions at a time. The figures are what a task
// adds to the consume and produce work of the raw franz-go pipe (which also
// allocates a kgo.Record and its value per output record).
//
//	go test -run '^$' -bench RecordPath -benchmem ./stream/
//
// Sub-benchmarks: count (Source -> GroupByKey -> Count -> ToStream -> To,
// string keys and values, over 2,500 keys: the 10k keys of
// BenchmarkCountCardinality over its 4 tasks) and mapvalues (Source ->
// MapValues -> To, stateless). changelog/rec is the changelog records the
// commits flushed per input record.
func BenchmarkRecordPath(b *testing.B) {
	const keys, every = 2_500, 50_000
	for _, tc := range recPathTopologies {
		b.Run(tc.name, func(b *testing.B) {
			rp := newRecPath(b, tc.build(), keys)
			b.ReportAllocs()
			for b.Loop() {
				rp.process(b)
				if rp.n%every == 0 {
					rp.commit(b)
				}
			}
			rp.commit(b)
			b.ReportMetric(float64(rp.changelog)/float64(rp.n), "changelog/rec")
			if rp.p.n < int64(rp.n) {
				b.Fatalf("%d output records for %d inputs", rp.p.n, rp.n)
			}
		})
	}
}

// TestRecordPathAllocs checks the allocations per record of the record
// path (see recPathTopologies) once every key is in the store's cache.
func TestRecordPathAllocs(t *testing.T) {
	for _, tc := range recPathTopologies {
		t.Run(tc.name, func(t *testing.T) {
			rp := newRecPath(t, tc.build(), 1000)
			for range 2000 {
				rp.process(t)
			}
			rp.commit(t)
			allocs := testing.AllocsPerRun(1000, func() { rp.process(t) })
			require.LessOrEqual(t, allocs, tc.maxAllocs, "allocations per record")
		})
	}
}

// dropProducer counts the records it is given and drops them.
type dropProducer struct{ n int64 }

func (p *dropProducer) Produce(*kgo.Record) { p.n++ }
