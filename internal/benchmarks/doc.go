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
//	-records N     input records per run (default 200000)
//	-partitions P  partitions of the input and output topics (default 4)
//
// -benchtime 3x runs 3 iterations of each benchmark after one set-up (the
// benchmarks use b.Loop, so the cluster is started and the input filled
// once per benchmark, outside the timed region). Add -v to see the time of
// every run, and -cpuprofile cpu.out to profile (the profile covers the
// fill too; the fill is a few percent of it). TestPipes, a quick check that
// every pipeline writes exactly the expected records, runs with the normal
// tests.
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
//   - brook: stream.Source -> MapValues -> Filter -> To, at-least-once,
//     Workers 1, CommitInterval 100ms.
//
// Each run uses a fresh consumer group and a fresh output topic, so it
// reads the whole input. It is timed from its start (client creation and
// group join included) until every output record is acknowledged: for the
// at-least-once pipelines, until the output's end offsets, polled every
// 10ms, add up to the expected count (the same criterion for raw and
// brook); for rawPipeTxn, until the last transaction commits. The broker
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
// and ns/op, the time of one raw run plus one brook run. The two run one
// after the other, in alternating order, after a GC, so neither inherits
// the other's garbage. BenchmarkRawPipeTxn reports rawtxn-rec/s.
package benchmarks
