package state

import (
	"hash/maphash"
	"math/bits"
)

// keyFilter is a Bloom filter of the keys that a store may hold in its
// committed data, kept for a store that was empty when it was opened: every
// key it can hold then went through a Put of its CachedStore or an Apply of
// its Restorer, which add it here. A Get of a key the filter has never seen
// answers "absent" without reading Pebble, which for a store with millions
// of distinct keys is most Gets (each new key is looked up once before its
// first write), and a Pebble read of an absent key costs a probe of every
// memtable and of every level that might hold it.
//
// Its memory is fixed when it is made. It holds up to capacity keys with
// about 2% false positives (8 bits and 5 probes per key); past that the
// store drops it and reads Pebble for every cache miss, as a store that was
// not empty does.
type keyFilter struct {
	bits     []uint64
	mask     uint64 // number of bits - 1 (a power of two)
	seed     maphash.Seed
	n        int // keys added (those that were not already all set)
	capacity int
}

const (
	filterBitsPerKey = 8
	filterProbes     = 5
	// minFilterBytes is the smallest filter made: below it, not worth it.
	minFilterBytes = 64 << 10
)

// newKeyFilter returns a filter of at most size bytes (rounded down to a
// power of two), or nil if size is below minFilterBytes.
func newKeyFilter(size int) *keyFilter {
	if size < minFilterBytes {
		return nil
	}
	words := 1 << (bits.Len(uint(size/8)) - 1)
	nbits := uint64(words) * 64
	return &keyFilter{bits: make([]uint64, words), mask: nbits - 1, seed: maphash.MakeSeed(), capacity: int(nbits / filterBitsPerKey)}
}

// bytes returns the memory of the filter's bit array.
func (f *keyFilter) bytes() int { return len(f.bits) * 8 }

// add records key. It reports false once the filter holds more keys than
// its capacity: it must then be dropped.
func (f *keyFilter) add(key []byte) bool {
	h := maphash.Bytes(f.seed, key)
	h1, h2 := h, h>>32|1
	isNew := false
	for i := uint64(0); i < filterProbes; i++ {
		b := (h1 + i*h2) & f.mask
		w, m := b>>6, uint64(1)<<(b&63)
		if f.bits[w]&m == 0 {
			f.bits[w] |= m
			isNew = true
		}
	}
	if isNew {
		f.n++
	}
	return f.n <= f.capacity
}

// mayContain reports whether key may have been added.
func (f *keyFilter) mayContain(key []byte) bool {
	h := maphash.Bytes(f.seed, key)
	h1, h2 := h, h>>32|1
	for i := uint64(0); i < filterProbes; i++ {
		b := (h1 + i*h2) & f.mask
		if f.bits[b>>6]&(uint64(1)<<(b&63)) == 0 {
			return false
		}
	}
	return true
}
