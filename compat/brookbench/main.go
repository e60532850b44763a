// Command brookbench is the brook side of the side-by-side benchmark with
// Kafka Streams (compat/sidebyside_test.go): it runs one workload against
// a broker until SIGTERM or SIGINT, in a process of its own so that its
// CPU time and peak RSS are measured as the Java process's are. The
// workloads do the same work as Bench.java's.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
)

func keep(v string) bool { return len(v) < 2 || v[len(v)-2] != '0' }

func main() {
	brokers := flag.String("brokers", "", "host:port of the broker")
	workload := flag.String("workload", "stateless", "stateless or count")
	guarantee := flag.String("guarantee", "eos", "eos or alos")
	commit := flag.Duration("commit", 100*time.Millisecond, "commit interval")
	app := flag.String("app", "brookbench", "application id")
	in := flag.String("in", "bench-in", "input topic")
	out := flag.String("out", "bench-out", "output topic")
	dir := flag.String("state", "", "state directory")
	flag.Parse()

	b := stream.NewBuilder()
	src := stream.Source(b, *in, serde.String(), serde.String())
	switch *workload {
	case "stateless":
		src.MapValues(strings.ToUpper).Filter(func(_, v string) bool { return keep(v) }).To(*out, nil, nil)
	case "count":
		src.GroupByKey().Count(stream.Named("counts")).ToStream().To(*out, nil, nil)
	default:
		fmt.Fprintf(os.Stderr, "brookbench: unknown workload %q\n", *workload)
		os.Exit(2)
	}
	cfg := stream.Config{AppID: *app, Brokers: strings.Split(*brokers, ","), CommitInterval: *commit, StateDir: *dir}
	if *guarantee == "alos" {
		cfg.Guarantee = stream.AtLeastOnce
	}
	a, err := stream.New(b, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "brookbench:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "brookbench:", err)
		os.Exit(1)
	}
}
