package exampleutil_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/exampleutil"
	"github.com/stretchr/testify/require"
)

// TestMainSignals runs Main in a child process (this test binary again)
// whose run function takes a minute to shut down. The first SIGINT
// cancels run's context; the second exits the process at once with
// status 130.
func TestMainSignals(t *testing.T) {
	if os.Getenv("EXAMPLEUTIL_MAIN_CHILD") == "1" {
		exampleutil.Main("child", func(ctx context.Context) error {
			fmt.Println("running")
			<-ctx.Done()
			fmt.Println("cancelled")
			time.Sleep(time.Minute) // a shutdown that hangs
			return nil
		})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainSignals$")
	cmd.Env = append(os.Environ(), "EXAMPLEUTIL_MAIN_CHILD=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(out)
	next := func(want string) {
		t.Helper()
		for lines.Scan() {
			if lines.Text() == want {
				return
			}
		}
		t.Fatalf("child never printed %q", want)
	}
	next("running")
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	next("cancelled")
	begin := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	exited := make(chan error, 1)
	go func() {
		for lines.Scan() {
		}
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "exit: %v", err)
		require.Equal(t, 130, ee.ExitCode())
		require.Less(t, time.Since(begin), 5*time.Second)
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the second SIGINT did not end the child")
	}
}
