// Package embedded starts an in-process Kafka (kfake) for examples and tests.
//
// The cluster speaks the real Kafka wire protocol, transactions and consumer
// groups included, so brook runs against it exactly as against a broker.
package embedded

import (
	"context"
	"fmt"
	"time"

	"errors"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is an in-process Kafka cluster.
type Cluster struct {
	c *kfake.Cluster
}

// Start starts an in-process cluster with one broker and a low minimum
// session timeout, so tests can expire members quickly. Topics are not
// created automatically: use CreateTopic.
func Start() (*Cluster, error) {
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
func (c *Cluster) Addrs() []string { return c.c.ListenAddrs() }

// Close stops the cluster.
func (c *Cluster) Close() { c.c.Close() }

// Kfake returns the underlying kfake cluster, for fault injection.
func (c *Cluster) Kfake() *kfake.Cluster { return c.c }

// CreateTopic creates topic with the given number of partitions and
// configs on the brokers at addrs. An existing topic is not an error.
func CreateTopic(ctx context.Context, addrs []string, topic string, partitions int32, configs map[string]*string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
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
	return nil
}

func isExists(err error) bool { return errors.Is(err, kerr.TopicAlreadyExists) }
