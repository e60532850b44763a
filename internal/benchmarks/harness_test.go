package benchmarks

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/embedded"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Settings shared by the raw pipes and the brook topologies, so that both
// sides of a comparison do the same work with the same client behaviour.
const (
	keyCount       = 10000                  // distinct keys "k0000".."k9999"
	commitInterval = 100 * time.Millisecond // brook's default CommitInterval
	maxPollRecords = 10000                  // brook's default MaxPollRecords
	inputSeed      = 0x62726f6f6b           // "brook": the input is the same on every run
)

// ---------------------------------------------------------------------------
// The per-record work. Both the raw pipe and the brook topology call exactly
// these two functions, with the same string conversions that serde.String
// does on the brook side, so the comparison measures the plumbing only.

// mapValue is the MapValues step: values are lower-case JSON, and the map
// upper-cases them (one allocation, a pass over the bytes).
func mapValue(v string) string { return strings.ToUpper(v) }

// keep is the Filter step. A value ends with `"AMT":<n>}` after mapValue,
// n uniform in [1, 9999]; records whose n ends in 0 (about 10%) are dropped.
func keep(v string) bool { return len(v) < 2 || v[len(v)-2] != '0' }

// ---------------------------------------------------------------------------
// Input generation.

// genInput calls f for the n input records, always the same ones: keys from
// keyCount distinct keys, values small JSON objects of 36 to 60 bytes.
func genInput(n int, f func(i int, key, value []byte)) {
	rng := rand.New(rand.NewPCG(inputSeed, uint64(n)))
	const letters = "abcdefghijklmnopqrstuvwxyz"
	var note [24]byte
	for i := range n {
		key := fmt.Appendf(nil, "k%04d", rng.IntN(keyCount))
		nl := rng.IntN(len(note) + 1)
		for j := range nl {
			note[j] = letters[rng.IntN(len(letters))]
		}
		value := fmt.Appendf(nil, `{"seq":%d,"note":"%s","amt":%d}`, i, note[:nl], 1+rng.IntN(9999))
		f(i, key, value)
	}
}

// expectedOutput returns "key=value" of every record the map+filter keeps,
// sorted, for correctness checks.
func expectedOutput(n int) []string {
	var out []string
	genInput(n, func(_ int, k, v []byte) {
		if mv := mapValue(string(v)); keep(mv) {
			out = append(out, string(k)+"="+mv)
		}
	})
	slices.Sort(out)
	return out
}

// ---------------------------------------------------------------------------
// The environment: one in-process cluster and a pre-filled input topic.

type env struct {
	tb         testing.TB
	cluster    *embedded.Cluster
	addrs      []string
	admCl      *kgo.Client
	adm        *kadm.Client
	input      string
	partitions int32
	records    int   // input records
	expected   int64 // records the map+filter keeps
}

// newEnv starts an in-process Kafka, creates the input topic with the given
// number of partitions and fills it with n records. Everything is closed
// when tb ends.
func newEnv(tb testing.TB, n int, partitions int32) *env {
	tb.Helper()
	c, err := embedded.Start()
	if err != nil {
		tb.Fatalf("start in-process kafka: %v", err)
	}
	tb.Cleanup(c.Close)
	admCl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		tb.Fatalf("admin client: %v", err)
	}
	tb.Cleanup(admCl.Close)
	e := &env{
		tb: tb, cluster: c, addrs: c.Addrs(), admCl: admCl, adm: kadm.NewClient(admCl),
		input: "input", partitions: partitions, records: n,
	}
	e.createTopic("input")
	start := time.Now()
	if err := e.fill(n); err != nil {
		tb.Fatalf("fill input: %v", err)
	}
	tb.Logf("filled %q: %d records over %d partitions in %v; the map+filter keeps %d",
		e.input, n, partitions, time.Since(start).Round(time.Millisecond), e.expected)
	return e
}

func (e *env) ctx(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// createTopic creates topic with the input's partition count.
func (e *env) createTopic(topic string) {
	e.tb.Helper()
	ctx, cancel := e.ctx(10 * time.Second)
	defer cancel()
	if err := embedded.CreateTopic(ctx, e.addrs, topic, e.partitions, nil); err != nil {
		e.tb.Fatalf("%v", err)
	}
}

// deleteTopics deletes topics, so that the cluster's memory (and the GC's
// work in this process) does not grow from iteration to iteration.
func (e *env) deleteTopics(topics ...string) {
	e.tb.Helper()
	ctx, cancel := e.ctx(10 * time.Second)
	defer cancel()
	rs, err := e.adm.DeleteTopics(ctx, topics...)
	if err == nil {
		err = rs.Error()
	}
	if err != nil {
		e.tb.Fatalf("delete topics %v: %v", topics, err)
	}
}

// fill produces the input asynchronously in big batches and waits for every
// record to be acknowledged.
func (e *env) fill(n int) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(e.addrs...),
		kgo.DefaultProduceTopic(e.input),
		kgo.MaxBufferedRecords(n+1),
		kgo.ProducerLinger(50*time.Millisecond),
		kgo.DisableIdempotentWrite(), // allows several produce requests in flight
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.MaxProduceRequestsInflightPerBroker(8),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := e.ctx(2*time.Minute + time.Duration(n)*10*time.Microsecond)
	defer cancel()
	var firstErr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			firstErr.CompareAndSwap(nil, &err)
		}
	}
	var kept int64
	genInput(n, func(_ int, k, v []byte) {
		if keep(mapValue(string(v))) {
			kept++
		}
		cl.Produce(ctx, &kgo.Record{Key: k, Value: v}, promise)
	})
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if p := firstErr.Load(); p != nil {
		return *p
	}
	e.expected = kept
	if got, err := e.endOffsets(ctx, e.input); err != nil || got != int64(n) {
		return fmt.Errorf("input has %d records after the fill, want %d (err %v)", got, n, err)
	}
	return nil
}

// produceAll produces n records, gen(i) giving the key and value of the
// i-th, to topic on the brokers at addrs, keeping at most 100k records
// buffered, and waits until every one is acknowledged. Records go to the
// partition their key hashes to.
func produceAll(addrs []string, topic string, n int, gen func(i int) (key, value []byte)) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.DefaultProduceTopic(topic),
		kgo.MaxBufferedRecords(100_000),
		kgo.ProducerLinger(20*time.Millisecond),
		kgo.DisableIdempotentWrite(), // allows several produce requests in flight
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.MaxProduceRequestsInflightPerBroker(8),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+time.Duration(n)*20*time.Microsecond)
	defer cancel()
	var firstErr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			firstErr.CompareAndSwap(nil, &err)
		}
	}
	for i := range n {
		k, v := gen(i)
		cl.Produce(ctx, &kgo.Record{Key: k, Value: v}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("produce to %q: flush: %w", topic, err)
	}
	if p := firstErr.Load(); p != nil {
		return fmt.Errorf("produce to %q: %w", topic, *p)
	}
	return nil
}

// endOffsets returns the sum of the high watermarks of topic's partitions.
// For a non-transactional topic written from offset 0 that is its number of
// records.
func (e *env) endOffsets(ctx context.Context, topic string) (int64, error) {
	lo, err := e.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = lo.Error()
	}
	if err != nil {
		return 0, err
	}
	var sum int64
	lo.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum, nil
}

// ackCounter is a kgo hook counting the records of topic that the broker
// acknowledged, one call per batch (so it costs nothing measurable). done
// is closed, and at set, when the count first reaches want.
type ackCounter struct {
	topic string
	want  int64
	n     atomic.Int64
	first atomic.Pointer[time.Time] // the first acknowledgement
	at    atomic.Pointer[time.Time] // the want-th
	done  chan struct{}
}

func newAckCounter(topic string, want int64) *ackCounter {
	return &ackCounter{topic: topic, want: want, done: make(chan struct{})}
}

func (a *ackCounter) OnProduceBatchWritten(_ kgo.BrokerMetadata, topic string, _ int32, m kgo.ProduceBatchMetrics) {
	if topic != a.topic {
		return
	}
	if a.first.Load() == nil {
		now := time.Now()
		a.first.CompareAndSwap(nil, &now)
	}
	if n := a.n.Add(int64(m.NumRecords)); n >= a.want && n-int64(m.NumRecords) < a.want {
		now := time.Now()
		a.at.Store(&now)
		close(a.done)
	}
}

// await waits until want records are acknowledged and returns the run's
// figures, counted from start. It fails if stop delivers first (the
// pipeline returned, with an error or nil) or when ctx ends.
func (a *ackCounter) await(ctx context.Context, start time.Time, cpu0 time.Duration, stop <-chan error) (runResult, error) {
	select {
	case <-a.done:
		cpu := cpuTime() - cpu0
		return runResult{elapsed: a.at.Load().Sub(start), startup: a.first.Load().Sub(start), cpu: cpu}, nil
	case err := <-stop:
		if err == nil {
			err = errors.New("the pipeline returned before the output was complete")
		}
		return runResult{}, fmt.Errorf("%d of %d output records acknowledged: %w", a.n.Load(), a.want, err)
	case <-ctx.Done():
		return runResult{}, fmt.Errorf("%d of %d output records acknowledged: %w", a.n.Load(), a.want, context.Cause(ctx))
	}
}

// runResult is the measure of one pipeline run.
type runResult struct {
	elapsed time.Duration // from the start until the last output record is acknowledged
	startup time.Duration // from the start until the first output record is acknowledged
	// committed is, for transactional pipelines, the time from the start
	// until the transaction holding the last output record committed.
	committed time.Duration
	cpu       time.Duration // CPU time of the whole process (broker included) during elapsed
}

func (r *runResult) add(o runResult) {
	r.elapsed += o.elapsed
	r.startup += o.startup
	r.committed += o.committed
	r.cpu += o.cpu
}

func (r runResult) String() string {
	s := fmt.Sprintf("%v (first output after %v, CPU %v", r.elapsed.Round(time.Millisecond), r.startup.Round(time.Millisecond), r.cpu.Round(time.Millisecond))
	if r.committed > 0 {
		s += fmt.Sprintf(", last transaction committed after %v", r.committed.Round(time.Millisecond))
	}
	return s + ")"
}

// cpuTime returns the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// checkOutput checks that topic holds exactly want records.
func (e *env) checkOutput(topic string, want int64) error {
	ctx, cancel := e.ctx(10 * time.Second)
	defer cancel()
	got, err := e.endOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("end offsets of %q: %w", topic, err)
	}
	if got != want {
		return fmt.Errorf("output %q has %d records, want %d", topic, got, want)
	}
	return nil
}

// readOutput reads topic from the start, read_committed, until it has n
// records or timeout passes, and returns "key=value" of each, sorted.
func (e *env) readOutput(topic string, n int, timeout time.Duration) ([]string, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(e.addrs...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := e.ctx(timeout)
	defer cancel()
	var out []string
	for len(out) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Key)+"="+string(r.Value)) })
	}
	slices.Sort(out)
	return out, nil
}

// runTimeout bounds one pipeline run: generous, so that only a hang fails.
func runTimeout(n int) time.Duration { return 30*time.Second + time.Duration(n)*500*time.Microsecond }

// ---------------------------------------------------------------------------
// The raw franz-go pipes: the baselines.

// pipeStats is what a raw pipe did.
type pipeStats struct {
	consumed, produced int
	elapsed            time.Duration // from the client's creation until every record is consumed and acknowledged (committed for rawPipeTxn)
}

// rawOpts are the consumer options brook's engine uses (internal/runtime
// Engine.Run), so that the baseline fetches, balances and joins as brook
// does. (brook also reads read_committed under at-least-once; on this
// non-transactional input that returns the same records.)
func rawOpts(addrs []string, input, group string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addrs...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(input),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.BlockRebalanceOnPoll(),
		kgo.Balancers(kgo.RangeBalancer()),
	}
}

// process is the raw pipes' version of Source -> MapValues -> Filter -> To:
// deserialize (string), map, filter, serialize ([]byte), produce a new
// record with the input's key and timestamp.
func process(r *kgo.Record, output string, produce func(*kgo.Record)) bool {
	v := mapValue(string(r.Value))
	if !keep(v) {
		return false
	}
	produce(&kgo.Record{Topic: output, Key: r.Key, Value: []byte(v), Timestamp: r.Timestamp})
	return true
}

// recordFunc is a raw pipe's per-record work: it produces what the input
// record r gives, if anything, with produce, and reports whether it
// produced a record.
type recordFunc func(r *kgo.Record, produce func(*kgo.Record)) bool

// mapFilter is process writing to output: the stateless pipeline.
func mapFilter(output string) recordFunc {
	return func(r *kgo.Record, produce func(*kgo.Record)) bool { return process(r, output, produce) }
}

// counter is the raw pipes' version of GroupByKey -> Count -> ToStream ->
// To: a count per key in a Go map, and one output record per input record
// with the key's new count as an 8-byte big-endian int64 (serde.Int64), the
// input's key and timestamp. The map is not durable (no changelog, no
// local store): this is the least work that writes the same output, the
// floor brook's stores are measured against.
func counter(output string) recordFunc {
	counts := make(map[string]int64)
	return func(r *kgo.Record, produce func(*kgo.Record)) bool {
		k := string(r.Key)
		n := counts[k] + 1
		counts[k] = n
		produce(&kgo.Record{Topic: output, Key: r.Key, Value: binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(n)), Timestamp: r.Timestamp})
		return true
	}
}

// rawPipe is a hand-written at-least-once consume -> work -> produce loop
// on one franz-go client, the way a careful Go programmer writes it without
// a framework: a consumer group with manual commits (DisableAutoCommit,
// BlockRebalanceOnPoll), PollRecords, work on each record (mapFilter: one
// new record per kept input record; counter: one per input record), and
// every commitEvery a Flush (all produced records acknowledged) then
// CommitOffsetsSync of the offsets polled so far. It returns once it consumed n records and every record it
// produced is acknowledged, after a final commit.
func rawPipe(ctx context.Context, addrs []string, input, group string, n int, commitEvery time.Duration, work recordFunc, extra ...kgo.Opt) (st pipeStats, err error) {
	return rawPipeHook(ctx, addrs, input, group, n, commitEvery, work, nil, extra...)
}

// rawPipeHook is rawPipe calling beforeCommit, if not nil, at each commit
// before the producer is flushed, with the pipe's produce.
func rawPipeHook(ctx context.Context, addrs []string, input, group string, n int, commitEvery time.Duration, work recordFunc, beforeCommit func(produce func(*kgo.Record)) error, extra ...kgo.Opt) (st pipeStats, err error) {
	start := time.Now()
	cl, err := kgo.NewClient(append(append(rawOpts(addrs, input, group), kgo.DisableAutoCommit()), extra...)...)
	if err != nil {
		return st, err
	}
	// Close alone hangs if we return between a poll and AllowRebalance.
	defer cl.CloseAllowingRebalance()
	var perr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			perr.CompareAndSwap(nil, &err)
		}
	}
	produce := func(r *kgo.Record) { cl.Produce(ctx, r, promise) }
	defer func() {
		if err != nil {
			err = fmt.Errorf("raw pipe: %w (consumed %d/%d, produced %d)", err, st.consumed, n, st.produced)
		}
	}()

	offsets := map[string]map[int32]kgo.EpochOffset{input: {}}
	commit := func() error {
		if beforeCommit != nil {
			if err := beforeCommit(produce); err != nil {
				return err
			}
		}
		if err := cl.Flush(ctx); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		if p := perr.Load(); p != nil {
			return fmt.Errorf("produce: %w", *p)
		}
		if len(offsets[input]) == 0 {
			return nil
		}
		var cerr error
		cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			cerr = err
			if err != nil {
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil && cerr == nil {
						cerr = fmt.Errorf("commit %s/%d: %w", t.Topic, p.Partition, err)
					}
				}
			}
		})
		clear(offsets[input])
		return cerr
	}

	last := time.Now()
	for st.consumed < n {
		wait := max(commitEvery-time.Since(last), time.Millisecond)
		pctx, pcancel := context.WithTimeout(ctx, wait)
		fs := cl.PollRecords(pctx, maxPollRecords)
		pcancel()
		if ctx.Err() != nil {
			return st, context.Cause(ctx)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && ferr == nil {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return st, ferr
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			for _, r := range p.Records {
				if work(r, produce) {
					st.produced++
				}
			}
			st.consumed += len(p.Records)
			lr := p.Records[len(p.Records)-1]
			offsets[p.Topic][p.Partition] = kgo.EpochOffset{Epoch: lr.LeaderEpoch, Offset: lr.Offset + 1}
		})
		cl.AllowRebalance()
		if time.Since(last) >= commitEvery || st.consumed >= n {
			if err := commit(); err != nil {
				return st, err
			}
			last = time.Now()
		}
	}
	st.elapsed = time.Since(start)
	if st.consumed > n {
		return st, fmt.Errorf("consumed more records than the input has")
	}
	return st, nil
}

// rawPipeTxn is rawPipe made exactly-once with franz-go's
// GroupTransactSession: read_committed input, a transactional producer
// (TransactionalID txnID), and every commitEvery End(TryCommit), which
// flushes, commits the polled offsets in the transaction and commits it.
// An aborted transaction is reported as an error rather than retried, so
// that the counts stay exact. It returns once it consumed n records and the
// transaction holding the last of them committed.
func rawPipeTxn(ctx context.Context, addrs []string, input, group, txnID string, n int, commitEvery time.Duration, work recordFunc, extra ...kgo.Opt) (st pipeStats, err error) {
	start := time.Now()
	s, err := kgo.NewGroupTransactSession(append(append(rawOpts(addrs, input, group),
		kgo.TransactionalID(txnID),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	), extra...)...)
	if err != nil {
		return st, err
	}
	// Close alone hangs if we return between a poll and AllowRebalance.
	defer s.CloseAllowingRebalance()
	var perr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			perr.CompareAndSwap(nil, &err)
		}
	}
	produce := func(r *kgo.Record) { s.Produce(ctx, r, promise) }
	defer func() {
		if err != nil {
			err = fmt.Errorf("raw transactional pipe: %w (consumed %d/%d, produced %d)", err, st.consumed, n, st.produced)
		}
	}()

	if err := s.Begin(); err != nil {
		return st, fmt.Errorf("begin: %w", err)
	}
	last := time.Now()
	for {
		if st.consumed < n {
			wait := max(commitEvery-time.Since(last), time.Millisecond)
			pctx, pcancel := context.WithTimeout(ctx, wait)
			fs := s.PollRecords(pctx, maxPollRecords)
			pcancel()
			if ctx.Err() != nil {
				return st, context.Cause(ctx)
			}
			var ferr error
			fs.EachError(func(t string, p int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) && ferr == nil {
					ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
				}
			})
			if ferr != nil {
				return st, ferr
			}
			fs.EachRecord(func(r *kgo.Record) {
				st.consumed++
				if work(r, produce) {
					st.produced++
				}
			})
		}
		done := st.consumed >= n
		if !done && time.Since(last) < commitEvery {
			continue
		}
		try := kgo.TryCommit
		if perr.Load() != nil {
			try = kgo.TryAbort
		}
		committed, err := s.End(ctx, try)
		if err != nil {
			return st, fmt.Errorf("end transaction: %w", err)
		}
		if p := perr.Load(); p != nil {
			return st, fmt.Errorf("produce: %w", *p)
		}
		if !committed {
			return st, errors.New("transaction aborted (a rebalance?); the counts would no longer be exact")
		}
		// Rebalances wait until the polled records are committed.
		s.AllowRebalance()
		last = time.Now()
		if done {
			break
		}
		if err := s.Begin(); err != nil {
			return st, fmt.Errorf("begin: %w", err)
		}
	}
	st.elapsed = time.Since(start)
	if st.consumed > n {
		return st, fmt.Errorf("consumed more records than the input has")
	}
	return st, nil
}

// ---------------------------------------------------------------------------
// brook.

// statelessTopology is Source -> MapValues -> Filter -> To with the same
// work as process.
func statelessTopology(input, output string) *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, input, serde.String(), serde.String()).
		MapValues(mapValue).
		Filter(func(_, v string) bool { return keep(v) }).
		To(output, nil, nil)
	return b
}

// runBrook runs the topology built by b as an App with cfg (AppID and
// Brokers filled in) until every one of the want output records is
// acknowledged, then closes the App (not timed), checks that Run returned
// nil, that exactly want output records were produced and that output
// holds exactly want records. The time is from the start of Run until the
// last acknowledgement.
//
// Under ExactlyOnce (cfg.Guarantee's zero value) the acknowledged records
// are in an open transaction: runBrook then also waits, untimed, until it
// commits, and reports when in runResult.committed. A transaction that
// aborted would have its records produced again, so the count of produced
// records (exactly want) shows that none did.
func runBrook(e *env, b *stream.Builder, cfg stream.Config, output string, want int64) (runResult, error) {
	return runBrookThen(e, b, cfg, output, want, nil)
}

// runBrookThen is runBrook calling closed, if not nil, as soon as the App
// is closed, before the checks.
func runBrookThen(e *env, b *stream.Builder, cfg stream.Config, output string, want int64, closed func()) (runResult, error) {
	acks := newAckCounter(output, want)
	ends := new(txnEnds)
	eos := cfg.Guarantee == stream.ExactlyOnce
	cfg.Brokers = e.addrs
	cfg.ClientOpts = append(cfg.ClientOpts, kgo.WithHooks(acks, ends))
	app, err := stream.New(b, cfg)
	if err != nil {
		return runResult{}, err
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), runTimeout(e.records),
		fmt.Errorf("timed out after %v", runTimeout(e.records)))
	defer cancel()
	runc := make(chan error, 1)
	cpu0, start := cpuTime(), time.Now()
	go pprof.Do(ctx, pprof.Labels("pipeline", "brook"), func(ctx context.Context) { runc <- app.Run(ctx) })
	res, werr := acks.await(ctx, start, cpu0, runc)
	if werr == nil && eos {
		if werr = e.awaitStable(ctx, output); werr == nil {
			res.committed = ends.since(start)
		}
	}
	closec := make(chan struct{})
	go func() { app.Close(); close(closec) }()
	select {
	case <-closec:
	case <-time.After(30 * time.Second):
		return runResult{}, fmt.Errorf("brook app %s: Close did not return within 30s (await: %v)", cfg.AppID, werr)
	}
	if closed != nil {
		closed()
	}
	if werr != nil {
		return runResult{}, fmt.Errorf("brook app %s: %w", cfg.AppID, werr)
	}
	select {
	case err := <-runc:
		if err != nil {
			return runResult{}, fmt.Errorf("brook app %s: Run: %w", cfg.AppID, err)
		}
	case <-time.After(30 * time.Second):
		return runResult{}, fmt.Errorf("brook app %s: Run did not return within 30s of Close", cfg.AppID)
	}
	if n := acks.n.Load(); n != want {
		return runResult{}, fmt.Errorf("brook app %s: produced %d output records, want %d (an aborted transaction, or a rebalance, made it process records again)", cfg.AppID, n, want)
	}
	if eos {
		err = e.checkCommitted(output, want)
	} else {
		err = e.checkOutput(output, want)
	}
	if err != nil {
		return runResult{}, fmt.Errorf("brook app %s: %w", cfg.AppID, err)
	}
	return res, nil
}

// runRaw runs rawPipe with work from e.input to output with a fresh group
// and times it as runBrook does brook: from the start until the last output
// record is acknowledged (the same hook counts). It also checks the pipe's
// own counts and the output topic.
func runRaw(e *env, work recordFunc, output, group string, want int64) (runResult, error) {
	return runRawHook(e, work, nil, output, group, want)
}

// runRawHook is runRaw over rawPipeHook with beforeCommit.
func runRawHook(e *env, work recordFunc, beforeCommit func(produce func(*kgo.Record)) error, output, group string, want int64) (runResult, error) {
	acks := newAckCounter(output, want)
	ctx, cancel := context.WithTimeoutCause(context.Background(), runTimeout(e.records),
		fmt.Errorf("timed out after %v", runTimeout(e.records)))
	defer cancel()
	type pipeResult struct {
		st  pipeStats
		err error
	}
	resc := make(chan pipeResult, 1)
	errc := make(chan error, 1)
	cpu0, start := cpuTime(), time.Now()
	go pprof.Do(ctx, pprof.Labels("pipeline", "raw"), func(ctx context.Context) {
		st, err := rawPipeHook(ctx, e.addrs, e.input, group, e.records, commitInterval, work, beforeCommit, kgo.WithHooks(acks))
		resc <- pipeResult{st, err}
		if err != nil {
			errc <- err
		}
	})
	res, werr := acks.await(ctx, start, cpu0, errc)
	if werr != nil {
		cancel()
		<-resc
		return runResult{}, fmt.Errorf("raw pipe: %w", werr)
	}
	r := <-resc
	if r.err != nil {
		return runResult{}, r.err
	}
	if int64(r.st.produced) != want {
		return runResult{}, fmt.Errorf("raw pipe produced %d records, want %d", r.st.produced, want)
	}
	if err := e.checkOutput(output, want); err != nil {
		return runResult{}, fmt.Errorf("raw pipe: %w", err)
	}
	return res, nil
}

// runRawTxn runs rawPipeTxn with work from e.input to output with a fresh
// group and transactional id, and times it as runBrook does brook under
// ExactlyOnce: elapsed until the last output record is acknowledged (in
// its still open transaction), committed until that transaction commits.
// It also checks the pipe's own counts and the committed output.
func runRawTxn(e *env, work recordFunc, output, group string, want int64) (runResult, error) {
	acks := newAckCounter(output, want)
	ctx, cancel := context.WithTimeoutCause(context.Background(), runTimeout(e.records),
		fmt.Errorf("timed out after %v", runTimeout(e.records)))
	defer cancel()
	type pipeResult struct {
		st  pipeStats
		err error
	}
	resc := make(chan pipeResult, 1)
	errc := make(chan error, 1)
	cpu0, start := cpuTime(), time.Now()
	go pprof.Do(ctx, pprof.Labels("pipeline", "rawtxn"), func(ctx context.Context) {
		st, err := rawPipeTxn(ctx, e.addrs, e.input, group, group, e.records, commitInterval, work, kgo.WithHooks(acks))
		resc <- pipeResult{st, err}
		if err != nil {
			errc <- err
		}
	})
	res, werr := acks.await(ctx, start, cpu0, errc)
	if werr != nil {
		cancel()
		<-resc
		return runResult{}, fmt.Errorf("raw transactional pipe: %w", werr)
	}
	r := <-resc
	if r.err != nil {
		return runResult{}, r.err
	}
	res.committed = r.st.elapsed
	if int64(r.st.produced) != want || acks.n.Load() != want {
		return runResult{}, fmt.Errorf("raw transactional pipe produced %d records (%d acknowledged), want %d", r.st.produced, acks.n.Load(), want)
	}
	if err := e.checkCommitted(output, want); err != nil {
		return runResult{}, fmt.Errorf("raw transactional pipe: %w", err)
	}
	return res, nil
}

// txnEnds is a kgo hook keeping the time of the last EndTxn response read
// (a transaction committed or aborted).
type txnEnds struct{ last atomic.Pointer[time.Time] }

func (t *txnEnds) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == int16(kmsg.EndTxn) && err == nil {
		now := time.Now()
		t.last.Store(&now)
	}
}

// since returns the time from start to the last EndTxn response read.
func (t *txnEnds) since(start time.Time) time.Duration {
	if p := t.last.Load(); p != nil {
		return p.Sub(start)
	}
	return 0
}

// awaitStable polls topic every 5ms until no transaction is open on it:
// its last stable offsets (read_committed end offsets) equal its high
// watermarks in every partition.
func (e *env) awaitStable(ctx context.Context, topic string) error {
	for {
		lso, err := e.adm.ListCommittedOffsets(ctx, topic)
		if err == nil {
			err = lso.Error()
		}
		hwm, err2 := e.adm.ListEndOffsets(ctx, topic)
		if err2 == nil {
			err2 = hwm.Error()
		}
		if err = errors.Join(err, err2); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for the last transaction on %q to commit: %w", topic, context.Cause(ctx))
			}
			return fmt.Errorf("last stable offsets of %q: %w", topic, err)
		}
		stable := true
		lso.Each(func(o kadm.ListedOffset) {
			if h, ok := hwm.Lookup(topic, o.Partition); !ok || h.Offset != o.Offset {
				stable = false
			}
		})
		if stable {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the last transaction on %q to commit: %w", topic, context.Cause(ctx))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// readCommitted reads topic read_committed from the start up to its last
// stable offsets (as they are when it is called) and calls f with every
// record (transaction markers excluded), partition by partition in offset
// order, partitions interleaved.
func (e *env) readCommitted(topic string, timeout time.Duration, f func(*kgo.Record)) error {
	ctx, cancel := e.ctx(timeout)
	defer cancel()
	lso, err := e.adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = lso.Error()
	}
	if err != nil {
		return fmt.Errorf("last stable offsets of %q: %w", topic, err)
	}
	ends := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	lso.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			ends[o.Partition] = o.Offset
			from[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(ends) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(e.addrs...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxPartitionBytes(16<<20),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(ends) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("read %q: %d partitions not read to the end: %w", topic, len(ends), ctx.Err())
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("read %q partition %d: %w", topic, p, err) })
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := ends[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				f(r)
			}
			if r.Offset+1 >= end {
				delete(ends, r.Partition)
			}
		})
	}
	return nil
}

// checkCommitted checks that topic, read read_committed, holds exactly
// want records (for transactional output, whose offsets include markers).
func (e *env) checkCommitted(topic string, want int64) error {
	var n int64
	if err := e.readCommitted(topic, 60*time.Second, func(*kgo.Record) { n++ }); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("output %q has %d committed records, want %d", topic, n, want)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Leak checks.

// checkGoroutines fails tb if more goroutines run than base (a count from
// goroutines), allowing a few seconds for them to wind down. The broker's
// per-connection goroutines are not counted: how many connections a
// long-lived client (the env's admin client) keeps open varies, and a
// leaked client shows through its own goroutines anyway.
func checkGoroutines(tb testing.TB, base int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	n, dump := goroutines()
	for n > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n, dump = goroutines()
	}
	if n > base {
		if len(dump) > 8000 {
			dump = dump[:8000] + "\n..."
		}
		tb.Errorf("goroutine leak: %d goroutines running, %d before:\n%s", n, base, dump)
	}
}

// goroutines counts the goroutines running, but for the broker's
// per-connection ones, and returns their stacks.
func goroutines() (int, string) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var kept []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "kfake.(*clientConn)") {
			kept = append(kept, g)
		}
	}
	return len(kept), strings.Join(kept, "\n\n")
}
