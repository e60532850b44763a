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
// Its memory is fixed when it is made. It holds capacity keys with about
// 2-3% false positives (8 bits and 5 probes per key). Past its capacity it
// keeps learning keys, and its false positives grow with the share of its
// bits set, f^5 for a share f: about 28% at 2.5 times its capacity, 50% at
// 3.7 times. A lookup costs one cache miss and a Pebble read of an absent
// key some microseconds, so even a filter that answers "maybe" for most
// unseen keys still saves reads; the store drops it only when it would
// answer "maybe" for more than 90% of them (about 6 times its capacity),
// and reads Pebble for every cache miss from then on, as a store that was
// not empty does. It is a blocked filter: the probes of a key fall in one
// 64-byte block (one cache line), so a lookup costs one cache miss
// instead of five.
type keyFilter struct {
	bits     []uint64
	mask     uint64 // number of blocks - 1 (a power of two)
	seed     maphash.Seed
	n        int // keys added (those that were not already all set)
	capacity int // keys held at about 2% false positives
	ones     int // bits set
	maxOnes  int // bits set past which the filter is of no more use
}

const (
	filterBitsPerKey = 8
	filterProbes     = 5
	// filterMaxFill is the share of bits set at which a filter is
	// dropped: 0.979^5 = 90% false positives.
	filterMaxFill = 0.979
	// minFilterBytes is the smallest filter made: below it, not worth it.
	minFilterBytes = 64 << 10
	// maxFilterBytes is the largest filter: 2^19 blocks, as many as the
	// 19 hash bits that choose a block can address.
	maxFilterBytes = 32 << 20
)

// newKeyFilter returns a filter of at most size bytes (rounded down to a
// power of two), or nil if size is below minFilterBytes.
func newKeyFilter(size int) *keyFilter {
	if size < minFilterBytes {
		return nil
	}
	size = min(size, maxFilterBytes)
	words := 1 << (bits.Len(uint(size/8)) - 1)
	nbits := uint64(words) * 64
	return &keyFilter{bits: make([]uint64, words), mask: uint64(words/blockWords) - 1, seed: maphash.MakeSeed(),
		capacity: int(nbits / filterBitsPerKey), maxOnes: int(float64(nbits) * filterMaxFill)}
}

// blockWords is the number of words in a block: 8 words, 512 bits.
const blockWords = 8

// probe returns the block of key's bits and the hash that places them.
func (f *keyFilter) probe(key []byte) (block []uint64, h uint64) {
	h = maphash.Bytes(f.seed, key)
	b := (h >> 45 & f.mask) * blockWords // the probes use the low 45 bits
	return f.bits[b : b+blockWords : b+blockWords], h
}

// bytes returns the memory of the filter's bit array.
func (f *keyFilter) bytes() int { return len(f.bits) * 8 }

// add records key. It reports false once so many of its bits are set
// that it answers "maybe" for more than 90% of the keys never added: it
// must then be dropped.
func (f *keyFilter) add(key []byte) bool {
	block, h := f.probe(key)
	isNew := false
	for i := range filterProbes {
		b := h >> (9 * i) & 511 // 9 bits a probe, from the low 45 bits
		w, m := b>>6, uint64(1)<<(b&63)
		if block[w]&m == 0 {
			block[w] |= m
			isNew = true
			f.ones++
		}
	}
	if isNew {
		f.n++
	}
	return f.ones <= f.maxOnes
}

// falsePositiveRate estimates the share of keys never added for which
// mayContain answers true.
func (f *keyFilter) falsePositiveRate() float64 {
	fill := float64(f.ones) / float64(len(f.bits)*64)
	return fill * fill * fill * fill * fill
}

// mayContain reports whether key may have been added.
func (f *keyFilter) mayContain(key []byte) bool {
	block, h := f.probe(key)
	for i := range filterProbes {
		b := h >> (9 * i) & 511
		if block[b>>6]&(uint64(1)<<(b&63)) == 0 {
			return false
		}
	}
	return true
}
