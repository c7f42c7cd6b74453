package coretest_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/coretest"
)

// scaleRun builds nodes nodes that each know a random sample of about known
// members (symmetric, like a partial-view membership), lets the overlay
// settle, then broadcasts msgs messages from random origins every gap and
// returns the payload and control messages received per broadcast per node
// over the second half of the run.
func scaleRun(t testing.TB, nodes, known, msgs int, gap time.Duration, c core.Config) (payload, control float64, n *coretest.Network) {
	t.Helper()
	n, err := coretest.New(coretest.Config{Nodes: nodes, Protocol: c, Seed: 1, NoMembership: true, LinkSpread: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for i := 0; i < nodes; i++ {
		for k := 0; k < known/2; k++ {
			j := rng.IntN(nodes)
			if j == i {
				continue
			}
			n.Node(i).AddPeer(n.Now(), n.ID(j))
			n.Node(j).AddPeer(n.Now(), n.ID(i))
			n.Flush(i)
			n.Flush(j)
		}
	}
	n.RunFor(10 * time.Second)
	for k := 0; k < msgs; k++ {
		if k == msgs/2 {
			n.ResetCounters()
		}
		if _, err := n.Broadcast(rng.IntN(nodes), []byte("m")); err != nil {
			t.Fatal(err)
		}
		n.RunFor(gap)
	}
	cs := n.Counters()
	per := float64(msgs-msgs/2) * float64(nodes)
	return float64(cs.PayloadReceived) / per, float64(cs.ControlReceived) / per, n
}

// Anti-entropy must not inflate the control traffic at scale. It costs per
// unit of time, not per message: a node sends one digest in a round after
// it delivered something (and every 2nd quiet round), and a digest is
// answered only when it shows the receiver lacks something. With a
// broadcast every second (2 per round) that is under 1 control message per
// node per broadcast; with one every 10 s (5 rounds per broadcast), under 3.
// 1,000 nodes knowing 30 members each (SCALE_NODES=10000 for the paper's
// size).
func TestAntiEntropyCostAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	nodes := envInt("SCALE_NODES", 1000)
	for _, gap := range []time.Duration{time.Second, 10 * time.Second} {
		c := core.DefaultConfig()
		p, ctl, _ := scaleRun(t, nodes, 30, 10, gap, c)
		c.AntiEntropyBatch = 0
		p0, ctl0, _ := scaleRun(t, nodes, 30, 10, gap, c)
		t.Logf("%d nodes, a broadcast every %v: per broadcast per node: payload %.3f, control %.3f (without anti-entropy: payload %.3f, control %.3f)", nodes, gap, p, ctl, p0, ctl0)
		limit := 1.0
		if gap > time.Second {
			limit = 3.0
		}
		if ctl-ctl0 > limit || p > p0+0.01 {
			t.Errorf("anti-entropy adds %.2f control messages per node per broadcast (want <= %.1f) and %.3f payload messages (want 0)", ctl-ctl0, limit, p-p0)
		}
	}
}
