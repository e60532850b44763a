package streamtest_test

import (
	"strconv"
	"testing"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
)

// BenchmarkCountByKey pipes 100k records over 10k keys through a count by
// key (a stateful topology: store, changelog, output topic), on one
// partition, committing the store after every record (the driver's
// default) or every 1000 records.
//
//	go test -run '^$' -bench CountByKey ./stream/streamtest/
func BenchmarkCountByKey(b *testing.B) {
	for _, every := range []int{1, 1000} {
		b.Run("commit-every-"+strconv.Itoa(every), func(b *testing.B) { benchCount(b, every) })
	}
}

func benchCount(b *testing.B, commitEvery int) {
	const records, keys = 100_000, 10_000
	ks := make([]string, keys)
	for i := range ks {
		ks[i] = "key-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		sb := stream.NewBuilder()
		stream.Source(sb, "in", serde.String(), serde.String()).
			GroupByKey().
			Count(stream.Materialized("counts")).
			ToStream().
			To("out", nil, nil)
		d := streamtest.New(b, sb, streamtest.Config{CommitEvery: commitEvery})
		in := d.Input("in", serde.String(), serde.String())
		for i := range records {
			in.Pipe(ks[i%keys], "v")
		}
		d.Commit()
		if n, _, _ := d.Store[string, int64]("counts").Get(ks[0]); n != records/keys {
			b.Fatalf("count of %s is %d, want %d", ks[0], n, records/keys)
		}
		d.Close()
	}
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/100k")
}
