package explain

import (
	"context"
	"slices"
	"time"
)

// ClusterNode is one node of the cluster view: GET /explain/cluster.
type ClusterNode struct {
	URL       string   `json:"url"`
	Name      string   `json:"name"`
	Error     string   `json:"error,omitempty"` // its admin API did not answer (fully)
	Health    string   `json:"health"`          // Healthy, Degraded, Unhealthy, or "" when unknown
	Message   string   `json:"health_message,omitempty"`
	Eager     []string `json:"eager"`
	Lazy      []string `json:"lazy"`
	Protected []string `json:"protected"`
	Members   []string `json:"members"` // its memberlist view
	Counters  Counters `json:"counters"`
	// DeliveriesPerSec is the node's delivery rate over the last
	// rateWindow or more, measured between this gatherer's own samples;
	// null until it has two samples that far apart.
	DeliveriesPerSec *float64 `json:"deliveries_per_sec"`
}

// rateWindow is the least time between the two samples of a rate: many
// viewers polling often do not shrink the window to noise.
const rateWindow = 2 * time.Second

type rateSample struct {
	t         time.Time
	delivered uint64
}

// forget drops what the gatherer remembers about addresses that are no
// longer targets, so its memory follows the targets.
func (g *Gatherer) forget(targets []string) {
	g.mu.Lock()
	for u := range g.samples {
		if !slices.Contains(targets, u) {
			delete(g.samples, u)
		}
	}
	g.mu.Unlock()
	g.names.Range(func(k, _ any) bool {
		if !slices.Contains(targets, k.(string)) {
			g.names.Delete(k)
		}
		return true
	})
}

// rate returns the delivery rate of the node at url since the gatherer's
// older sample, keeping a newer sample once the older is rateWindow old.
func (g *Gatherer) rate(url string, now time.Time, delivered uint64) *float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.samples == nil {
		g.samples = map[string][2]rateSample{}
	}
	cur := rateSample{now, delivered}
	s, ok := g.samples[url]
	if !ok || delivered < s[1].delivered {
		g.samples[url] = [2]rateSample{cur, cur}
		return nil
	}
	// s[0] is the base of the rate, s[1] the candidate for the next base.
	if now.Sub(s[1].t) >= rateWindow {
		s[0], s[1] = s[1], cur
	} else if s[0] == s[1] {
		s[1] = cur
	}
	g.samples[url] = s
	dt := now.Sub(s[0].t)
	if dt < rateWindow {
		return nil
	}
	r := float64(delivered-s[0].delivered) / dt.Seconds()
	return &r
}

// Counters are the cumulative counters and gauges shown beside a node; the
// UI turns the cumulative ones into rates between polls.
type Counters struct {
	Broadcast     uint64 `json:"broadcast"`
	Delivered     uint64 `json:"delivered"`
	Duplicates    uint64 `json:"duplicates"`
	GraftSent     uint64 `json:"graft_sent"`
	GraftSuccess  uint64 `json:"graft_success"`
	GraftFailed   uint64 `json:"graft_failed"`
	PendingGrafts int    `json:"pending_grafts"`
	IHaveQueue    int    `json:"ihave_queue"`
	DeliveryQueue int    `json:"delivery_queue"`
	ObserverQueue int    `json:"observer_queue"`
}

// Link is one overlay link between two nodes, undirected.
type Link struct {
	A string `json:"a"`
	B string `json:"b"`
	// Kind is "eager" when either end keeps the other eager, else "lazy"
	// (the ends normally agree; they differ briefly while a Prune or a
	// Graft is in flight).
	Kind      string `json:"kind"`
	Protected bool   `json:"protected"` // either end protects the other (ring neighbour)
	// Asymmetric is set while the two ends disagree.
	Asymmetric bool `json:"asymmetric,omitempty"`
}

// Cluster is the cluster view the UI draws.
type Cluster struct {
	Time    time.Time     `json:"time"`
	Nodes   []ClusterNode `json:"nodes"`   // one per target, by name
	Members []string      `json:"members"` // every name any node knows, sorted
	Links   []Link        `json:"links"`
}

// topologyJSON is the part of the example node's GET /topology read here.
type topologyJSON struct {
	Self      string   `json:"self"`
	Eager     []string `json:"eager"`
	Lazy      []string `json:"lazy"`
	Protected []string `json:"protected"`
	Members   []struct {
		Name string `json:"name"`
	} `json:"members"`
}

type statsJSON struct {
	MessagesBroadcast uint64 `json:"messages_broadcast"`
	MessagesDelivered uint64 `json:"messages_delivered"`
	MessagesDuplicate uint64 `json:"messages_duplicate"`
	GraftSent         uint64 `json:"graft_sent"`
	GraftSuccess      uint64 `json:"graft_success"`
	GraftFailed       uint64 `json:"graft_failed"`
	PendingGrafts     int    `json:"pending_grafts"`
	IHaveQueueSize    int    `json:"ihave_queue_size"`
	Runtime           struct {
		DeliveryQueueLen int `json:"delivery_queue_len"`
		ObserverQueueLen int `json:"observer_queue_len"`
	} `json:"runtime"`
}

type healthJSON struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// NodeFromTopology fills a ClusterNode's links and members from a /topology
// answer.
func nodeFromTopology(n *ClusterNode, t topologyJSON) {
	n.Name = t.Self
	n.Eager = nonNil(t.Eager)
	n.Lazy = nonNil(t.Lazy)
	n.Protected = nonNil(t.Protected)
	n.Members = []string{}
	for _, m := range t.Members {
		n.Members = append(n.Members, m.Name)
	}
	slices.Sort(n.Members)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Cluster asks every target for its topology, stats and health.
func (g *Gatherer) Cluster(ctx context.Context) Cluster {
	targets := g.targets()
	nodes := make([]ClusterNode, len(targets))
	each(targets, func(i int, t string) {
		n := ClusterNode{URL: t, Eager: []string{}, Lazy: []string{}, Protected: []string{}, Members: []string{}}
		var topo topologyJSON
		if _, _, err := g.getJSON(ctx, t, "/topology", &topo); err != nil {
			n.Name = g.nameOf(t)
			n.Error = err.Error()
			nodes[i] = n
			return
		}
		nodeFromTopology(&n, topo)
		if n.Name == "" {
			n.Name = t
		} else {
			g.names.Store(t, n.Name)
		}
		var st statsJSON
		if _, _, err := g.getJSON(ctx, t, "/stats", &st); err != nil {
			n.Error = err.Error()
		} else {
			n.Counters = Counters{Broadcast: st.MessagesBroadcast, Delivered: st.MessagesDelivered, Duplicates: st.MessagesDuplicate,
				GraftSent: st.GraftSent, GraftSuccess: st.GraftSuccess, GraftFailed: st.GraftFailed, PendingGrafts: st.PendingGrafts,
				IHaveQueue: st.IHaveQueueSize, DeliveryQueue: st.Runtime.DeliveryQueueLen, ObserverQueue: st.Runtime.ObserverQueueLen}
			n.DeliveriesPerSec = g.rate(t, time.Now(), st.MessagesDelivered)
		}
		var h healthJSON
		if _, _, err := g.getJSON(ctx, t, "/health", &h); err != nil {
			n.Error = err.Error()
		} else {
			n.Health, n.Message = h.Status, h.Message
		}
		nodes[i] = n
	})
	g.forget(targets)
	slices.SortFunc(nodes, func(a, b ClusterNode) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return BuildCluster(nodes, time.Now())
}

// BuildCluster derives the members and the links of a cluster view from its
// nodes.
func BuildCluster(nodes []ClusterNode, now time.Time) Cluster {
	c := Cluster{Time: now.UTC(), Nodes: nodes, Members: []string{}, Links: Links(nodes)}
	members := map[string]bool{}
	for _, n := range nodes {
		if n.Error == "" || len(n.Members) > 0 {
			members[n.Name] = true
		}
		for _, m := range n.Members {
			members[m] = true
		}
	}
	for m := range members {
		c.Members = append(c.Members, m)
	}
	slices.Sort(c.Members)
	return c
}

// Links returns the overlay links the nodes report, each unordered pair
// once, sorted.
func Links(nodes []ClusterNode) []Link {
	type key struct{ a, b string }
	type side struct{ eager, lazy bool }
	ends := map[key]map[string]side{}
	prot := map[key]bool{}
	add := func(self, peer string, eager, protected bool) {
		if self == "" || peer == "" || self == peer {
			return
		}
		k := key{min(self, peer), max(self, peer)}
		if ends[k] == nil {
			ends[k] = map[string]side{}
		}
		s := ends[k][self]
		if eager {
			s.eager = true
		} else {
			s.lazy = true
		}
		ends[k][self] = s
		if protected {
			prot[k] = true
		}
	}
	for _, n := range nodes {
		for _, p := range n.Eager {
			add(n.Name, p, true, slices.Contains(n.Protected, p))
		}
		for _, p := range n.Lazy {
			add(n.Name, p, false, slices.Contains(n.Protected, p))
		}
	}
	out := make([]Link, 0, len(ends))
	for k, sides := range ends {
		l := Link{A: k.a, B: k.b, Kind: "lazy", Protected: prot[k]}
		sa, okA := sides[k.a]
		sb, okB := sides[k.b]
		if sa.eager || sb.eager {
			l.Kind = "eager"
		}
		l.Asymmetric = okA != okB || sa != sb
		out = append(out, l)
	}
	slices.SortFunc(out, func(x, y Link) int {
		if x.A != y.A {
			if x.A < y.A {
				return -1
			}
			return 1
		}
		if x.B < y.B {
			return -1
		}
		if x.B > y.B {
			return 1
		}
		return 0
	})
	return out
}
