package metricsprom

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/wire"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newManualClock() *node.ManualClock { return node.NewManualClock(time.Unix(1_700_000_000, 0)) }

// fakeTransport records what the node sends and lets the test inject
// frames from peers.
type fakeTransport struct {
	in     chan node.Frame
	mu     sync.Mutex
	grafts map[core.MessageID]int
	closed bool
	// injected counts the frames handed to the node.
	injected atomic.Uint64
}

func newFakeTransport() *fakeTransport {
	return &fakeTransport{in: make(chan node.Frame, 1024), grafts: map[core.MessageID]int{}}
}

func (f *fakeTransport) Send(to core.PeerID, frame []byte) error {
	var m core.Message
	if err := wire.NewDecoder(wire.DefaultLimits()).Decode(frame, &m); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("closed")
	}
	if m.Type == core.MsgGraft {
		for _, id := range m.IDs {
			f.grafts[id]++
		}
	}
	return nil
}

func (f *fakeTransport) Receive() <-chan node.Frame { return f.in }

func (f *fakeTransport) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.in)
	}
	return nil
}

func (f *fakeTransport) grafted(id core.MessageID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.grafts[id] > 0
}

func (f *fakeTransport) inject(t *testing.T, from core.PeerID, m core.Message) {
	t.Helper()
	b, err := wire.AppendFrame(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	f.injected.Add(1)
	f.in <- node.Frame{From: from, Data: b}
}

// healthDriver drives one node whose only neighbours are the test.
type healthDriver struct {
	t     *testing.T
	clk   *node.ManualClock
	tr    *fakeTransport
	n     *node.Node
	col   *Collector
	srv   *httptest.Server
	seq   uint64
	peers []core.PeerID
}

// settle waits until the node has processed every frame injected so far:
// the runtime counts a frame in FramesIn in the same protocol step that
// handles it, and Stats is answered between steps.
func (h *healthDriver) settle() {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for h.n.Stats().Runtime.FramesIn < h.tr.injected.Load() {
		if time.Now().After(deadline) {
			h.t.Fatalf("node did not process the injected frames: %+v", h.n.Stats().Runtime)
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
}

// waitFor advances the clock in steps until cond holds.
func (h *healthDriver) waitFor(what string, step time.Duration, cond func(node.Stats) bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.settle()
		if cond(h.n.Stats()) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; stats %+v", what, h.n.Stats())
		}
		h.clk.Advance(step)
	}
}

// link adds peers to the node and has each ask for an eager link (the
// node's own Joins go nowhere in this harness), then waits for the frames.
func (h *healthDriver) link(peers ...core.PeerID) {
	h.t.Helper()
	for _, p := range peers {
		if err := h.n.AddPeer(p); err != nil {
			h.t.Fatal(err)
		}
		h.tr.inject(h.t, p, core.Message{Type: core.MsgJoin, Eager: true})
	}
	h.settle()
}

func (h *healthDriver) newID() core.MessageID {
	h.seq++
	return core.MessageID{Origin: "far-origin", Seq: h.seq}
}

func (h *healthDriver) announce(from core.PeerID, ids ...core.MessageID) {
	anns := make([]core.Announcement, len(ids))
	for i, id := range ids {
		anns[i] = core.Announcement{ID: id, Hops: 1, OriginTime: h.clk.Now()}
	}
	h.tr.inject(h.t, from, core.Message{Type: core.MsgIHave, IHaves: anns})
}

func (h *healthDriver) gossip(from core.PeerID, id core.MessageID) {
	h.tr.inject(h.t, from, core.Message{Type: core.MsgGossip, ID: id, OriginTime: h.clk.Now(), Hops: 2, Payload: []byte("payload")})
}

// graftSucceeds makes one graft succeed: announce, wait for the Graft,
// answer it.
func (h *healthDriver) graftSucceeds() {
	id := h.newID()
	h.announce(h.peers[0], id)
	h.waitFor("a graft", 10*time.Millisecond, func(node.Stats) bool { return h.tr.grafted(id) })
	before := h.n.Stats().GraftSuccess
	h.gossip(h.peers[0], id)
	h.waitFor("graft success", 0, func(s node.Stats) bool { return s.GraftSuccess > before })
}

// graftsFail makes k grafts fail: announce k messages that never come.
func (h *healthDriver) graftsFail(k int) {
	ids := make([]core.MessageID, k)
	for i := range ids {
		ids[i] = h.newID()
	}
	want := h.n.Stats().GraftFailed + uint64(k)
	h.announce(h.peers[1], ids...)
	h.waitFor("graft failures", 25*time.Millisecond, func(s node.Stats) bool { return s.GraftFailed >= want })
}

// expect checks GET /health: status code, status, message prefix, and the
// plumtree_health_status gauge.
func (h *healthDriver) expect(phase string, status core.HealthStatus, msgPrefix string) {
	h.t.Helper()
	h.settle()
	resp, err := http.Get(h.srv.URL + "/health")
	if err != nil {
		h.t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		h.t.Fatal(err)
	}
	var got core.Health
	if err := json.Unmarshal(body, &got); err != nil {
		h.t.Fatalf("%s: %v in %s", phase, err, body)
	}
	wantCode := http.StatusOK
	if status == core.Unhealthy {
		wantCode = http.StatusServiceUnavailable
	}
	if resp.StatusCode != wantCode || got.Status != status || !strings.HasPrefix(got.Message, msgPrefix) {
		h.t.Errorf("%s: HTTP %d %s %q, want %d %s %q...\n%s", phase, resp.StatusCode, got.Status, got.Message,
			wantCode, status, msgPrefix, body)
	}
	h.t.Logf("%s: HTTP %d %s %q", phase, resp.StatusCode, got.Status, got.Message)
	// The guide's structure: status, message, peer, delivery and cache health.
	var raw map[string]map[string]any
	_ = json.Unmarshal(body, &raw)
	for sec, keys := range map[string][]string{
		"peer_health":     {"eager_count", "lazy_count", "total_count", "target_eager"},
		"delivery_health": {"pending_grafts", "graft_failure_rate", "successful_grafts", "failed_grafts"},
		"cache_health":    {"size", "capacity", "utilization", "retention_ns", "retention_known"},
	} {
		for _, k := range keys {
			if _, ok := raw[sec][k]; !ok {
				h.t.Errorf("%s: /health has no %s.%s: %s", phase, sec, k, body)
			}
		}
	}
	want := fmt.Sprintf("# HELP plumtree_health_status Health verdict: 0 Healthy, 1 Degraded, 2 Unhealthy.\n"+
		"# TYPE plumtree_health_status gauge\nplumtree_health_status %d\n", status)
	if err := testutil.CollectAndCompare(h.col, strings.NewReader(want), "plumtree_health_status"); err != nil {
		h.t.Errorf("%s: %v", phase, err)
	}
}

// TestHealthOverHTTP drives a node through every health rule and back,
// reading the admin handler's GET /health: Unhealthy (no peers) -> Degraded
// (few peers) -> Healthy -> Degraded (pending grafts) -> Degraded (graft
// failure rate) -> Unhealthy (graft failure rate) -> Healthy (the failures
// left the window) -> Healthy (every peer pruned us: the node relinks
// instead of being isolated) -> Unhealthy (no peers) -> Healthy -> Healthy
// (cache full, holding its TTL) -> Degraded (cache evicting live messages)
// -> Healthy -> Unhealthy (shutting down).
func TestHealthOverHTTP(t *testing.T) {
	cfg := core.DefaultConfig()
	cfg.GraftTimeout = 100 * time.Millisecond
	cfg.GraftMaxRetries = 1
	cfg.MessageCacheMaxSize = 100
	cfg.MessageCacheTTL = 10 * time.Second
	cfg.Health.Window = time.Minute
	cfg.Health.MinGraftSamples = 5

	h := &healthDriver{t: t, clk: newManualClock(), tr: newFakeTransport(), peers: []core.PeerID{"p1", "p2", "p3", "p4"}}
	h.col = New()
	n, err := node.New(cfg, "self", h.tr, node.NopDelegate{}, node.WithClock(h.clk), node.WithObserver(h.col))
	if err != nil {
		t.Fatal(err)
	}
	h.n = n
	h.col.SetStats(func() core.Stats { return n.Stats().Stats })
	h.col.SetHealth(n.Health)
	h.srv = httptest.NewServer(node.AdminHandler(n))
	defer h.srv.Close()
	shut := false
	defer func() {
		if !shut {
			_ = n.Shutdown(context.Background())
		}
	}()

	h.expect("start", core.Unhealthy, "No peers connected")

	h.link(h.peers[:2]...)
	// Two peers known, both linked: all a 3-node cluster allows.
	h.expect("two peers", core.Healthy, "Operating normally")
	h.link(h.peers[2:]...)
	h.expect("four peers", core.Healthy, "Operating normally")

	// 51 announced messages not yet received; they arrive before any Graft.
	var ids []core.MessageID
	for range 51 {
		ids = append(ids, h.newID())
	}
	h.announce(h.peers[0], ids...)
	h.expect("pending grafts", core.Degraded, "Many pending grafts")
	for _, id := range ids {
		h.gossip(h.peers[0], id)
	}
	h.expect("pending grafts received", core.Healthy, "Operating normally")

	// 3 grafts succeed, 2 fail: 40 % > 30 %.
	for range 3 {
		h.graftSucceeds()
	}
	h.graftsFail(2)
	h.expect("graft failures", core.Degraded, "Elevated graft failure rate")

	// 11 more fail: 13 of 16 = 81 % > 80 %.
	h.graftsFail(11)
	h.expect("many graft failures", core.Unhealthy, "High graft failure rate")

	// The failures leave the window: healthy again, not degraded forever.
	h.clk.Advance(cfg.Health.Window + time.Second)
	h.expect("window slid", core.Healthy, "Operating normally")

	// Every peer prunes us. The crate's guide calls a node without eager
	// peers isolated (Unhealthy); this protocol relinks at once to a lazy
	// peer, so the node never stays cut off the tree.
	for _, p := range h.peers {
		h.tr.inject(t, p, core.Message{Type: core.MsgPrune})
	}
	h.expect("pruned by every peer", core.Healthy, "Operating normally")
	if got := n.Health().Peers.EagerCount; got < 1 {
		t.Errorf("after every peer pruned us: %d eager peers, want a relink", got)
	}

	// Membership loses every peer, then finds them again.
	for _, p := range h.peers {
		if err := n.RemovePeer(p); err != nil {
			t.Fatal(err)
		}
	}
	h.expect("all peers gone", core.Unhealthy, "No peers connected")
	h.link(h.peers...)
	h.expect("peers back", core.Healthy, "Operating normally")

	// Fill the message cache: full, it still holds its TTL.
	for i := range cfg.MessageCacheMaxSize {
		if _, err := n.Broadcast(context.Background(), fmt.Appendf(nil, "fill %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	h.expect("cache full", core.Healthy, "Operating normally")
	// One more evicts a live message: it holds less than the TTL.
	if _, err := n.Broadcast(context.Background(), []byte("one more")); err != nil {
		t.Fatal(err)
	}
	h.expect("cache evicting", core.Degraded, "Cache nearly full: holds 0s of messages (want 10s)")
	// The payloads expire; the next one stored makes room.
	h.clk.Advance(cfg.MessageCacheTTL + time.Second)
	if _, err := n.Broadcast(context.Background(), []byte("after ttl")); err != nil {
		t.Fatal(err)
	}
	h.expect("cache expired", core.Healthy, "Operating normally")

	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	shut = true
	h.expect("shut down", core.Unhealthy, "Protocol is shutting down")
}
