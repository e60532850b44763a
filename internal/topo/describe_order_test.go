package topo

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestJavaHash(t *testing.T) {
	// Values of Java's "...".hashCode(), printed by Java 17.
	assert.Equal(t, int32(99162322), javaHash("hello"))
	assert.Equal(t, int32(0), javaHash(""))
	assert.Equal(t, int32(1861603632), javaHash("KSTREAM-SOURCE-0000000000"))
	assert.Equal(t, 16, javaTableSize(12))
	assert.Equal(t, 32, javaTableSize(13))
}

// With sizes that do not change, the tree is an ordinary sorted set:
// larger size first, then by name, whatever the insertion order.
func TestRBSetSorted(t *testing.T) {
	size := map[*Node]int{}
	var nodes []*Node
	for i := range 50 {
		n := &Node{Name: fmt.Sprintf("n%02d", i)}
		size[n] = i % 3
		nodes = append(nodes, n)
	}
	want := slices.Clone(nodes)
	s := &rbSet{size: size}
	slices.SortFunc(want, s.less)
	rand.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	for _, n := range nodes {
		s.add(n)
		s.add(n) // a second add is ignored
	}
	assert.Equal(t, want, s.all())
}
