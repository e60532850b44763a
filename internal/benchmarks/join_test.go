package benchmarks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// joinTableRows is the size of the table the join benchmark joins with.
const joinTableRows = 100_000

// joinTableKey is the key of the i-th table row: the first keyCount rows
// have the input's keys ("k0000".."k9999"), the others keys no input
// record has.
func joinTableKey(i int) string {
	if i < keyCount {
		return fmt.Sprintf("k%04d", i)
	}
	return fmt.Sprintf("x%06d", i)
}

func joinTableValue(i int) string { return fmt.Sprintf(`{"customer":%d,"tier":"gold"}`, i) }

// BenchmarkStreamTableJoin compares enrichment: every input record joined
// with the row of its key in a 100k-row table, one output record (the
// value, "|", the row) per input record, in three pipelines:
//
//   - rawtxn: rawPipeTxn whose per-record work looks the key up in a Go
//     map holding the table, filled before the run (untimed): the floor,
//     no store, no table topic read during the run;
//   - brook-table: Source -> LeftJoin(SourceTable) -> To, ExactlyOnce: the
//     run reads the table topic into its Pebble store (with its changelog
//     in the transaction) at the same time as the input, so the table's
//     100k records are part of the timed work, and records processed
//     before their row was read join with nil (a left join keeps the
//     output count exact);
//   - brook-global: Source -> JoinGlobal(GlobalTable) -> To, ExactlyOnce:
//     the run first loads the table (timed), then processes the input.
//
// Each run is timed until its last output record is acknowledged, and
// its output count checked. Metrics as in BenchmarkCountByKey; ratios
// table/rawtxn and global/rawtxn (issue target >= 0.5).
func BenchmarkStreamTableJoin(b *testing.B) {
	e, iterBase := benchEnv(b)
	table := "join-table"
	e.createTopic(table)
	if err := produceAll(e.addrs, table, joinTableRows, func(i int) ([]byte, []byte) {
		return []byte(joinTableKey(i)), []byte(joinTableValue(i))
	}); err != nil {
		b.Fatalf("fill table: %v", err)
	}
	rows := make(map[string]string, joinTableRows)
	for i := range joinTableRows {
		rows[joinTableKey(i)] = joinTableValue(i)
	}
	n := int64(e.records)
	cfg := func(app string) stream.Config {
		return stream.Config{AppID: app, Guarantee: stream.ExactlyOnce, StateDir: b.TempDir(), CommitInterval: commitInterval}
	}
	join := func(v, row string) string { return v + "|" + row }
	sides := []*side{
		{name: "rawtxn", run: func(iter int, out string) (runResult, error) {
			work := func(r *kgo.Record, produce func(*kgo.Record)) bool {
				produce(&kgo.Record{Topic: out, Key: r.Key, Value: []byte(join(string(r.Value), rows[string(r.Key)])), Timestamp: r.Timestamp})
				return true
			}
			return runRawTxn(e, work, out, fmt.Sprintf("join-rawtxn-%d", iter), n)
		}},
		{name: "brook-table", run: func(iter int, out string) (runResult, error) {
			bd := stream.NewBuilder()
			t := stream.SourceTable(bd, table, serde.String(), serde.String(), stream.Materialized("rows"))
			stream.Source(bd, e.input, serde.String(), serde.String()).LeftJoin(t, join).To(out, nil, nil)
			return runBrook(e, bd, cfg(fmt.Sprintf("join-table-%d", iter)), out, n)
		}},
		{name: "brook-global", run: func(iter int, out string) (runResult, error) {
			bd := stream.NewBuilder()
			g := stream.GlobalTable(bd, table, serde.String(), serde.String(), stream.Materialized("rows"))
			stream.Source(bd, e.input, serde.String(), serde.String()).
				JoinGlobal(g, func(k, _ string) string { return k }, join).To(out, nil, nil)
			return runBrook(e, bd, cfg(fmt.Sprintf("join-global-%d", iter)), out, n)
		}},
	}
	verify := func(output string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		got, err := e.endOffsets(ctx, output)
		if err != nil {
			return err
		}
		if got < n {
			return fmt.Errorf("output %s holds %d records, want at least %d", output, got, n)
		}
		return nil
	}
	compare(b, e, iterBase, sides, verify)
	ratio(b, sides, "brook-table", "rawtxn", "table/rawtxn")
	ratio(b, sides, "brook-global", "rawtxn", "global/rawtxn")
}
