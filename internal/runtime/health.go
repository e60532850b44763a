package runtime

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stallReport is how often the engine says what it waits for while the
// brokers do not answer: often enough to be seen, rarely enough not to
// flood the log.
var stallReport = 5 * time.Second

// health watches the client's conversations with the brokers through kgo
// hooks, so that an App whose brokers are gone says so instead of retrying
// in silence (franz-go's own messages about it are logged one level down).
type health struct {
	mu      sync.Mutex
	lastOK  time.Time // last response read without error
	lastBad time.Time // last failed dial or request
	err     error     // the last failure
	req     string    // the request that last failed, "" for a dial
	broker  string    // the broker it went to
}

var (
	_ kgo.HookBrokerConnect = (*health)(nil)
	_ kgo.HookBrokerE2E     = (*health)(nil)
)

func newHealth() *health { return &health{lastOK: time.Now()} }

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (h *health) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		return
	}
	h.mu.Lock()
	h.lastBad, h.err, h.req, h.broker = time.Now(), err, "", net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
	h.mu.Unlock()
}

// OnBrokerE2E implements kgo.HookBrokerE2E.
func (h *health) OnBrokerE2E(meta kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := e.Err(); err != nil {
		h.lastBad, h.err, h.req, h.broker = now, err, kmsg.NameForKey(key), net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
		return
	}
	h.lastOK = now
}

// stalled returns how long the brokers have not answered, and the last
// failure, when the last failure is newer than the last answer and older
// than stallReport.
func (h *health) stalled(now time.Time) (silent time.Duration, req, broker string, err error, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil || !h.lastBad.After(h.lastOK) || now.Sub(h.lastOK) < stallReport {
		return 0, "", "", nil, false
	}
	return now.Sub(h.lastOK), h.req, h.broker, h.err, true
}

// watch logs at Warn, every stallReport while the brokers do not answer,
// what the engine waits for; it returns when ctx is done.
func (e *Engine) watch(ctx context.Context, h *health) {
	t := time.NewTicker(stallReport)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			silent, req, broker, err, ok := h.stalled(now)
			if !ok {
				continue
			}
			what := "a connection to broker " + broker
			if req != "" {
				what = "an answer to " + req + " from broker " + broker
			}
			e.log.Warn("waiting for the Kafka brokers; processing is paused and the client keeps retrying",
				slog.String("waiting_for", what),
				slog.Duration("silent_for", silent.Round(time.Second)),
				slog.Any("brokers", e.o.Brokers),
				slog.Any("err", err))
		}
	}
}
