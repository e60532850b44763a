package stream_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/kafkatest"
	"github.com/brookstream/brook/stream"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestZombieCannotCommit freezes a member (SIGSTOP) past its session
// timeout while it holds an open transaction. The group gives its tasks to
// another member, which reprocesses from the committed offsets. When the
// zombie resumes (SIGCONT), its transaction must not commit: every key's
// output stays exactly 1..n.
func TestZombieCannotCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("zombie test skipped in -short mode")
	}
	k := kafkatest.New(t)
	k.Topic("crash-in", 4)
	k.Topic("crash-out", 4)
	const keys = 20
	want := map[string]int64{}
	n := 0
	feed := func(count int) {
		var recs []*kgo.Record
		for range count {
			key := "k" + strconv.Itoa(n%keys)
			recs = append(recs, rec("crash-in", key, strconv.Itoa(n)))
			want[key]++
			n++
		}
		k.Produce(false, recs...)
	}

	zombie := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	zombie.Env = append(os.Environ(), crashChildEnv+"=1", "BROOK_CHILD_DYNAMIC=1",
		"BROOK_BROKERS="+strings.Join(k.Addrs, ","), "BROOK_STATE_DIR="+t.TempDir())
	zombie.Stdout, zombie.Stderr = os.Stderr, os.Stderr
	require.NoError(t, zombie.Start())
	t.Cleanup(func() {
		if os.Getenv("BROOK_ZOMBIE_DUMP") != "" {
			zombie.Process.Signal(syscall.SIGQUIT)
			time.Sleep(time.Second)
		}
		zombie.Process.Kill()
		zombie.Wait()
	})

	// Let the zombie-to-be process and commit, then freeze it mid-stream.
	for range 10 {
		feed(100)
		time.Sleep(50 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return len(k.ReadAll("crash-out", 200*time.Millisecond)) > 0 }, 20*time.Second, 100*time.Millisecond)
	feed(300)
	time.Sleep(30 * time.Millisecond)
	require.NoError(t, zombie.Process.Signal(syscall.SIGSTOP))
	frozen := n
	committed := len(k.ReadAll("crash-out", 300*time.Millisecond))
	t.Logf("zombie frozen with %d of %d outputs committed", committed, frozen)

	// A new member takes over once the zombie's session expires.
	cfg := crashConfig(k.Addrs, t.TempDir())
	cfg.InstanceID = ""
	cfg.ClientOpts = []kgo.Opt{kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100 * time.Millisecond)}
	app, err := stream.New(crashTopology(), cfg)
	require.NoError(t, err)
	go app.Run(context.Background())
	defer app.Close()
	view, err := app.Store[string, int64]("counts")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var sum int64
		for _, c := range view.All() {
			sum += c
		}
		return sum == int64(frozen)
	}, 30*time.Second, 100*time.Millisecond, "the new member did not take over the zombie's tasks")

	// Wake the zombie: it must fail to commit, rejoin, and share the work.
	require.NoError(t, zombie.Process.Signal(syscall.SIGCONT))
	for range 40 {
		feed(100)
		time.Sleep(100 * time.Millisecond)
	}
	total := n
	out := k.Read("crash-out", total, 60*time.Second)
	requireExactlyOnce(t, out, want)
}
