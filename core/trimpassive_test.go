package core

import (
	"fmt"
	"testing"
	"time"
)

// Trimming the passive view never forgets a peer whose Join is in flight
// while a peer without one can go, however small max_passive_peers is: a
// forgotten joiner's JoinReply would find no peer, and its link slot would
// be lost. (It used to re-draw once and then forget whatever it drew.)
func TestTrimPassiveKeepsJoiningPeers(t *testing.T) {
	for seed := int64(1); seed <= 200; seed++ {
		c := DefaultConfig()
		c.Seed = seed
		c.UseHashRing = false
		p, err := New(c, "me", nil, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		var joining []*peer
		for i := range 6 {
			pe := p.addKnown(PeerID(fmt.Sprintf("p%d", i)))
			pe.joining = i < 4
			if pe.joining {
				joining = append(joining, pe)
			}
		}
		p.cfg.MaxPassivePeers = 4
		p.trimPassive()
		if len(p.passive) != 4 {
			t.Fatalf("seed %d: passive view %d, want 4", seed, len(p.passive))
		}
		for _, pe := range joining {
			if p.peers[pe.id] != pe {
				t.Fatalf("seed %d: forgot %s, whose Join is in flight, and kept a peer without one", seed, pe.id)
			}
		}
		// Only joiners left: the bound still holds.
		p.cfg.MaxPassivePeers = 3
		p.trimPassive()
		if len(p.passive) != 3 {
			t.Fatalf("seed %d: passive view %d, want 3", seed, len(p.passive))
		}
	}
}
