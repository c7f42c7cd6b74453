package cluster

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/examples/internal/leakcheck"
	"github.com/plumtree-go/plumtree/membership"
)

// memberlist's probe goroutines may outlive Shutdown by several seconds on
// a loaded machine (see leakcheck).
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m, time.Minute) }

// fastDetection is memberlist's LAN failure detection (a dead node is
// declared after a few seconds, about 8 s with 32 nodes) with faster
// push/pull. Shorter timeouts declare live nodes dead on a loaded machine:
// with a 150 ms probe timeout and a 0.6 s suspicion, TestClusters/n=32 saw
// members flap under load, and a broadcast made while a live node was
// declared dead never reached it (anti-entropy looks back only so far).
func fastDetection(c *memberlist.Config) {
	c.ProbeInterval = time.Second
	c.ProbeTimeout = 500 * time.Millisecond
	c.GossipInterval = 200 * time.Millisecond
	c.SuspicionMult = 4
	c.SuspicionMaxTimeoutMult = 6
	c.PushPullInterval = 5 * time.Second
	c.TCPTimeout = 10 * time.Second
}

func testOptions(n int) Options {
	return Options{
		Nodes:             n,
		Preset:            "local",
		MembershipOptions: []membership.Option{membership.WithMemberlistConfig(fastDetection)},
	}
}

func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Waiting on a loaded machine. A cluster of 32 nodes on two busy cores can
// take many times longer than on a quiet one to form, detect a failure or
// deliver, so the waits below have no fixed deadline for the whole: they
// fail when what is awaited stops advancing for stallAfter, or after
// waitLimit in all.
//
// stallAfter is derived from what moves things forward: a dead node is
// declared when memberlist's suspicion timeout expires — with
// fastDetection and 32 nodes 6 s once two other nodes confirm the
// suspicion, 36 s at most without confirmations — and a lost message is
// recovered by a Graft or an anti-entropy round (under a second and two
// seconds with the local preset). A minute exceeds the longest of these.
const (
	stallAfter = time.Minute
	waitLimit  = 5 * time.Minute
)

// waitProgress polls check until it reports done. progress is a measure
// that grows as the awaited thing advances (deliveries made, membership
// views converged); the wait fails with why if the best progress seen has
// not grown for stallAfter, or after waitLimit. tick, if set, runs before
// each poll (to keep broadcasting while waiting).
func waitProgress(t *testing.T, what string, tick func(), check func() (done bool, progress int, why string)) time.Duration {
	t.Helper()
	start := time.Now()
	best, bestAt := math.MinInt, start
	for {
		if tick != nil {
			tick()
		}
		done, p, why := check()
		if done {
			return time.Since(start)
		}
		now := time.Now()
		if p > best {
			best, bestAt = p, now
		}
		switch {
		case now.Sub(bestAt) > stallAfter:
			t.Fatalf("%s: no progress for %v (after %v): %s", what, stallAfter, now.Sub(start).Round(time.Millisecond), why)
		case now.Sub(start) > waitLimit:
			t.Fatalf("%s: not done after %v: %s", what, waitLimit, why)
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
}

// waitFormed waits until every live node sees every other live node as a
// Plumtree peer; progress is how close the views are to that.
func waitFormed(t *testing.T, c *Cluster, tick func()) time.Duration {
	t.Helper()
	return waitProgress(t, "cluster to form", tick, func() (bool, int, string) {
		ok, why := c.Formed()
		live := c.Live()
		off := 0
		for _, i := range live {
			if s := c.Stack(i); s != nil {
				off += abs(s.Membership.Stats().Alive - (len(live) - 1))
			}
		}
		return ok, -off, why
	})
}

// waitDelivered waits until every message selected by include reached
// every live node that was up when it was sent; progress is the number of
// deliveries.
func waitDelivered(t *testing.T, c *Cluster, what string, include func(sent time.Time, origin int) bool) Report {
	t.Helper()
	var r Report
	waitProgress(t, what, nil, func() (bool, int, string) {
		r = c.Tracker.Report(include, c.Live(), c.Since())
		if r.Complete == r.Messages {
			return true, r.Delivered, ""
		}
		return false, r.Delivered, fmt.Sprintf("%d of %d messages incomplete, %d of %d deliveries; %s",
			r.Messages-r.Complete, r.Messages, r.Delivered, r.Expected, missing(c, r.Incomplete))
	})
	return r
}

// missing describes, for the first incomplete messages, the live nodes
// that lack them and those nodes' view of the tree.
func missing(c *Cluster, ids []core.MessageID) string {
	var b strings.Builder
	since := c.Since()
	for _, id := range ids[:min(len(ids), 3)] {
		c.Tracker.mu.Lock()
		m := c.Tracker.msgs[id]
		var lack []int
		if m != nil {
			for _, s := range c.Live() {
				if m.got[s].IsZero() && !m.sent.Before(since[s]) {
					lack = append(lack, s)
				}
			}
		}
		c.Tracker.mu.Unlock()
		fmt.Fprintf(&b, "%v missing at", id)
		for _, s := range lack {
			if st := c.Stack(s); st != nil {
				ns := st.Node.Stats()
				ms := st.Membership.Stats()
				fmt.Fprintf(&b, " %s(members %d eager %d lazy %d passive %d peers added %d removed %d; pending grafts %d failed %d; seen %d)",
					st.Name, ms.Members, ns.EagerPeers, ns.LazyPeers, ns.PassivePeers, ns.PeerAdded, ns.PeerRemoved, ns.PendingGrafts, ns.GraftFailed, ns.SeenSize)
			}
		}
		b.WriteString("; ")
	}
	return b.String()
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// broadcastFromLive sends count messages from random live nodes, spaced by
// gap, and returns the send time of the first.
func broadcastFromLive(t *testing.T, c *Cluster, rng *rand.Rand, count int, gap time.Duration) time.Time {
	t.Helper()
	first := time.Now()
	for i := range count {
		live := c.Live()
		from := live[rng.IntN(len(live))]
		if _, err := c.Broadcast(context.Background(), from, 1024); err != nil {
			t.Fatalf("broadcast %d from slot %d: %v", i, from, err)
		}
		if gap > 0 {
			time.Sleep(gap) // pacing the load, not synchronisation
		}
	}
	return first
}

func checkExactlyOnce(t *testing.T, c *Cluster) {
	t.Helper()
	if _, _, dups := c.Tracker.Counts(); dups != 0 {
		t.Fatalf("%d duplicate deliveries", dups)
	}
}

// TestClusters runs clusters of 3, 10 and 32 nodes over real memberlist and
// TCP on loopback: every broadcast reaches every node exactly once; 30 % of
// the nodes are killed hard while broadcasting continues, and after failure
// detection every broadcast reaches every live node; the killed nodes
// restart under their names and addresses, rejoin and receive.
func TestClusters(t *testing.T) {
	sizes := []int{3, 10, 32}
	for _, n := range sizes {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			start := time.Now()
			rng := rand.New(rand.NewPCG(uint64(n), 1))
			c, err := Start(context.Background(), testOptions(n))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			waitFormed(t, c, nil)
			formed := time.Since(start)

			// 1. Every broadcast reaches every node exactly once.
			broadcastFromLive(t, c, rng, 30, 5*time.Millisecond)
			r := waitDelivered(t, c, "deliveries (all nodes up)", nil)
			if r.Expected != 30*n || r.Delivered != r.Expected {
				t.Fatalf("delivered %d of %d", r.Delivered, r.Expected)
			}
			checkExactlyOnce(t, c)

			// 2. Kill 30 % hard and keep broadcasting through failure
			// detection.
			k := max(1, int(math.Round(0.3*float64(n))))
			victims := rng.Perm(n)[:k]
			killedAt := time.Now()
			for _, v := range victims {
				c.Kill(v)
			}
			detected := waitFormed(t, c, func() { broadcastFromLive(t, c, rng, 5, 10*time.Millisecond) })
			afterDetect := broadcastFromLive(t, c, rng, 30, 5*time.Millisecond)
			waitDelivered(t, c, "deliveries (after the failures were detected)", nil)
			post := c.Tracker.Report(func(s time.Time, _ int) bool { return !s.Before(afterDetect) }, c.Live(), c.Since())
			if post.Messages != 30 || post.Complete != 30 {
				t.Fatalf("after detection: %d of %d complete", post.Complete, post.Messages)
			}
			during := c.Tracker.Report(func(s time.Time, _ int) bool { return !s.Before(killedAt) && s.Before(afterDetect) }, c.Live(), c.Since())
			checkExactlyOnce(t, c)

			// 3. Restart the victims: they rejoin and receive.
			for _, v := range victims {
				if err := c.Restart(context.Background(), v); err != nil {
					t.Fatal(err)
				}
			}
			waitFormed(t, c, nil)
			afterRestart := broadcastFromLive(t, c, rng, 30, 5*time.Millisecond)
			waitDelivered(t, c, "deliveries (after the restarts)", nil)
			final := c.Tracker.Report(func(s time.Time, _ int) bool { return !s.Before(afterRestart) }, c.Live(), c.Since())
			if final.Complete != 30 || final.Expected != 30*n {
				t.Fatalf("after restart: %d complete, %d/%d delivered", final.Complete, final.Delivered, final.Expected)
			}
			checkExactlyOnce(t, c)
			t.Logf("n=%d: formed in %v; killed %d, detected in %v (%d messages during detection, all delivered, p99 %v); RMR %.3f; total %v",
				n, formed.Round(time.Millisecond), k, detected.Round(time.Millisecond), during.Messages, during.P99.Round(time.Millisecond),
				c.RMR(), time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestPlainMemberlistNode: a memberlist node without Plumtree metadata joins
// the cluster; every node counts it as ignored and broadcasts still reach
// every Plumtree node.
func TestPlainMemberlistNode(t *testing.T) {
	c, err := Start(context.Background(), testOptions(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	waitFormed(t, c, nil)
	conf := memberlist.DefaultLocalConfig()
	conf.Name = "plain"
	conf.BindAddr, conf.BindPort, conf.AdvertisePort = "127.0.0.1", 0, 0
	conf.LogOutput = io.Discard
	fastDetection(conf)
	plain, err := memberlist.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Shutdown()
	if _, err := plain.Join([]string{c.Member(0).Addr}); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, "the plain node to be counted as ignored", nil, func() (bool, int, string) {
		counted := 0
		for _, i := range c.Live() {
			st := c.Stack(i).Membership.Stats()
			if st.Ignored == 1 && st.Members == 4 && st.Alive == 2 {
				counted++
			}
		}
		return counted == len(c.Live()), counted, fmt.Sprintf("%+v", c.Stack(0).Membership.Stats())
	})
	rng := rand.New(rand.NewPCG(7, 7))
	broadcastFromLive(t, c, rng, 20, 0)
	waitDelivered(t, c, "deliveries", nil)
	checkExactlyOnce(t, c)
	if n := plain.NumMembers(); n != 4 {
		t.Fatalf("plain node sees %d members", n)
	}
	_ = plain.Leave(time.Second)
}

// TestRun runs the examples/cluster job briefly, with a kill.
func TestRun(t *testing.T) {
	o := testOptions(4)
	sum, err := Run(within(t, 3*waitLimit), RunOptions{
		Cluster:      o,
		Rate:         40,
		Duration:     3 * time.Second,
		Kill:         0.25,
		Progress:     500 * time.Millisecond,
		Seed:         3,
		FormTimeout:  waitLimit, // generous for a loaded machine; a quiet one takes about a second
		DrainTimeout: waitLimit,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.OK() || len(sum.Killed) != 1 || sum.Survivors != 3 || sum.Sent < 100 {
		t.Fatalf("summary %+v", sum)
	}
	if !sum.Detected {
		t.Fatalf("failure not detected: %+v", sum)
	}
}

// TestRunHeap runs the job briefly without kills (the tracker folds what
// every node has) with fast heap samples and a short cache TTL: the summary
// has the heap after the warm-up and every node's cache.
func TestRunHeap(t *testing.T) {
	o := testOptions(3)
	o.CacheTTL = 500 * time.Millisecond
	sum, err := Run(within(t, 3*waitLimit), RunOptions{
		Cluster:      o,
		Rate:         200,
		Duration:     2 * time.Second,
		HeapEvery:    100 * time.Millisecond,
		Seed:         5,
		FormTimeout:  waitLimit,
		DrainTimeout: waitLimit,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.OK() || sum.Complete != sum.Sent || sum.Sent == 0 {
		t.Fatalf("summary %+v", sum)
	}
	h := sum.Heap
	if h.Warmup != 400*time.Millisecond || h.Samples == 0 || h.Min == 0 || h.Min > h.Last || h.Last > h.Max || h.PeakInUse < h.Min {
		t.Fatalf("heap %+v", h)
	}
	if h.MaxGrowth != 0 || h.Exceeded {
		t.Fatalf("growth checked without a limit: %+v", h)
	}
	if len(h.Caches) != 3 {
		t.Fatalf("caches %+v", h.Caches)
	}
	for _, c := range h.Caches {
		if c.Entries <= 0 || c.Bytes < int64(c.Entries)*1024 {
			t.Fatalf("cache %+v", c)
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	for _, o := range []RunOptions{
		{Rate: -1},
		{Size: 3},
		{Kill: 1},
		{Cluster: Options{Nodes: 1}},
		{Warmup: 10 * time.Second},
		{Warmup: -time.Second},
		{MaxHeapGrowth: -1},
		{MaxHeapGrowth: 0.25, Duration: 5 * time.Second}, // 4 samples after the warm-up
		{Cluster: Options{CacheTTL: -time.Second}},
	} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Fatalf("%+v accepted", o)
		}
	}
}
