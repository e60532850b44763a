package topo

import (
	"fmt"
	"strings"
)

// picture is the graph as drawn: sub-topologies with their nodes and
// stores, the topics between them, and the edges.
type picture struct {
	subs   []pictureSub
	topics []string // in order of first use; ids t0, t1, ...
	edges  []pictureEdge
}

type pictureSub struct {
	id     int
	nodes  []*Node
	stores []int // indexes into storeNames
}

type pictureEdge struct {
	from, to string
	store    bool // an undirected edge between a node and its store
}

func (g *Graph) picture() (*picture, []string) {
	p := &picture{}
	topicID := map[string]string{}
	topic := func(name string) string {
		if id, ok := topicID[name]; ok {
			return id
		}
		id := fmt.Sprintf("t%d", len(p.topics))
		topicID[name] = id
		p.topics = append(p.topics, name)
		return id
	}
	var storeNames []string
	storeID := map[string]int{}
	for _, s := range g.Subtopologies() {
		ps := pictureSub{id: s.ID, nodes: s.Nodes}
		for _, n := range s.Nodes {
			id := nodeID(n)
			if n.Kind == KindSource {
				for _, t := range n.Topics {
					p.edges = append(p.edges, pictureEdge{from: topic(t), to: id})
				}
			}
			for _, c := range n.Children {
				p.edges = append(p.edges, pictureEdge{from: id, to: nodeID(c)})
			}
			if n.Kind == KindSink {
				p.edges = append(p.edges, pictureEdge{from: id, to: topic(n.SinkTopic)})
			}
			for _, st := range n.Stores {
				i, ok := storeID[st]
				if !ok {
					i = len(storeNames)
					storeID[st] = i
					storeNames = append(storeNames, st)
					ps.stores = append(ps.stores, i)
				}
				p.edges = append(p.edges, pictureEdge{from: id, to: fmt.Sprintf("s%d", i), store: true})
			}
		}
		p.subs = append(p.subs, ps)
	}
	return p, storeNames
}

func nodeID(n *Node) string { return fmt.Sprintf("n%d", n.ID) }

// DescribeDOT draws the topology in Graphviz's DOT language: one cluster
// per sub-topology holding its nodes (boxes) and stores (cylinders),
// topics as parallelograms outside the clusters, solid arrows for the flow
// of records (topic to source, node to child, sink to topic) and dashed
// lines between a node and the stores it uses. Render it with
// "dot -Tsvg".
func (g *Graph) DescribeDOT() string {
	p, stores := g.picture()
	var b strings.Builder
	b.WriteString("digraph topology {\n\tnode [shape=box];\n")
	for _, s := range p.subs {
		fmt.Fprintf(&b, "\tsubgraph cluster_%d {\n\t\tlabel=%s;\n", s.id, dotQuote(fmt.Sprintf("Sub-topology: %d", s.id)))
		for _, n := range s.nodes {
			fmt.Fprintf(&b, "\t\t%s [label=%s];\n", nodeID(n), dotQuote(n.Name))
		}
		for _, i := range s.stores {
			fmt.Fprintf(&b, "\t\ts%d [label=%s, shape=cylinder];\n", i, dotQuote(stores[i]))
		}
		b.WriteString("\t}\n")
	}
	for i, t := range p.topics {
		fmt.Fprintf(&b, "\tt%d [label=%s, shape=parallelogram];\n", i, dotQuote(t))
	}
	for _, e := range p.edges {
		if e.store {
			fmt.Fprintf(&b, "\t%s -> %s [dir=none, style=dashed];\n", e.from, e.to)
		} else {
			fmt.Fprintf(&b, "\t%s -> %s;\n", e.from, e.to)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// DescribeMermaid draws the topology as a Mermaid flowchart (GitHub and
// many wikis render it in a ```mermaid block): one subgraph per
// sub-topology holding its nodes (rectangles) and stores (cylinders),
// topics as parallelograms outside them, arrows for the flow of records and
// dotted lines between a node and the stores it uses.
func (g *Graph) DescribeMermaid() string {
	p, stores := g.picture()
	var b strings.Builder
	b.WriteString("flowchart TB\n")
	for _, s := range p.subs {
		fmt.Fprintf(&b, "    subgraph sub%d [%s]\n", s.id, mermaidQuote(fmt.Sprintf("Sub-topology: %d", s.id)))
		for _, n := range s.nodes {
			fmt.Fprintf(&b, "        %s[%s]\n", nodeID(n), mermaidQuote(n.Name))
		}
		for _, i := range s.stores {
			fmt.Fprintf(&b, "        s%d[(%s)]\n", i, mermaidQuote(stores[i]))
		}
		b.WriteString("    end\n")
	}
	for i, t := range p.topics {
		fmt.Fprintf(&b, "    t%d[/%s/]\n", i, mermaidQuote(t))
	}
	for _, e := range p.edges {
		if e.store {
			fmt.Fprintf(&b, "    %s -.- %s\n", e.from, e.to)
		} else {
			fmt.Fprintf(&b, "    %s --> %s\n", e.from, e.to)
		}
	}
	return b.String()
}

// dotQuote returns s as a DOT quoted string.
func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// mermaidQuote returns s as a Mermaid quoted label, with the characters
// Mermaid would read as markup written as entity codes.
func mermaidQuote(s string) string {
	return `"` + strings.NewReplacer("#", "#35;", `"`, "#quot;", "<", "#lt;", ">", "#gt;", "\n", " ").Replace(s) + `"`
}
