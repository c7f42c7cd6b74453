package coretest_test

import (
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/coretest"
)

var tailSeeds = flag.Int("repair.tailseeds", 24, "network seeds of TestRepairTailUnderLoss (1..N)")

// repairTail runs the cluster job's loss experiment in virtual time: N = 32
// with cfg, the tree formed first, then 5 % of every message on every link
// lost while the nodes broadcast 20 msg/s of 1 KiB from rotating origins
// for 30 s. It returns the p50 and p99 over the messages of the time from
// the broadcast to the last node's delivery, and the RMR and control
// messages per delivery over the lossy traffic. Every message must reach
// every node exactly once.
func repairTail(t *testing.T, cfg core.Config, seed int64) (p50, p99 time.Duration, rmr, control float64) {
	t.Helper()
	const nodes, rate, dur = 32, 20, 30 * time.Second
	sent := map[core.MessageID]time.Time{}
	last := map[core.MessageID]time.Time{}
	var n *coretest.Network
	n, err := coretest.New(coretest.Config{Nodes: nodes, Protocol: cfg, Seed: seed,
		LinkSpread: 2 * time.Millisecond, Jitter: time.Millisecond,
		Observer: func(_ int, e core.Event) {
			if e.Kind == core.EventDelivered {
				if _, ok := sent[e.ID]; ok {
					last[e.ID] = n.Now()
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	n.RunFor(10 * time.Second)
	for k := 0; k < 40; k++ { // the tree forms, without loss
		if _, err := n.Broadcast(k*7%nodes, []byte("warm")); err != nil {
			t.Fatal(err)
		}
		n.RunFor(cfg.PruneDelay)
	}
	n.RunFor(5 * time.Second)
	n.ResetCounters()
	n.SetDropRate(0.05)
	payload := make([]byte, 1024)
	msgs := int(dur / (time.Second / rate))
	for k := 0; k < msgs; k++ {
		id, err := n.Broadcast(k*11%nodes, payload)
		if err != nil {
			t.Fatal(err)
		}
		sent[id] = n.Now()
		n.RunFor(time.Second / rate)
	}
	// Anti-entropy repairs what every announcement missed (after
	// anti_entropy_min_age); give it many rounds.
	n.RunFor(time.Minute)
	if err := n.CheckDelivery(true); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	lat := make([]time.Duration, 0, len(sent))
	for id, at := range sent {
		lat = append(lat, last[id].Sub(at))
	}
	slices.Sort(lat)
	cs := n.Counters()
	remote := cs.Deliveries - uint64(msgs)
	return lat[len(lat)/2], lat[len(lat)*99/100], float64(cs.PayloadReceived-remote) / float64(remote),
		float64(cs.ControlSent) / float64(remote)
}

// With 5 % of the messages lost on every link, a message reaches the last
// node within the bound the graft timers promise, at p99 over the
// messages, in all but a few runs: a copy lost once is pulled when it is
// overdue by its age — the origin's usual tree age plus 1.25 ×
// graft_timeout — once an announcement has come (lazy peers announce
// within 1.25 × ihave_interval: the flush delay follows the message,
// flushDelay); a pull that is itself lost is retried one graft_timeout
// later, from two announcers at once, so that a second loss is rare (about
// 1 %); a copy lost again below a pulled one is announced within 1.25 ×
// ihave_interval of that pull and pulled at once, being overdue already.
// So the p99 is at most 1.25 × graft_timeout + graft_timeout + 2.5 ×
// ihave_interval plus the tree's own latency (50 ms is far above it here).
// Before, each loss below a pull waited a whole graft timeout more from its
// late announcement, and a retry that failed again waited 2 graft timeouts
// more: over seeds 1–12 the p99 was 1.28–2.11 s with the default config
// and 0.60–0.89 s with LAN (10 of 24 above the bound), now 1.15–1.29 s and
// 0.49–0.83 s. Chains of losses still take a run past the bound now and
// then: over LAN seeds 1–200, one run (830 ms, seed 8) passes the 750 ms
// bound with the flush delay following the message, and 4 runs (711 ms to
// 5.0 s, seed 91) passed the 700 ms bound of the fixed interval before it
// (medians of the p99s 533 and 526 ms); over LAN seeds 1–1000, 2 runs
// (830 and 765 ms), none above 1 s. So at most one run in twelve may pass
// the bound.
// Deterministic, no wall clock: the seed is in the subtest name and the
// message (-repair.tailseeds N runs seeds 1..N).
func TestRepairTailUnderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, cfg := range []struct {
		name string
		c    core.Config
	}{{"default", core.DefaultConfig()}, {"lan", core.LANConfig()}} {
		c := cfg.c
		bound := c.GraftTimeout*5/4 + c.GraftTimeout + c.IHaveInterval*5/2 + 50*time.Millisecond
		var over []string
		for seed := int64(1); seed <= int64(*tailSeeds); seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", cfg.name, seed), func(t *testing.T) {
				p50, p99, rmr, ctl := repairTail(t, c, seed)
				t.Logf("%s seed %d: time to last node p50 %v p99 %v (bound %v); RMR %.3f, control %.2f per delivery",
					cfg.name, seed, p50, p99, bound, rmr, ctl)
				if p99 > bound {
					over = append(over, fmt.Sprintf("seed %d: %v", seed, p99))
				}
			})
		}
		if len(over) > *tailSeeds/12 {
			t.Errorf("%s: p99 time to the last node above %v (1.25 × graft_timeout + graft_timeout + 2.5 × ihave_interval + 50 ms) in %d of %d runs, want at most %d: %v",
				cfg.name, bound, len(over), *tailSeeds, *tailSeeds/12, over)
		} else if len(over) > 0 {
			t.Logf("%s: p99 above %v in %d of %d runs: %v", cfg.name, bound, len(over), *tailSeeds, over)
		}
	}
}
