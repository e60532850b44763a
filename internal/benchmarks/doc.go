// Package benchmarks measures brook against hand-written franz-go code doing
// the same work, end to end, on an in-process Kafka (kfake, see
// internal/embedded).
//
// # Running
//
// From the module root:
//
//	GOTOOLCHAIN=auto go test -run '^$' -bench . -benchtime 3x ./internal/benchmarks/
//
// Flags, after the package:
//
//	-records N        input records per run (default 200000)
//	-partitions P     partitions of the input and output topics (default 4)
//	-only NAMES       run only these pipelines of a comparison (raw, rawtxn,
//	                  brook, brook-eos, brook-alo; comma-separated; "brook"
//	                  selects every brook pipeline); no ratio is reported
//	-restore-records N  changelog records of BenchmarkRestore (default 1M)
//	-mem-keys K1,K2   key counts of BenchmarkMemory1MKeys (default
//	                  100000,1000000)
//	-mem-records N    input records of each BenchmarkMemory1MKeys run
//	                  (default 1M)
//	-mem-heapprofile F  BenchmarkMemory1MKeys writes a heap profile at the
//	                  Go heap's peak to F
//	-latency-rate R   BenchmarkLatency's paced input rate (default 50000/s)
//	-latency-duration D, -latency-warmup W
//	                  how long latencies are measured (default 5s), after
//	                  how long a warm-up (default 1s)
//	-latency-linger L the pipelines' kgo.ProducerLinger (default 0)
//	-mem-txn-timeout D  Config.TransactionTimeout of BenchmarkMemory1MKeys's
//	                  App (default 10s; raise it on a loaded machine)
//	-card-keys K1,K2  key counts of BenchmarkCountCardinality (default
//	                  10000,1000000; add 10000000 with -card-records
//	                  10000000)
//	-card-records N   input records of each BenchmarkCountCardinality
//	                  input (default 1M)
//	-card-verify N    BenchmarkCountCardinality reads back and checks the
//	                  output of inputs up to N records (default 2M)
//
// The benchmarks:
//
//	BenchmarkStatelessAtLeastOnce  map+filter, brook AtLeastOnce vs rawPipe
//	BenchmarkRawPipeTxn            rawPipeTxn alone
//	BenchmarkStatelessExactlyOnce  map+filter, brook ExactlyOnce vs rawPipeTxn
//	BenchmarkCountByKey            count by key (10k keys), every update out:
//	                               rawPipe, rawPipeTxn (counts in a Go map),
//	                               brook ExactlyOnce and AtLeastOnce
//	BenchmarkWindowedCount         tumbling 1-minute count by key (10k
//	                               keys), every update out: rawPipe,
//	                               brook AtLeastOnce and ExactlyOnce;
//	                               and emit on close (event time from
//	                               the value), both guarantees
//	BenchmarkCountCardinality      count by key over 10k, 1M (and with the
//	                               flags 10M) distinct keys: raw pipe,
//	                               brook at-least-once and exactly-once,
//	                               per key count, and each key count's
//	                               rate against the first's
//	BenchmarkRestore               restore of a 1M-record changelog, against
//	                               its Kafka fetch alone and its Pebble
//	                               writes alone (batches, and ingested
//	                               sorted tables as the restore does)
//	BenchmarkMemory1MKeys          peak RSS and Go heap of a count over 100k
//	                               and 1M distinct keys, the broker in a
//	                               child process
//	BenchmarkLatency               end-to-end latency p50/p99/p999 at a
//	                               paced input rate, stateless and count,
//	                               both guarantees, brook beside the raw
//	                               pipe (see its doc comment; run it with
//	                               -benchtime 1x)
//
// The first four take a few seconds each at the defaults; BenchmarkRestore
// about 1-2s per iteration after a 1s fill, BenchmarkMemory1MKeys about
// 10s per iteration after a 2s fill (-benchtime 1x is enough for these two;
// -bench picks benchmarks).
//
// -benchtime 3x runs 3 iterations of each benchmark after one set-up (the
// benchmarks use b.Loop, so the cluster is started and the input filled
// once per benchmark, outside the timed region). Add -v to see every run:
// its time, when its first output record was acknowledged (start-up: client,
// group join, first fetch) and the CPU the process used. TestPipes, a quick
// check that every pipeline writes exactly the expected records, byte for
// byte, runs with the normal tests.
//
// A run of 200000 records takes 100-300ms, of which 20-60ms is start-up;
// use -records 1000000 and -benchtime 10x for steadier figures. Wall-clock
// figures on a 2-core machine swing by tens of percent when anything else
// runs; the CPU figures (below) swing much less.
//
// # Profiling
//
// The goroutines of each pipeline carry the pprof label pipeline=raw,
// pipeline=brook or pipeline=rawtxn (BenchmarkRestore: brook, fetch,
// pebble) (the label is inherited by the franz-go
// client's goroutines), so one profile separates them:
//
//	go test -run '^$' -bench Stateless -benchtime 10x -records 1000000 \
//	    -cpuprofile cpu.out ./internal/benchmarks/
//	go tool pprof -tags cpu.out                              # CPU per pipeline
//	go tool pprof -top -tagfocus pipeline=brook cpu.out
//	go tool pprof -proto -tagfocus pipeline=raw cpu.out > raw.pb.gz
//	go tool pprof -proto -tagfocus pipeline=brook cpu.out > brook.pb.gz
//	go tool pprof -top -diff_base raw.pb.gz brook.pb.gz      # what brook adds
//
// Unlabeled samples are the broker, the GC's background workers and the
// fill. To compare whole-process costs (GC included), profile each side
// alone with -only raw and -only brook, with -benchmem for allocations.
//
// # What is measured
//
// The input topic is filled once with N records: keys from 10k distinct
// keys "k0000".."k9999", values small JSON objects of 36 to 60 bytes. Every
// pipeline does the same per-record work, mapValue (upper-case the value)
// then keep (drop about 10%), and writes the kept records to an output
// topic with the input key and timestamp:
//
//   - rawPipe: one franz-go client in a consumer group (manual commits,
//     BlockRebalanceOnPoll), PollRecords, Produce per record, and every
//     100ms Flush then CommitOffsetsSync. The at-least-once baseline.
//   - rawPipeTxn: the same on a kgo.GroupTransactSession (read_committed,
//     End(TryCommit) every 100ms). The exactly-once baseline.
//   - brook: stream.Source -> MapValues -> Filter -> To, Guarantee
//     AtLeastOnce, Workers 1, CommitInterval 100ms.
//
// Each run uses a fresh consumer group and a fresh output topic, so it
// reads the whole input. It is timed from its start (client creation and
// group join included) until every output record is acknowledged by the
// broker, the same criterion for every pipeline (BenchmarkRawPipeTxn alone
// times rawPipeTxn until its last transaction commits). Under exactly-once
// the records acknowledged last are in a transaction still open: its
// commit is waited for, untimed, and its time from the start is in the -v
// log ("last transaction committed after"). This keeps the commit schedule
// out of the comparison: rawPipeTxn knows where the input ends and commits
// at once, while brook commits at its next CommitInterval tick, up to
// 100ms later, which would weigh heavily on runs of a few hundred ms. The
// broker
// runs in the same process and competes for the same CPUs, so the figures
// are for comparing pipelines on one machine, not absolute Kafka
// throughput.
//
// # Reading the results
//
// BenchmarkStatelessAtLeastOnce reports
//
//	raw-rec/s    input records per second of rawPipe, over all iterations
//	brook-rec/s  the same for brook
//	ratio        brook-rec/s / raw-rec/s; the design target is >= 0.8
//
//	raw-cpu-ns/rec, brook-cpu-ns/rec
//	             CPU time of the whole process (user+system, the in-process
//	             broker and the GC included) per input record
//
// and ns/op, the time of one raw run plus one brook run. The two run one
// after the other, in alternating order, after a GC, so neither inherits
// the other's garbage. BenchmarkRawPipeTxn reports rawtxn-rec/s.
//
// BenchmarkStatelessExactlyOnce and BenchmarkCountByKey report
// <pipeline>-rec/s and <pipeline>-cpu-ns/rec for each pipeline, run in an
// order that rotates each iteration, and the ratios: ratio (brook-eos /
// rawtxn, target >= 0.8) for the first; eos/alo (target >= 0.85), alo/raw
// and eos/rawtxn (target >= 0.6) for the count. Each run's output is read
// back read_committed and compared record for record with the expected
// one. The count baselines keep their counts in a Go map, with no store or
// changelog: they are the floor, not equivalent durability. At the default
// 200k records brook's start-up (one Pebble DB opened per task, 15-25ms
// each on a disk, one after the other) is a large part of a run: -v shows
// each run's "first output after"; -records 1000000 weighs it less.
//
// BenchmarkRestore reports restore-rec/s (from Run until OnRestore reports
// the store done), restore-only-rec/s (from the first changelog batch
// fetched), and fetch-rec/s, pebble-rec/s (batches) and ingest-rec/s
// (sorted tables ingested, what a restore into an empty store does), the
// halves of a restore measured alone on the same records in the same
// iteration, and the ratios ratio-batch-half and ratio-own-half of the
// restore to the slower of fetch and Pebble batches, and of fetch and
// ingest. Pebble's side depends on the disk (it syncs each table it
// flushes or ingests): TMPDIR=/dev/shm shows it without one.
//
// BenchmarkMemory1MKeys reports rss-MiB-<K> and heap-MiB-<K>, the peak RSS
// and Go heap in use of this process during a count over K distinct keys,
// base-rss-MiB, the RSS before a run, and broker-rss-MiB, the RSS of the
// broker's process (an in-process broker would add every topic's data,
// which grows during the run, to this process's memory). -v also shows how
// many input records were held at once in franz-go's fetch buffers and in
// brook's worker queues, and the longest time between two transaction
// commits.
//
// Completion is detected with a franz-go hook (HookProduceBatchWritten,
// passed to brook through Config.ClientOpts) that counts acknowledged
// output records, once per batch; after each run the output topic's end
// offsets are checked to hold exactly the expected count, so lost or
// duplicated records fail the benchmark. Every run has a timeout and fails
// with the progress it made; goroutines are checked to return to their
// count before each iteration.
package benchmarks
