package core

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// The heap of repair candidates gives them in the order of a stable sort by
// origin time (ties in the order gathered), and so, when no two origin
// times are equal, in exactly the order of the unstable sort onDigest used
// before; popped one at a time, some only, as onDigest stops at its batch.
// The seed is in every failure.
func TestOldestRepairsMatchSort(t *testing.T) {
	for seed := uint64(0); seed < 500; seed++ {
		rng := rand.New(rand.NewPCG(seed, 31))
		distinct := seed%2 == 0
		n := rng.IntN(300)
		cands := make([]repairCandidate, n)
		for i := range cands {
			ot := int64(rng.IntN(40)) // many ties
			if distinct {
				ot = int64(i)*7 + 3
			}
			cands[i] = repairCandidate{id: MessageID{Origin: PeerID(fmt.Sprintf("o%d", rng.IntN(5))), Seq: uint64(i)}, originTime: ot, n: i}
		}
		if distinct {
			rng.Shuffle(n, func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
			for i := range cands {
				cands[i].n = i
			}
		}
		byTime := func(a, b repairCandidate) int { return cmp.Compare(a.originTime, b.originTime) }
		want := slices.Clone(cands)
		slices.SortStableFunc(want, byTime)
		if distinct {
			old := slices.Clone(cands)
			slices.SortFunc(old, byTime)
			if !slices.Equal(old, want) {
				t.Fatalf("seed %d: the sorts disagree on distinct times", seed)
			}
		}
		take := rng.IntN(n + 1)
		h := oldestRepairs(slices.Clone(cands))
		h.init()
		for i := range take {
			if c := h.pop(); c != want[i] {
				t.Fatalf("seed %d: candidate %d is %+v, want %+v", seed, i, c, want[i])
			}
		}
		if len(h) != n-take {
			t.Fatalf("seed %d: %d left, want %d", seed, len(h), n-take)
		}
	}
}
