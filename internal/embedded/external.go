package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvBrokers is the environment variable that switches tests and examples
// from the in-process Kafka to an external broker: a comma-separated list
// of host:port, for example "127.0.0.1:9092". Unset or empty: kfake.
//
// The broker is emptied at the start of every test (all topics and consumer
// groups deleted): point it only at a broker kept for tests.
const EnvBrokers = "BROOK_TEST_KAFKA"

// External returns the brokers named by BROOK_TEST_KAFKA, or nil when it is
// unset or names none.
func External() []string {
	var addrs []string
	for a := range strings.SplitSeq(os.Getenv(EnvBrokers), ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// The external broker is used by one test at a time: within a process by
// holders counting nested Starts, across processes (go test runs packages
// in parallel) by a lock file next to the system's temporary files.
var ext struct {
	mu      sync.Mutex
	holders int
	unlock  func()
}

// acquire takes the external broker for the caller and empties it unless
// this process already holds it.
func acquire(addrs []string) (release func(), err error) {
	ext.mu.Lock()
	defer ext.mu.Unlock()
	if ext.holders == 0 {
		name := "brook-test-kafka-" + strings.NewReplacer(":", "_", ",", "_", "/", "_").Replace(strings.Join(addrs, ",")) + ".lock"
		unlock, err := lockFile(filepath.Join(os.TempDir(), name))
		if err != nil {
			return nil, fmt.Errorf("embedded: lock external broker: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err = wipe(ctx, addrs)
		cancel()
		if err != nil {
			unlock()
			return nil, fmt.Errorf("embedded: empty external broker %v (%s): %w", addrs, EnvBrokers, err)
		}
		ext.unlock = unlock
	}
	ext.holders++
	var once sync.Once
	return func() {
		once.Do(func() {
			ext.mu.Lock()
			defer ext.mu.Unlock()
			if ext.holders--; ext.holders == 0 {
				ext.unlock()
				ext.unlock = nil
			}
		})
	}, nil
}

// wipe deletes every topic but the broker's own (named "__...") and every
// consumer group, and waits until they are gone. A group whose members of
// an earlier test have not yet timed out cannot be deleted; wipe waits for
// that up to a minute, then leaves it.
func wipe(ctx context.Context, addrs []string) error {
	// kadm answers from metadata cached for MetadataMinAge (5 s by
	// default): a deleted topic would stay listed that long.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics := func() ([]string, error) {
		td, err := adm.ListTopics(ctx)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, t := range td.Names() {
			if !strings.HasPrefix(t, "__") {
				names = append(names, t)
			}
		}
		return names, nil
	}
	names, err := topics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	if len(names) > 0 {
		resp, err := adm.DeleteTopics(ctx, names...)
		if err != nil {
			return fmt.Errorf("delete topics: %w", err)
		}
		for _, r := range resp {
			if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
				return fmt.Errorf("delete topic %q: %w", r.Topic, r.Err)
			}
		}
	}
	groupsLeft := time.Now().Add(time.Minute)
	for {
		left, err := topics()
		if err != nil {
			return fmt.Errorf("list topics: %w", err)
		}
		lg, err := adm.ListGroups(ctx)
		if err != nil {
			return fmt.Errorf("list groups: %w", err)
		}
		busy := 0
		if groups := lg.Groups(); len(groups) > 0 {
			resp, err := adm.DeleteGroups(ctx, groups...)
			if err != nil {
				return fmt.Errorf("delete groups: %w", err)
			}
			for _, r := range resp {
				if errors.Is(r.Err, kerr.NonEmptyGroup) {
					busy++
				} else if r.Err != nil && !errors.Is(r.Err, kerr.GroupIDNotFound) {
					return fmt.Errorf("delete group %q: %w", r.Group, r.Err)
				}
			}
		}
		if len(left) == 0 && (busy == 0 || time.Now().After(groupsLeft)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics %v still exist: %w", left, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
