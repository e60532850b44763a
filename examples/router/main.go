// Router routes one stream of events to several topics. It teaches the
// stateless core of brook's DSL: Source with a JSON serde, Filter, Split
// into named branches, MapValues to a new type, To a topic, and a
// dead-letter topic for records that cannot be read.
//
// Input: topic "events", keyed by user, with JSON values such as
//
//	{"user":"ann","type":"click","amount":3}
//
// Outputs:
//
//   - "clicks": the click events, as {"user":"ann","amount":3};
//   - "purchases": the purchase events, in the same shape;
//   - "events-dlq": values that are not valid JSON, unchanged, with the
//     error in the header brook.error (Config.OnBadRecord =
//     stream.DeadLetterTopic("events-dlq")), so one bad record does not
//     stop the app.
//
// Events without a user are filtered out, and events of any other type
// match no branch and are dropped (Split ... Branches, with no Default).
//
// Run it with an in-process Kafka:
//
//	go run ./examples/router
//
// or against a Kafka cluster (comma-separated host:port list):
//
//	go run ./examples/router -brokers localhost:9092
//
// It creates the topics, writes eight sample events (one of them malformed
// JSON), prints the topology, runs the app until the expected records have
// arrived, prints them and exits. It reads its output topics from the
// start, so it refuses to run on topics that already hold records: against
// a real cluster use one where these four topics do not exist yet (or
// delete them, and the consumer group router-example, between runs). Its
// state directory (the transactional id) is temporary and removed on exit.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/brookstream/brook/internal/exampleutil"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The application id and the topic names.
const (
	appID          = "router-example"
	eventsTopic    = "events"
	clicksTopic    = "clicks"
	purchasesTopic = "purchases"
	dlqTopic       = "events-dlq"
)

// Event is an input record's value.
type Event struct {
	User   string `json:"user"`
	Type   string `json:"type"`
	Amount int    `json:"amount"`
}

// Routed is an output record's value: the event without its type, which
// the output topic already says.
type Routed struct {
	User   string `json:"user"`
	Amount int    `json:"amount"`
}

func toRouted(e Event) Routed { return Routed{User: e.User, Amount: e.Amount} }

// sampleEvents are the input: key and JSON value.
var sampleEvents = []struct{ key, value string }{
	{"ann", `{"user":"ann","type":"click","amount":1}`},
	{"bob", `{"user":"bob","type":"purchase","amount":30}`},
	{"ann", `{"user":"ann","type":"view","amount":1}`}, // no branch takes "view": dropped
	{"", `{"user":"","type":"click","amount":4}`},      // no user: filtered out
	{"carl", `{"user":"carl","type":"click","amount":2}`},
	{"dave", `{"user":"dave","type":"click"`}, // malformed JSON: dead-lettered
	{"ann", `{"user":"ann","type":"purchase","amount":12}`},
	{"bob", `{"user":"bob","type":"click","amount":5}`},
}

// expected is how many records each output topic gets from sampleEvents,
// in the order they are printed.
var expected = []struct {
	topic string
	n     int
}{
	{clicksTopic, 3},
	{purchasesTopic, 2},
	{dlqTopic, 1},
}

// buildTopology is the whole stream-processing program.
func buildTopology() *stream.Builder {
	b := stream.NewBuilder()
	routes := stream.Source(b, eventsTopic, serde.String(), serde.JSON[Event]()).
		Filter(func(_ string, e Event) bool { return e.User != "" }).
		Split(stream.Named("route-")).
		Branch("click", func(_ string, e Event) bool { return e.Type == "click" }).
		Branch("purchase", func(_ string, e Event) bool { return e.Type == "purchase" }).
		Branches() // no Default: events of other types are dropped

	// MapValues changes the value type, so To needs a value serde; the key
	// is still a string and keeps the source's serde (nil).
	routes["route-click"].MapValues(toRouted).To(clicksTopic, nil, serde.JSON[Routed]())
	routes["route-purchase"].MapValues(toRouted).To(purchasesTopic, nil, serde.JSON[Routed]())
	return b
}

func main() {
	brokers := flag.String("brokers", "", "Kafka brokers, host:port[,host:port...]; empty starts an in-process Kafka")
	flag.Parse()
	exampleutil.Main("router", func(ctx context.Context) error { return run(ctx, *brokers, os.Stdout) })
}

// run is the example: it sets up Kafka and the topics, writes the input,
// runs the topology until the expected output has arrived, and prints the
// topology and the output to out.
func run(ctx context.Context, brokers string, out io.Writer) (err error) {
	addrs, cleanup, err := exampleutil.Brokers(brokers)
	defer cleanup()
	if err != nil {
		return err
	}
	stateDir, removeState, err := exampleutil.TempStateDir(appID)
	if err != nil {
		return err
	}
	defer func() {
		if rmErr := removeState(); rmErr != nil && err == nil {
			err = rmErr
		}
	}()
	if err := exampleutil.CreateTopics(ctx, addrs, 3, eventsTopic, clicksTopic, purchasesTopic, dlqTopic); err != nil {
		return err
	}
	if err := exampleutil.CheckEmpty(ctx, addrs, fmt.Sprintf("them and the consumer group %s", appID), eventsTopic, clicksTopic, purchasesTopic, dlqTopic); err != nil {
		return err
	}
	var input []*kgo.Record
	for _, e := range sampleEvents {
		r := &kgo.Record{Topic: eventsTopic, Value: []byte(e.value)}
		if e.key != "" {
			r.Key = []byte(e.key)
		}
		input = append(input, r)
	}
	if err := exampleutil.Produce(ctx, addrs, input...); err != nil {
		return err
	}

	b := buildTopology()
	fmt.Fprint(out, b.Describe())
	app, err := stream.New(b, stream.Config{
		AppID:       appID,
		Brokers:     addrs,
		StateDir:    stateDir,
		OnBadRecord: stream.DeadLetterTopic(dlqTopic),
	})
	if err != nil {
		return err
	}

	// Run the app in the background. If it stops on its own (an error),
	// stop reading at once instead of waiting for ctx's deadline.
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	readCtx, stopReading := context.WithCancelCause(ctx)
	defer stopReading(nil)
	errc := make(chan error, 1)
	go func() {
		err := app.Run(appCtx)
		errc <- err
		stopReading(fmt.Errorf("the app stopped: %v", err))
	}()

	outputs := make([][]*kgo.Record, len(expected))
	var readErr error
	for i, e := range expected {
		if outputs[i], readErr = exampleutil.ReadN(readCtx, addrs, e.topic, e.n); readErr != nil {
			break
		}
	}
	stopApp()
	app.Close()
	if runErr := <-errc; runErr != nil {
		return fmt.Errorf("the app failed: %w", runErr)
	}
	if readErr != nil {
		return readErr
	}

	fmt.Fprintln(out, "Output:")
	for i, e := range expected {
		recs := outputs[i]
		// Records come from several partitions; sort by key (stable, so a
		// key's records stay in offset order) to print the same every run.
		slices.SortStableFunc(recs, func(a, b *kgo.Record) int { return bytes.Compare(a.Key, b.Key) })
		fmt.Fprintf(out, "%s: %d record(s)\n", e.topic, len(recs))
		for _, r := range recs {
			fmt.Fprintf(out, "  key=%s value=%s\n", r.Key, r.Value)
			if e.topic == dlqTopic {
				fmt.Fprintf(out, "    %s: %s\n", stream.HeaderError, header(r, stream.HeaderError))
			}
		}
	}
	return nil
}

// header returns the value of r's header key, or "" if it has none.
func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
