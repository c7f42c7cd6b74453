package core

import (
	"testing"

	"pgregory.net/rapid"
)

// fifoRing against a slice model: pushes (growing when full, as the seen
// set and MemStore do), pops from the head and rewrites of live entries,
// in any order; every live entry reads back what was last written, and a
// growth moves no entry at once, yet is over long before the ring can fill
// up again.
func TestFifoRingModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var r fifoRing[uint64]
		first, next := uint64(1), uint64(1)
		model := map[uint64]uint64{} // live arrival number -> value
		for range rapid.IntRange(1, 3000).Draw(t, "ops") {
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
			case op < 6: // push
				full, before := int(next-first) == r.size(), r.size()
				r.room(first, next, 4)
				if full && next-first > ringStep && r.old == nil {
					t.Fatalf("growth from %d to %d moved all %d entries at once", before, r.size(), next-first)
				}
				v := rapid.Uint64().Draw(t, "v")
				*r.at(next) = v
				model[next] = v
				next++
			case op < 8 && next > first: // pop
				delete(model, first)
				first++
			case next > first: // rewrite a live entry
				n := first + uint64(rapid.IntRange(0, int(next-first-1)).Draw(t, "n"))
				v := rapid.Uint64().Draw(t, "v")
				*r.at(n) = v
				model[n] = v
			}
			for n := first; n < next; n++ {
				if got := *r.at(n); got != model[n] {
					t.Fatalf("entry %d reads %d, want %d (live [%d, %d), ring %d, old %d, moved %d, old end %d)",
						n, got, model[n], first, next, r.size(), len(r.old), r.moved, r.oldEnd)
				}
			}
			if r.old != nil && int(next-first) >= r.size() {
				t.Fatalf("the ring is full (%d) before the last growth's entries moved", r.size())
			}
		}
	})
}

// fifoIndex against a map model, across growths: inserts, removals of any
// live entry (before or after it moved to the new table) and lookups of
// live, removed and absent ids. The owner's storage keeps a removed id
// until it is overwritten, so the index alone must say it is gone. A
// growth rehashes nothing at once, its move is over before the table can
// grow again, and the tables hold exactly the live entries.
func TestFifoIndexModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var x fifoIndex
		x.init()
		stored := map[uint64]MessageID{} // what the owner's slots hold, removed ones included
		var live, removed []uint64
		first, next := uint64(1), uint64(1)
		find := func(id MessageID) (uint64, bool) {
			return x.find(x.hash(&id), first, func(m uint64) bool { return stored[m] == id })
		}
		for range rapid.IntRange(1, 4000).Draw(t, "ops") {
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
			case op < 6 || len(live) == 0: // insert
				id := MessageID{Origin: PeerID(rune('a' + rapid.IntRange(0, 3).Draw(t, "o"))), Seq: next}
				grows := 2*(x.count+1) > len(x.slots)
				x.insert(x.hash(&id), next)
				if grows && x.count > 1 && x.old == nil {
					t.Fatalf("growth to %d slots rehashed all %d entries at once", len(x.slots), x.count-1)
				}
				stored[next] = id
				live = append(live, next)
				next++
			case op < 9: // remove a live entry, oldest first more often (as the owners do)
				k := 0
				if op == 8 {
					k = rapid.IntRange(0, len(live)-1).Draw(t, "k")
				}
				n := live[k]
				id := stored[n]
				x.remove(x.hash(&id), n)
				live = append(live[:k], live[k+1:]...)
				removed = append(removed, n)
				if len(live) > 0 {
					first = live[0]
				} else {
					first = next
				}
			default: // an id that was never there
				if _, ok := find(MessageID{Origin: "z", Seq: uint64(rapid.IntRange(0, 10).Draw(t, "s"))}); ok {
					t.Fatal("found an id never inserted")
				}
			}
			// The tables hold exactly the live entries.
			held := 0
			for _, s := range x.slots {
				if s.n != 0 {
					held++
				}
			}
			for i, s := range x.old {
				if s.n != 0 && i >= x.cursor && x.dead[i/64]&(1<<(i%64)) == 0 {
					held++
				}
			}
			if x.count != len(live) || held != len(live) {
				t.Fatalf("count %d, entries held %d, want %d", x.count, held, len(live))
			}
			for range min(3, len(live)) {
				n := live[rapid.IntRange(0, len(live)-1).Draw(t, "live")]
				if got, ok := find(stored[n]); !ok || got != n {
					t.Fatalf("find(%v) = %d, %v; want %d (table %d, old %d, cursor %d)", stored[n], got, ok, n, len(x.slots), len(x.old), x.cursor)
				}
			}
			if len(removed) > 0 {
				n := removed[rapid.IntRange(0, len(removed)-1).Draw(t, "removed")]
				if got, ok := find(stored[n]); ok {
					t.Fatalf("removed %v (arrival %d) still found, as %d", stored[n], n, got)
				}
			}
		}
	})
}
