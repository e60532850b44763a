// Idle-sessions ends users' click sessions after a time without clicks. It
// teaches brook's Processor API, for logic the DSL does not cover:
//
//   - Stream.Process runs a custom Processor (here *sessionizer, one per
//     task) on every record, and returns the stream of what it forwards;
//   - stream.KeyValueStore describes a key-value store ("open-sessions",
//     keyed by user, with a JSON value: last-seen time and click count)
//     and stream.WithStores connects it to the processor, which opens it
//     in Init with ProcessorContext.KeyValueStore. Like a DSL store, it is
//     backed by the changelog topic
//     "idle-sessions-example-open-sessions-changelog";
//   - ProcessorContext.WallClockTime tells the time a click is seen (use it
//     rather than time.Now, so that tests control the clock);
//   - ProcessorContext.Schedule with stream.WallClock runs a punctuator
//     every 200ms, whether or not clicks come: it scans the store (All) for
//     the users idle for longer than -idle, forwards a "session ended"
//     record for each with ProcessorContext.Forward, and deletes them.
//
// processor_test.go tests the same processor without a broker, with the
// stream/streamtest driver, whose wall clock the test moves by hand
// (Driver.AdvanceWallClock): that is how to test a processor of your own.
//
// Input: topic "clicks", keyed by user, whose values are the pages clicked
// (strings). Clicks without a user are ignored.
//
// Output: topic "sessions", keyed by user, one record per ended session,
// with a JSON value such as
//
//	{"user":"ann","clicks":3}
//
// Run it with an in-process Kafka:
//
//	go run ./examples/idle-sessions
//
// or against a Kafka cluster (comma-separated host:port list):
//
//	go run ./examples/idle-sessions -brokers localhost:9092
//
// It creates the topics (3 partitions each), writes six clicks of three
// users, prints the topology and runs the app. It waits for the three
// sessions to end, -idle (default 1s) after they were seen, and prints
// them; then writes one more click for one of the users, which starts a
// new session, waits for that one to end too, prints it and exits. It
// gives up after 25 seconds, or on Ctrl-C, with exit code 1.
//
// Against a real cluster use one where the topics (and the app's consumer
// group "idle-sessions-example") do not exist yet, or delete them between
// runs: it checks that "clicks" and "sessions" are empty, and stops with an
// error if not, as it expects the sessions of its own clicks only.
package main

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/brookstream/brook/internal/exampleutil"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/state"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Names of the topics, the store, the processor and the app.
const (
	clicksTopic   = "clicks"
	sessionsTopic = "sessions"
	storeName     = "open-sessions"
	processorName = "sessionizer"
	appID         = "idle-sessions-example"
)

// punctuateEvery is how often the processor looks for idle users. A
// session ends between idle and idle+punctuateEvery after its last click
// (under an App, plus up to Config.CommitInterval, 100ms by default: the
// App checks wall-clock punctuators once per commit interval).
const punctuateEvery = 200 * time.Millisecond

// Session is what the store keeps for a user whose session is open.
type Session struct {
	LastSeen int64 `json:"lastSeen"` // wall-clock time of the last click, ms since the epoch
	Clicks   int   `json:"clicks"`
}

// Ended is the value of an output record: a session that ended.
type Ended struct {
	User   string `json:"user"`
	Clicks int    `json:"clicks"`
}

// openSessions describes the store: keyed by user (String), Session values
// in JSON, in the store and in its changelog.
var openSessions = stream.KeyValueStore(storeName, serde.String(), serde.JSON[Session]())

// sessionizer is the processor. Stream.Process calls its supplier once per
// task, so each task (partition of "clicks") has its own sessionizer, used
// from one goroutine at a time: it needs no locks.
type sessionizer struct {
	idle     time.Duration
	sessions state.KeyValue[string, Session] // this task's part of the store
}

// Init opens the task's store and schedules the punctuator.
func (p *sessionizer) Init(ctx *stream.ProcessorContext[string, Ended]) error {
	var err error
	if p.sessions, err = ctx.KeyValueStore(openSessions); err != nil {
		return err
	}
	ctx.Schedule(punctuateEvery, stream.WallClock, func(now int64) error {
		return p.endIdle(ctx, now)
	})
	return nil
}

// Process counts a click and remembers when it was seen.
func (p *sessionizer) Process(ctx *stream.ProcessorContext[string, Ended], r stream.Record[string, string]) error {
	if r.Key == "" {
		return nil // no user
	}
	s, _, err := p.sessions.Get(r.Key) // absent: the zero Session, a new one
	if err != nil {
		return err
	}
	s.LastSeen = ctx.WallClockTime()
	s.Clicks++
	return p.sessions.Put(r.Key, s)
}

// endIdle is the punctuator: it forwards and forgets the sessions of the
// users idle for longer than p.idle at now.
func (p *sessionizer) endIdle(ctx *stream.ProcessorContext[string, Ended], now int64) error {
	// Collect first, delete after: writes made to a store while it is
	// iterated may or may not be seen by the iteration.
	var ended []Ended
	for user, s := range p.sessions.All() {
		if now-s.LastSeen > p.idle.Milliseconds() {
			ended = append(ended, Ended{User: user, Clicks: s.Clicks})
		}
	}
	// An iteration that fails stops early; Err says why.
	if err := p.sessions.Err(); err != nil {
		return err
	}
	for _, e := range ended {
		if err := p.sessions.Delete(e.User); err != nil {
			return err
		}
		// A forwarded record carries the timestamp it is given: here the
		// punctuation's time.
		if err := ctx.Forward(stream.Record[string, Ended]{Key: e.User, Value: e, Timestamp: now}); err != nil {
			return err
		}
	}
	return nil
}

// Close has nothing to release: the store belongs to the task.
func (p *sessionizer) Close() error { return nil }

// buildTopology is the whole stream-processing program: clicks go through
// the sessionizer, with its store, to the sessions topic.
func buildTopology(idle time.Duration) *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, clicksTopic, serde.String(), serde.String()).
		Process(func() stream.Processor[string, string, string, Ended] {
			return &sessionizer{idle: idle}
		}, stream.WithStores(openSessions), stream.Named(processorName)).
		// The key is still a string and keeps the source's serde (nil);
		// the value type changed, so it needs one.
		To(sessionsTopic, nil, serde.JSON[Ended]())
	return b
}

// A click of the input.
type click struct{ user, page string }

// firstClicks are written at the start, secondClicks once the first
// sessions have ended.
var (
	firstClicks = []click{
		{"ann", "/home"},
		{"bob", "/home"},
		{"ann", "/products"},
		{"carl", "/about"},
		{"ann", "/cart"},
		{"bob", "/pricing"},
	}
	secondClicks = []click{
		{"ann", "/checkout"},
	}
)

func main() {
	brokers := flag.String("brokers", "", "Kafka brokers, host:port[,host:port...]; empty starts an in-process Kafka")
	idle := flag.Duration("idle", time.Second, "how long a user may stay without clicking before the session ends")
	flag.Parse()

	exampleutil.Main("idle-sessions", func(ctx context.Context) error { return run(ctx, *brokers, *idle, os.Stdout) })
}

// run is the example: it sets up Kafka and the topics, writes the first
// clicks, runs the topology until their sessions have ended, writes the
// second clicks and waits for their sessions to end too. It prints the
// topology and the ended sessions to out.
func run(ctx context.Context, brokers string, idle time.Duration, out io.Writer) (err error) {
	if idle <= 0 {
		return fmt.Errorf("-idle is %v: it must be positive", idle)
	}
	addrs, cleanup, err := exampleutil.Brokers(brokers)
	defer cleanup()
	if err != nil {
		return err
	}
	// The state directory holds only the transactional id here (the store
	// is in memory); it is temporary and removed on exit.
	stateDir, removeState, err := exampleutil.TempStateDir(appID)
	if err != nil {
		return err
	}
	defer func() {
		if rmErr := removeState(); rmErr != nil && err == nil {
			err = rmErr
		}
	}()
	if err := exampleutil.CreateTopics(ctx, addrs, 3, clicksTopic, sessionsTopic); err != nil {
		return err
	}
	if err := exampleutil.CheckEmpty(ctx, addrs, fmt.Sprintf("them (%s, %s and %s-*) and the consumer group %s", clicksTopic, sessionsTopic, appID, appID), clicksTopic, sessionsTopic); err != nil {
		return err
	}
	if err := produceClicks(ctx, addrs, firstClicks); err != nil {
		return err
	}

	b := buildTopology(idle)
	app, err := stream.New(b, stream.Config{
		AppID:    appID,
		Brokers:  addrs,
		StateDir: stateDir,
		// The store lives in memory, restored in full from its changelog
		// when a task starts. Without this it would be a Pebble database
		// under Config.StateDir.
		InMemoryState: true,
	})
	if err != nil {
		return err
	}
	fmt.Fprint(out, b.Describe())

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

	waitErr := func() error {
		fmt.Fprintf(out, "Wrote %s.\n", describeClicks(firstClicks))
		// One session per user of firstClicks: every user's clicks are
		// processed together, well within idle of each other.
		first, err := exampleutil.ReadN(waitCtx, addrs, sessionsTopic, users(firstClicks))
		if err != nil {
			return err
		}
		if err := printEnded(out, idle, first); err != nil {
			return err
		}
		// Those users are gone from the store: a new click starts a new
		// session, counted from one.
		if err := produceClicks(waitCtx, addrs, secondClicks); err != nil {
			return err
		}
		fmt.Fprintf(out, "Wrote %s.\n", describeClicks(secondClicks))
		all, err := exampleutil.ReadN(waitCtx, addrs, sessionsTopic, len(first)+users(secondClicks))
		if err != nil {
			return err
		}
		return printEnded(out, idle, newRecords(all, first))
	}()
	stopApp()
	app.Close()
	if runErr := <-errc; runErr != nil {
		return fmt.Errorf("the app failed: %w", runErr)
	}
	return waitErr
}

// produceClicks writes clicks to the input topic, keyed by user.
func produceClicks(ctx context.Context, addrs []string, clicks []click) error {
	var recs []*kgo.Record
	for _, c := range clicks {
		recs = append(recs, &kgo.Record{Topic: clicksTopic, Key: []byte(c.user), Value: []byte(c.page)})
	}
	return exampleutil.Produce(ctx, addrs, recs...)
}

// describeClicks says how many clicks there are and whose.
func describeClicks(clicks []click) string {
	n := map[string]int{}
	var order []string
	for _, c := range clicks {
		if n[c.user] == 0 {
			order = append(order, c.user)
		}
		n[c.user]++
	}
	s := fmt.Sprintf("%d click(s) to %q:", len(clicks), clicksTopic)
	for i, u := range order {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf(" %s %d", u, n[u])
	}
	return s
}

// users returns the number of distinct users of clicks.
func users(clicks []click) int {
	seen := map[string]bool{}
	for _, c := range clicks {
		seen[c.user] = true
	}
	return len(seen)
}

// newRecords returns the records of all that are not in old, by partition
// and offset.
func newRecords(all, old []*kgo.Record) []*kgo.Record {
	type at struct {
		p int32
		o int64
	}
	seen := map[at]bool{}
	for _, r := range old {
		seen[at{r.Partition, r.Offset}] = true
	}
	var out []*kgo.Record
	for _, r := range all {
		if !seen[at{r.Partition, r.Offset}] {
			out = append(out, r)
		}
	}
	return out
}

// printEnded prints the ended sessions recs. They come from several
// partitions, so it sorts them by key (stable, so that a user's sessions
// stay in offset order) to print the same every run.
func printEnded(out io.Writer, idle time.Duration, recs []*kgo.Record) error {
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, func(a, b *kgo.Record) int {
		return cmp.Or(bytes.Compare(a.Key, b.Key), cmp.Compare(a.Partition, b.Partition))
	})
	fmt.Fprintf(out, "Read %d session(s) ended after %v idle from %q:\n", len(recs), idle, sessionsTopic)
	for _, r := range recs {
		// The value is what the processor forwarded, serialized by the
		// sink's serde: check that it reads back.
		e, err := serde.JSON[Ended]().Deserialize(r.Topic, r.Value)
		if err != nil {
			return fmt.Errorf("output record for %q: %w", r.Key, err)
		}
		if e.User != string(r.Key) {
			return fmt.Errorf("output record keyed %q is the session of %q", r.Key, e.User)
		}
		fmt.Fprintf(out, "  key=%s value=%s\n", r.Key, r.Value)
	}
	return nil
}
