package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/brookstream/brook/internal/topo"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// balancer is brook's group balancer. It assigns whole tasks: partition p
// of every topic of a sub-topology goes to one member, so a task's inputs
// never split. It is sticky (a task stays with the member that runs it),
// prefers a member that has the task's state on disk when a task moves, and
// balances the number of tasks per member to within one.
//
// It is cooperative (KIP-429): members report the partitions they own,
// the tasks that stay are not revoked and keep running, and a task that
// moves is revoked first and assigned to its new owner in a follow-up
// rebalance (kgo's AdjustCooperative). See cooperative.go.
type balancer struct {
	e *Engine
}

const balancerProtocol = "brook-task-v1"

// memberData is what each member tells the leader in its join metadata.
// Fields are only ever added, with a new version V (see hosts.go), so
// members of every version decode one another's.
type memberData struct {
	// V is the version (memberDataVersion); absent in version 1.
	V int `json:"v,omitempty"`
	// State lists the tasks whose state this member has on disk.
	State []string `json:"state,omitempty"`
	// Endpoint is the member's Config.ApplicationServer, for queries
	// across instances; empty when it advertises none. Since version 2.
	Endpoint string `json:"endpoint,omitempty"`
	// Offsets holds, per task this member has state for (active or
	// standby), the changelog offsets its state reached, summed over the
	// task's stores: the larger, the less a member has to restore.
	Offsets map[string]int64 `json:"offsets,omitempty"`
}

func (b *balancer) ProtocolName() string { return balancerProtocol }

func (b *balancer) IsCooperative() bool { return true }

func (b *balancer) JoinGroupMetadata(topics []string, current map[string][]int32, _ int32) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 3
	// The metadata stays the same across restarts (no generation), so that
	// a static member's restart is not a rebalance.
	m.Topics = topics
	ud, _ := json.Marshal(memberData{V: memberDataVersion, State: b.e.localTasks(), Endpoint: b.e.o.ApplicationServer, Offsets: b.e.offsets()})
	m.UserData = ud
	for _, t := range slices.Sorted(func(yield func(string) bool) {
		for t := range current {
			if !yield(t) {
				return
			}
		}
	}) {
		o := kmsg.NewConsumerMemberMetadataOwnedPartition()
		o.Topic, o.Partitions = t, current[t]
		m.OwnedPartitions = append(m.OwnedPartitions, o)
	}
	return m.AppendTo(nil)
}

func (b *balancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return b.e.parseAssignment(assignment)
}

func (b *balancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	cb, err := kgo.NewConsumerBalancer(b, members)
	if err != nil {
		return nil, nil, err
	}
	return cb, cb.MemberTopics(), nil
}

// Balance implements kgo.ConsumerBalancerBalance; only the group leader
// runs it.
func (b *balancer) Balance(cb *kgo.ConsumerBalancer, partitions map[string]int32) kgo.IntoSyncAssignment {
	var tasks []topo.TaskID
	for _, s := range b.e.o.Subs {
		n := int32(-1)
		for _, t := range s.Topics {
			if c, ok := partitions[t]; ok && (n < 0 || c < n) {
				n = c
			}
		}
		for p := int32(0); p < n; p++ {
			tasks = append(tasks, topo.TaskID{Subtopology: s.ID, Partition: p})
		}
	}
	var members []memberTasks
	var refs []*kmsg.JoinGroupResponseMember
	var endpoints []string
	cb.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		mt := memberTasks{owned: map[topo.TaskID]bool{}, state: map[topo.TaskID]bool{}, offsets: map[topo.TaskID]int64{}}
		for _, o := range meta.OwnedPartitions {
			if s := b.e.topicTo[o.Topic]; s != nil {
				for _, p := range o.Partitions {
					mt.owned[topo.TaskID{Subtopology: s.ID, Partition: p}] = true
				}
			}
		}
		var md memberData
		if json.Unmarshal(meta.UserData, &md) == nil {
			for _, s := range md.State {
				if id, ok := parseTaskID(s); ok {
					mt.state[id] = true
				}
			}
			for s, o := range md.Offsets {
				if id, ok := parseTaskID(s); ok {
					mt.state[id] = true
					mt.offsets[id] = o
				}
			}
		}
		members = append(members, mt)
		refs = append(refs, m)
		endpoints = append(endpoints, md.Endpoint)
	})
	pl := planTasks(members, tasks, b.stateful, warmupOpts{standbys: b.e.o.StandbyReplicas, lag: b.e.o.AcceptableRecoveryLag, maxWarmups: b.e.o.MaxWarmupReplicas})
	plan := cb.NewPlan()
	for i, ts := range pl.active {
		for _, id := range ts {
			for _, s := range b.e.o.Subs {
				if s.ID != id.Subtopology {
					continue
				}
				for _, t := range s.Topics {
					plan.AddPartition(refs[i], t, id.Partition)
				}
			}
		}
	}
	replicas := map[string]replicaTasks{} // by member id
	for i := range refs {
		var r replicaTasks
		for _, id := range pl.standby[i] {
			r.standby = append(r.standby, id.String())
		}
		for _, id := range pl.warmup[i] {
			r.warmup = append(r.warmup, id.String())
		}
		if len(r.standby)+len(r.warmup) > 0 {
			replicas[refs[i].MemberID] = r
		}
	}
	if n := countTasks(pl.warmup); n > 0 {
		b.e.log.Info("tasks held back on caught-up members while warm-up replicas catch up", "warmups", n)
	}
	plan.AdjustCooperative(cb)
	return b.e.withPlacement(plan, refs, endpoints, tasks, replicas)
}

// stateful reports whether task id has stores.
func (b *balancer) stateful(id topo.TaskID) bool {
	for _, s := range b.e.o.Subs {
		if s.ID == id.Subtopology {
			return len(s.Stores) > 0
		}
	}
	return false
}

// replicaTasks are the standby and warm-up tasks of one member, as the
// leader sends them.
type replicaTasks struct{ standby, warmup []string }

func countTasks(ts [][]topo.TaskID) int {
	n := 0
	for _, t := range ts {
		n += len(t)
	}
	return n
}

// memberTasks is what the leader knows of a member: the tasks it runs and
// the tasks it has state for.
type memberTasks struct {
	owned, state map[topo.TaskID]bool
	offsets      map[topo.TaskID]int64 // reported changelog offsets (standby.go)
}

// assignTasks spreads tasks over members: each gets len(tasks)/len(members)
// tasks, some one more. A task stays with a member that runs it, else goes
// to a member with its state, else to the least loaded member.
func assignTasks(members []memberTasks, tasks []topo.TaskID) [][]topo.TaskID {
	out := make([][]topo.TaskID, len(members))
	if len(members) == 0 {
		return out
	}
	floor, extra := len(tasks)/len(members), len(tasks)%len(members)
	used := 0
	can := func(m int) bool {
		n := len(out[m])
		return n < floor || (n == floor && used < extra)
	}
	take := func(m int, id topo.TaskID) {
		if len(out[m]) == floor {
			used++
		}
		out[m] = append(out[m], id)
	}
	done := map[topo.TaskID]bool{}
	pass := func(has func(memberTasks, topo.TaskID) bool) {
		for _, id := range tasks {
			if done[id] {
				continue
			}
			for m := range members {
				if has(members[m], id) && can(m) {
					take(m, id)
					done[id] = true
					break
				}
			}
		}
	}
	pass(func(m memberTasks, id topo.TaskID) bool { return m.owned[id] })
	// A task that moves goes to the member with its state that reported
	// the largest changelog offsets for it (the smallest lag).
	for _, id := range tasks {
		if done[id] {
			continue
		}
		best := -1
		for m := range members {
			if members[m].state[id] && can(m) && (best < 0 || members[m].offsets[id] > members[best].offsets[id]) {
				best = m
			}
		}
		if best >= 0 {
			take(best, id)
			done[id] = true
		}
	}
	for _, id := range tasks {
		if done[id] {
			continue
		}
		best := -1
		for m := range members {
			if can(m) && (best < 0 || len(out[m]) < len(out[best])) {
				best = m
			}
		}
		take(best, id)
	}
	return out
}

// localTasks lists the tasks that have a state directory here.
func (e *Engine) localTasks() []string {
	if e.o.InMemory || !e.hasStores() {
		return nil
	}
	ents, err := os.ReadDir(filepath.Join(e.o.StateDir, e.o.AppID))
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range ents {
		if _, ok := parseTaskID(d.Name()); ok && d.IsDir() {
			out = append(out, d.Name())
		}
	}
	return out
}

func parseTaskID(s string) (topo.TaskID, bool) {
	a, b, ok := strings.Cut(s, "_")
	if !ok {
		return topo.TaskID{}, false
	}
	sub, err1 := strconv.Atoi(a)
	p, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || sub < 0 || p < 0 {
		return topo.TaskID{}, false
	}
	return topo.TaskID{Subtopology: sub, Partition: int32(p)}, true
}
