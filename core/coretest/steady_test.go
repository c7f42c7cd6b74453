package coretest_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/coretest"
)

// msgStat is what one broadcast cost. The origin's own delivery happens
// inside Broadcast, before the id is known: delivers starts at 1 for it.
type msgStat struct {
	at       time.Time
	last     time.Duration // broadcast to last delivery
	ldh      int           // hop count of the last delivered copy (max over nodes)
	grafted  int           // nodes that got it only after a Graft
	delivers int
}

// loadRun is a simulated network with per-broadcast statistics.
type loadRun struct {
	n     *coretest.Network
	stats map[core.MessageID]*msgStat
	order []core.MessageID
}

func newLoadRun(t testing.TB, nodes int, c core.Config, seed int64, latency, jitter time.Duration) *loadRun {
	t.Helper()
	return newLoadRunObs(t, nodes, c, seed, latency, jitter, nil)
}

// newLoadRunObs is newLoadRun with an extra observer of every event.
func newLoadRunObs(t testing.TB, nodes int, c core.Config, seed int64, latency, jitter time.Duration, obs func(node int, e core.Event)) *loadRun {
	t.Helper()
	r := &loadRun{stats: make(map[core.MessageID]*msgStat)}
	n, err := coretest.New(coretest.Config{
		Nodes: nodes, Protocol: c, Seed: seed, Latency: latency, Jitter: jitter,
		Observer: func(node int, e core.Event) {
			if obs != nil {
				obs(node, e)
			}
			s := r.stats[e.ID]
			if s == nil {
				return
			}
			switch e.Kind {
			case core.EventDelivered:
				s.delivers++
				if d := r.n.Now().Sub(s.at); d > s.last {
					s.last = d
				}
				s.ldh = max(s.ldh, int(e.Hops))
			case core.EventGraftSuccess:
				s.grafted++
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.n = n
	return r
}

func (r *loadRun) broadcast(t testing.TB, i int) core.MessageID {
	id, err := r.n.Broadcast(i, []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	s := &msgStat{at: r.n.Now(), delivers: 1}
	r.stats[id] = s
	r.order = append(r.order, id)
	return id
}

// isolated counts the nodes with no eager peer and the nodes that no other
// node treats as eager.
func isolated(n *coretest.Network) (noEager, noInbound int) {
	in := make(map[core.PeerID]int)
	for i := 0; i < n.Len(); i++ {
		if !n.Alive(i) {
			continue
		}
		for _, e := range n.Node(i).EagerPeers() {
			in[e]++
		}
	}
	for i := 0; i < n.Len(); i++ {
		if !n.Alive(i) {
			continue
		}
		if len(n.Node(i).EagerPeers()) == 0 {
			noEager++
		}
		if in[n.ID(i)] == 0 {
			noInbound++
		}
	}
	return noEager, noInbound
}

// unreachable returns, over all live origins, the largest number of live
// nodes an eager push from that origin cannot reach (0 = the eager graph
// spans the cluster from every origin).
func unreachable(n *coretest.Network) int {
	worst := 0
	for o := 0; o < n.Len(); o++ {
		if !n.Alive(o) {
			continue
		}
		seen := map[int]bool{o: true}
		stack := []int{o}
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, e := range n.Node(i).EagerPeers() {
				j := n.Index(e)
				if j >= 0 && n.Alive(j) && !seen[j] {
					seen[j] = true
					stack = append(stack, j)
				}
			}
		}
		live := 0
		for i := 0; i < n.Len(); i++ {
			if n.Alive(i) {
				live++
			}
		}
		worst = max(worst, live-len(seen))
	}
	return worst
}

// Many senders sharing one tree (the runtime's 10-node observation): after
// a burst of 50 broadcasts from random origins, 0-2 ms apart, some nodes
// used to have no eager peer and nobody eager towards them, so the next
// broadcast reached them only through an IHave and a Graft (GraftTimeout
// later). Now every node keeps an eager link (the last one is never pruned
// for redundancy, and a node whose last eager peer prunes it relinks at
// once), prunes are spread over PruneDelay so that a cycle loses one edge,
// not two, and the eager graph spans the cluster from every origin: the
// broadcasts that follow need no Graft.
func TestManySendersBurst(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		r := newLoadRun(t, 10, core.LANConfig(), seed, time.Millisecond, 0)
		r.n.RunFor(2 * time.Second)
		rng := rand.New(rand.NewPCG(7, uint64(seed)))
		for k := 0; k < 50; k++ {
			r.broadcast(t, rng.IntN(10))
			r.n.RunFor(time.Duration(rng.IntN(3)) * time.Millisecond)
		}
		if !r.n.RunUntilQuiescent(time.Minute) {
			t.Fatal("no quiescence")
		}
		if a, b := isolated(r.n); a+b > 0 {
			t.Errorf("seed %d: after the burst %d nodes have no eager peer, %d nodes no inbound eager link", seed, a, b)
		}
		if u := unreachable(r.n); u > 0 {
			t.Errorf("seed %d: after the burst an eager push misses %d nodes", seed, u)
		}
		r.order = r.order[:0]
		for k := 0; k < 20; k++ {
			r.broadcast(t, rng.IntN(10))
			r.n.RunFor(100 * time.Millisecond)
		}
		r.n.RunUntilQuiescent(time.Minute)
		for k, id := range r.order {
			if s := r.stats[id]; s.grafted > 0 || s.last > 20*time.Millisecond || s.delivers != 10 {
				t.Errorf("seed %d: broadcast %d after the burst: %d deliveries, %d by Graft, last after %v", seed, k, s.delivers, s.grafted, s.last)
			}
		}
	}
}

// The steady state of a long many-sender run at high rate: after the tree
// has settled, RMR is 0 and no node relies on Grafts. Before PruneDelay and
// the last-link rules the tree kept splitting and re-grafting for as long as
// the load lasted (10 nodes: RMR ~0.6 and half the messages needing a Graft
// in every window). Run with -v for the per-window numbers.
//
// The 50-node cases do not settle for every seed: over seeds 1-60 the
// default config ended at RMR 0 without Grafts in 55 (58 before pulls
// linked around refusing and cut-off nodes, 56 before IHaves answered by
// the peer's own were dropped; the failing seeds differ from one build to
// the next: the runs are chaotic, and any change to the protocol moves
// them), the LAN config in 60. One seed would pass or
// fail by luck, so those cases run seeds 1-3 and require 2 of them to settle
// (every seed is logged; STEADY_SEED=k runs only seed k and requires it).
func TestManySendersSteadyState(t *testing.T) {
	cases := []struct {
		name        string
		nodes, msgs int
		gap         int // broadcasts 1..gap ms apart
		jitter      time.Duration
		cfg         core.Config
		long        bool
	}{
		{"lan-10-nodes-400/s", 10, 1500, 4, 0, core.LANConfig(), false},
		// 4,500 broadcasts (about 11 s): with 1,500 (4 s) the default
		// config's slower timers (prune delay 1 s, maintenance 2 s) had
		// not settled yet on 36 of seeds 1-60 (STEADY_SEED=k,
		// STEADY_MSGS=n to replay).
		{"lan-50-nodes-300/s-jitter", 50, 4500, 6, 3 * time.Millisecond, core.LANConfig(), true},
		{"default-50-nodes-400/s-jitter", 50, 4500, 4, 2 * time.Millisecond, core.DefaultConfig(), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.long && testing.Short() {
				t.Skip("short")
			}
			seeds, need := []int64{1}, 1
			if tc.long {
				seeds, need = []int64{1, 2, 3}, 2
			}
			if k := envInt("STEADY_SEED", 0); k > 0 {
				seeds, need = []int64{int64(k)}, 1
			}
			var failed []string
			for _, seed := range seeds {
				if msg := steadyRun(t, tc.nodes, tc.cfg, seed, envInt("STEADY_MSGS", tc.msgs), tc.gap, tc.jitter); msg != "" {
					t.Logf("seed %d: %s", seed, msg)
					failed = append(failed, fmt.Sprintf("seed %d: %s", seed, msg))
				}
			}
			if len(seeds)-len(failed) < need {
				t.Errorf("%d of %d seeds settled, want %d: %s", len(seeds)-len(failed), len(seeds), need, strings.Join(failed, "; "))
			}
		})
	}
}

// steadyRun runs one many-sender load and returns why its last window did
// not settle ("" if it did).
func steadyRun(t *testing.T, nodes int, cfg core.Config, seed int64, msgs, gap int, jitter time.Duration) string {
	t.Helper()
	r := newLoadRun(t, nodes, cfg, seed, time.Millisecond, jitter)
	r.n.RunFor(2 * time.Second)
	rng := rand.New(rand.NewPCG(7, uint64(seed)))
	for k := 0; k < msgs; k++ {
		r.broadcast(t, rng.IntN(nodes))
		r.n.RunFor(time.Duration(rng.IntN(gap)+1) * time.Millisecond)
	}
	r.n.RunUntilQuiescent(time.Minute)
	ws := report(t, r, 250)
	var why []string
	if last := ws[len(ws)-1]; last.rmr != 0 || last.grafted != 0 {
		why = append(why, fmt.Sprintf("last window: RMR %.3f, %d deliveries by Graft; want 0 and 0", last.rmr, last.grafted))
	}
	if u := unreachable(r.n); u > 0 {
		why = append(why, fmt.Sprintf("an eager push misses %d nodes", u))
	}
	return strings.Join(why, ", ")
}

type window struct {
	rmr     float64
	grafted int
}

// report logs, per window of broadcasts, the deliveries that needed a
// Graft, the largest LDH, the mean RMR and the time to the last delivery.
func report(t testing.TB, r *loadRun, size int) []window {
	var ws []window
	for w := 0; w < len(r.order); w += size {
		ids := r.order[w:min(w+size, len(r.order))]
		var grafted, ldh, slow int
		var lasts []time.Duration
		var rmr float64
		for _, id := range ids {
			s := r.stats[id]
			grafted += s.grafted
			ldh = max(ldh, s.ldh)
			lasts = append(lasts, s.last)
			if s.grafted > 0 {
				slow++
			}
			rmr += r.n.RMR(id)
		}
		slices.Sort(lasts)
		rmr /= float64(len(ids))
		ws = append(ws, window{rmr: rmr, grafted: grafted})
		t.Logf("broadcasts %4d-%4d: RMR %.3f, max LDH %2d, deliveries by Graft %4d (%3d broadcasts), last delivery p50 %v max %v",
			w+1, w+len(ids), rmr, ldh, grafted, slow, lasts[len(lasts)/2].Round(100*time.Microsecond), lasts[len(lasts)-1].Round(100*time.Microsecond))
	}
	return ws
}

func envInt(k string, d int) int {
	if v := os.Getenv(k); v != "" {
		if x, err := strconv.Atoi(v); err == nil {
			return x
		}
	}
	return d
}
