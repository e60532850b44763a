package state

// skiplist is a small single-goroutine ordered map from string keys to
// entries, ordered by byte-wise comparison of the keys (the same order as
// bytes.Compare on the serialized keys, and as Pebble's default comparer).
//
// It backs both the write-back cache of CachedStore and the committed data of
// MemDB. It is not safe for concurrent mutation; callers provide locking.
type skiplist struct {
	head  slNode
	level int
	len   int
	rnd   uint64
}

const slMaxLevel = 24

// slNode is one entry. key is immutable once inserted. value is replaced, never
// modified in place, so slices handed out earlier stay valid.
type slNode struct {
	key   string
	value []byte
	tomb  bool // cache only: entry records a delete
	dirty bool // cache only: entry not yet flushed
	next  []*slNode
}

func newSkiplist() *skiplist {
	s := &skiplist{level: 1, rnd: 0x9E3779B97F4A7C15}
	s.head.next = make([]*slNode, slMaxLevel)
	return s
}

// randomLevel draws a level with P(level > n) = 4^-n.
func (s *skiplist) randomLevel() int {
	// xorshift64*
	s.rnd ^= s.rnd >> 12
	s.rnd ^= s.rnd << 25
	s.rnd ^= s.rnd >> 27
	r := s.rnd * 2685821657736338717
	lvl := 1
	for lvl < slMaxLevel && r&3 == 0 {
		lvl++
		r >>= 2
	}
	return lvl
}

// findGE returns the first node with key >= key, filling prev (if non-nil)
// with the last node before it on every level.
func (s *skiplist) findGE(key string, prev *[slMaxLevel]*slNode) *slNode {
	x := &s.head
	for i := s.level - 1; i >= 0; i-- {
		for n := x.next[i]; n != nil && n.key < key; n = x.next[i] {
			x = n
		}
		if prev != nil {
			prev[i] = x
		}
	}
	return x.next[0]
}

// get returns the node for key, or nil.
func (s *skiplist) get(key string) *slNode {
	n := s.findGE(key, nil)
	if n != nil && n.key == key {
		return n
	}
	return nil
}

// seekGE returns the first node with key >= key (nil if none).
func (s *skiplist) seekGE(key string) *slNode { return s.findGE(key, nil) }

// seekGT returns the first node with key > key (nil if none).
func (s *skiplist) seekGT(key string) *slNode {
	n := s.findGE(key, nil)
	if n != nil && n.key == key {
		n = n.next[0]
	}
	return n
}

// first returns the smallest node (nil if empty).
func (s *skiplist) first() *slNode { return s.head.next[0] }

// upsert returns the node for key, inserting an empty one if absent.
// The key string is retained; callers pass a string they own.
func (s *skiplist) upsert(key string) (n *slNode, inserted bool) {
	var prev [slMaxLevel]*slNode
	n = s.findGE(key, &prev)
	if n != nil && n.key == key {
		return n, false
	}
	lvl := s.randomLevel()
	if lvl > s.level {
		for i := s.level; i < lvl; i++ {
			prev[i] = &s.head
		}
		s.level = lvl
	}
	n = &slNode{key: key, next: make([]*slNode, lvl)}
	for i := 0; i < lvl; i++ {
		n.next[i] = prev[i].next[i]
		prev[i].next[i] = n
	}
	s.len++
	return n, true
}

// insert links n, whose key must not be in the list yet.
func (s *skiplist) insert(n *slNode) {
	var prev [slMaxLevel]*slNode
	s.findGE(n.key, &prev)
	lvl := s.randomLevel()
	if lvl > s.level {
		for i := s.level; i < lvl; i++ {
			prev[i] = &s.head
		}
		s.level = lvl
	}
	n.next = make([]*slNode, lvl)
	for i := 0; i < lvl; i++ {
		n.next[i] = prev[i].next[i]
		prev[i].next[i] = n
	}
	s.len++
}

// remove deletes key and returns the removed node (nil if absent).
func (s *skiplist) remove(key string) *slNode {
	var prev [slMaxLevel]*slNode
	n := s.findGE(key, &prev)
	if n == nil || n.key != key {
		return nil
	}
	for i := range n.next {
		prev[i].next[i] = n.next[i]
	}
	for s.level > 1 && s.head.next[s.level-1] == nil {
		s.level--
	}
	s.len--
	return n
}
