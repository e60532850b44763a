// Package embedded starts an in-process Kafka (kfake) for examples and tests.
//
// The cluster speaks the real Kafka wire protocol, transactions and consumer
// groups included, so brook runs against it exactly as against a broker.
//
// With the environment variable BROOK_TEST_KAFKA set (see EnvBrokers), Start
// starts nothing and hands out that broker instead, so the same tests and
// examples run against Apache Kafka or any other broker.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is an in-process Kafka cluster, or the external broker named by
// BROOK_TEST_KAFKA.
type Cluster struct {
	c *kfake.Cluster

	ext     []string // the external broker's addresses; nil for kfake
	release func()   // lets the next test use the external broker
}

// Start starts an in-process cluster with one broker and a low minimum
// session timeout, so tests can expire members quickly. Topics are not
// created automatically: use CreateTopic.
//
// If BROOK_TEST_KAFKA is set, Start instead takes the external broker it
// names for the caller alone (other test processes on this machine wait)
// and empties it: every topic and consumer group is deleted, so tests with
// fixed topic names and app ids start clean. Close hands it on.
func Start() (*Cluster, error) {
	if addrs := External(); addrs != nil {
		release, err := acquire(addrs)
		if err != nil {
			return nil, err
		}
		return &Cluster{ext: addrs, release: release}, nil
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.GroupMinSessionTimeout(100*time.Millisecond),
		kfake.DefaultNumPartitions(1),
	)
	if err != nil {
		return nil, fmt.Errorf("embedded: start in-process kafka: %w", err)
	}
	return &Cluster{c: c}, nil
}

// Addrs returns the listen addresses of the brokers, for Config.Brokers.
func (c *Cluster) Addrs() []string {
	if c.ext != nil {
		return append([]string(nil), c.ext...)
	}
	return c.c.ListenAddrs()
}

// Close stops the in-process cluster, or hands the external broker on to
// the next test. It may be called more than once.
func (c *Cluster) Close() {
	if c.ext != nil {
		if c.release != nil {
			c.release()
			c.release = nil
		}
		return
	}
	c.c.Close()
}

// Kfake returns the underlying kfake cluster, for fault injection; nil when
// the cluster is the external broker of BROOK_TEST_KAFKA.
func (c *Cluster) Kfake() *kfake.Cluster { return c.c }

// CreateTopic creates topic with the given number of partitions and
// configs on the brokers at addrs, and waits until the brokers' metadata
// lists it with a leader for every partition (a real broker answers
// CreateTopics before its metadata shows the topic). An existing topic is
// not an error.
func CreateTopic(ctx context.Context, addrs []string, topic string, partitions int32, configs map[string]*string) error {
	// Metadata cached for no more than 50 ms, so the wait below sees the
	// topic as soon as the broker lists it.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !isExists(err) {
		return fmt.Errorf("create topic %q: %w", topic, err)
	}
	for {
		td, lerr := adm.ListTopics(ctx, topic)
		if d, ok := td[topic]; lerr == nil && ok && d.Err == nil && len(d.Partitions) > 0 && d.Partitions.NumReplicas() > 0 {
			ready := true
			for _, p := range d.Partitions {
				ready = ready && p.Leader >= 0 && p.Err == nil
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create topic %q: not in the metadata yet: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func isExists(err error) bool { return errors.Is(err, kerr.TopicAlreadyExists) }
