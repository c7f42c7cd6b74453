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
//
// Growing rehashes nothing at once: the old table stays readable and its
// slots move to the new one a few per insert (as fifoRing's entries do).
// Rehashing 8,192 entries at once took 3 ms here, 32,768 took 11 ms, on the
// protocol goroutine of every node reaching that count. While an old table
// is kept, its slots below cursor have moved (a copy may still be there:
// ignored), and an entry removed from it before moving is marked dead
// rather than shifted, so that no unmoved entry crosses the cursor.
type fifoIndex struct {
	slots []idxSlot
	mask  uint64
	count int // live entries, in both tables
	seed  maphash.Seed

	old    []idxSlot
	cursor int      // old slots below it have moved
	dead   []uint64 // bitset over old: removed before moving
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
	if n, ok := x.probe(false, h, first, eq); ok {
		return n, true
	}
	if x.old != nil {
		return x.probe(true, h, first, eq)
	}
	return 0, false
}

// probe looks for h in the current table or in the old one (where only
// unmoved slots count) and returns the entry's arrival number.
func (x *fifoIndex) probe(inOld bool, h uint32, first uint64, eq func(n uint64) bool) (uint64, bool) {
	table := x.slots
	if inOld {
		table = x.old
	}
	mask := uint64(len(table) - 1)
	for i := uint64(h) & mask; ; i = (i + 1) & mask {
		s := table[i]
		if s.n == 0 {
			return 0, false
		}
		if s.h == h && (!inOld || x.unmoved(i)) {
			n := first + uint64(s.n-1-uint32(first))
			if eq(n) {
				return n, true
			}
		}
	}
}

// unmoved reports whether old slot i still holds a live entry of its own
// (not moved, not removed).
func (x *fifoIndex) unmoved(i uint64) bool {
	return int(i) >= x.cursor && x.dead[i/64]&(1<<(i%64)) == 0
}

// insert adds (h, n); the caller guarantees the id is not present.
func (x *fifoIndex) insert(h uint32, n uint64) {
	if 2*(x.count+1) > len(x.slots) {
		x.grow()
	}
	x.move(idxStep)
	x.place(idxSlot{h: h, n: uint32(n) + 1})
	x.count++
}

// idxStep is how many old slots each insert moves after a growth: the
// table (twice the old one's size, at most half full before the growth)
// needs at least len(old)/2 inserts to be due again, and the move is over
// after len(old)/idxStep.
const idxStep = 8

// place puts s into the current table.
func (x *fifoIndex) place(s idxSlot) {
	i := uint64(s.h) & x.mask
	for x.slots[i].n != 0 {
		i = (i + 1) & x.mask
	}
	x.slots[i] = s
}

func (x *fifoIndex) grow() {
	x.move(len(x.old)) // what is left of an earlier growth
	size := max(2*len(x.slots), 64)
	old := x.slots
	x.slots = make([]idxSlot, size)
	x.mask = uint64(size - 1)
	if x.count > 0 {
		x.old, x.cursor = old, 0
		x.dead = make([]uint64, (len(old)+63)/64)
	}
}

// move moves up to k slots of the old table into the current one.
func (x *fifoIndex) move(k int) {
	if x.old == nil {
		return
	}
	for ; k > 0 && x.cursor < len(x.old); k-- {
		if i := uint64(x.cursor); x.old[i].n != 0 && x.unmoved(i) {
			x.place(x.old[i])
		}
		x.cursor++
	}
	if x.cursor == len(x.old) {
		x.old, x.dead = nil, nil
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
			x.removeOld(h, n32)
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

// removeOld marks the entry (h, n32) of the old table dead, if it is
// there and has not moved.
func (x *fifoIndex) removeOld(h, n32 uint32) {
	if x.old == nil {
		return
	}
	mask := uint64(len(x.old) - 1)
	for i := uint64(h) & mask; x.old[i].n != 0; i = (i + 1) & mask {
		if x.old[i].n == n32 && x.unmoved(i) {
			x.dead[i/64] |= 1 << (i % 64)
			x.count--
			return
		}
	}
}

func (x *fifoIndex) clearAll() {
	clear(x.slots)
	x.count = 0
	x.old, x.dead = nil, nil
}
