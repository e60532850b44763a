// Package topo holds brook's topology graph and compiles it into tasks.
//
// The graph is made of erased nodes. Each node carries a Build closure,
// written by the typed DSL in package stream, that makes the node's processor
// for one task once its children's processors exist. A processor is a typed
// function value (stream's proc[K, V]) stored as any: the only type
// assertion happens when a task is wired, none per record.
package topo

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Kind is the role of a node in the graph.
type Kind int

const (
	// KindSource reads records from topics.
	KindSource Kind = iota
	// KindProcessor transforms records.
	KindProcessor
	// KindSink writes records to a topic.
	KindSink
)

// Node is one vertex of the topology graph.
type Node struct {
	ID       int
	Name     string
	Kind     Kind
	Parents  []*Node
	Children []*Node
	// Topics are the topics a source reads.
	Topics []string
	// SinkTopic is the topic a sink writes, or a description such as
	// "<topic chosen per record>".
	SinkTopic string
	// Stores are the names of the stores the node uses.
	Stores []string
	// Internal marks a source or sink of an internal topic: its Topics or
	// SinkTopic get the application's prefix when the App is made.
	Internal bool
	// ExtractsTime marks a source with a timestamp extractor: its
	// SourceFunc calls Task.ObserveTimestamp itself.
	ExtractsTime bool
	// ManualPartition marks a sink whose records carry the partition they
	// go to (kgo.Record.Partition): the response topic of a foreign-key
	// join, whose records go back to the partition of the left row.
	ManualPartition bool
	// Build makes the node's processor for task t. children holds the
	// processors of n.Children, in order. A source returns a SourceFunc.
	Build func(t *Task, children []any) (any, error)
	// KeyUse and ValueUse say what the node's processor does with the key
	// and the value of the records it gets, so that a source can leave
	// unread what no node reads (see NeedsKey). The zero value, Reads, is
	// always correct.
	KeyUse, ValueUse Use

	sub      int
	internal []string // unprefixed internal topic names
}

// Use says what a processor does with one part of the records it gets:
// their key, or their value.
type Use uint8

const (
	// Reads: the processor may read the part. The default, and the only
	// safe mark for a processor that calls user code with the part.
	Reads Use = iota
	// Ignores: the processor never reads the part. For the key, this holds
	// for records that carry their key's bytes (stream.Record's raw bytes,
	// which a source always sets): a processor that reuses them instead
	// of serializing the key ignores it.
	Ignores
	// Passes: the processor hands the part unchanged to its children (the
	// key together with its bytes) and reads it only through them.
	Passes
)

// NeedsKey reports whether any processor downstream of n may read the key
// of a record that n hands its children: some child Reads it, or Passes it
// to a node that needs it. A source whose key is not needed may leave the
// key undecoded (the zero value) when decoding it cannot fail.
func NeedsKey(n *Node) bool { return needs(n, func(c *Node) Use { return c.KeyUse }) }

// NeedsValue is NeedsKey for the value.
func NeedsValue(n *Node) bool { return needs(n, func(c *Node) Use { return c.ValueUse }) }

func needs(n *Node, use func(*Node) Use) bool {
	for _, c := range n.Children {
		switch use(c) {
		case Ignores:
		case Passes:
			if needs(c, use) {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// Graph is a topology under construction.
type Graph struct {
	Nodes []*Node
	// Stores are the stores the topology uses, in the order they were added.
	Stores []StoreDef
	// Repartitions are the repartition topics the topology writes and reads.
	Repartitions []Repartition
	// Globals are the global tables, outside every sub-topology.
	Globals []*GlobalDef
	// UserProcessors is set when the topology has Processor API nodes, which
	// may schedule wall-clock punctuators.
	UserProcessors bool

	errs  []error
	index int // the next number of an automatic name
	names map[string]bool
	drops *Drops
}

// StoreDef is a state store and the node that owns it.
type StoreDef struct {
	Name string
	Node *Node
	// KeySerde and ValueSerde are the store's serde.Serde values, for
	// typed queries.
	KeySerde, ValueSerde any
	// Owner identifies what defined the store (such as a processor's store
	// spec), so that one definition can be connected to several nodes;
	// nil for the stores of DSL operators.
	Owner any
	// Timestamped marks a store whose values are a record timestamp (8
	// bytes, big-endian milliseconds) followed by the serialized value, as
	// Kafka Streams' timestamped key-value stores hold them. Its changelog
	// records carry the plain value, with the timestamp as the record's
	// timestamp; see SplitTimestamped and JoinTimestamped.
	Timestamped bool
	// RetentionMs, when positive, marks a window store: its changelog is
	// created with cleanup.policy compact,delete and retention.ms of
	// RetentionMs plus WindowChangelogExtraRetentionMs.
	RetentionMs int64
	// WindowSizeMs is the size of a window store's windows (the End of a
	// window is its start plus this), for queries.
	WindowSizeMs int64
	// Session marks the window store of a session-windowed aggregation
	// (keys laid out as state.AppendSessionKey), for queries.
	Session bool
}

// WindowChangelogExtraRetentionMs is added to a window store's retention
// for its changelog's retention.ms, as Kafka Streams'
// windowstore.changelog.additional.retention.ms (default one day): the
// broker expires changelog records by its own clock, which may run ahead
// of stream time.
const WindowChangelogExtraRetentionMs = 24 * 60 * 60 * 1000

// Repartition is an internal topic written by a sink in one sub-topology
// and read by a source of another. It has as many partitions as the
// sub-topology of From reads, unless Follow is set.
type Repartition struct {
	Topic  string // unprefixed name, "<name>-repartition"
	From   *Node  // the node whose records are repartitioned
	Sink   *Node
	Source *Node
	// Follow marks a topic co-partitioned with the other topics of the
	// sub-topology that reads it: it gets their partition count, not its
	// writer's (the subscription and response topics of a foreign-key
	// join, which Kafka Streams co-partitions with the right and the left
	// table).
	Follow bool
}

// Resolve gives internal topics the application's prefix, "<app>-". It can
// be called again with the same app id.
func (g *Graph) Resolve(app string) {
	for _, n := range g.Nodes {
		if !n.Internal {
			continue
		}
		if n.internal == nil {
			if n.Kind == KindSink {
				n.internal = []string{n.SinkTopic}
			} else {
				n.internal = append([]string(nil), n.Topics...)
			}
		}
		if n.Kind == KindSink {
			n.SinkTopic = app + "-" + n.internal[0]
			continue
		}
		for i, t := range n.internal {
			n.Topics[i] = app + "-" + t
		}
	}
}

// Sub returns the sub-topology of n; Subtopologies must have been called.
func (n *Node) Sub() int { return n.sub }

// NewGraph returns an empty graph.
func NewGraph() *Graph {
	return &Graph{names: map[string]bool{}, drops: NewDrops()}
}

// Drops returns the counters of records the graph's tasks dropped for a
// null key or value.
func (g *Graph) Drops() *Drops { return g.drops }

// NewName returns an automatic node name, prefix followed by the next
// number in ten digits (KSTREAM-MAP-0000000003), and uses that number up.
// It is Kafka Streams' InternalStreamsBuilder.newProcessorName: every
// operator uses up one number, named or not, so that naming one operator
// does not change the automatic names of the others.
func (g *Graph) NewName(prefix string) string {
	n := fmt.Sprintf("%s-%010d", prefix, g.index)
	g.index++
	return n
}

// NewStoreName returns an automatic store name, prefix followed by
// "STATE-STORE-" and the next number (KSTREAM-AGGREGATE-STATE-STORE-0000000002),
// as Kafka Streams' InternalStreamsBuilder.newStoreName. prefix ends with
// "-". A store named by the user uses up no number.
func (g *Graph) NewStoreName(prefix string) string {
	n := fmt.Sprintf("%sSTATE-STORE-%010d", prefix, g.index)
	g.index++
	return n
}

// BurnName uses up the next number, as Kafka Streams does for a name it
// generates and does not use.
func (g *Graph) BurnName() { g.index++ }

// Errorf records a build error; Err returns all of them.
func (g *Graph) Errorf(format string, args ...any) {
	g.errs = append(g.errs, fmt.Errorf(format, args...))
}

// Err returns the errors recorded while the topology was built, joined.
func (g *Graph) Err() error {
	if len(g.errs) == 0 {
		return nil
	}
	return &BuildError{Errs: g.errs}
}

// BuildError lists what is wrong with a topology.
type BuildError struct{ Errs []error }

// Error implements error: it says what went wrong and what to do.
func (e *BuildError) Error() string {
	var b strings.Builder
	b.WriteString("brook: invalid topology:")
	for _, err := range e.Errs {
		b.WriteString("\n  - ")
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns the individual errors.
func (e *BuildError) Unwrap() []error { return e.Errs }

// Add adds a node named name (or, if empty, an automatic name made of
// prefix and the next number, in the style of Kafka Streams'
// KSTREAM-MAP-0000000003) with the given parents. It uses up one number
// either way (see NewName).
func (g *Graph) Add(kind Kind, prefix, name string, parents ...*Node) *Node {
	if auto := g.NewName(prefix); name == "" {
		name = auto
	}
	return g.AddNamed(kind, name, parents...)
}

// AddNamed adds a node called name with the given parents, using up no
// number: for names made beforehand with NewName.
func (g *Graph) AddNamed(kind Kind, name string, parents ...*Node) *Node {
	id := len(g.Nodes)
	if g.names[name] {
		g.Errorf("two nodes are named %q: names given with stream.Named must be unique", name)
	}
	g.names[name] = true
	n := &Node{ID: id, Name: name, Kind: kind, Parents: parents}
	for _, p := range parents {
		p.Children = append(p.Children, n)
	}
	g.Nodes = append(g.Nodes, n)
	return n
}

// Subtopology is a connected part of the graph: the unit that becomes one
// task per partition.
type Subtopology struct {
	ID     int
	Nodes  []*Node // in id order
	Topics []string
	// Sources maps each source topic to its source node.
	Sources map[string]*Node
	// Stores are the names of the stores the sub-topology's tasks hold.
	Stores []string
	// Timestamped holds the stores of Stores whose values carry a
	// timestamp (StoreDef.Timestamped).
	Timestamped map[string]bool
	// RetentionMs holds the retention of the window stores of Stores
	// (StoreDef.RetentionMs).
	RetentionMs map[string]int64

	drops *Drops
}

// Subtopologies splits the graph into its connected parts, numbered in the
// order of their first node. Nodes that use the same store belong to the
// same part, as in Kafka Streams: a store lives in one task.
func (g *Graph) Subtopologies() []*Subtopology {
	parent := make([]int, len(g.Nodes))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(x, y int) {
		a, b := find(x), find(y)
		if a != b {
			if a < b {
				parent[b] = a
			} else {
				parent[a] = b
			}
		}
	}
	storeUser := map[string]int{}
	for _, n := range g.Nodes {
		for _, p := range n.Parents {
			union(n.ID, p.ID)
		}
		for _, st := range n.Stores {
			if u, ok := storeUser[st]; ok {
				union(n.ID, u)
			} else {
				storeUser[st] = n.ID
			}
		}
	}
	byRoot := map[int]*Subtopology{}
	var subs []*Subtopology
	for _, n := range g.Nodes {
		r := find(n.ID)
		s := byRoot[r]
		if s == nil {
			s = &Subtopology{ID: len(subs), Sources: map[string]*Node{}, Timestamped: map[string]bool{}, RetentionMs: map[string]int64{}, drops: g.drops}
			byRoot[r] = s
			subs = append(subs, s)
		}
		n.sub = s.ID
		s.Nodes = append(s.Nodes, n)
		for _, st := range n.Stores {
			if !slices.Contains(s.Stores, st) {
				s.Stores = append(s.Stores, st)
			}
		}
		if n.Kind == KindSource {
			for _, t := range n.Topics {
				s.Sources[t] = n
				s.Topics = append(s.Topics, t)
			}
		}
	}
	for _, s := range subs {
		sort.Strings(s.Topics)
	}
	for _, d := range g.Stores {
		if d.Timestamped && d.Node != nil {
			subs[d.Node.sub].Timestamped[d.Name] = true
		}
		if d.RetentionMs > 0 && d.Node != nil {
			subs[d.Node.sub].RetentionMs[d.Name] = d.RetentionMs
		}
	}
	return subs
}

// Validate checks rules that span nodes: a topic read by two sources.
func (g *Graph) Validate() error {
	seen := map[string]string{}
	for _, n := range g.Nodes {
		if n.Kind != KindSource {
			continue
		}
		for _, t := range n.Topics {
			if other, ok := seen[t]; ok {
				g.Errorf("topic %q is read by two sources (%s and %s): read it once and share the stream", t, other, n.Name)
			}
			seen[t] = n.Name
		}
	}
	if len(seen) == 0 {
		g.Errorf("the topology has no source: add one with stream.Source")
	}
	return g.Err()
}

// Describe prints the topology as Kafka Streams' Topology#describe()
// does (TopologyDescription#toString): the first sub-topology header
// indented three spaces and the later ones two, each node on its own line
// with its successors ("-->") and predecessors ("<--"), and nodes ordered
// as Kafka Streams orders them: by the size of the sub-tree they start,
// largest first, then by name.
func (g *Graph) Describe() string {
	var b strings.Builder
	b.WriteString("Topologies:\n ")
	// Kafka Streams numbers global tables' sub-topologies along with the
	// others, in the order of their first node; brook's task ids do not
	// count them (see docs/ARCHITECTURE.md, Joins).
	subs := g.Subtopologies()
	type entry struct {
		key    int
		sub    *Subtopology
		global *GlobalDef
	}
	var entries []entry
	for _, s := range subs {
		entries = append(entries, entry{key: 2*s.Nodes[0].ID + 1, sub: s})
	}
	for _, d := range g.Globals {
		entries = append(entries, entry{key: 2 * d.Pos, global: d})
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return a.key - b.key })
	for id, e := range entries {
		if d := e.global; d != nil {
			fmt.Fprintf(&b, "  Sub-topology: %d for global store (will not generate tasks)\n", id)
			fmt.Fprintf(&b, "    Source: %s (topics: [%s])\n      --> %s\n", d.SourceName, d.Topic, d.ProcName)
			fmt.Fprintf(&b, "    Processor: %s (stores: [%s])\n      --> none\n      <-- %s\n", d.ProcName, d.Store, d.SourceName)
			continue
		}
		s := e.sub
		fmt.Fprintf(&b, "  Sub-topology: %d\n", id)
		size := subtreeSizes(s.Nodes)
		preds, succs := edgeOrders(s.Nodes)
		for _, n := range describeOrder(s.Nodes, size) {
			switch n.Kind {
			case KindSource:
				fmt.Fprintf(&b, "    Source: %s (topics: [%s])\n", n.Name, strings.Join(n.Topics, ", "))
				fmt.Fprintf(&b, "      --> %s\n", names(succs[n]))
			case KindProcessor:
				fmt.Fprintf(&b, "    Processor: %s (stores: [%s])\n", n.Name, strings.Join(javaSetOrder(n.Stores), ", "))
				fmt.Fprintf(&b, "      --> %s\n", names(succs[n]))
				fmt.Fprintf(&b, "      <-- %s\n", names(preds[n]))
			case KindSink:
				fmt.Fprintf(&b, "    Sink: %s (topic: %s)\n", n.Name, n.SinkTopic)
				fmt.Fprintf(&b, "      <-- %s\n", names(preds[n]))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// subtreeSizes returns, for each node, the size of the sub-tree it starts
// as Kafka Streams counts it: 1 plus the sizes of its children (a node
// reached along two paths counts twice).
func subtreeSizes(nodes []*Node) map[*Node]int {
	size := make(map[*Node]int, len(nodes))
	var of func(n *Node) int
	of = func(n *Node) int {
		if v, ok := size[n]; ok {
			return v
		}
		v := 1
		for _, c := range n.Children {
			v += of(c)
		}
		size[n] = v
		return v
	}
	for _, n := range nodes {
		of(n)
	}
	return size
}

// describeOrder returns ns sorted as Kafka Streams' NodeComparator sorts
// them: larger sub-tree first, then by name.
func describeOrder(ns []*Node, size map[*Node]int) []*Node {
	out := slices.Clone(ns)
	slices.SortStableFunc(out, func(a, b *Node) int {
		if d := size[b] - size[a]; d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// names lists the names of a node's successors or predecessors, in the
// order given (see edgeOrders), or "none".
func names(ns []*Node) string {
	if len(ns) == 0 {
		return "none"
	}
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = n.Name
	}
	return strings.Join(s, ", ")
}
