package stream_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The crash test runs a counting topology in a child process (this test
// binary, re-executed), kills it with SIGKILL at random moments while input
// flows, restarts it, and at the end checks that every key's output is
// exactly 1, 2, ..., n (no update lost, none repeated) and that the store
// holds exactly n: exactly-once through crashes.
//
// CI runs a short form. The long form: BROOK_CRASH_LONG=1 go test -run
// TestCrashExactlyOnce ./stream/

const crashChildEnv = "BROOK_CRASH_CHILD"

func crashTopology() *stream.Builder { return countByKey("crash-in", "counts", "crash-out") }

func crashConfig(brokers []string, dir string) stream.Config {
	return stream.Config{
		AppID:      "crash",
		Brokers:    brokers,
		StateDir:   dir,
		InstanceID: "crash-member",
		Guarantee:  stream.ExactlyOnce,
		// Small caches make commits flush often, mid-stream.
		StoreCacheBytes: 4 << 10,
		ClientOpts:      []kgo.Opt{kgo.SessionTimeout(2 * time.Second), kgo.HeartbeatInterval(200 * time.Millisecond)},
	}
}

// TestCrashChild is the child process; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("runs only as the crash test's child process")
	}
	cfg := crashConfig(strings.Split(os.Getenv("BROOK_BROKERS"), ","), os.Getenv("BROOK_STATE_DIR"))
	if os.Getenv("BROOK_CHILD_DYNAMIC") != "" {
		cfg.InstanceID = "" // a dynamic member: a replacement gets a new member id
		cfg.ClientOpts = []kgo.Opt{kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100 * time.Millisecond)}
		if d, err := time.ParseDuration(os.Getenv("BROOK_CHILD_SESSION")); err == nil {
			cfg.ClientOpts = []kgo.Opt{kgo.SessionTimeout(d)}
		}
	}
	if os.Getenv("BROOK_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	b := crashTopology()
	if os.Getenv(crashWindowedEnv) != "" {
		b = crashWindowedTopology()
	}
	if os.Getenv(crashSessionEnv) != "" {
		b = crashSessionTopology()
	}
	crashChildRun(b, cfg)
}

// crashChildRun runs b with cfg as a crash test's child process, until it
// is killed: it exits with status 2 if the App cannot be built and 3 if
// Run fails.
func crashChildRun(b *stream.Builder, cfg stream.Config) {
	app, err := stream.New(b, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := app.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
}

// crashChildConfig is the config of a crash test's child process for the
// application app (member app+"-member"): crashConfig with the brokers
// and state directory its parent passed in BROOK_BROKERS and
// BROOK_STATE_DIR.
func crashChildConfig(app string) stream.Config {
	return crashAppConfig(strings.Split(os.Getenv("BROOK_BROKERS"), ","), os.Getenv("BROOK_STATE_DIR"), app)
}

// crashAppConfig is crashConfig for the application app, with member id
// app+"-member".
func crashAppConfig(brokers []string, dir, app string) stream.Config {
	cfg := crashConfig(brokers, dir)
	cfg.AppID, cfg.InstanceID = app, app+"-member"
	return cfg
}

// crashSize is the number of kills and of input records of a crash test:
// 3 and 3000, or longKills and longTotal when BROOK_CRASH_LONG is set.
func crashSize(longKills, longTotal int) (kills, total int) {
	if os.Getenv("BROOK_CRASH_LONG") != "" {
		return longKills, longTotal
	}
	return 3, 3000
}

// crashFinalApp starts b with cfg in this process, the last run of a crash
// test after the kills, so that the test can query its stores; it is
// closed when the test ends.
func crashFinalApp(t *testing.T, b *stream.Builder, cfg stream.Config) *stream.App {
	t.Helper()
	app, err := stream.New(b, cfg)
	require.NoError(t, err)
	go app.Run(context.Background())
	t.Cleanup(app.Close)
	return app
}

func TestCrashExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	kills, total := crashSize(25, 40000)
	k := kafkatest.New(t)
	k.Topic("crash-in", 4)
	k.Topic("crash-out", 4)
	dir := t.TempDir()

	const keys = 20
	want := map[string]int64{}
	for j := range total {
		want["k"+strconv.Itoa(j%keys)]++
	}
	crashRun(t, k, "TestCrashChild", kills, total, func(j int) []*kgo.Record {
		return []*kgo.Record{rec("crash-in", "k"+strconv.Itoa(j%keys), strconv.Itoa(j))}
	}, crashChildEnv+"=1", "BROOK_STATE_DIR="+dir)
	before := len(k.ReadAll("crash-out", 500*time.Millisecond))
	t.Logf("the killed children committed %d of %d outputs", before, total)
	require.Positive(t, before, "the children committed nothing before they were killed")

	// The last run happens in this process, so the test can query its store.
	app := crashFinalApp(t, crashTopology(), crashConfig(k.Addrs, dir))
	view, err := app.Store[string, int64]("counts")
	require.NoError(t, err)
	requireStore(t, view, want, 60*time.Second)

	// Every key's committed output is exactly 1..n.
	requireExactlyOnce(t, k.Read("crash-out", total, 30*time.Second), want)
}

// crashRun is the harness of the crash tests: it feeds the records that
// input(j) returns for j in [0, total), in batches of 50 spread over the
// whole kill phase (about 1.25 s per kill), while it starts the test
// binary's test child (a TestXxxChild that runs an App) with env added
// and the brokers in BROOK_BROKERS, SIGKILLs it after 0.5 to 2 s, kills
// times; it returns once every record was fed.
func crashRun(t *testing.T, k *kafkatest.Kafka, child string, kills, total int, input func(j int) []*kgo.Record, env ...string) {
	t.Helper()
	pause := time.Duration(kills) * 1250 * time.Millisecond / time.Duration(max(total/50, 1))
	var feedWG sync.WaitGroup
	feedWG.Add(1)
	go func() {
		defer feedWG.Done()
		cl := k.Client()
		defer cl.Close()
		for i := 0; i < total; i += 50 {
			var recs []*kgo.Record
			for j := i; j < i+50 && j < total; j++ {
				recs = append(recs, input(j)...)
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Errorf("feed: %v", err)
				return
			}
			time.Sleep(pause/2 + time.Duration(rand.Int64N(int64(pause))))
		}
	}()
	for i := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$")
		cmd.Env = append(append(os.Environ(), env...), "BROOK_BROKERS="+strings.Join(k.Addrs, ","))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(500+rand.IntN(1500)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		t.Logf("killed child %d", i+1)
	}
	feedWG.Wait()
}
