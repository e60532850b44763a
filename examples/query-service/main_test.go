package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/brookstream/brook/internal/exampleutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRun runs the example: two instances, every word asked through each;
// both must answer every word with its exact count, one from its store,
// the other by forwarding to it.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	require.NoError(t, run(ctx, "", &out, false))
	t.Log("\n" + out.String())

	want := map[string]int{"a": 2, "and": 1, "barks": 1, "brown": 2, "dog": 4, "end": 1, "fox": 4, "jumps": 2, "lazy": 2, "over": 3, "quick": 5, "runs": 1, "sleeps": 1, "the": 7}
	line := regexp.MustCompile(`^  (\S+) +(\d+)  held by instance ([12]); instance 1: (\d+) \((local|forwarded)\), instance 2: (\d+) \((local|forwarded)\)$`)
	seen := map[string]bool{}
	held := map[string]int{}
	for _, l := range strings.Split(out.String(), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		w := m[1]
		seen[w] = true
		n := fmt.Sprint(want[w])
		assert.Equal(t, n, m[2], l)
		assert.Equal(t, n, m[4], "instance 1's answer: %s", l)
		assert.Equal(t, n, m[6], "instance 2's answer: %s", l)
		// The holder answers from its store, the other forwards to it.
		if m[3] == "1" {
			assert.Equal(t, []string{"local", "forwarded"}, []string{m[5], m[7]}, l)
		} else {
			assert.Equal(t, []string{"forwarded", "local"}, []string{m[5], m[7]}, l)
		}
		held["instance "+m[3]]++
	}
	assert.Len(t, seen, len(want), "one line per word")
	assert.Contains(t, out.String(), fmt.Sprintf("instance 1 holds %d of the 14 words.\ninstance 2 holds %d of the 14 words.\nBoth instances answered every word with its exact count.\n", held["instance 1"], held["instance 2"]))
}

// TestService: a word never seen is 404 through either instance (the
// non-owner relays the owner's answer); a forwarded request that reaches
// an instance that does not hold the word is 503, never forwarded again;
// /owners lists the instances that hold the count's tasks.
func TestService(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addrs, cleanup, err := exampleutil.Brokers("")
	defer cleanup()
	require.NoError(t, err)
	require.NoError(t, exampleutil.CreateTopics(ctx, addrs, 4, linesTopic, countsTopic))
	errc := make(chan error, 2)
	var insts []*instance
	for i := range 2 {
		in, err := startInstance(ctx, fmt.Sprint("instance ", i+1), addrs, errc, func(error) {})
		require.NoError(t, err)
		insts = append(insts, in)
	}
	defer func() {
		for _, in := range insts {
			in.srv.Close()
			in.app.Close()
			assert.NoError(t, <-errc)
		}
	}()

	// Wait until both instances know the owner of "zebra" and agree.
	var owner, other *instance
	for deadline := time.Now().Add(45 * time.Second); owner == nil; time.Sleep(50 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the instances do not agree on an owner")
		md1, err1 := insts[0].app.KeyOwner[string](storeName, "zebra")
		md2, err2 := insts[1].app.KeyOwner[string](storeName, "zebra")
		if err1 != nil || err2 != nil || md1.Local == md2.Local || md1.Active != md2.Active {
			continue
		}
		all, err := insts[0].app.AllMetadata()
		if err != nil || len(all) != 2 {
			continue // the second instance has not joined yet
		}
		owner, other = insts[0], insts[1]
		if md2.Local {
			owner, other = insts[1], insts[0]
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}
	status := func(in *instance, path string, forwarded bool) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+in.addr+path, nil)
		require.NoError(t, err)
		if forwarded {
			req.Header.Set(forwardedHeader, "test")
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	// The owner's task may still be restoring (503): retry until 404.
	for _, in := range []*instance{owner, other} {
		var code int
		var body string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if code, body = status(in, "/count/zebra", false); code != http.StatusServiceUnavailable || time.Now().After(deadline) {
				break
			}
		}
		assert.Equal(t, http.StatusNotFound, code, "%s: %s", in.name, body)
		assert.Contains(t, body, `"zebra": no such word`)
	}
	code, body := status(other, "/count/zebra", true)
	assert.Equal(t, http.StatusServiceUnavailable, code, body)
	assert.Contains(t, body, "forwarded by test, but "+owner.addr+` holds "zebra"`)

	// The count's four tasks (sub-topology 1) are all listed, the owner
	// of "zebra" among their holders.
	code, body = status(other, "/owners", false)
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `"host":"`+owner.addr+`"`)
	assert.Equal(t, 4, strings.Count(body, `"1_`), "the count's tasks: %s", body)
}
