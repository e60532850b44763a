package stream

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/brookstream/brook/internal/runtime"
)

// State is the lifecycle state of an App. The states are Kafka Streams'
// (KafkaStreams.State), plus Restoring, which Kafka Streams folds into
// REBALANCING:
//
//	Created -> Rebalancing -> Restoring -> Running
//	             ^   |             |          |
//	             +---+-------------+----------+   (a rebalance)
//	any -> PendingShutdown -> NotRunning          (Run's context cancelled, Close)
//	any -> PendingError -> Error                  (a fatal error)
//
// String returns Kafka Streams' name for it ("RUNNING").
type State = runtime.State

// The states of an App.
const (
	// StateCreated: New returned the App; Run was not called yet.
	StateCreated = runtime.StateCreated
	// StateRebalancing: Run is setting up topics, loading global tables or
	// joining the consumer group, or a rebalance is under way: no record
	// is processed.
	StateRebalancing = runtime.StateRebalancing
	// StateRestoring: the App holds its tasks, and stores of some of them
	// are restoring from their changelogs; the others process records.
	StateRestoring = runtime.StateRestoring
	// StateRunning: every task of the App processes records.
	StateRunning = runtime.StateRunning
	// StatePendingShutdown: Run's context was cancelled (or Close called);
	// the App finishes the records it holds, commits and leaves the group.
	StatePendingShutdown = runtime.StatePendingShutdown
	// StateNotRunning: Run returned nil, or the App was closed before Run.
	StateNotRunning = runtime.StateNotRunning
	// StatePendingError: a fatal error stopped processing; Run is closing
	// down and will return it.
	StatePendingError = runtime.StatePendingError
	// StateError: Run returned an error.
	StateError = runtime.StateError
)

// Waiting says what an App waits for before it can process records; see
// Status.
type Waiting = runtime.Waiting

// What an App can wait for.
const (
	// WaitingNone: nothing.
	WaitingNone = runtime.WaitingNone
	// WaitingBrokers: every request to the brokers has failed for
	// BrokersUnreachableAfter (2s) with no answer in between; the App keeps
	// retrying. Status.Err and Status.Broker give the last failure.
	WaitingBrokers = runtime.WaitingBrokers
	// WaitingGroup: the consumer group, to join or to end a rebalance.
	WaitingGroup = runtime.WaitingGroup
	// WaitingRestore: stores restoring; Status.Restored and
	// Status.ToRestore give the progress.
	WaitingRestore = runtime.WaitingRestore
)

// BrokersUnreachableAfter is how long every request to the brokers must
// fail, with no answer in between, before an App reports WaitingBrokers
// (and its readiness probe fails).
const BrokersUnreachableAfter = 2 * time.Second

func init() { runtime.Unreachable = BrokersUnreachableAfter }

// Status is what an App is doing (State) and what it waits for (Waiting),
// with the details: since when, the error, the restore progress.
// Status.Ready reports whether it processes records (Running, waiting for
// nothing); Status.Live whether it is not failing (any state but
// PendingError and Error).
type Status = runtime.Status

// State returns the App's lifecycle state. Safe to call at any time from
// any goroutine.
func (a *App) State() State { return a.eng.Status().State }

// Status returns what the App is doing and waits for. Safe to call at any
// time from any goroutine. In PendingError and Error, Status.Err is the
// error Run returns, as Run returns it.
func (a *App) Status() Status {
	st := a.eng.Status()
	if st.State == StatePendingError || st.State == StateError {
		st.Err = exportErr(st.Err)
	}
	return st
}

// HealthHandler returns an http.Handler for a service's liveness and
// readiness probes. Mount it under any prefix; it answers GET and HEAD on
// a path ending in
//
//   - "/livez": 200 while the App is live, 503 in PendingError and Error
//     (a restart may help: Run has returned or is returning an error);
//   - "/readyz": 200 while the App is Running and waits for nothing, 503
//     otherwise (created, joining, rebalancing, restoring, brokers
//     unreachable, shutting down, stopped);
//
// and 404 on any other path. The body is the App's Status as JSON:
//
//	{"state":"RUNNING","waiting_for":"none","since":"2026-01-02T15:04:05Z",
//	 "ready":true,"live":true,"tasks":4}
//
// with "error" and "broker" when the App waits for the brokers or failed,
// and "restored" and "to_restore" while it restores. For example:
//
//	mux.Handle("/healthz/", http.StripPrefix("/healthz", app.HealthHandler()))
//	// GET /healthz/livez, GET /healthz/readyz
func (a *App) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var probe func(Status) bool
		switch {
		case strings.HasSuffix(r.URL.Path, "/livez") || r.URL.Path == "livez":
			probe = Status.Live
		case strings.HasSuffix(r.URL.Path, "/readyz") || r.URL.Path == "readyz":
			probe = Status.Ready
		default:
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		st := a.Status()
		body := healthJSON{
			State: st.State.String(), Waiting: st.Waiting.String(), Since: st.Since.UTC().Format(time.RFC3339Nano),
			Ready: st.Ready(), Live: st.Live(), Tasks: st.Tasks, Broker: st.Broker,
			Restored: st.Restored, ToRestore: st.ToRestore,
		}
		if st.Err != nil {
			body.Error = st.Err.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		code := http.StatusOK
		if !probe(st) {
			code = http.StatusServiceUnavailable
		}
		w.WriteHeader(code)
		if r.Method == http.MethodGet {
			_ = json.NewEncoder(w).Encode(body)
		}
	})
}

type healthJSON struct {
	State     string `json:"state"`
	Waiting   string `json:"waiting_for"`
	Since     string `json:"since"`
	Ready     bool   `json:"ready"`
	Live      bool   `json:"live"`
	Tasks     int    `json:"tasks"`
	Error     string `json:"error,omitempty"`
	Broker    string `json:"broker,omitempty"`
	Restored  int64  `json:"restored,omitempty"`
	ToRestore int64  `json:"to_restore,omitempty"`
}
