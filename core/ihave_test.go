package core

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// unqueueByCut is unqueueIHave as it was before it blanked announcements:
// the first match cut out of the queue at once. The reference for
// TestUnqueueMatchesCut.
func unqueueByCut(q []Announcement, a *Announcement, t int) ([]Announcement, bool) {
	for i := range q {
		if q[i].ID != a.ID {
			continue
		}
		if t > 0 && int(q[i].Hops)+1+t <= int(a.Hops) {
			return q, false
		}
		return slices.Delete(q, i, i+1), true
	}
	return q, false
}

// A lazy peer's IHave queue with announcements blanked and compacted is
// exactly the queue with each one cut out at once: random queues (the same
// id twice too), IHaves naming queued, absent and repeated ids in the
// queue's order or not, the hop threshold keeping some, and announcements
// queued and flushed (batch size reached) between IHaves; the queue, the
// count of queued announcements, the suppressed counter and the IHaves sent
// are compared after every IHave. The seed is in every failure.
func TestUnqueueMatchesCut(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for seed := uint64(0); seed < 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 29))
		c := DefaultConfig()
		c.IHaveBatchSize = 4 + rng.IntN(30)
		c.HopOptimizationThreshold = rng.IntN(3)
		p, err := New(c, "me", nil, t0)
		if err != nil {
			t.Fatal(err)
		}
		pe := &peer{id: "l0", state: stateLazy}
		var want []Announcement
		var wantSent [][]Announcement
		suppressed := uint64(0)
		id := func() MessageID {
			return MessageID{Origin: PeerID(fmt.Sprintf("o%d", rng.IntN(3))), Seq: uint64(rng.IntN(60))}
		}
		queue := func() {
			a := Announcement{ID: id(), Hops: uint16(rng.IntN(5)), OriginTime: t0}
			p.queueIHave(pe, a)
			want = append(want, a)
			if len(want) >= c.IHaveBatchSize {
				wantSent = append(wantSent, want)
				want = nil
			}
		}
		for step := range 200 {
			for range rng.IntN(c.IHaveBatchSize) {
				queue()
			}
			var anns []Announcement
			if rng.IntN(2) == 0 { // the queue's own order, with others between
				for _, a := range want {
					if rng.IntN(3) != 0 {
						anns = append(anns, Announcement{ID: a.ID, Hops: uint16(rng.IntN(6))})
					}
					if rng.IntN(4) == 0 {
						anns = append(anns, Announcement{ID: id(), Hops: uint16(rng.IntN(6))})
					}
				}
			} else {
				for range rng.IntN(20) {
					anns = append(anns, Announcement{ID: id(), Hops: uint16(rng.IntN(6))})
				}
			}
			for i := range anns {
				p.unqueueIHave(pe, &anns[i])
				var cut bool
				if want, cut = unqueueByCut(want, &anns[i], c.HopOptimizationThreshold); cut {
					suppressed++
				}
				switch rng.IntN(30) {
				case 0: // a message delivered meanwhile
					queue()
				case 1: // the peer changes state meanwhile (move flushes)
					p.flushPeer(pe)
					for len(want) > 0 {
						n := min(len(want), c.IHaveBatchSize)
						wantSent = append(wantSent, want[:n])
						want = want[n:]
					}
					want = nil
				}
			}
			p.compactQueue(pe) // as onIHave does
			if !slices.Equal(pe.q, want) || p.queued != len(want) || p.counters.IHaveSuppressed != suppressed {
				t.Fatalf("seed %d step %d: queue %v (%d queued, %d suppressed), want %v (%d)", seed, step, pe.q, p.queued, p.counters.IHaveSuppressed, want, suppressed)
			}
			var sent [][]Announcement
			for _, ob := range p.Drain().Messages {
				sent = append(sent, ob.Msg.IHaves)
			}
			if fmt.Sprint(sent) != fmt.Sprint(wantSent) {
				t.Fatalf("seed %d step %d: sent %v, want %v", seed, step, sent, wantSent)
			}
			wantSent = nil
		}
	}
}
