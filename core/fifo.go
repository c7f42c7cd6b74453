package core

import "hash/maphash"

// fifoIndex maps MessageIDs to arrival numbers for the FIFO structures (the
// seen set and MemStore). Those structures insert at one end and delete at
// the other, a pattern that fills Go's built-in maps with tombstones and
// makes them several times slower as they age. This is an open-addressing
// table with linear probing and backward-shift deletion, so deletes leave no
// tombstones. A slot is 8 bytes: 32 bits of the hash and the low 32 bits of
// the arrival number (the owner's live arrival numbers span less than 2^32,
// so the low bits identify one); the owner compares the ids. The all-zero
// slot is empty (arrival numbers are stored plus one). Load stays at or
// below 1/2.
//
// The hash is seeded at random (hash/maphash) so that peers cannot craft
// colliding ids; the seed changes memory layout only, never an output.
type fifoIndex struct {
	slots []idxSlot
	mask  uint64
	count int
	seed  maphash.Seed
}

type idxSlot struct {
	h uint32
	n uint32 // low 32 bits of the arrival number, plus one; 0 = empty
}

func (x *fifoIndex) init() { x.seed = maphash.MakeSeed() }

func (x *fifoIndex) hash(id *MessageID) uint32 {
	h := maphash.String(x.seed, string(id.Origin))
	h ^= id.Seq * 0x9e3779b97f4a7c15
	h ^= h >> 32
	h *= 0xd6e8feb86837b1d5
	h ^= h >> 29
	return uint32(h)
}

// find returns the arrival number of the entry with hash h for which eq
// holds; first is the owner's oldest live arrival number.
func (x *fifoIndex) find(h uint32, first uint64, eq func(n uint64) bool) (uint64, bool) {
	if x.count == 0 {
		return 0, false
	}
	for i := uint64(h) & x.mask; ; i = (i + 1) & x.mask {
		s := x.slots[i]
		if s.n == 0 {
			return 0, false
		}
		if s.h == h {
			n := first + uint64(s.n-1-uint32(first))
			if eq(n) {
				return n, true
			}
		}
	}
}

// insert adds (h, n); the caller guarantees the id is not present.
func (x *fifoIndex) insert(h uint32, n uint64) {
	if 2*(x.count+1) > len(x.slots) {
		x.grow()
	}
	i := uint64(h) & x.mask
	for x.slots[i].n != 0 {
		i = (i + 1) & x.mask
	}
	x.slots[i] = idxSlot{h: h, n: uint32(n) + 1}
	x.count++
}

func (x *fifoIndex) grow() {
	size := max(2*len(x.slots), 64)
	old := x.slots
	x.slots = make([]idxSlot, size)
	x.mask = uint64(size - 1)
	for _, s := range old {
		if s.n != 0 {
			i := uint64(s.h) & x.mask
			for x.slots[i].n != 0 {
				i = (i + 1) & x.mask
			}
			x.slots[i] = s
		}
	}
}

// remove deletes the entry (h, n), shifting later entries of the probe run
// back so that no tombstone is left.
func (x *fifoIndex) remove(h uint32, n uint64) {
	if x.count == 0 {
		return
	}
	n32 := uint32(n) + 1
	i := uint64(h) & x.mask
	for x.slots[i].n != n32 {
		if x.slots[i].n == 0 {
			return
		}
		i = (i + 1) & x.mask
	}
	x.count--
	for {
		j := i
		for {
			j = (j + 1) & x.mask
			if x.slots[j].n == 0 {
				x.slots[i] = idxSlot{}
				return
			}
			k := uint64(x.slots[j].h) & x.mask
			// The entry at j may move to i only if its home k is not
			// cyclically within (i, j].
			if (i <= j && i < k && k <= j) || (i > j && (i < k || k <= j)) {
				continue
			}
			break
		}
		x.slots[i] = x.slots[j]
		i = j
	}
}

func (x *fifoIndex) clearAll() {
	clear(x.slots)
	x.count = 0
}
