package runtime

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/brookstream/brook/internal/topo"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Queries across instances.
//
// Each member puts its endpoint (Config.ApplicationServer, "host:port") in
// its join metadata (memberData.Endpoint). The leader, once it has
// assigned the tasks, writes the whole placement, which endpoint runs which
// tasks and how many tasks each sub-topology has, into the user data of
// every member's assignment, as Kafka Streams puts partitionsByHost in its
// assignment info. Every member then knows, after each rebalance, which
// instance holds each partition of each store.
//
// Versions. memberData and placementData are JSON objects with a version
// field "v": a decoder ignores the fields it does not know, so a member of
// an older version still decodes what a newer one writes, and a newer one
// reads an older one's data as "no endpoint" (memberData) or "no
// placement" (an assignment with no user data, from an older leader).

// memberDataVersion is the version of memberData this build writes:
// 1 (no "v" field) lists local state only; 2 adds the endpoint.
const memberDataVersion = 2

// placementVersion is the version of placementData this build writes.
const placementVersion = 1

// placementData is the user data of every member's assignment: the leader's
// placement of the tasks over the endpoints that members advertised.
type placementData struct {
	V int `json:"v"`
	// Tasks is the number of tasks of each sub-topology, by sub-topology
	// id: the partition count that keys are hashed over.
	Tasks map[string]int32 `json:"tasks"`
	// Hosts lists, per endpoint, the tasks ("0_3") of the members that
	// advertise it, empty for a member that got none. Members with no
	// endpoint are not listed.
	Hosts map[string][]string `json:"hosts,omitempty"`
	// Standby lists the tasks the receiving member keeps standby
	// replicas of (standby.go); the one field that differs between
	// members' assignments.
	Standby []string `json:"standby,omitempty"`
	// Warmup lists the tasks the receiving member keeps warm-up replicas
	// of (warmup.go): standbys it is to take over once caught up.
	Warmup []string `json:"warmup,omitempty"`
}

// Placement is what a member learnt at its last assignment: which endpoint
// holds which tasks, and which tasks this member holds. It is immutable.
type Placement struct {
	// Hosts maps each advertised endpoint to the tasks of the members that
	// advertise it, sorted; empty for members that got no task.
	Hosts map[string][]topo.TaskID
	// Tasks is the number of tasks (partitions) of each sub-topology.
	Tasks map[int]int32
	// Local holds the tasks assigned to this member.
	Local map[topo.TaskID]bool
	// Known is false when the leader sent no placement (a leader of an
	// older version): only Local is known then.
	Known bool

	owner map[topo.TaskID]string // Hosts inverted
}

// Owner returns the endpoint of the member that holds task id, and whether
// one that advertises an endpoint does.
func (p *Placement) Owner(id topo.TaskID) (string, bool) {
	h, ok := p.owner[id]
	return h, ok
}

// Placement returns what this member learnt at its last assignment, or nil
// before its first assignment and after Run returned.
func (e *Engine) Placement() *Placement { return e.placement.Load() }

// StoreSubtopology returns the id of the sub-topology whose tasks hold
// store, and whether the topology has such a store.
func (e *Engine) StoreSubtopology(store string) (int, bool) {
	for _, s := range e.o.Subs {
		if slices.Contains(s.Stores, store) {
			return s.ID, true
		}
	}
	return 0, false
}

// Subtopologies returns the topology's sub-topologies, as the engine runs
// them. The caller must not modify them.
func (e *Engine) Subtopologies() []*topo.Subtopology { return e.o.Subs }

// withPlacement wraps the leader's plan so that every member's assignment
// carries the placement of the tasks over the advertised endpoints.
// endpoints[i] is the endpoint of refs[i]; tasks are all the tasks. The
// placement is read from the plan itself when it is sent, so it lists
// exactly what each member is assigned, whatever the balancing.
func (e *Engine) withPlacement(plan *kgo.BalancePlan, refs []*kmsg.JoinGroupResponseMember, endpoints []string, tasks []topo.TaskID, replicas map[string]replicaTasks) kgo.IntoSyncAssignment {
	eps := make(map[string]string, len(refs))
	for i, r := range refs {
		eps[r.MemberID] = endpoints[i]
	}
	return placementPlan{e: e, plan: plan, endpoints: eps, tasks: tasks, replicas: replicas}
}

// encodePlacement makes the user data of every member's assignment from
// the members' endpoints and assigned tasks.
func encodePlacement(endpoints []string, assigned [][]topo.TaskID, tasks []topo.TaskID) ([]byte, error) {
	pd := placementData{V: placementVersion, Tasks: map[string]int32{}, Hosts: map[string][]string{}}
	for _, id := range tasks {
		k := strconv.Itoa(id.Subtopology)
		pd.Tasks[k] = max(pd.Tasks[k], id.Partition+1)
	}
	for i, ts := range assigned {
		if endpoints[i] == "" {
			continue
		}
		if _, ok := pd.Hosts[endpoints[i]]; !ok {
			pd.Hosts[endpoints[i]] = []string{} // listed even with no task
		}
		for _, id := range ts {
			pd.Hosts[endpoints[i]] = append(pd.Hosts[endpoints[i]], id.String())
		}
	}
	return json.Marshal(pd)
}

// placementPlan is a kgo.BalancePlan whose assignments carry the
// placement as user data.
type placementPlan struct {
	e         *Engine
	plan      *kgo.BalancePlan
	endpoints map[string]string // by member id
	tasks     []topo.TaskID
	replicas  map[string]replicaTasks // by member id: its standby and warm-up tasks
}

// IntoSyncAssignment implements kgo.IntoSyncAssignment: the plan's
// assignments, each with the placement as user data. A member that got no
// task gets an assignment too, so that it learns the placement.
func (p placementPlan) IntoSyncAssignment() []kmsg.SyncGroupRequestGroupAssignment {
	plan := p.plan.AsMemberIDMap()
	members := slices.Sorted(maps.Keys(p.endpoints))
	var endpoints []string
	var assigned [][]topo.TaskID
	for _, m := range members {
		seen := map[topo.TaskID]bool{}
		var ts []topo.TaskID
		for t, parts := range plan[m] {
			s := p.e.topicTo[t]
			if s == nil {
				continue
			}
			for _, n := range parts {
				id := topo.TaskID{Subtopology: s.ID, Partition: n}
				if !seen[id] {
					seen[id] = true
					ts = append(ts, id)
				}
			}
		}
		slices.SortFunc(ts, compareTasks)
		endpoints = append(endpoints, p.endpoints[m])
		assigned = append(assigned, ts)
	}
	ud, err := encodePlacement(endpoints, assigned, p.tasks)
	if err != nil {
		// Cannot happen with these types; an assignment without a
		// placement still runs every task.
		p.e.log.Error("encoding the task placement", "err", err)
		ud = nil
	}
	out := make([]kmsg.SyncGroupRequestGroupAssignment, 0, len(members))
	for _, member := range members {
		a := kmsg.NewConsumerMemberAssignment()
		topics := plan[member]
		for _, t := range slices.Sorted(maps.Keys(topics)) {
			at := kmsg.NewConsumerMemberAssignmentTopic()
			at.Topic = t
			at.Partitions = slices.Sorted(slices.Values(topics[t]))
			a.Topics = append(a.Topics, at)
		}
		a.UserData = ud
		if r, ok := p.replicas[member]; ok && ud != nil {
			a.UserData = withReplicas(ud, r)
		}
		s := kmsg.NewSyncGroupRequestGroupAssignment()
		s.MemberID = member
		s.MemberAssignment = a.AppendTo(nil)
		out = append(out, s)
	}
	return out
}

// parseAssignment decodes this member's assignment, keeps the placement
// it carries for queries, and returns the partitions assigned.
func (e *Engine) parseAssignment(assignment []byte) (map[string][]int32, error) {
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(assignment); err != nil {
		return nil, fmt.Errorf("sync assignment parse failed: %v", err)
	}
	parts := make(map[string][]int32, len(a.Topics))
	p := &Placement{Local: map[topo.TaskID]bool{}, Hosts: map[string][]topo.TaskID{}, Tasks: map[int]int32{}, owner: map[topo.TaskID]string{}}
	for _, t := range a.Topics {
		parts[t.Topic] = t.Partitions
		if s := e.topicTo[t.Topic]; s != nil {
			for _, n := range t.Partitions {
				p.Local[topo.TaskID{Subtopology: s.ID, Partition: n}] = true
			}
		}
	}
	var pd placementData
	if len(a.UserData) > 0 {
		if err := json.Unmarshal(a.UserData, &pd); err != nil {
			e.log.Warn("the group leader's task placement cannot be decoded: queries cannot tell which instance holds a key until the next rebalance", "err", err)
		} else {
			p.Known = true
			for sub, n := range pd.Tasks {
				if id, err := strconv.Atoi(sub); err == nil {
					p.Tasks[id] = n
				}
			}
			// In endpoint order, so that a task listed under two endpoints
			// (a leader's bug) has one owner whatever the map's order.
			for _, h := range slices.Sorted(maps.Keys(pd.Hosts)) {
				p.Hosts[h] = []topo.TaskID{}
				for _, s := range pd.Hosts[h] {
					if id, ok := parseTaskID(s); ok {
						p.Hosts[h] = append(p.Hosts[h], id)
						if _, dup := p.owner[id]; !dup {
							p.owner[id] = h
						}
					}
				}
				slices.SortFunc(p.Hosts[h], compareTasks)
			}
		}
	}
	e.placement.Store(p)
	var ids, warm []topo.TaskID
	for _, s := range pd.Standby {
		if id, ok := parseTaskID(s); ok {
			ids = append(ids, id)
		}
	}
	for _, s := range pd.Warmup {
		if id, ok := parseTaskID(s); ok {
			ids = append(ids, id)
			warm = append(warm, id)
		}
	}
	e.noteWarmups(warm)
	e.standbyWant.Store(&ids)
	e.assignedAt.Store(time.Now().UnixNano())
	return parts, nil
}

// withReplicas returns the placement user data ud with the standby and
// warm-up tasks of one member added.
func withReplicas(ud []byte, r replicaTasks) []byte {
	var pd placementData
	if err := json.Unmarshal(ud, &pd); err != nil {
		return ud
	}
	pd.Standby, pd.Warmup = r.standby, r.warmup
	b, err := json.Marshal(pd)
	if err != nil {
		return ud
	}
	return b
}

func compareTasks(a, b topo.TaskID) int {
	if a.Subtopology != b.Subtopology {
		return a.Subtopology - b.Subtopology
	}
	return int(a.Partition - b.Partition)
}
