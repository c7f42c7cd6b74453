package cluster

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/plumtree-go/plumtree/membership"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fastDetection makes memberlist detect a failure within about a second on
// loopback, tolerating a loaded machine.
func fastDetection(c *memberlist.Config) {
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 150 * time.Millisecond
	c.GossipInterval = 50 * time.Millisecond
	c.SuspicionMult = 2
	c.SuspicionMaxTimeoutMult = 2
	c.PushPullInterval = 5 * time.Second
	c.TCPTimeout = 2 * time.Second
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
			if err := c.WaitFormed(within(t, 30*time.Second)); err != nil {
				t.Fatal(err)
			}
			formed := time.Since(start)

			// 1. Every broadcast reaches every node exactly once.
			broadcastFromLive(t, c, rng, 30, 5*time.Millisecond)
			r, err := c.WaitDelivered(within(t, 20*time.Second), nil)
			if err != nil {
				t.Fatal(err)
			}
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
			ctx := within(t, 30*time.Second)
			for {
				broadcastFromLive(t, c, rng, 5, 10*time.Millisecond)
				if ok, _ := c.Formed(); ok {
					break
				}
				if ctx.Err() != nil {
					_, why := c.Formed()
					t.Fatalf("failures not detected: %s", why)
				}
			}
			detected := time.Since(killedAt)
			afterDetect := broadcastFromLive(t, c, rng, 30, 5*time.Millisecond)
			r, err = c.WaitDelivered(within(t, 20*time.Second), nil)
			if err != nil {
				t.Fatal(err)
			}
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
			if err := c.WaitFormed(within(t, 30*time.Second)); err != nil {
				t.Fatal(err)
			}
			afterRestart := broadcastFromLive(t, c, rng, 30, 5*time.Millisecond)
			if _, err := c.WaitDelivered(within(t, 20*time.Second), nil); err != nil {
				t.Fatal(err)
			}
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
	if err := c.WaitFormed(within(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
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
	ctx := within(t, 20*time.Second)
	for {
		ok := true
		for _, i := range c.Live() {
			st := c.Stack(i).Membership.Stats()
			if st.Ignored != 1 || st.Members != 4 || st.Alive != 2 {
				ok = false
			}
		}
		if ok {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("plain node not counted as ignored: %+v", c.Stack(0).Membership.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	broadcastFromLive(t, c, rng, 20, 0)
	if _, err := c.WaitDelivered(within(t, 20*time.Second), nil); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, c)
	if n := plain.NumMembers(); n != 4 {
		t.Fatalf("plain node sees %d members", n)
	}
	_ = plain.Leave(time.Second)
}

// TestRun runs the examples/cluster job briefly, with a kill.
func TestRun(t *testing.T) {
	o := testOptions(4)
	sum, err := Run(within(t, 60*time.Second), RunOptions{
		Cluster:  o,
		Rate:     40,
		Duration: 3 * time.Second,
		Kill:     0.25,
		Progress: 500 * time.Millisecond,
		Seed:     3,
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
	sum, err := Run(within(t, 60*time.Second), RunOptions{
		Cluster:   o,
		Rate:      200,
		Duration:  2 * time.Second,
		HeapEvery: 100 * time.Millisecond,
		Seed:      5,
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
