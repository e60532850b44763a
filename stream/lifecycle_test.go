package stream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stateLog records what an OnStateChange listener sees, as
// "STATE/waiting" ("RUNNING" when it waits for nothing).
type stateLog struct {
	mu   sync.Mutex
	seq  []string
	bad  []string // transitions whose old status is not the previous new
	last string
}

func statusName(s stream.Status) string {
	if s.Waiting == stream.WaitingNone {
		return s.State.String()
	}
	return s.State.String() + "/" + s.Waiting.String()
}

func newStateLog() *stateLog { return &stateLog{last: "CREATED"} }

func (l *stateLog) listen(old, new stream.Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if statusName(old) != l.last {
		l.bad = append(l.bad, statusName(old)+"->"+statusName(new)+" after "+l.last)
	}
	l.last = statusName(new)
	l.seq = append(l.seq, l.last)
}

// mark returns the position of the next transition.
func (l *stateLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seq)
}

func (l *stateLog) since(i int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seq[i:]...)
}

// matchStates reports whether got matches pattern, whose items are state
// names, a name ending in "?" (optional), or "*" (any run of states).
func matchStates(got, pattern []string) bool {
	if len(pattern) == 0 {
		return len(got) == 0
	}
	p := pattern[0]
	switch {
	case p == "*":
		for i := 0; i <= len(got); i++ {
			if matchStates(got[i:], pattern[1:]) {
				return true
			}
		}
		return false
	case strings.HasSuffix(p, "?"):
		if len(got) > 0 && got[0] == strings.TrimSuffix(p, "?") && matchStates(got[1:], pattern[1:]) {
			return true
		}
		return matchStates(got, pattern[1:])
	default:
		return len(got) > 0 && got[0] == p && matchStates(got[1:], pattern[1:])
	}
}

func requireStates(t *testing.T, l *stateLog, from int, phase string, pattern ...string) {
	t.Helper()
	got := l.since(from)
	require.True(t, matchStates(got, pattern), "%s: states %v do not match %v", phase, got, pattern)
}

// waitStatus waits until app's status is want ("STATE/waiting").
func waitStatus(t *testing.T, app *stream.App, want string, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return statusName(app.Status()) == want }, timeout, 20*time.Millisecond,
		"status %s, want %s", statusName(app.Status()), want)
}

// probe GETs path from the app's health handler and returns the code and
// the JSON body.
func probe(t *testing.T, srv *httptest.Server, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(b, &body), "body %s", b)
	return resp.StatusCode, body
}

// TestLifecycle runs two instances through start, a rebalance in which
// stores restore (held by a foreign open transaction on the changelogs), a
// broker outage and a shutdown, and checks what their OnStateChange
// listeners saw, App.Status and the health handler at each step.
func TestLifecycle(t *testing.T) {
	k := kafkatest.New(t)
	kf := k.Kfake("makes a broker outage by failing every request")
	var down atomic.Bool
	kf.ControlKey(-1, func(kmsg.Request) (kmsg.Response, error, bool) {
		kf.KeepControl()
		if down.Load() {
			return nil, errors.New("outage"), true
		}
		return nil, nil, false
	})
	k.Topic("lc-in", 2)
	k.Topic("lc-out", 2)
	logA, logB := newStateLog(), newStateLog()
	newApp := func(l *stateLog) *stream.App {
		app, err := stream.New(countByKey("lc-in", "counts", "lc-out"),
			stream.Config{AppID: "lc", Brokers: k.Addrs, StateDir: t.TempDir(), OnStateChange: l.listen})
		require.NoError(t, err)
		return app
	}
	a, b := newApp(logA), newApp(logB)
	srvA := httptest.NewServer(http.StripPrefix("/healthz", a.HealthHandler()))
	defer srvA.Close()
	srvB := httptest.NewServer(b.HealthHandler())
	defer srvB.Close()

	// Before Run: created, alive, not ready.
	require.Equal(t, stream.StateCreated, a.State())
	code, body := probe(t, srvA, "/healthz/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "CREATED", body["state"])
	code, _ = probe(t, srvA, "/healthz/livez")
	require.Equal(t, http.StatusOK, code)
	resp, err := http.Get(srvA.URL + "/healthz/other")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	run := func(app *stream.App) chan error {
		errc := make(chan error, 1)
		go func() { errc <- app.Run(context.Background()) }()
		return errc
	}

	// Start: A joins, restores its empty changelogs, runs.
	errA := run(a)
	defer a.Close()
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, rec("lc-in", fmt.Sprint("k", i%5), "v"))
	}
	k.Produce(false, recs...)
	require.Len(t, k.Read("lc-out", 10, 30*time.Second), 10)
	waitStatus(t, a, "RUNNING", 10*time.Second)
	requireStates(t, logA, 0, "start", "REBALANCING/group", "RESTORING/restore?", "RUNNING")
	code, body = probe(t, srvA, "/healthz/readyz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "RUNNING", body["state"])
	require.Equal(t, "none", body["waiting_for"])
	require.EqualValues(t, 2, body["tasks"])

	// A rebalance with a restore: a foreign transaction left open on both
	// changelog partitions holds every restore below its end (restores
	// read committed), so B (new state) stays restoring until it aborts.
	// A keeps its other task through the cooperative rebalance (decision
	// 44): it restores nothing and goes back to RUNNING.
	txn := k.Client(kgo.TransactionalID("lc-foreign"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, txn.BeginTransaction())
	for p := range int32(2) {
		require.NoError(t, txn.ProduceSync(context.Background(),
			&kgo.Record{Topic: "lc-counts-changelog", Partition: p, Key: []byte("zzz"), Value: []byte{0, 0, 0, 0, 0, 0, 0, 1}}).FirstErr())
	}
	markA := logA.mark()
	errB := run(b)
	defer b.Close()
	waitStatus(t, b, "RESTORING/restore", 30*time.Second)
	require.Eventually(t, func() bool { return b.Status().ToRestore > 0 }, 10*time.Second, 10*time.Millisecond, "offsets to restore")
	st := b.Status()
	assert.Equal(t, 1, st.Tasks)
	code, body = probe(t, srvB, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "RESTORING", body["state"])
	require.Equal(t, "restore", body["waiting_for"])
	require.NoError(t, txn.EndTransaction(context.Background(), kgo.TryAbort))
	waitStatus(t, a, "RUNNING", 30*time.Second)
	waitStatus(t, b, "RUNNING", 30*time.Second)
	requireStates(t, logA, markA, "rebalance", "REBALANCING/group", "*", "RUNNING")
	requireStates(t, logB, 0, "join", "REBALANCING/group", "*", "RESTORING/restore", "RUNNING")
	code, _ = probe(t, srvB, "/readyz")
	require.Equal(t, http.StatusOK, code)

	// A broker outage: every request fails until it ends.
	markA = logA.mark()
	down.Store(true)
	// Under cooperative rebalancing the member may also lose its
	// heartbeat and be rebalancing: what it waits for is the brokers.
	require.Eventually(t, func() bool { return a.Status().Waiting == stream.WaitingBrokers }, 30*time.Second, 20*time.Millisecond,
		"A waits for the brokers")
	st = a.Status()
	require.Error(t, st.Err)
	require.NotEmpty(t, st.Broker)
	code, body = probe(t, srvA, "/healthz/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "brokers", body["waiting_for"])
	require.NotEmpty(t, body["error"])
	code, _ = probe(t, srvA, "/healthz/livez")
	require.Equal(t, http.StatusOK, code, "an outage does not fail liveness")
	time.Sleep(time.Second)
	down.Store(false)
	waitStatus(t, a, "RUNNING", 60*time.Second)
	waitStatus(t, b, "RUNNING", 60*time.Second)
	outage := logA.since(markA)
	require.True(t, slices.ContainsFunc(outage, func(s string) bool { return strings.HasSuffix(s, "/brokers") }), "outage: states %v", outage)
	requireStates(t, logA, markA, "outage", "*", "RUNNING")

	// Shutdown: B leaves (A rebalances and takes its task), then A.
	markA = logA.mark()
	markB := logB.mark()
	b.Close()
	require.NoError(t, <-errB)
	require.Equal(t, stream.StateNotRunning, b.State())
	requireStates(t, logB, markB, "shutdown B", "PENDING_SHUTDOWN", "NOT_RUNNING")
	require.Eventually(t, func() bool { st := a.Status(); return st.Ready() && st.Tasks == 2 }, 30*time.Second, 20*time.Millisecond,
		"A takes B's task: %+v", a.Status())
	a.Close()
	require.NoError(t, <-errA)
	requireStates(t, logA, markA, "shutdown A", "*", "RUNNING", "PENDING_SHUTDOWN", "NOT_RUNNING")
	code, body = probe(t, srvA, "/healthz/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "NOT_RUNNING", body["state"])
	assert.Empty(t, logA.bad, "transitions out of order")
	assert.Empty(t, logB.bad, "transitions out of order")
	t.Logf("A: %v", logA.since(0))
	t.Logf("B: %v", logB.since(0))
}

// TestLifecycleError: a bad record under FailOnBadRecord takes the App
// through PendingError to Error, and its liveness probe fails.
func TestLifecycleError(t *testing.T) {
	k := kafkatest.New(t)
	k.Topic("lce-in", 1)
	k.Topic("lce-out", 1)
	b := stream.NewBuilder()
	stream.Source(b, "lce-in", serde.String(), serde.Int64()).To("lce-out", nil, nil)
	l := newStateLog()
	app, err := stream.New(b, stream.Config{AppID: "lce", Brokers: k.Addrs, StateDir: t.TempDir(), OnStateChange: l.listen})
	require.NoError(t, err)
	h := app.HealthHandler()
	errc := make(chan error, 1)
	go func() { errc <- app.Run(context.Background()) }()
	defer app.Close()
	waitStatus(t, app, "RUNNING", 30*time.Second)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/livez", nil))
	require.Equal(t, http.StatusOK, rr.Code)

	k.Produce(false, rec("lce-in", "k", "not eight bytes"))
	var re *stream.RecordError
	select {
	case err := <-errc:
		require.ErrorAs(t, err, &re)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	require.Equal(t, stream.StateError, app.State())
	require.ErrorAs(t, app.Status().Err, &re)
	requireStates(t, l, 0, "error", "REBALANCING/group", "RUNNING", "PENDING_ERROR", "ERROR")
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/livez", nil))
	require.Equal(t, http.StatusServiceUnavailable, rr.Code)
	require.Contains(t, rr.Body.String(), `"state":"ERROR"`)
	require.Contains(t, rr.Body.String(), "lce-in")
}

// TestLifecycleClosedBeforeRun: Close before Run ends in NotRunning.
func TestLifecycleClosedBeforeRun(t *testing.T) {
	l := newStateLog()
	app, err := stream.New(countByKey("x-in", "x", "x-out"), stream.Config{AppID: "x", Brokers: []string{"127.0.0.1:1"}, OnStateChange: l.listen})
	require.NoError(t, err)
	require.Equal(t, stream.StateCreated, app.State())
	app.Close()
	require.Equal(t, stream.StateNotRunning, app.State())
	require.Equal(t, []string{"NOT_RUNNING"}, l.since(0))
	require.ErrorIs(t, app.Run(context.Background()), stream.ErrClosed)
}

// TestHealthHandlerRoutes: the probes' paths, methods and codes on an App
// that has not run.
func TestHealthHandlerRoutes(t *testing.T) {
	app, err := stream.New(countByKey("x-in", "x", "x-out"), stream.Config{AppID: "x", Brokers: []string{"127.0.0.1:1"}})
	require.NoError(t, err)
	h := app.HealthHandler()
	for _, tc := range []struct {
		method, path string
		code         int
		body         bool
	}{
		{http.MethodGet, "/livez", http.StatusOK, true},
		{http.MethodGet, "/readyz", http.StatusServiceUnavailable, true},
		{http.MethodHead, "/readyz", http.StatusServiceUnavailable, false},
		{http.MethodGet, "/probes/livez", http.StatusOK, true},
		{http.MethodPost, "/livez", http.StatusMethodNotAllowed, true},
		{http.MethodGet, "/", http.StatusNotFound, true},
		{http.MethodGet, "/livez/x", http.StatusNotFound, true},
	} {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest(tc.method, tc.path, nil))
		assert.Equal(t, tc.code, rr.Code, "%s %s", tc.method, tc.path)
		assert.Equal(t, tc.body, rr.Body.Len() > 0, "%s %s: body %q", tc.method, tc.path, rr.Body.String())
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var body map[string]any
	require.NoError(t, json.Unmarshal(rr.Body.Bytes(), &body))
	assert.Equal(t, map[string]any{"state": "CREATED", "waiting_for": "none", "since": body["since"], "ready": false, "live": true, "tasks": float64(0)}, body)
	assert.Equal(t, "application/json", rr.Header().Get("Content-Type"))
}
