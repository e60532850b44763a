package runtime

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/brookstream/brook/internal/topo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMemberDataVersions: members of either version decode the other's
// join metadata.
func TestMemberDataVersions(t *testing.T) {
	// What version 1 wrote, and how it read.
	type memberDataV1 struct {
		State []string `json:"state,omitempty"`
	}
	v2, err := json.Marshal(memberData{V: memberDataVersion, State: []string{"0_1"}, Endpoint: "a:1"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"v":2,"state":["0_1"],"endpoint":"a:1"}`, string(v2))
	var old memberDataV1
	require.NoError(t, json.Unmarshal(v2, &old))
	assert.Equal(t, []string{"0_1"}, old.State)

	var md memberData
	require.NoError(t, json.Unmarshal([]byte(`{"state":["1_2"]}`), &md))
	assert.Equal(t, memberData{State: []string{"1_2"}}, md, "version 1: no endpoint")
}

// TestPlacement runs the balancer as a leader over three members, two
// with endpoints, and decodes every member's assignment as that member:
// each learns its own tasks and the placement of all; a member of an older
// version (no endpoint in its metadata) is not listed.
func TestPlacement(t *testing.T) {
	subs := []*topo.Subtopology{
		{ID: 0, Topics: []string{"in"}},
		{ID: 1, Topics: []string{"app-x-repartition"}, Stores: []string{"x"}},
	}
	engine := func(endpoint string) *Engine {
		return New(Options{Subs: subs, InMemory: true, ApplicationServer: endpoint, Logger: slog.New(slog.DiscardHandler)})
	}
	es := map[string]*Engine{"m1": engine("a:1"), "m2": engine("[::1]:2"), "m3": engine("")}
	var members []kmsg.JoinGroupResponseMember
	for _, id := range []string{"m1", "m2", "m3"} {
		m := kmsg.NewJoinGroupResponseMember()
		m.MemberID = id
		m.ProtocolMetadata = (&balancer{e: es[id]}).JoinGroupMetadata([]string{"in", "app-x-repartition"}, nil, 0)
		members = append(members, m)
	}
	leader := &balancer{e: es["m1"]}
	mb, _, err := leader.MemberBalancer(members)
	require.NoError(t, err)
	into, err := mb.(*kgo.ConsumerBalancer).BalanceOrError(map[string]int32{"in": 3, "app-x-repartition": 3})
	require.NoError(t, err)
	sync := into.IntoSyncAssignment()
	require.Len(t, sync, 3)

	hosts := map[string][]topo.TaskID{}
	local := map[string]map[topo.TaskID]bool{}
	for _, s := range sync {
		e := es[s.MemberID]
		parts, err := (&balancer{e: e}).ParseSyncAssignment(s.MemberAssignment)
		require.NoError(t, err)
		p := e.Placement()
		require.NotNil(t, p)
		assert.True(t, p.Known)
		assert.Equal(t, map[int]int32{0: 3, 1: 3}, p.Tasks)
		local[s.MemberID] = p.Local
		n := 0
		for _, ps := range parts {
			n += len(ps)
		}
		assert.Equal(t, n, len(p.Local), "%s: one task per partition of each sub-topology's one topic", s.MemberID)
		if len(hosts) == 0 {
			hosts = p.Hosts
		}
		assert.Equal(t, hosts, p.Hosts, "every member learns the same placement")
	}
	require.Len(t, hosts, 2, "the member without an endpoint is not listed")
	for id, ep := range map[string]string{"m1": "a:1", "m2": "[::1]:2"} {
		got := map[topo.TaskID]bool{}
		for _, tid := range hosts[ep] {
			got[tid] = true
		}
		assert.Equal(t, local[id], got, "%s's own tasks are listed under its endpoint", id)
		for tid := range local[id] {
			h, ok := es["m3"].Placement().Owner(tid)
			assert.True(t, ok)
			assert.Equal(t, ep, h)
		}
	}
	assert.Len(t, local["m1"], 2)
	assert.Len(t, local["m2"], 2)
	assert.Len(t, local["m3"], 2)
}

// TestPlacementOldLeader: an assignment without user data (from a leader
// of an older version) still runs its tasks; only Local is known. Garbage
// user data is logged, not an error.
func TestPlacementOldLeader(t *testing.T) {
	e := New(Options{Subs: []*topo.Subtopology{{ID: 0, Topics: []string{"in"}}}, Logger: slog.New(slog.DiscardHandler)})
	a := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = "in", []int32{1, 2}
	a.Topics = append(a.Topics, at)
	for _, ud := range [][]byte{nil, []byte("{")} {
		a.UserData = ud
		parts, err := e.parseAssignment(a.AppendTo(nil))
		require.NoError(t, err)
		assert.Equal(t, map[string][]int32{"in": {1, 2}}, parts)
		p := e.Placement()
		assert.False(t, p.Known)
		assert.Equal(t, map[topo.TaskID]bool{{Subtopology: 0, Partition: 1}: true, {Subtopology: 0, Partition: 2}: true}, p.Local)
		_, ok := p.Owner(topo.TaskID{Subtopology: 0, Partition: 1})
		assert.False(t, ok)
	}
}

// TestPlacementIdleMember: a member with an endpoint and no task is listed.
func TestPlacementIdleMember(t *testing.T) {
	ud, err := encodePlacement([]string{"a:1", "b:2", ""}, [][]topo.TaskID{{{Subtopology: 0, Partition: 0}}, nil, nil}, []topo.TaskID{{Subtopology: 0, Partition: 0}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"v":1,"tasks":{"0":1},"hosts":{"a:1":["0_0"],"b:2":[]}}`, string(ud))
	e := New(Options{Subs: []*topo.Subtopology{{ID: 0, Topics: []string{"in"}}}, Logger: slog.New(slog.DiscardHandler)})
	a := kmsg.NewConsumerMemberAssignment()
	a.UserData = ud
	_, err = e.parseAssignment(a.AppendTo(nil))
	require.NoError(t, err)
	assert.Equal(t, map[string][]topo.TaskID{"a:1": {{Subtopology: 0, Partition: 0}}, "b:2": {}}, e.Placement().Hosts)
	assert.Empty(t, e.Placement().Local)
}
