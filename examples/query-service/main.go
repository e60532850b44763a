// Query-service serves the word counts of a brook app over HTTP from
// whichever instance holds them. It teaches queries across instances:
//
//   - each instance of the app serves HTTP on its own address, and
//     advertises that address to the others through the consumer group
//     (stream.Config.ApplicationServer, Kafka Streams' application.server);
//   - the count of a word lives in one task, on one instance. To answer
//     GET /count/{word}, an instance asks app.KeyOwner[string](store, word)
//     which instance holds the word: if it is this one, it reads its store
//     (app.Store); otherwise it forwards the request to the owner's address
//     and relays the answer. (A service could redirect instead, with 307
//     and the owner's URL; forwarding keeps the owners' addresses private
//     and works for clients that do not follow redirects.)
//   - GET /owners lists the instances and the tasks each holds
//     (app.StoreOwners).
//
// The topology is the word count of examples/wordcount: text lines split
// into words, regrouped by word (a repartition topic), counted into the
// store "word-counts".
//
// Run it with an in-process Kafka:
//
//	go run ./examples/query-service
//
// or against a Kafka cluster (comma-separated host:port list):
//
//	go run ./examples/query-service -brokers localhost:9092
//
// It creates the topics (4 partitions each), writes six lines of text,
// starts two instances of the app in this process, each with an HTTP
// server on a free port of 127.0.0.1, queries every word through both
// instances until both answer every count exactly, prints the answers
// (which instance held each word, and whether each asked instance answered
// from its own store or forwarded), and exits. It gives up after 25
// seconds, or on Ctrl-C, with exit code 1. With -serve it keeps serving
// after that, until Ctrl-C: try curl http://ADDR/count/fox on either
// address it prints.
//
// In production each instance is its own process, on its own machine,
// with ApplicationServer set to the address that the others can reach it
// at (not 127.0.0.1), and its own state directory.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/brookstream/brook/internal/exampleutil"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Names of the topics, the store and the app.
const (
	linesTopic  = "query-service-lines"
	countsTopic = "query-service-counts"
	storeName   = "word-counts"
	appID       = "query-service-example"
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

// buildTopology is the word count.
func buildTopology() *stream.Builder {
	b := stream.NewBuilder()
	stream.Source(b, linesTopic, serde.String(), serde.String()).
		FlatMapValues(words).
		GroupBy(func(_, word string) string { return word }, serde.String()).
		Count(stream.Materialized(storeName)).
		ToStream().
		To(countsTopic, nil, nil)
	return b
}

// Answer is the body of a reply to GET /count/{word}.
type Answer struct {
	Word  string `json:"word"`
	Count int64  `json:"count"`
	// Host is the address of the instance whose store answered.
	Host string `json:"host"`
}

// forwardedHeader marks a request that an instance forwarded to the
// owner of the word. The owner answers it from its store or fails: it never
// forwards it again, so that two instances that disagree on the owner (for
// a moment, around a rebalance) cannot bounce a request between them.
const forwardedHeader = "X-Forwarded-By"

// service is one instance's HTTP side.
type service struct {
	app    *stream.App
	counts *stream.StoreView[string, int64]
	self   string // this instance's address, host:port
	client *http.Client
}

// handler routes the service's two endpoints.
func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /count/{word}", s.count)
	mux.HandleFunc("GET /owners", s.owners)
	return mux
}

// count answers GET /count/{word}: 200 with an Answer, 404 for a word never
// seen, 503 with Retry-After while the owner is not known or its task is
// restoring (around a rebalance), 502 when the owner cannot be reached.
func (s *service) count(w http.ResponseWriter, r *http.Request) {
	word := r.PathValue("word")
	md, err := s.app.KeyOwner[string](storeName, word)
	if errors.Is(err, stream.ErrOwnerUnknown) {
		unavailable(w, err)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if !md.Local {
		if by := r.Header.Get(forwardedHeader); by != "" {
			unavailable(w, fmt.Errorf("forwarded by %s, but %s holds %q: the group is rebalancing", by, md.Active, word))
			return
		}
		s.forward(w, r, md.Active.String())
		return
	}
	n, ok, err := s.counts.Get(word)
	var nl *stream.NotLocalError
	switch {
	case errors.As(err, &nl):
		unavailable(w, err) // restoring here, or moved since KeyOwner
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	case !ok:
		http.Error(w, fmt.Sprintf("%q: no such word", word), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Answer{Word: word, Count: n, Host: s.self})
}

// forward sends the request to the instance at owner and relays its
// answer, status and body.
func (s *service) forward(w http.ResponseWriter, r *http.Request, owner string) {
	u := url.URL{Scheme: "http", Host: owner, Path: r.URL.Path}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header.Set(forwardedHeader, s.self)
	resp, err := s.client.Do(req)
	if err != nil {
		http.Error(w, fmt.Sprintf("forwarding to %s, which holds the word: %v", owner, err), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// owners answers GET /owners with app.StoreOwners of the store.
func (s *service) owners(w http.ResponseWriter, _ *http.Request) {
	owners, err := s.app.StoreOwners(storeName)
	if err != nil {
		unavailable(w, err)
		return
	}
	type owner struct {
		Host  string   `json:"host"`
		Tasks []string `json:"tasks"`
	}
	out := []owner{}
	for _, o := range owners {
		out = append(out, owner{Host: o.Host.String(), Tasks: o.Tasks})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// unavailable replies 503: ask again in a second.
func unavailable(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, err.Error(), http.StatusServiceUnavailable)
}

func main() {
	brokers := flag.String("brokers", "", "Kafka brokers, host:port[,host:port...]; empty starts an in-process Kafka")
	serve := flag.Bool("serve", false, "keep serving after printing the answers, until Ctrl-C")
	flag.Parse()

	if *serve {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := run(ctx, *brokers, os.Stdout, true); err != nil {
			fmt.Fprintln(os.Stderr, "query-service:", err)
			os.Exit(1)
		}
		return
	}
	exampleutil.Main("query-service", func(ctx context.Context) error { return run(ctx, *brokers, os.Stdout, false) })
}

// instance is one instance of the app with its HTTP server.
type instance struct {
	name string
	addr string
	app  *stream.App
	srv  *http.Server
}

// run is the example: it sets up Kafka and the topics, writes the input,
// starts two instances, queries every word through each until both answer
// exactly, and prints the answers to out. With serve it then serves until
// ctx is done.
func run(ctx context.Context, brokers string, out io.Writer, serve bool) (err error) {
	addrs, cleanup, err := exampleutil.Brokers(brokers)
	defer cleanup()
	if err != nil {
		return err
	}
	if err := exampleutil.CreateTopics(ctx, addrs, 4, linesTopic, countsTopic); err != nil {
		return err
	}
	if err := exampleutil.CheckEmpty(ctx, addrs, fmt.Sprintf("them (%s, %s and %s-*) and the consumer group %s", linesTopic, countsTopic, appID, appID), linesTopic, countsTopic); err != nil {
		return err
	}
	var input []*kgo.Record
	for i, line := range sampleLines {
		input = append(input, &kgo.Record{Topic: linesTopic, Key: fmt.Appendf(nil, "line-%d", i+1), Value: []byte(line)})
	}
	if err := exampleutil.Produce(ctx, addrs, input...); err != nil {
		return err
	}

	// Two instances of the app, as two processes would run them: each
	// with its own state directory, HTTP address and ApplicationServer.
	appCtx, stopApps := context.WithCancel(ctx)
	defer stopApps()
	waitCtx, stopWaiting := context.WithCancelCause(ctx)
	defer stopWaiting(nil)
	var insts []*instance
	errc := make(chan error, 2)
	defer func() {
		stopApps()
		for _, in := range insts {
			in.srv.Close()
			in.app.Close()
		}
		for range insts {
			if runErr := <-errc; runErr != nil && err == nil {
				err = runErr
			}
		}
	}()
	for i := range 2 {
		in, err := startInstance(appCtx, fmt.Sprintf("instance %d", i+1), addrs, errc, stopWaiting)
		if in != nil {
			insts = append(insts, in)
		}
		if err != nil {
			return err
		}
	}
	for _, in := range insts {
		fmt.Fprintf(out, "%s serves http://%s\n", in.name, in.addr)
	}

	want := expectedCounts()
	answers, err := queryAll(waitCtx, insts, want)
	if err != nil {
		return err
	}
	printAnswers(out, insts, want, answers)
	if serve {
		fmt.Fprintln(out, "Serving until Ctrl-C.")
		<-ctx.Done()
	}
	return nil
}

// startInstance listens on a free port of 127.0.0.1, makes an App that
// advertises that address, and runs both. The App's result goes to errc;
// if it stops on its own, stopWaiting is called.
func startInstance(ctx context.Context, name string, addrs []string, errc chan<- error, stopWaiting context.CancelCauseFunc) (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "brook-query-service-")
	if err != nil {
		ln.Close()
		return nil, err
	}
	addr := ln.Addr().String()
	app, err := stream.New(buildTopology(), stream.Config{
		AppID:             appID,
		Brokers:           addrs,
		StateDir:          dir,
		ApplicationServer: addr,
	})
	if err != nil {
		ln.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	counts, err := app.Store[string, int64](storeName)
	if err != nil {
		ln.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	s := &service{app: app, counts: counts, self: addr, client: &http.Client{Timeout: 5 * time.Second}}
	in := &instance{name: name, addr: addr, app: app, srv: &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}}
	go in.srv.Serve(ln)
	go func() {
		err := app.Run(ctx)
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = rmErr
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		}
		errc <- err
		stopWaiting(fmt.Errorf("%s stopped: %v", name, err))
	}()
	return in, nil
}

// expectedCounts counts the words of sampleLines as the topology should.
func expectedCounts() map[string]int64 {
	counts := map[string]int64{}
	for _, line := range sampleLines {
		for _, w := range words(line) {
			counts[w]++
		}
	}
	return counts
}

// reply is what one instance answered for one word.
type reply struct {
	Answer
	status int
}

// queryAll asks every instance for every word until all answer 200 with
// the expected count, and returns the answers, [word][instance].
func queryAll(ctx context.Context, insts []*instance, want map[string]int64) (map[string][]reply, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		got := map[string][]reply{}
		var wrong []string
		for w, n := range want {
			for _, in := range insts {
				r := get(ctx, client, "http://"+in.addr+"/count/"+url.PathEscape(w))
				got[w] = append(got[w], r)
				if r.status != http.StatusOK || r.Count != n || r.Word != w {
					wrong = append(wrong, fmt.Sprintf("%s asked for %q: status %d, count %d (want %d)", in.name, w, r.status, r.Count, n))
				}
			}
		}
		if len(wrong) == 0 {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the instances do not answer every count: %w\n  %s", context.Cause(ctx), strings.Join(wrong, "\n  "))
		case <-tick.C:
		}
	}
}

// get does one GET and decodes its answer; a failure is status 0.
func get(ctx context.Context, client *http.Client, u string) reply {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return reply{}
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode}
	if resp.StatusCode == http.StatusOK {
		if json.NewDecoder(resp.Body).Decode(&r.Answer) != nil {
			r.status = 0
		}
	}
	return r
}

// printAnswers prints, per word in alphabetical order, its count and who
// answered: the instance that held it, and for each instance asked,
// whether it answered from its own store or forwarded.
func printAnswers(out io.Writer, insts []*instance, want map[string]int64, answers map[string][]reply) {
	byAddr := map[string]string{}
	for _, in := range insts {
		byAddr[in.addr] = in.name
	}
	width := 0
	for w := range want {
		width = max(width, len(w))
	}
	fmt.Fprintf(out, "GET /count/{word} through each instance (%d words):\n", len(want))
	held := map[string]int{}
	for _, w := range slices.Sorted(maps.Keys(want)) {
		owner := byAddr[answers[w][0].Host]
		held[owner]++
		var how []string
		for i, in := range insts {
			a := answers[w][i]
			verb := "forwarded"
			if a.Host == in.addr {
				verb = "local"
			}
			how = append(how, fmt.Sprintf("%s: %d (%s)", in.name, a.Count, verb))
		}
		fmt.Fprintf(out, "  %-*s %d  held by %s; %s\n", width, w, want[w], owner, strings.Join(how, ", "))
	}
	for _, in := range insts {
		fmt.Fprintf(out, "%s holds %d of the %d words.\n", in.name, held[in.name], len(want))
	}
	fmt.Fprintln(out, "Both instances answered every word with its exact count.")
}
