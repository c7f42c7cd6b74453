package core_test

import (
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// failGrafts makes n grafts fail (GraftMaxRetries 0: one Graft, then
// failure after GraftTimeout) and ok grafts succeed, starting at at.
func graftOutcomes(p *core.Protocol, at time.Time, seq0 uint64, ok, fail int) time.Time {
	for i := 0; i < ok+fail; i++ {
		seq := seq0 + uint64(i)
		p.Receive(at, "l0", ihave(ann("x", seq, 1)))
	}
	at = at.Add(500 * time.Millisecond)
	p.Tick(at) // Grafts sent
	for i := 0; i < ok; i++ {
		p.Receive(at, "l0", gossip("x", seq0+uint64(i), 2))
	}
	at = at.Add(500 * time.Millisecond)
	p.Tick(at) // the rest fail
	p.Drain()
	return at
}

func TestHealthRules(t *testing.T) {
	base := func(c *core.Config) { c.GraftMaxRetries = 0 }
	cases := []struct {
		name   string
		setup  func() (*core.Protocol, time.Time)
		status core.HealthStatus
		msg    string
	}{
		{"1 closed", func() (*core.Protocol, time.Time) {
			p := fixture(t, base)
			p.Close(t0)
			return p, t0
		}, core.Unhealthy, "Protocol is shutting down"},
		{"2 no peers", func() (*core.Protocol, time.Time) {
			p, _ := core.New(core.DefaultConfig(), "me", nil, t0)
			return p, t0
		}, core.Unhealthy, "No peers connected"},
		{"3 failure rate before isolation", func() (*core.Protocol, time.Time) {
			p := fixture(t, base)
			at := graftOutcomes(p, t0, 1, 1, 9)
			for _, e := range p.EagerPeers() {
				p.Receive(at, e, core.Message{Type: core.MsgPrune})
			}
			return p, at
		}, core.Unhealthy, "High graft failure rate: 90.0%"},
		{"4 isolated", func() (*core.Protocol, time.Time) {
			// Losing the last eager peer relinks at once, at most once
			// per GraftTimeout: pruned again right away, the node stays
			// without eager peers until maintenance.
			p := fixture(t, base)
			for k := 0; k < 2; k++ {
				for _, e := range p.EagerPeers() {
					p.Receive(t0, e, core.Message{Type: core.MsgPrune})
				}
			}
			return p, t0
		}, core.Unhealthy, "Node isolated: no eager peers (6 lazy)"}, // lazy_fanout 6: links beyond it were disconnected
		{"5 degraded failure rate", func() (*core.Protocol, time.Time) {
			p := fixture(t, base)
			return p, graftOutcomes(p, t0, 1, 6, 4)
		}, core.Degraded, "Elevated graft failure rate: 40.0%"},
		{"rate ignored below min samples", func() (*core.Protocol, time.Time) {
			p := fixture(t, base)
			return p, graftOutcomes(p, t0, 1, 0, 4)
		}, core.Healthy, "Operating normally"},
		{"6 pending grafts", func() (*core.Protocol, time.Time) {
			p := fixture(t, func(c *core.Config) { c.Health.PendingGraftsDegraded = 2 })
			p.Receive(t0, "l0", ihave(ann("x", 1, 1), ann("x", 2, 1), ann("x", 3, 1)))
			return p, t0
		}, core.Degraded, "Many pending grafts: 3 (threshold 2)"},
		{"7 a full cache that holds its TTL is Healthy", func() (*core.Protocol, time.Time) {
			p := fixture(t, func(c *core.Config) { c.MessageCacheMaxSize = 2 })
			p.Broadcast(t0, nil, nil)
			p.Broadcast(t0, nil, nil)
			return p, t0
		}, core.Healthy, "Operating normally"},
		{"7 a cache evicting for room holds too little", func() (*core.Protocol, time.Time) {
			p := fixture(t, func(c *core.Config) { c.MessageCacheMaxSize = 2 })
			p.Broadcast(t0, nil, nil)
			p.Broadcast(t0.Add(5*time.Second), nil, nil)
			p.Broadcast(t0.Add(12*time.Second), nil, nil) // evicts the first
			return p, t0.Add(12 * time.Second)
		}, core.Degraded, "Cache nearly full: holds 7s of messages (want 30s), 100.0% used"},
		{"7 the retention rule off", func() (*core.Protocol, time.Time) {
			p := fixture(t, func(c *core.Config) { c.MessageCacheMaxSize = 2; c.Health.CacheRetentionDegraded = 0 })
			p.Broadcast(t0, nil, nil)
			p.Broadcast(t0, nil, nil)
			p.Broadcast(t0, nil, nil)
			return p, t0
		}, core.Healthy, "Operating normally"},
		{"7 a store without retention: utilization", func() (*core.Protocol, time.Time) {
			p := fixtureStore(t, nil, plainStore{core.NewMemStore(2, time.Minute)})
			p.Broadcast(t0, nil, nil)
			p.Broadcast(t0, nil, nil)
			return p, t0
		}, core.Degraded, "Cache nearly full: 100.0% used"},
		{"8 few peers", func() (*core.Protocol, time.Time) {
			// Room for three links, two taken: c and d never answer.
			return fourKnown(t, 1, 2, "a", "b"), t0
		}, core.Degraded, "Few peers: 2 (want 3)"},
		{"8 a full active view below the threshold is Healthy", func() (*core.Protocol, time.Time) {
			// Room for two links (below MinPeersDegraded 3), both
			// taken: the node holds all it can.
			return fourKnown(t, 1, 1, "a", "b", "c", "d"), t0
		}, core.Healthy, "Operating normally"},
		{"6 a full pending set is Degraded whatever the threshold", func() (*core.Protocol, time.Time) {
			p := fixture(t, func(c *core.Config) { c.MaxPendingGrafts = 50 }) // threshold stays 50
			var anns []core.Announcement
			for i := range 500 {
				anns = append(anns, ann("x", uint64(i+1), 1))
			}
			p.Receive(t0, "l0", ihave(anns...))
			return p, t0
		}, core.Degraded, "Many pending grafts: 50 (threshold 49)"},
		{"8 a 3-node cluster has the peers it can have", func() (*core.Protocol, time.Time) {
			p, _ := core.New(core.DefaultConfig(), "me", nil, t0)
			p.AddPeer(t0, "a")
			acceptJoins(p, t0)
			p.AddPeer(t0, "b")
			acceptJoins(p, t0)
			return p, t0
		}, core.Healthy, "Operating normally"},
		{"8 a 2-node cluster", func() (*core.Protocol, time.Time) {
			p, _ := core.New(core.DefaultConfig(), "me", nil, t0)
			p.AddPeer(t0, "a")
			acceptJoins(p, t0)
			return p, t0
		}, core.Healthy, "Operating normally"},
		{"2 standalone by configuration", func() (*core.Protocol, time.Time) {
			c := core.DefaultConfig()
			c.Health.Standalone = true
			p, _ := core.New(c, "me", nil, t0)
			return p, t0
		}, core.Healthy, "Standalone: no peers yet"},
		{"2 standalone node whose peers are gone", func() (*core.Protocol, time.Time) {
			c := core.DefaultConfig()
			c.Health.Standalone = true
			p, _ := core.New(c, "me", nil, t0)
			p.AddPeer(t0, "a")
			p.RemovePeer(t0, "a")
			return p, t0
		}, core.Healthy, "Standalone: no peers yet"},
		{"9 healthy", func() (*core.Protocol, time.Time) {
			return fixture(t, base), t0
		}, core.Healthy, "Operating normally"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, at := tc.setup()
			h := p.Health(at)
			if h.Status != tc.status || h.Message != tc.msg {
				t.Errorf("got %v %q, want %v %q", h.Status, h.Message, tc.status, tc.msg)
			}
		})
	}
}

// The eager target fits the cluster: min(EagerFanout, peers known).
func TestHealthTargetEagerFitsClusterSize(t *testing.T) {
	c := core.DefaultConfig()
	p, err := core.New(c, "me", nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []core.PeerID{"a", "b", "c", "d", "e"} {
		p.AddPeer(t0, id)
		want := min(c.EagerFanout, i+1)
		if got := p.Health(t0).Peers.TargetEager; got != want {
			t.Errorf("%d peers known: target eager %d, want %d", i+1, got, want)
		}
	}
}

// The failure rate covers HealthConfig.Window, not the time since start: a
// bad minute stops counting once it slid out of the window (the crate's
// cumulative rate degraded a node forever).
func TestHealthSlidingWindow(t *testing.T) {
	p := fixture(t, func(c *core.Config) {
		c.GraftMaxRetries = 0
		c.Health.Window = time.Minute
	})
	at := graftOutcomes(p, t0, 1, 0, 10)
	h := p.Health(at)
	if h.Status != core.Unhealthy || h.Delivery.FailedGrafts != 10 || h.Delivery.GraftFailureRate != 1 {
		t.Fatalf("after failures: %+v", h)
	}
	at = graftOutcomes(p, at.Add(30*time.Second), 100, 10, 0)
	if h := p.Health(at); h.Status != core.Degraded || h.Delivery.GraftFailureRate != 0.5 {
		t.Fatalf("half way: %v %q %+v", h.Status, h.Message, h.Delivery)
	}
	h = p.Health(at.Add(45 * time.Second)) // the failures left the window
	if h.Status != core.Healthy || h.Delivery.FailedGrafts != 0 || h.Delivery.SuccessfulGrafts != 10 {
		t.Fatalf("after the window: %v %q %+v", h.Status, h.Message, h.Delivery)
	}
	h = p.Health(at.Add(2 * time.Minute))
	if h.Delivery.SuccessfulGrafts != 0 {
		t.Fatalf("old successes still counted: %+v", h.Delivery)
	}
	if h.Peers.TargetEager != 3 || h.Cache.TTL != 10*time.Minute || h.Cache.Capacity != 65536 {
		t.Errorf("report %+v", h)
	}
}

// fourKnown is a Protocol that knows peers a, b, c and d, with an active
// view of eager+lazy links (MaxPeers the same); only the accepting peers
// answer its Joins.
func fourKnown(t *testing.T, eager, lazy int, accepting ...core.PeerID) *core.Protocol {
	t.Helper()
	c := core.DefaultConfig()
	c.EagerFanout, c.LazyFanout, c.MaxPeers, c.MaxProtectedNeighbors = eager, lazy, eager+lazy, 0
	p, err := core.New(c, "me", nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []core.PeerID{"a", "b", "c", "d"} {
		p.AddPeer(t0, id)
		if slices.Contains(accepting, id) {
			acceptJoins(p, t0)
		}
	}
	return p
}

// plainStore hides MemStore's Retention: a Store that does not report it.
type plainStore struct{ s *core.MemStore }

func (p plainStore) Put(at time.Time, id core.MessageID, m core.StoredMessage) { p.s.Put(at, id, m) }
func (p plainStore) Get(now time.Time, id core.MessageID) (core.StoredMessage, bool) {
	return p.s.Get(now, id)
}
func (p plainStore) Len() int      { return p.s.Len() }
func (p plainStore) Capacity() int { return p.s.Capacity() }

// A store that evicted for room reports Degraded while it holds less than
// CacheRetentionDegraded (capped at the TTL), and Healthy again once the
// evictions are a TTL old, though it stays full.
func TestHealthCacheRetention(t *testing.T) {
	p := fixture(t, func(c *core.Config) {
		c.MessageCacheMaxSize = 3
		c.MessageCacheTTL = 20 * time.Second // caps the 30 s threshold
	})
	for i := range 4 {
		p.Broadcast(t0.Add(time.Duration(i)*time.Second), nil, nil)
	}
	at := t0.Add(3 * time.Second)
	h := p.Health(at)
	if h.Status != core.Degraded || h.Message != "Cache nearly full: holds 2s of messages (want 20s), 100.0% used" {
		t.Fatalf("after an eviction for room: %v %q", h.Status, h.Message)
	}
	if !h.Cache.RetentionKnown || h.Cache.Retention != 2*time.Second {
		t.Errorf("cache health %+v, want a known retention of 2s", h.Cache)
	}
	// The entries age: what the store holds grows with them.
	h = p.Health(at.Add(17 * time.Second))
	if h.Status != core.Degraded || h.Cache.Retention != 19*time.Second {
		t.Errorf("17 s later: %v %q retention %v, want Degraded at 19s", h.Status, h.Message, h.Cache.Retention)
	}
	// A TTL after the eviction the store holds its TTL again.
	h = p.Health(at.Add(20*time.Second + time.Millisecond))
	if h.Status != core.Healthy || h.Cache.Retention != 20*time.Second {
		t.Errorf("a TTL after the eviction: %v %q retention %v", h.Status, h.Message, h.Cache.Retention)
	}
	// A store that does not report it says so.
	q := fixtureStore(t, nil, plainStore{core.NewMemStore(2, time.Minute)})
	if c := q.Health(t0).Cache; c.RetentionKnown || c.Retention != 0 {
		t.Errorf("a store without retention: %+v", c)
	}
}
