package stream_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// captured is one log record: its level, message and attributes as text.
type captured struct {
	level slog.Level
	msg   string
	attrs string
}

// capture is a slog.Handler that keeps the records at min or above.
type capture struct {
	min   slog.Level
	mu    *sync.Mutex
	recs  *[]captured
	attrs string
}

func newCapture(min slog.Level) *capture {
	return &capture{min: min, mu: &sync.Mutex{}, recs: &[]captured{}}
}

func (c *capture) Enabled(_ context.Context, l slog.Level) bool { return l >= c.min }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(c.attrs)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	c.mu.Lock()
	*c.recs = append(*c.recs, captured{r.Level, r.Message, b.String()})
	c.mu.Unlock()
	return nil
}

func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	d := *c
	for _, a := range as {
		d.attrs += " " + a.String()
	}
	return &d
}

func (c *capture) WithGroup(name string) slog.Handler {
	d := *c
	d.attrs += " group=" + name
	return &d
}

func (c *capture) all() []captured {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]captured(nil), *c.recs...)
}

// find returns the records whose message contains msg.
func (c *capture) find(msg string) []captured {
	var out []captured
	for _, r := range c.all() {
		if strings.Contains(r.msg, msg) {
			out = append(out, r)
		}
	}
	return out
}

// TestBrokerLostIsLogged: when the broker goes away after the App started,
// the App keeps retrying and says at Warn, every few seconds, what it waits
// for, instead of retrying in silence.
func TestBrokerLostIsLogged(t *testing.T) {
	k := kafkatest.New(t)
	k.Kfake("closes the in-process broker; on Apache Kafka TestBrokerRestart kills a real one")
	k.Topic("lost-in", 1)
	k.Topic("lost-out", 1)
	b := stream.NewBuilder()
	stream.Source(b, "lost-in", serde.String(), serde.String()).To("lost-out", nil, nil)
	logs := newCapture(slog.LevelWarn)
	app, err := stream.New(b, stream.Config{AppID: "lost", Brokers: k.Addrs, StateDir: t.TempDir(), Logger: slog.New(logs)})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- app.Run(context.Background()) }()
	k.Produce(false, &kgo.Record{Topic: "lost-in", Key: []byte("k"), Value: []byte("v")})
	require.Len(t, k.Read("lost-out", 1, 30*time.Second), 1)
	require.Empty(t, logs.find("waiting for the Kafka brokers"), "no warning while the broker answers")

	k.C.Close()
	require.Eventually(t, func() bool { return len(logs.find("waiting for the Kafka brokers")) >= 2 }, 40*time.Second, 100*time.Millisecond,
		"two warnings while the broker is gone; got %v", logs.all())
	w := logs.find("waiting for the Kafka brokers")[0]
	assert.Equal(t, slog.LevelWarn, w.level)
	assert.Contains(t, w.attrs, "waiting_for=")
	assert.Contains(t, w.attrs, k.Addrs[0])
	// Not a line per retry: a warning every few seconds at most.
	time.Sleep(6 * time.Second)
	n := len(logs.find("waiting for the Kafka brokers"))
	assert.LessOrEqual(t, n, 14, "warnings in about 10-20s: %d", n)

	app.Close()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}
