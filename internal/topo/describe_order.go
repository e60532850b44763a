package topo

import (
	"slices"
	"strings"
	"unicode/utf16"
)

// Kafka Streams prints a node's predecessors and successors in the order
// of a TreeSet (a red-black tree) whose comparator reads the sub-tree
// sizes of the nodes, sizes that grow while the sets are filled
// (InternalTopologyBuilder#describeSubtopology): the order depends on the
// moment each edge was added. edgeOrders replays that: nodes in the order
// a java.util.HashMap of their names iterates, each node's predecessors
// in the order they were given, every edge inserted into both trees with
// the sizes of that moment, then the sizes raised. The trees are Java's
// TreeMap insertion, rotations included, since they decide the in-order
// walk.

// javaHash returns Java's String.hashCode of s.
func javaHash(s string) int32 {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(c)
	}
	return h
}

// javaBucket returns the bucket of a String key in a java.util.HashMap
// table of n buckets (a power of two).
func javaBucket(s string, n int) int {
	u := uint32(javaHash(s))
	return int((u ^ (u >> 16)) & uint32(n-1))
}

// javaTableSize returns the table size of a java.util.HashMap (or
// HashSet) made empty and filled with n entries: 16, doubled while n
// exceeds three quarters of it.
func javaTableSize(n int) int {
	size := 16
	for n > size*3/4 {
		size *= 2
	}
	return size
}

// javaSetOrder orders names as a java.util.HashSet of them, filled in the
// given order, iterates: by bucket, insertion order within a bucket.
func javaSetOrder(s []string) []string {
	n := javaTableSize(len(s))
	out := slices.Clone(s)
	slices.SortStableFunc(out, func(a, b string) int { return javaBucket(a, n) - javaBucket(b, n) })
	return out
}

type rbNode struct {
	n                   *Node
	left, right, parent *rbNode
	red                 bool
}

// rbSet is a java.util.TreeSet of nodes ordered by Kafka Streams'
// NodeComparator over sizes that change.
type rbSet struct {
	root *rbNode
	size map[*Node]int
}

func (t *rbSet) less(a, b *Node) int {
	if a == b {
		return 0
	}
	if d := t.size[b] - t.size[a]; d != 0 {
		return d
	}
	return strings.Compare(a.Name, b.Name)
}

func (t *rbSet) add(n *Node) {
	if t.root == nil {
		t.root = &rbNode{n: n}
		return
	}
	p := t.root
	var cmp int
	for {
		cmp = t.less(n, p.n)
		if cmp == 0 {
			return
		}
		next := p.left
		if cmp > 0 {
			next = p.right
		}
		if next == nil {
			break
		}
		p = next
	}
	e := &rbNode{n: n, parent: p}
	if cmp < 0 {
		p.left = e
	} else {
		p.right = e
	}
	t.fix(e)
}

func parentOf(e *rbNode) *rbNode {
	if e == nil {
		return nil
	}
	return e.parent
}

func leftOf(e *rbNode) *rbNode {
	if e == nil {
		return nil
	}
	return e.left
}

func rightOf(e *rbNode) *rbNode {
	if e == nil {
		return nil
	}
	return e.right
}

func isRed(e *rbNode) bool { return e != nil && e.red }

func setRed(e *rbNode, red bool) {
	if e != nil {
		e.red = red
	}
}

func (t *rbSet) rotateLeft(p *rbNode) {
	if p == nil {
		return
	}
	r := p.right
	p.right = r.left
	if r.left != nil {
		r.left.parent = p
	}
	r.parent = p.parent
	switch {
	case p.parent == nil:
		t.root = r
	case p.parent.left == p:
		p.parent.left = r
	default:
		p.parent.right = r
	}
	r.left = p
	p.parent = r
}

func (t *rbSet) rotateRight(p *rbNode) {
	if p == nil {
		return
	}
	l := p.left
	p.left = l.right
	if l.right != nil {
		l.right.parent = p
	}
	l.parent = p.parent
	switch {
	case p.parent == nil:
		t.root = l
	case p.parent.right == p:
		p.parent.right = l
	default:
		p.parent.left = l
	}
	l.right = p
	p.parent = l
}

// fix is TreeMap.fixAfterInsertion.
func (t *rbSet) fix(x *rbNode) {
	x.red = true
	for x != nil && x != t.root && x.parent.red {
		if parentOf(x) == leftOf(parentOf(parentOf(x))) {
			y := rightOf(parentOf(parentOf(x)))
			if isRed(y) {
				setRed(parentOf(x), false)
				setRed(y, false)
				setRed(parentOf(parentOf(x)), true)
				x = parentOf(parentOf(x))
			} else {
				if x == rightOf(parentOf(x)) {
					x = parentOf(x)
					t.rotateLeft(x)
				}
				setRed(parentOf(x), false)
				setRed(parentOf(parentOf(x)), true)
				t.rotateRight(parentOf(parentOf(x)))
			}
		} else {
			y := leftOf(parentOf(parentOf(x)))
			if isRed(y) {
				setRed(parentOf(x), false)
				setRed(y, false)
				setRed(parentOf(parentOf(x)), true)
				x = parentOf(parentOf(x))
			} else {
				if x == leftOf(parentOf(x)) {
					x = parentOf(x)
					t.rotateRight(x)
				}
				setRed(parentOf(x), false)
				setRed(parentOf(parentOf(x)), true)
				t.rotateLeft(parentOf(parentOf(x)))
			}
		}
	}
	t.root.red = false
}

func (t *rbSet) walk(e *rbNode, out []*Node) []*Node {
	if e == nil {
		return out
	}
	out = t.walk(e.left, out)
	out = append(out, e.n)
	return t.walk(e.right, out)
}

func (t *rbSet) all() []*Node { return t.walk(t.root, nil) }

// edgeOrders returns, for the nodes of one sub-topology, their
// predecessors and successors in the order Kafka Streams prints them.
func edgeOrders(nodes []*Node) (preds, succs map[*Node][]*Node) {
	in := make(map[*Node]bool, len(nodes))
	names := make([]string, len(nodes))
	byName := make(map[string]*Node, len(nodes))
	for i, n := range nodes {
		in[n] = true
		names[i] = n.Name
		byName[n.Name] = n
	}
	size := make(map[*Node]int, len(nodes))
	for _, n := range nodes {
		size[n] = 1
	}
	p := make(map[*Node]*rbSet, len(nodes))
	s := make(map[*Node]*rbSet, len(nodes))
	for _, n := range nodes {
		p[n] = &rbSet{size: size}
		s[n] = &rbSet{size: size}
	}
	var grow func(n *Node, delta int)
	grow = func(n *Node, delta int) {
		size[n] += delta
		for _, q := range p[n].all() {
			grow(q, delta)
		}
	}
	for _, name := range javaSetOrder(names) {
		n := byName[name]
		for _, q := range n.Parents {
			if !in[q] {
				continue
			}
			p[n].add(q)
			s[q].add(n)
			grow(q, size[n])
		}
	}
	preds = make(map[*Node][]*Node, len(nodes))
	succs = make(map[*Node][]*Node, len(nodes))
	for _, n := range nodes {
		preds[n] = p[n].all()
		succs[n] = s[n].all()
	}
	return preds, succs
}
