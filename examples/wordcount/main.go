// Wordcount counts the words of a stream of text lines. It teaches the
// stateful core of brook's DSL:
//
//   - FlatMapValues splits each line into words;
//   - GroupBy makes the word the key, which repartitions the stream: the
//     words are written to the internal topic
//     "wordcount-example-word-counts-repartition", keyed by word, and read
//     back by a second sub-topology, so that every occurrence of a word
//     meets in the same task whatever line (partition) it came from;
//   - Count(stream.Materialized("word-counts")) keeps the count of each word in a
//     store called "word-counts": a Pebble database under Config.StateDir,
//     backed by the changelog topic "wordcount-example-word-counts-changelog"
//     from which it is restored if the local state is lost;
//   - ToStream().To writes every update of a count to the output topic;
//   - app.Store[string, int64]("word-counts") reads the store while the app
//     runs (an interactive query).
//
// Input: topic "text-lines", whose values are lines of text (keys are not
// used). Words are runs of letters and digits, lower-cased.
//
// Output: topic "word-counts", keyed by word, with the word's count as an
// int64, 8 bytes big-endian (serde.Int64, as Kafka's LongSerializer). It
// gets one record per update, that is, per word read: a word seen three
// times gets the records 1, 2 and 3, the last one being its current count.
//
// Run it with an in-process Kafka:
//
//	go run ./examples/wordcount
//
// or against a Kafka cluster (comma-separated host:port list):
//
//	go run ./examples/wordcount -brokers localhost:9092
//
// It creates the topics (3 partitions each), writes six lines of text,
// prints the topology, runs the app until the store holds the counts of
// every word in those lines, prints them, then prints how many update
// records the output topic got, and exits. It gives up after 25 seconds,
// or on Ctrl-C, with exit code 1.
//
// The state lives in a temporary directory removed at exit; -state-dir DIR
// keeps it in DIR/wordcount-example instead, one Pebble database per task.
// A kept state belongs with its cluster's changelog: the in-process Kafka
// starts empty each run, so a second run on the same DIR fails, saying the
// store's checkpoint is past the end of its changelog (delete DIR then).
//
// Against a real cluster use one where the topics (and the app's consumer
// group "wordcount-example") do not exist yet, or delete them between runs:
// it checks that "text-lines" and "word-counts" are empty, and stops with an
// error if not, as its expected counts are those of its own six lines.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/brookstream/brook/internal/exampleutil"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Names of the topics, the store and the app.
const (
	linesTopic  = "text-lines"
	countsTopic = "word-counts"
	storeName   = "word-counts"
	appID       = "wordcount-example"
)

// sampleLines are the input.
var sampleLines = []string{
	"The quick brown fox jumps over the lazy dog.",
	"The dog barks; the fox runs.",
	"A quick brown dog? A lazy fox!",
	"Over and over, the fox jumps.",
	"Quick, quick, quick: the dog sleeps.",
	"The end.",
}

// words splits a line into lower-case words: runs of letters and digits.
func words(line string) []string {
	return strings.FieldsFunc(strings.ToLower(line), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// buildTopology is the whole stream-processing program.
func buildTopology() *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, linesTopic, serde.String(), serde.String()).
		FlatMapValues(words).
		// The new key is a string: its serde is needed for the repartition
		// topic; the value (the word again) keeps the source's serde.
		GroupBy(func(_, word string) string { return word }, serde.String()).
		// The store, its changelog and the repartition topic are named after
		// this operator.
		Count(stream.Materialized(storeName)).
		ToStream().
		To(countsTopic, nil, nil) // nil: the table's serdes, String and Int64
	return b
}

func main() {
	brokers := flag.String("brokers", "", "Kafka brokers, host:port[,host:port...]; empty starts an in-process Kafka")
	stateDir := flag.String("state-dir", "", "directory for the app's local state, kept at exit; empty uses a temporary directory removed at exit")
	flag.Parse()

	exampleutil.Main("wordcount", func(ctx context.Context) error { return run(ctx, *brokers, *stateDir, os.Stdout) })
}

// run is the example: it sets up Kafka and the topics, writes the input,
// runs the topology until the store holds the expected counts, and prints
// the topology, the counts and the number of output records to out. An
// empty stateDir means a temporary directory, removed before run returns.
func run(ctx context.Context, brokers, stateDir string, out io.Writer) (err error) {
	addrs, cleanup, err := exampleutil.Brokers(brokers)
	defer cleanup()
	if err != nil {
		return err
	}
	if stateDir == "" {
		dir, mkErr := os.MkdirTemp("", "brook-wordcount-")
		if mkErr != nil {
			return mkErr
		}
		defer func() {
			if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
				err = rmErr
			}
		}()
		stateDir = dir
	}

	if err := exampleutil.CreateTopics(ctx, addrs, 3, linesTopic, countsTopic); err != nil {
		return err
	}
	if err := exampleutil.CheckEmpty(ctx, addrs, fmt.Sprintf("them (%s, %s and %s-*) and the consumer group %s", linesTopic, countsTopic, appID, appID), linesTopic, countsTopic); err != nil {
		return err
	}
	var input []*kgo.Record
	for i, line := range sampleLines {
		// Keyed by line number only to spread the lines over the partitions.
		input = append(input, &kgo.Record{Topic: linesTopic, Key: fmt.Appendf(nil, "line-%d", i+1), Value: []byte(line)})
	}
	if err := exampleutil.Produce(ctx, addrs, input...); err != nil {
		return err
	}

	b := buildTopology()
	app, err := stream.New(b, stream.Config{
		AppID:    appID,
		Brokers:  addrs,
		StateDir: stateDir,
	})
	if err != nil {
		return err
	}
	// After New, the topology shows the internal topics' full names.
	fmt.Fprint(out, b.Describe())
	// The view can be made before Run; it sees the tasks this instance
	// holds once they are assigned and restored.
	counts, err := app.Store[string, int64](storeName)
	if err != nil {
		return err
	}

	// Run the app in the background. If it stops on its own (an error),
	// stop waiting at once instead of waiting for ctx's deadline.
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	waitCtx, stopWaiting := context.WithCancelCause(ctx)
	defer stopWaiting(nil)
	errc := make(chan error, 1)
	go func() {
		err := app.Run(appCtx)
		errc <- err
		stopWaiting(fmt.Errorf("the app stopped: %v", err))
	}()

	want, nWords := expectedCounts()
	got, waitErr := waitForCounts(waitCtx, counts, want)
	var updates []*kgo.Record
	if waitErr == nil {
		// Every word read is one update of its count, so the output topic
		// gets one record per word of the input.
		updates, waitErr = exampleutil.ReadN(waitCtx, addrs, countsTopic, nWords)
	}
	stopApp()
	app.Close()
	if runErr := <-errc; runErr != nil {
		return fmt.Errorf("the app failed: %w", runErr)
	}
	if waitErr != nil {
		return waitErr
	}

	fmt.Fprintf(out, "Final counts (store %q, %d words):\n", storeName, len(got))
	width := 0
	for w := range got {
		width = max(width, utf8.RuneCountInString(w)) // fmt pads by runes
	}
	for _, w := range byCount(got) {
		fmt.Fprintf(out, "  %-*s %d\n", width, w, got[w])
	}
	last, err := lastPerKey(updates)
	if err != nil {
		return err
	}
	if !maps.Equal(last, got) {
		return fmt.Errorf("the last output record of each word differs from the store:\n  topic %v\n  store %v", last, got)
	}
	fmt.Fprintf(out, "Output topic %q: %d update records for %d words read; the last record of each word is its final count.\n", countsTopic, len(updates), nWords)
	return nil
}

// expectedCounts counts the words of sampleLines as the topology should:
// the count of each word, and the number of words.
func expectedCounts() (map[string]int64, int) {
	counts := map[string]int64{}
	n := 0
	for _, line := range sampleLines {
		for _, w := range words(line) {
			counts[w]++
			n++
		}
	}
	return counts, n
}

// waitForCounts polls the store until it holds exactly want, and returns
// what it holds. The view shows committed state, so the counts appear at
// most a commit interval (100ms by default) after they are processed.
func waitForCounts(ctx context.Context, view *stream.StoreView[string, int64], want map[string]int64) (map[string]int64, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		got := maps.Collect(view.All())
		if maps.Equal(got, want) {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("the store %q does not hold the expected counts: %w\n  got  %v\n  want %v", storeName, context.Cause(ctx), got, want)
		case <-tick.C:
		}
	}
}

// byCount returns the words of counts by count, highest first, then
// alphabetically.
func byCount(counts map[string]int64) []string {
	return slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
}

// lastPerKey decodes output records and returns the last value of each key.
// A key's records all go to one partition, so the last fetched is the last
// written.
func lastPerKey(recs []*kgo.Record) (map[string]int64, error) {
	last := map[string]int64{}
	for _, r := range recs {
		n, err := serde.Int64().Deserialize(r.Topic, r.Value)
		if err != nil {
			return nil, fmt.Errorf("output record for %q: %w", r.Key, err)
		}
		last[string(r.Key)] = n
	}
	return last, nil
}
