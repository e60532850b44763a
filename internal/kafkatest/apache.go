package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvApache is the environment variable that enables the tests that start
// an Apache Kafka broker of their own with StartBroker (broker faults, the
// crash soak). Set to 1, they run; unset, they are skipped, so the suite
// needs Go alone. They need Java 17+ and Maven, which fetches the broker
// from Maven Central on first use (internal/kafkatest/apache/broker.sh).
const EnvApache = "BROOK_TEST_APACHE"

// Broker is an Apache Kafka broker (KRaft, combined broker and controller,
// one node) run by internal/kafkatest/apache/broker.sh for one test. Its
// config, data and log live in Dir; a restart reuses them and its port.
type Broker struct {
	t    testing.TB
	Dir  string
	Addr string // host:port of its PLAINTEXT listener
}

// StartBroker starts a broker in a fresh directory and stops it when the
// test ends. It skips the test unless BROOK_TEST_APACHE=1.
func StartBroker(t testing.TB) *Broker {
	t.Helper()
	if os.Getenv(EnvApache) != "1" {
		t.Skipf("starts an Apache Kafka broker: set %s=1 (needs Java 17+ and Maven)", EnvApache)
	}
	b := &Broker{t: t, Dir: t.TempDir()}
	b.Start()
	t.Cleanup(func() {
		if err := b.script("stop"); err != nil {
			t.Errorf("stop broker: %v", err)
		}
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(b.Dir, "broker.log")); err == nil {
				t.Logf("tail of broker.log:\n%s", Tail(string(log), 40))
			}
		}
	})
	return b
}

// Kafka returns the test helpers (topics, produce, read) for this broker.
func (b *Broker) Kafka() *Kafka { return &Kafka{t: b.t, Addrs: []string{b.Addr}} }

// Start starts the broker on its directory (formatting a new one) and
// waits until it serves metadata.
func (b *Broker) Start() {
	b.t.Helper()
	start := time.Now()
	out, err := b.output("start")
	require.NoError(b.t, err, "broker.sh start %s", b.Dir)
	addr := strings.TrimSpace(out)
	if b.Addr != "" {
		require.Equal(b.t, b.Addr, addr, "a restarted broker keeps its port")
	}
	b.Addr = addr
	b.waitMetadata(2 * time.Minute)
	b.t.Logf("apache kafka broker on %s started in %v", b.Addr, time.Since(start).Round(time.Millisecond))
}

// Kill kills the broker with SIGKILL and waits until it is gone. Its data
// stays as the kill left it, unflushed writes included.
func (b *Broker) Kill() {
	b.t.Helper()
	pid := b.pid()
	require.NoError(b.t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(b.t, func() bool { return !alive(pid) }, 30*time.Second, 10*time.Millisecond, "broker pid %d still alive after SIGKILL", pid)
	require.NoError(b.t, os.Remove(filepath.Join(b.Dir, "pid")))
}

// Stop stops the broker gracefully (SIGTERM; SIGKILL after 30 s).
func (b *Broker) Stop() {
	b.t.Helper()
	require.NoError(b.t, b.script("stop"))
}

func (b *Broker) pid() int {
	b.t.Helper()
	raw, err := os.ReadFile(filepath.Join(b.Dir, "pid"))
	require.NoError(b.t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(b.t, err)
	return pid
}

// alive reports whether pid runs: a zombie (killed, not yet reaped by
// its new parent) counts as gone.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// waitMetadata waits until the broker answers a metadata request that
// lists itself.
func (b *Broker) waitMetadata(timeout time.Duration) {
	b.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	require.NoError(b.t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := adm.Metadata(ctx)
		cancel()
		if err == nil && len(m.Brokers) > 0 {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("broker %s serves no metadata after %v: %v", b.Addr, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *Broker) script(cmd string) error {
	_, err := b.output(cmd)
	return err
}

func (b *Broker) output(cmd string) (string, error) {
	c := exec.Command("bash", BrokerScript(), cmd, b.Dir)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, stderr.String())
	}
	return string(out), nil
}

// BrokerScript returns the path of internal/kafkatest/apache/broker.sh.
func BrokerScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "apache", "broker.sh")
}

// Tail returns the last lines of s.
func Tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
