package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/node/memnet"
)

// testHub records deliveries and serves them like examples/node:
// GET /deliveries/recent and GET /deliveries (JSON lines).
type testHub struct {
	mu     sync.Mutex
	topo   func() any // GET /topology; nil: 404
	recs   []deliveryRecord
	subs   map[chan deliveryRecord]struct{}
	closed chan struct{}
}

func newTestHub() *testHub {
	return &testHub{subs: make(map[chan deliveryRecord]struct{}), closed: make(chan struct{})}
}

func (h *testHub) Deliver(d core.Delivery) {
	r := deliveryRecord{MsgID: d.ID.String(), Origin: d.ID.Origin, Seq: d.ID.Seq, From: d.From, Hops: d.Hops,
		Size: len(d.Payload), Text: string(d.Payload), Time: time.Now().UTC()}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	for ch := range h.subs {
		select {
		case ch <- r:
		default:
		}
	}
}

func (h *testHub) routes() []node.AdminOption {
	return []node.AdminOption{
		node.WithExtraRoute("GET /topology", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.mu.Lock()
			topo := h.topo
			h.mu.Unlock()
			if topo == nil {
				http.NotFound(w, r)
				return
			}
			b, _ := json.Marshal(topo())
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		})),
		node.WithExtraRoute("GET /deliveries/recent", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.mu.Lock()
			b, _ := json.Marshal(recentDeliveries{Total: uint64(len(h.recs)), Deliveries: h.recs})
			h.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		})),
		node.WithExtraRoute("GET /deliveries", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ch := make(chan deliveryRecord, 64)
			h.mu.Lock()
			h.subs[ch] = struct{}{}
			h.mu.Unlock()
			defer func() {
				h.mu.Lock()
				delete(h.subs, ch)
				h.mu.Unlock()
			}()
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			for {
				select {
				case <-r.Context().Done():
					return
				case <-h.closed:
					return
				case rec := <-ch:
					b, _ := json.Marshal(rec)
					w.Write(append(b, '\n'))
					w.(http.Flusher).Flush()
				}
			}
		})),
	}
}

// e2eCluster is real core/node Nodes over memnet, each with its
// node.AdminHandler on an httptest server.
type e2eCluster struct {
	network *memnet.Network
	nodes   []*node.Node
	urls    []string
	hubs    []*testHub
}

// serveTopology makes every node serve GET /topology as examples/node does:
// its links and the members, each with its admin address when advertise
// says so.
func (c *e2eCluster) serveTopology(advertise ...bool) {
	for i, h := range c.hubs {
		n := c.nodes[i]
		h.mu.Lock()
		h.topo = func() any {
			var members []memberInfo
			for j, m := range c.nodes {
				mi := memberInfo{Name: string(m.Self()), Addr: "10.0.0." + strconv.Itoa(j+1) + ":7946", Plumtree: true, Self: j == i}
				if advertise[j] {
					mi.AdminAddr = strings.TrimPrefix(c.urls[j], "http://")
				}
				members = append(members, mi)
			}
			return topologyReport{Self: n.Self(), Addr: "10.0.0." + strconv.Itoa(i+1) + ":7946",
				Eager: n.EagerPeers(), Lazy: n.LazyPeers(), Protected: n.ProtectedNeighbors(), Members: members}
		}
		h.mu.Unlock()
	}
}

func startCluster(t *testing.T, names ...core.PeerID) *e2eCluster {
	t.Helper()
	c := &e2eCluster{network: memnet.New(memnet.Config{Seed: 1})}
	var hubs []*testHub
	var servers []*httptest.Server
	t.Cleanup(func() {
		for _, h := range hubs {
			close(h.closed) // ends the streams, so that the servers can close
		}
		for _, s := range servers {
			s.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, n := range c.nodes {
			if err := n.Shutdown(ctx); err != nil {
				t.Errorf("shutdown %s: %v", n.Self(), err)
			}
		}
		c.network.Close()
	})
	for _, id := range names {
		h := newTestHub()
		n, err := node.New(core.LANConfig(), id, c.network.MustJoin(id), node.DeliverFunc(h.Deliver))
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
		c.hubs = append(c.hubs, h)
		hubs = append(hubs, h)
		srv := httptest.NewServer(node.AdminHandler(n, h.routes()...))
		servers = append(servers, srv)
		c.urls = append(c.urls, srv.URL)
	}
	for _, n := range c.nodes {
		for _, p := range names {
			if p != n.Self() {
				if err := n.AddPeer(p); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return c
}

// TestEndToEnd drives real nodes through their admin API.
func TestEndToEnd(t *testing.T) {
	c := startCluster(t, "a", "b", "c", "d")
	a := c.urls[0]

	// Links are opened by Joins, which cross: wait until a holds a link to
	// each of the three others. How many of them are eager depends on which
	// Joins crossed (eager_fanout is 2, max_eager_peers 3), so the CLI is
	// checked against itself: the same split in health and peers.
	deadline := time.Now().Add(time.Minute) // milliseconds on a quiet machine
	for len(c.nodes[0].EagerPeers())+len(c.nodes[0].LazyPeers()) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	code, out, errOut := runCLI(t, nil, "", "-addr", a, "health")
	m := regexp.MustCompile(`Peer Health:     3 peers: ([1-3]) eager \(target 2\), ([0-2]) lazy`).FindStringSubmatch(out)
	if code != exitOK || !strings.Contains(out, "Status:          Healthy") || m == nil || atoi(t, m[1])+atoi(t, m[2]) != 3 {
		t.Fatalf("health: exit %d\n%s%s", code, out, errOut)
	}
	eager := m[1]

	code, out, errOut = runCLI(t, nil, "", "-addr", a, "peers")
	if code != exitOK || !strings.Contains(out, "Self:          a\n") || !strings.Contains(out, "Eager ("+eager+"):     ") || !strings.Contains(out, "Total peers:   3\n") {
		t.Errorf("peers (health said %s eager): exit %d\n%s%s", eager, code, out, errOut)
	}

	code, out, errOut = runCLI(t, nil, "", "-addr", a, "config")
	if want := "eager_fanout" + strings.Repeat(" ", 23) + strconv.Itoa(core.LANConfig().EagerFanout) + "\n"; code != exitOK || !strings.Contains(out, want) {
		t.Errorf("config: exit %d, want %q in\n%s%s", code, want, out, errOut)
	}

	code, out, errOut = runCLI(t, nil, "", "-addr", a, "broadcast", "hello", "cluster")
	if code != exitOK || !regexp.MustCompile(`^a/\d+\n$`).MatchString(out) {
		t.Fatalf("broadcast: exit %d\n%s%s", code, out, errOut)
	}
	id := strings.TrimSpace(out)

	// The broadcast reaches every node; then stats count it.
	deadline = time.Now().Add(time.Minute)
	for _, n := range c.nodes {
		for n.Stats().MessagesDelivered < 1 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	code, out, errOut = runCLI(t, nil, "", "-addr", c.urls[3], "stats")
	if code != exitOK || !strings.Contains(out, "Messages:   0 broadcast, 1 delivered") {
		t.Errorf("stats on d after %s: exit %d\n%s%s", id, code, out, errOut)
	}

	code, out, errOut = runCLI(t, nil, "", "test-delivery", "-addrs", strings.Join(c.urls, ","))
	if code != exitOK || !strings.Contains(out, "OK: delivered on all 4 nodes within 5s") {
		t.Fatalf("test-delivery: exit %d\n%s%s", code, out, errOut)
	}
	for i, name := range []string{"a", "b", "c", "d"} {
		hops := `[1-9]\d*`
		if i == 0 {
			hops = "0"
		}
		row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c.urls[i]) + `\s+` + name + `\s+delivered\s+` + hops + `\s+[abcd]\s+\S+$`)
		if !row.MatchString(out) {
			t.Errorf("no delivered row for %s in\n%s", name, out)
		}
	}

	// A crashed transport: d never gets the next message.
	if err := c.network.Crash("d"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, nil, "", "test-delivery", "-wait", "500ms", "-addrs", strings.Join(c.urls, ","))
	if code != exitFail || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(c.urls[3])+`\s+d\s+MISSED\s+-\s+-\s+-\s+not delivered within 500ms$`).MatchString(out) ||
		!strings.Contains(out, "FAIL: delivered on 3 of 4 nodes within 500ms; not on "+c.urls[3]) {
		t.Errorf("test-delivery with d crashed: exit %d\n%s%s", code, out, errOut)
	}
}

// A bare AdminHandler: health reports the isolated node; test-delivery
// cannot check it.
func TestEndToEndBareNode(t *testing.T) {
	network := memnet.New(memnet.Config{})
	defer network.Close()
	n, err := node.New(core.DefaultConfig(), "solo", network.MustJoin("solo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	srv := httptest.NewServer(node.AdminHandler(n, node.WithReadOnly()))
	defer srv.Close()

	code, out, errOut := runCLI(t, nil, "", "-addr", srv.URL, "health")
	if code != exitUnhealthy || !strings.Contains(out, "Message:         No peers connected") {
		t.Errorf("health: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, nil, "", "-addr", srv.URL, "broadcast", "x")
	if code != exitFail || !strings.Contains(errOut, "read-only") {
		t.Errorf("broadcast on a read-only API: exit %d, %s", code, errOut)
	}
	code, _, errOut = runCLI(t, nil, "", "-addr", srv.URL, "test-delivery")
	if code != exitFail || !strings.Contains(errOut, "HTTP 404") {
		t.Errorf("test-delivery on a read-only API: exit %d, %s", code, errOut)
	}
}

// The README's 3-node demo: every node has the two peers a 3-node cluster
// allows, so `plumctl health` exits 0 (Healthy) on all three.
func TestEndToEndThreeNodesHealthy(t *testing.T) {
	c := startCluster(t, "a", "b", "c")
	for i, u := range c.urls {
		code, out, errOut := runCLI(t, nil, "", "-addr", u, "health")
		if code != exitOK || !strings.Contains(out, "Status:          Healthy") || !strings.Contains(out, "(target 2)") {
			t.Errorf("health of node %d: exit %d\n%s%s", i, code, out, errOut)
		}
	}
}

// topology and members read GET /topology; test-delivery without -addrs
// finds every member's admin address there, and fails when it can check
// only one node of several.
func TestEndToEndDiscovery(t *testing.T) {
	c := startCluster(t, "a", "b", "c")
	a := c.urls[0]

	// Without a topology route and with peers: it says it cannot check the
	// cluster instead of checking one node.
	code, out, errOut := runCLI(t, nil, "", "-addr", a, "test-delivery")
	if code != exitFail || !strings.Contains(errOut, "serves no GET /topology") || strings.Contains(out, "OK") {
		t.Errorf("test-delivery without topology: exit %d\n%s%s", code, out, errOut)
	}

	// No node advertises its admin address: only a could be checked.
	c.serveTopology(false, false, false)
	code, out, errOut = runCLI(t, nil, "", "-addr", a, "test-delivery")
	if code != exitFail || !strings.Contains(errOut, "can check only 1 of 3 nodes: b, c advertise no admin address") {
		t.Errorf("test-delivery, nothing advertised: exit %d\n%s%s", code, out, errOut)
	}

	// c does not advertise: a and b are checked, c is reported unchecked.
	c.serveTopology(true, true, false)
	code, out, errOut = runCLI(t, nil, "", "-addr", a, "test-delivery")
	if code != exitFail || !regexp.MustCompile(`(?m)^-\s+c\s+UNCHECKED`).MatchString(out) ||
		!strings.Contains(out, "FAIL: delivered on 2 of 3 nodes") {
		t.Errorf("test-delivery, c unadvertised: exit %d\n%s%s", code, out, errOut)
	}

	// Everyone advertises: all three checked, no -addrs needed.
	c.serveTopology(true, true, true)
	code, out, errOut = runCLI(t, nil, "", "-addr", a, "test-delivery")
	if code != exitOK || !strings.Contains(out, "OK: delivered on all 3 nodes") {
		t.Errorf("test-delivery, all advertised: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = runCLI(t, nil, "", "-addr", a, "topology")
	if code != exitOK || !strings.Contains(out, "=== Topology of a (10.0.0.1:7946) ===") ||
		!regexp.MustCompile(`(?m)^  a\s+10.0.0.1:7946\s+self$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^  b\s+10.0.0.2:7946\s+(eager|lazy)$`).MatchString(out) {
		t.Errorf("topology: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, nil, "", "-addr", a, "members")
	if code != exitOK || !regexp.MustCompile(`(?m)^b\s+10.0.0.2:7946\s+-\s+127.0.0.1:\d+\s+member$`).MatchString(out) ||
		!strings.Contains(out, "3 members seen by a, 3 with plumtree metadata") {
		t.Errorf("members: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, nil, "", "-addr", a, "-json", "members")
	var ms []memberInfo
	if code != exitOK || json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 3 {
		t.Errorf("members -json: exit %d\n%s", code, out)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
