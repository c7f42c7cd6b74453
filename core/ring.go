package core

import "slices"

// fnv64 is the 64-bit FNV-1a hash, the ring's stable placement function.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

type ringEntry struct {
	h  uint64
	id PeerID
}

func ringLess(a, b ringEntry) int {
	switch {
	case a.h < b.h:
		return -1
	case a.h > b.h:
		return 1
	case a.id < b.id:
		return -1
	case a.id > b.id:
		return 1
	}
	return 0
}

// hashRing is the known peers plus self, sorted by (hash, id). Membership
// changes cost one binary search and one slice shift: O(n), never a sort.
type hashRing struct {
	e       []ringEntry
	self    PeerID
	changes uint64 // inserts and removes so far
}

func (r *hashRing) init(self PeerID) {
	r.self = self
	r.e = []ringEntry{{fnv64(string(self)), self}}
}

func (r *hashRing) insert(id PeerID) {
	x := ringEntry{fnv64(string(id)), id}
	i, found := slices.BinarySearchFunc(r.e, x, ringLess)
	if !found {
		r.e = slices.Insert(r.e, i, x)
		r.changes++
	}
}

func (r *hashRing) remove(id PeerID) {
	x := ringEntry{fnv64(string(id)), id}
	if i, found := slices.BinarySearchFunc(r.e, x, ringLess); found {
		r.e = slices.Delete(r.e, i, i+1)
		r.changes++
	}
}

// neighbors appends to dst the ring neighbours of self: i+1, i-1, i+2, i-2 ...
// distinct, never self, at most k.
func (r *hashRing) neighbors(dst []PeerID, k int) []PeerID {
	n := len(r.e)
	if n <= 1 || k <= 0 {
		return dst
	}
	i, _ := slices.BinarySearchFunc(r.e, ringEntry{fnv64(string(r.self)), r.self}, ringLess)
	start := len(dst)
	add := func(j int) {
		id := r.e[((j%n)+n)%n].id
		if id == r.self || slices.Contains(dst[start:], id) {
			return
		}
		dst = append(dst, id)
	}
	for d := 1; d < n && len(dst)-start < k; d++ {
		add(i + d)
		if len(dst)-start < k {
			add(i - d)
		}
	}
	return dst
}

// applyRing recomputes the ring neighbours and, with ProtectRingNeighbors,
// the protected set: newly protected peers not in the active view are asked
// for a link (Join); peers that stop being neighbours lose their protection
// but keep their state.
func (p *Protocol) applyRing() {
	if !p.cfg.UseHashRing {
		return
	}
	var buf [8]PeerID
	k := p.cfg.MaxProtectedNeighbors
	if k == 0 {
		k = 2
	}
	near := p.ring.neighbors(buf[:0], k)
	old := p.protScratch[:0]
	for _, pe := range p.prot {
		pe.protected = false
		old = append(old, pe)
	}
	p.prot = p.prot[:0]
	for _, pe := range p.near {
		pe.near = false
	}
	p.near = p.near[:0]
	for _, id := range near {
		pe := p.peers[id]
		if pe == nil {
			continue
		}
		pe.near = true
		p.near = append(p.near, pe)
		if p.cfg.ProtectRingNeighbors && p.cfg.MaxProtectedNeighbors > 0 {
			pe.protected = true
			p.prot = append(p.prot, pe)
		}
	}
	// A protected neighbour is kept in the active view: ask it for a link
	// (it accepts, making room if needed: we are its neighbour too). It
	// may be lazy: the ring keeps the overlay connected, the tree decides
	// which links carry payloads.
	for _, pe := range p.prot {
		if pe.state == statePassive && !pe.joining {
			if !p.room() {
				p.evict(pe)
			}
			if p.room() {
				p.requestJoin(pe, p.eagerDeficit())
			}
		}
	}
	for i := range old {
		old[i] = nil
	}
	p.protScratch = old[:0]
}
