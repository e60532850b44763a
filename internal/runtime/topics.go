package runtime

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ChangelogTopic is the changelog topic of a store.
func ChangelogTopic(app, store string) string { return app + "-" + store + "-changelog" }

// setupTopics runs before the engine joins the group. It checks that every
// external topic exists and that the topics of a sub-topology have the same
// number of partitions; it creates repartition topics (as many partitions
// as the other topics of the sub-topology that reads them, a join's
// inputs, or else as the sub-topology that writes them reads), the
// subscription and response topics of foreign-key joins (as many as the
// other topics of their reader), changelog topics (compacted, one
// partition per task), and the dead-letter topic.
func (e *Engine) setupTopics(ctx context.Context) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.o.Brokers...), kgo.WithHooks(e.h)}, e.o.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("brook: kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	internal := map[string]bool{}
	if e.o.Graph != nil {
		for _, r := range e.o.Graph.Repartitions {
			internal[r.Sink.SinkTopic] = true
		}
	}
	var external []string
	for t := range e.topicTo {
		if !internal[t] {
			external = append(external, t)
		}
	}
	external = append(external, e.o.SinkTopics...)
	slices.Sort(external)
	external = slices.Compact(external)
	td, err := adm.ListTopics(ctx, external...)
	if err != nil {
		return fmt.Errorf("brook: list topics %v: %w", external, err)
	}
	var missing []string
	for _, n := range external {
		if d, ok := td[n]; !ok || d.Err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return &MissingTopicsError{Topics: missing}
	}
	counts := map[string]int{}
	for n, d := range td {
		counts[n] = len(d.Partitions)
	}
	// Size limits first: internal topics are made to accept records as
	// large as the App's own topics do.
	e.readBrokerLimit(ctx, adm)
	e.readTopicLimits(ctx, adm, external)

	// Sub-topologies are numbered in the order of their first node, so the
	// writer of a repartition topic comes before its reader.
	parts := map[int]int32{}
	defer func() {
		e.qmu.Lock()
		e.parts = parts
		e.qmu.Unlock()
	}()
	// A sub-topology that reads a repartition topic is set up after the one
	// that writes it, which fixes the topic's partition count.
	resolved := map[int]bool{}
	for progress := true; progress; {
		progress = false
		for _, s := range e.o.Subs {
			if resolved[s.ID] || !e.readyToSetUp(s, resolved) {
				continue
			}
			if err := e.setupSub(ctx, adm, s, parts, counts); err != nil {
				return err
			}
			resolved[s.ID] = true
			progress = true
		}
	}
	if len(resolved) < len(e.o.Subs) {
		return fmt.Errorf("brook: the topology's repartition topics form a cycle; sub-topologies %v cannot be set up", e.o.Subs)
	}
	if e.o.Policy.Kind == topo.PolicyDeadLetter {
		resp, err := adm.CreateTopic(ctx, 1, -1, e.internalTopicConfigs(nil), e.o.Policy.Topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !isTopicExists(err) {
			return fmt.Errorf("brook: create dead-letter topic %q: %w", e.o.Policy.Topic, err)
		}
	}
	var written []string
	for t := range e.changelogs {
		written = append(written, t)
	}
	if e.o.Graph != nil {
		for _, r := range e.o.Graph.Repartitions {
			written = append(written, r.Sink.SinkTopic)
		}
	}
	if e.o.Policy.Kind == topo.PolicyDeadLetter {
		written = append(written, e.o.Policy.Topic)
	}
	slices.Sort(written)
	e.readTopicLimits(ctx, adm, written)
	return nil
}

// ensureTopic creates an internal topic with n partitions, or checks that
// the existing one has n.
func ensureTopic(ctx context.Context, adm *kadm.Client, topic string, n int32, configs map[string]*string) error {
	resp, err := adm.CreateTopic(ctx, n, -1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err == nil {
		return nil
	}
	if !isTopicExists(err) {
		return fmt.Errorf("brook: create internal topic %q: %w", topic, err)
	}
	// Another instance may have created it a moment ago: a broker answers
	// TOPIC_ALREADY_EXISTS before its metadata lists the topic's
	// partitions. Wait for them (up to 30 s) before judging the count.
	deadline := time.Now().Add(30 * time.Second)
	for {
		td, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return fmt.Errorf("brook: describe internal topic %q: %w", topic, err)
		}
		d := td[topic]
		if got := int32(len(d.Partitions)); d.Err == nil && got > 0 || time.Now().After(deadline) {
			if got != n {
				return &InternalTopicError{Topic: topic, Want: n, Got: got}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("brook: describe internal topic %q: %w", topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// InternalTopicError is an existing internal topic whose partition count
// does not match the topology.
type InternalTopicError struct {
	Topic     string
	Want, Got int32
}

// Error implements error: it says what went wrong and what to do.
func (e *InternalTopicError) Error() string {
	return fmt.Sprintf("brook: internal topic %q has %d partitions, the topology needs %d: the input topics changed size; delete the internal topic (and the local state) to rebuild it, or run the app with a new AppID",
		e.Topic, e.Got, e.Want)
}

// readyToSetUp reports whether every repartition topic s reads is written
// by a sub-topology already set up.
func (e *Engine) readyToSetUp(s *topo.Subtopology, resolved map[int]bool) bool {
	if e.o.Graph == nil {
		return true
	}
	for _, r := range e.o.Graph.Repartitions {
		if r.Source.Sub() == s.ID && !r.Follow && !resolved[r.From.Sub()] {
			return false
		}
	}
	return true
}

// setupSub creates the repartition topics s reads and the changelogs of
// its stores, and records its partition count in parts.
func (e *Engine) setupSub(ctx context.Context, adm *kadm.Client, s *topo.Subtopology, parts map[int]int32, counts map[string]int) error {
	if e.o.Graph != nil {
		// A repartition topic read together with external topics (a join
		// of a re-keyed stream or table) gets their partition count, so
		// that it is co-partitioned with them, as Kafka Streams'
		// CopartitionedTopicsEnforcer does; external topics that disagree
		// fail below. Without external topics, it gets the largest count
		// of the sub-topologies that write the repartition topics read
		// here.
		var reparts []topo.Repartition
		internal := map[string]bool{}
		var n int32
		for _, r := range e.o.Graph.Repartitions {
			if r.Source.Sub() == s.ID {
				internal[r.Sink.SinkTopic] = true
				if !r.Follow {
					reparts = append(reparts, r)
					n = max(n, parts[r.From.Sub()])
				}
			}
		}
		for _, t := range s.Topics {
			if !internal[t] && counts[t] > 0 {
				n = int32(counts[t])
				break
			}
		}
		for _, r := range reparts {
			if err := ensureTopic(ctx, adm, r.Sink.SinkTopic, n, e.internalTopicConfigs(nil)); err != nil {
				return err
			}
			counts[r.Sink.SinkTopic] = int(n)
		}
	}
	// Topics that follow the others' partition count (those of a
	// foreign-key join) are created once the others have set it.
	var follow []string
	if e.o.Graph != nil {
		for _, r := range e.o.Graph.Repartitions {
			if r.Source.Sub() == s.ID && r.Follow {
				follow = append(follow, r.Sink.SinkTopic)
			}
		}
	}
	sc := map[string]int{}
	for _, t := range s.Topics {
		if !slices.Contains(follow, t) {
			sc[t] = counts[t]
		}
	}
	vals := slices.Collect(maps.Values(sc))
	slices.Sort(vals)
	if len(vals) > 0 && vals[0] != vals[len(vals)-1] {
		return &CopartitionError{Subtopology: s.ID, Partitions: sc}
	}
	if len(vals) > 0 {
		parts[s.ID] = int32(vals[0])
	}
	for _, t := range follow {
		if parts[s.ID] == 0 {
			return fmt.Errorf("brook: internal topic %q: sub-topology %d reads no other topic to take its partition count from", t, s.ID)
		}
		if err := ensureTopic(ctx, adm, t, parts[s.ID], e.internalTopicConfigs(nil)); err != nil {
			return err
		}
		counts[t] = int(parts[s.ID])
	}
	for _, st := range s.Stores {
		compact := "compact"
		cfg := map[string]*string{"cleanup.policy": &compact}
		if r := s.RetentionMs[st]; r > 0 {
			// A window store: old windows leave by retention too.
			policy, ms := "compact,delete", strconv.FormatInt(r+topo.WindowChangelogExtraRetentionMs, 10)
			cfg = map[string]*string{"cleanup.policy": &policy, "retention.ms": &ms}
		}
		if err := ensureTopic(ctx, adm, ChangelogTopic(e.o.AppID, st), parts[s.ID], e.internalTopicConfigs(cfg)); err != nil {
			return err
		}
		e.changelogs[ChangelogTopic(e.o.AppID, st)] = true
	}
	return nil
}
