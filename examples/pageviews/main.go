// Pageviews counts the views of each page per minute, and writes only the
// final count of each minute, once the minute is over. It teaches windowed
// aggregation:
//
//   - stream.TimestampExtractor takes each view's event time from the
//     record's value ("page at <ms>"), not from when it was written;
//   - stream.WindowedBy(..., window.Tumbling(time.Minute).Grace(10s))
//     groups the views of a page into one-minute windows aligned to the
//     epoch, accepting views up to 10 seconds late;
//   - Emit(stream.OnWindowClose()) writes each window's count once, when
//     stream time passes the window's end + grace (final results only);
//     views later than that are dropped and counted (App.DroppedRecords);
//   - the output keys are window.Windowed[string], written with
//     window.TimeWindowedSerde: the page's bytes then the window start, 8
//     bytes big-endian, as Kafka Streams' TimeWindowedSerializer, so Java
//     consumers read them with TimeWindowedDeserializer.
//
// Input: topic "page-views", keyed by page, values "<page> at <ms>".
// Output: topic "views-per-minute", one record per page and minute.
//
// Run it with an in-process Kafka:
//
//	go run ./examples/pageviews
//
// or against a Kafka cluster where its topics do not exist yet:
//
//	go run ./examples/pageviews -brokers localhost:9092
//
// It writes the sample views, runs until every final count arrived, prints
// them and the late views dropped, and exits (after 25 seconds at most).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/brookstream/brook/internal/exampleutil"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/window"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	viewsTopic  = "page-views"
	countsTopic = "views-per-minute"
	storeName   = "views-per-minute"
	appID       = "pageviews-example"
)

// sampleViews are (page, event time in seconds). The last view, at 200s,
// moves stream time past the end + grace of every earlier minute; the view
// of "/home" at 50s comes after stream time reached 130s, when its minute
// had closed (60 + 10 <= 130): it is late and dropped.
var sampleViews = []struct {
	page string
	sec  int64
}{
	{"/home", 1}, {"/about", 5}, {"/home", 30}, {"/home", 59},
	{"/home", 61}, {"/pricing", 65}, {"/home", 55}, // 55: out of order, within grace
	{"/pricing", 119}, {"/home", 130},
	{"/home", 50}, // late: dropped
	{"/about", 200},
}

// eventTime reads the view's time from its value, "<page> at <ms>".
func eventTime(r stream.Record[string, string], _ int64) (int64, error) {
	_, at, ok := strings.Cut(r.Value, " at ")
	if !ok {
		return 0, fmt.Errorf("value %q has no \" at <ms>\"", r.Value)
	}
	return strconv.ParseInt(at, 10, 64)
}

func buildTopology() *stream.Builder {
	b := stream.NewBuilder()
	views := stream.Source(b, viewsTopic, serde.String(), serde.String(), stream.TimestampExtractor(eventTime))
	stream.WindowedBy(views.GroupByKey(), window.Tumbling(time.Minute).Grace(10*time.Second)).
		Emit(stream.OnWindowClose()).
		Count(stream.Materialized(storeName)).
		ToStream().
		To(countsTopic, nil, nil) // window.TimeWindowedSerde(String, 1 minute) and Int64
	return b
}

func main() {
	brokers := flag.String("brokers", "", "Kafka brokers, host:port[,host:port...]; empty starts an in-process Kafka")
	flag.Parse()
	exampleutil.Main("pageviews", func(ctx context.Context) error { return run(ctx, *brokers, os.Stdout) })
}

func run(ctx context.Context, brokers string, out io.Writer) error {
	addrs, cleanup, err := exampleutil.Brokers(brokers)
	defer cleanup()
	if err != nil {
		return err
	}
	dir, remove, err := exampleutil.TempStateDir("pageviews")
	if err != nil {
		return err
	}
	defer remove()
	// One partition: stream time, and so the closing of windows, is per
	// partition; with several, each partition's windows close on its own.
	if err := exampleutil.CreateTopics(ctx, addrs, 1, viewsTopic, countsTopic); err != nil {
		return err
	}
	if err := exampleutil.CheckEmpty(ctx, addrs, fmt.Sprintf("them and the consumer group %s", appID), viewsTopic, countsTopic); err != nil {
		return err
	}
	var input []*kgo.Record
	for _, v := range sampleViews {
		input = append(input, &kgo.Record{Topic: viewsTopic, Key: []byte(v.page), Value: fmt.Appendf(nil, "%s at %d", v.page, v.sec*1000)})
	}
	if err := exampleutil.Produce(ctx, addrs, input...); err != nil {
		return err
	}
	b := buildTopology()
	app, err := stream.New(b, stream.Config{AppID: appID, Brokers: addrs, StateDir: dir})
	if err != nil {
		return err
	}
	fmt.Fprint(out, b.Describe())
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	errc := make(chan error, 1)
	go func() { errc <- app.Run(appCtx) }()
	// Minutes 0, 1 and 2 close: /home and /about in minute 0, /home and
	// /pricing in minute 1, /home in minute 2. Minute 3 (/about at 200s)
	// stays open.
	const want = 5
	recs, readErr := exampleutil.ReadN(ctx, addrs, countsTopic, want)
	time.Sleep(500 * time.Millisecond) // the late view's drop is counted
	dropped := app.DroppedRecords()
	stopApp()
	if err := <-errc; err != nil {
		return fmt.Errorf("the app failed: %w", err)
	}
	if readErr != nil {
		return readErr
	}
	ks := window.TimeWindowedSerde(serde.String(), time.Minute.Milliseconds())
	fmt.Fprintf(out, "Final views per page per minute (topic %q):\n", countsTopic)
	for _, r := range recs {
		w, err := ks.Deserialize(countsTopic, r.Key)
		if err != nil {
			return err
		}
		n, err := serde.Int64().Deserialize(countsTopic, r.Value)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-9s minute %d: %d\n", w.Key, w.Window.Start/60000, n)
	}
	var late int64
	for _, d := range dropped {
		late += d.Late
	}
	fmt.Fprintf(out, "Late views dropped: %d\n", late)
	return nil
}
