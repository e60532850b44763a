// Package exampleutil has the few helpers that brook's runnable examples
// share: a Kafka to run against, topics, input records, and reading output.
//
// It is deliberately small. Examples use it for the plumbing around a
// topology so that their own code shows only brook.
package exampleutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/brookstream/brook/internal/embedded"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Brokers returns the brokers an example runs against. With an empty
// flagValue it starts an in-process Kafka and returns its addresses and a
// cleanup that stops it; otherwise it splits flagValue, a comma-separated
// list of host:port, and cleanup does nothing. cleanup is never nil, so it
// can be deferred before checking err.
func Brokers(flagValue string) (addrs []string, cleanup func(), err error) {
	cleanup = func() {}
	if strings.TrimSpace(flagValue) == "" {
		c, err := embedded.Start()
		if err != nil {
			return nil, cleanup, err
		}
		return c.Addrs(), c.Close, nil
	}
	for a := range strings.SplitSeq(flagValue, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, cleanup, fmt.Errorf("exampleutil: -brokers %q names no host:port", flagValue)
	}
	return addrs, cleanup, nil
}

// CreateTopics creates each topic with the given number of partitions
// (replication factor 1). A topic that already exists is left as it is.
func CreateTopics(ctx context.Context, addrs []string, partitions int32, topics ...string) error {
	for _, t := range topics {
		// embedded.CreateTopic means to ignore an existing topic but returns
		// TOPIC_ALREADY_EXISTS (kadm.CreateTopic returns the response's
		// error as its error), so check for it here too.
		if err := embedded.CreateTopic(ctx, addrs, t, partitions, nil); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("exampleutil: %w", err)
		}
	}
	return nil
}

// Produce writes recs and waits until every one is acknowledged. Records
// with a key go to the partition Kafka's default partitioner picks for it.
func Produce(ctx context.Context, addrs []string, recs ...*kgo.Record) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		return fmt.Errorf("exampleutil: kafka client: %w", err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("exampleutil: produce: %w", err)
	}
	return nil
}

// ReadN reads topic from the start, read_committed, until it has n records
// or ctx is done. It returns the records in the order they were fetched:
// offset order within a partition, partitions interleaved. It may return
// more than n records when the last fetch brought more. If fewer than n
// arrived, it returns those with an error saying how many.
func ReadN(ctx context.Context, addrs []string, topic string, n int) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return nil, fmt.Errorf("exampleutil: kafka client: %w", err)
	}
	defer cl.Close()
	var out []*kgo.Record
	var lastErr error // the last fetch error, which the client retries
	for len(out) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				lastErr = err
			}
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	if len(out) < n {
		err := fmt.Errorf("exampleutil: read %d of %d records from topic %q: %w", len(out), n, topic, context.Cause(ctx))
		if lastErr != nil {
			err = fmt.Errorf("%w (last fetch error: %v)", err, lastErr)
		}
		return out, err
	}
	return out, nil
}

// Main runs an example's run function the way every example's main does:
// it gives up after 25 seconds, on Ctrl-C (SIGINT) or on SIGTERM (run gets
// a cancelled context and stops its app, which makes a final commit,
// bounded by Config.ShutdownTimeout), exits anyway at 30 seconds should
// shutting down hang, and on an error prints it prefixed with name and
// exits 1. A second Ctrl-C or SIGTERM exits at once, with status 130,
// without waiting for the shutdown.
func Main(name string, run func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, name+": stopping after a final commit; signal again to exit at once")
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, name+": second signal: exiting at once")
		os.Exit(130)
	}()
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		err = errors.New("still shutting down after 30s; giving up")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		cancel()
		os.Exit(1)
	}
}

// TempStateDir makes a temporary directory for an example's
// Config.StateDir, named after the example. remove deletes it with what
// the app wrote there; call it once the app has stopped.
func TempStateDir(name string) (dir string, remove func() error, err error) {
	dir, err = os.MkdirTemp("", "brook-"+name+"-")
	if err != nil {
		return "", func() error { return nil }, fmt.Errorf("exampleutil: state directory: %w", err)
	}
	return dir, func() error { return os.RemoveAll(dir) }, nil
}

// CheckEmpty fails if any of topics has records. Examples whose expected
// output holds only for topics they alone wrote call it before writing
// their input; the error says what to clean up (cleanup names the example's
// topics and consumer group).
func CheckEmpty(ctx context.Context, addrs []string, cleanup string, topics ...string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	for _, t := range topics {
		var n int64
		for _, o := range ends[t] {
			n += o.Offset
		}
		if n > 0 {
			return fmt.Errorf("topic %q already has %d records, from an earlier run? Use a cluster without the example's topics, or delete %s", t, n, cleanup)
		}
	}
	return nil
}
