package stream_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBrokerRestart runs a counting app on an Apache Kafka broker of its own
// while input flows, and takes the broker away twice: first SIGKILL while a
// transaction is open, with the broker back on its data directory after an
// outage; then a graceful stop and start. The app must ride both out (its
// open transaction aborts, it rewinds to the committed offsets and goes on)
// without returning from Run, and end exact: every key's committed output
// is 1..n and the store holds n.
//
// It runs with BROOK_TEST_APACHE=1. The outage is 5 s; BROOK_BROKER_OUTAGE
// (a duration, e.g. 30s) sets another.
func TestBrokerRestart(t *testing.T) {
	b := kafkatest.StartBroker(t)
	outage := 5 * time.Second
	if v := os.Getenv("BROOK_BROKER_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "BROOK_BROKER_OUTAGE")
		outage = d
	}
	k := b.Kafka()
	k.Topic("bf-in", 4)
	k.Topic("bf-out", 4)

	const keys = 20
	var fed atomic.Int64
	want := func() map[string]int64 {
		n := fed.Load()
		w := map[string]int64{}
		for j := range n {
			w["k"+strconv.Itoa(int(j%keys))]++
		}
		return w
	}
	// feed produces n records, in batches of 20 with short pauses; a
	// produce waits through an outage (the client retries).
	feed := func(n int) {
		cl := k.Client()
		for i := 0; i < n; i += 20 {
			var recs []*kgo.Record
			base := fed.Load()
			for j := base; j < base+20; j++ {
				recs = append(recs, rec("bf-in", "k"+strconv.Itoa(int(j%keys)), strconv.Itoa(int(j))))
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Errorf("feed: %v", err)
				return
			}
			fed.Add(20)
			time.Sleep(time.Duration(5+rand.IntN(10)) * time.Millisecond)
		}
	}

	cfg := stream.Config{AppID: "bf", Brokers: k.Addrs, StateDir: t.TempDir(), StoreCacheBytes: 4 << 10}
	if os.Getenv("BROOK_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	app, err := stream.New(countByKey("bf-in", "counts", "bf-out"), cfg)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { errc <- app.Run(context.Background()) }()
	defer app.Close()
	view, err := app.Store[string, int64]("counts")
	require.NoError(t, err)
	running := func(phase string) {
		t.Helper()
		select {
		case err := <-errc:
			t.Fatalf("%s: Run returned: %v", phase, err)
		default:
		}
	}
	// caughtUp waits until the store holds a count per key for every
	// record fed, failing at once if Run returns.
	caughtUp := func(phase string, timeout time.Duration) {
		t.Helper()
		w := want()
		deadline := time.Now().Add(timeout)
		got := map[string]int64{}
		for {
			running(phase)
			clear(got)
			for k, n := range view.All() {
				got[k] = n
			}
			if assert.ObjectsAreEqual(w, got) {
				return
			}
			if time.Now().After(deadline) {
				require.Equal(t, w, got, "%s: store after %v", phase, timeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	feed(1000)
	caughtUp("start", 60*time.Second)

	for _, fault := range []struct {
		name string
		down func()
	}{
		{"sigkill", b.Kill},
		{"graceful", b.Stop},
	} {
		// Input keeps flowing, so the app has a transaction open most of
		// the time; the fault lands in one.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); feed(1000) }()
		time.Sleep(500 * time.Millisecond)
		fault.down()
		t.Logf("%s: broker down with %d records fed", fault.name, fed.Load())
		time.Sleep(outage)
		running(fault.name + ", broker down")
		b.Start()
		wg.Wait()
		feed(200)
		caughtUp(fault.name+", broker back", 2*time.Minute)
	}

	w := want()
	var total int64
	for _, n := range w {
		total += n
	}
	requireExactlyOnce(t, k.Read("bf-out", int(total), 60*time.Second), w)
	running("end")
}
