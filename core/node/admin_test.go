package node_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

type httpResult struct {
	code   int
	header http.Header
	body   []byte
}

func do(t *testing.T, h http.Handler, method, path, body string) httpResult {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	return httpResult{rr.Code, rr.Header(), rr.Body.Bytes()}
}

func decode[T any](t *testing.T, r httpResult) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

func TestAdminHandler(t *testing.T) {
	c := startCluster(t, clusterOpts{size: 4, seed: 21})
	n := c.nodes[0]
	topology := func() any { return map[string]int{"members": 4} }
	h := node.AdminHandler(n,
		node.WithSection("topology", topology),
		node.WithExtraRoute("GET /topology", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "members: 4")
		})))

	// Links open with a Join handshake: wait for them.
	waitFor(t, 10*time.Second, "node 0's three links", func() bool { return n.PeerCount() == 3 })
	t.Run("health", func(t *testing.T) {
		// Links open through Join handshakes over the network.
		waitFor(t, 5*time.Second, "three links", func() bool { return n.Health().Peers.TotalCount == 3 })
		r := do(t, h, "GET", "/health", "")
		hl := decode[core.Health](t, r)
		if r.code != http.StatusOK || hl.Status == core.Unhealthy || hl.Peers.TotalCount != 3 {
			t.Fatalf("%d %s", r.code, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("content type %q", ct)
		}
	})
	t.Run("peers", func(t *testing.T) {
		r := do(t, h, "GET", "/peers", "")
		p := decode[node.PeersReport](t, r)
		if r.code != http.StatusOK || p.Self != n.Self() || p.Count != 3 || len(p.Eager)+len(p.Lazy) != 3 || p.Protected == nil {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("stats", func(t *testing.T) {
		id, err := n.Broadcast(context.Background(), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "local delivery", func() bool { return c.recs[0].count(id) == 1 })
		r := do(t, h, "GET", "/stats", "")
		s := decode[node.Stats](t, r)
		if r.code != http.StatusOK || s.MessagesBroadcast != 1 || s.Runtime.DeliveryQueueCap != node.DefaultDeliveryQueue {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("config", func(t *testing.T) {
		r := do(t, h, "GET", "/config", "")
		cfg := decode[map[string]any](t, r)
		health, _ := cfg["health"].(map[string]any)
		if r.code != http.StatusOK || cfg["graft_timeout"] != "25ms" || cfg["eager_fanout"] != float64(core.DefaultConfig().EagerFanout) ||
			cfg["message_cache_ttl"] != "10m0s" || cfg["seen_ttl"] != "20m0s" || cfg["clock_skew"] != "30s" || health["window"] != "5m0s" {
			t.Fatalf("%d %s", r.code, r.body)
		}
		back := decode[node.ConfigReport](t, r)
		if time.Duration(back.GraftTimeout) != 25*time.Millisecond {
			t.Fatalf("round trip: %+v", back)
		}
	})
	t.Run("dump with sections", func(t *testing.T) {
		r := do(t, h, "GET", "/dump", "")
		d := decode[map[string]json.RawMessage](t, r)
		for _, k := range []string{"self", "health", "peers", "stats", "config", "topology"} {
			if _, ok := d[k]; !ok {
				t.Fatalf("no %q in %s", k, r.body)
			}
		}
		if string(d["topology"]) != `{"members":4}` && !strings.Contains(string(d["topology"]), `"members": 4`) {
			t.Fatalf("topology %s", d["topology"])
		}
	})
	t.Run("extra route", func(t *testing.T) {
		r := do(t, h, "GET", "/topology", "")
		if r.code != http.StatusOK || string(r.body) != "members: 4" {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("test broadcast", func(t *testing.T) {
		r := do(t, h, "POST", "/broadcast", "diagnostic_test_message")
		b := decode[node.BroadcastReport](t, r)
		if r.code != http.StatusOK || b.Origin != n.Self() || b.Size != len("diagnostic_test_message") {
			t.Fatalf("%d %s", r.code, r.body)
		}
		id := core.MessageID{Origin: b.Origin, Seq: b.Seq}
		if id.String() != b.MsgID {
			t.Fatalf("msg_id %q, id %v", b.MsgID, id)
		}
		waitFor(t, 5*time.Second, "every node to deliver the test broadcast", func() bool {
			for _, rec := range c.recs {
				if rec.count(id) != 1 {
					return false
				}
			}
			return true
		})
	})
	t.Run("broadcast above max_message_size", func(t *testing.T) {
		// With a Content-Length it is a large message (admin_large_test.go).
		r := do(t, h, "POST", "/broadcast", strings.Repeat("x", n.Config().MaxMessageSize+1))
		if rep := decode[node.BroadcastReport](t, r); r.code != http.StatusOK || rep.Size != n.Config().MaxMessageSize+1 {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("empty broadcast", func(t *testing.T) {
		before := n.Stats().MessagesBroadcast
		r := do(t, h, "POST", "/broadcast", "")
		if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), "empty body") {
			t.Fatalf("%d %s", r.code, r.body)
		}
		if after := n.Stats().MessagesBroadcast; after != before {
			t.Fatalf("an empty POST /broadcast was broadcast (%d -> %d)", before, after)
		}
	})
	t.Run("livez", func(t *testing.T) {
		if r := do(t, h, "GET", "/livez", ""); r.code != http.StatusOK {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		if r := do(t, h, "GET", "/broadcast", ""); r.code != http.StatusMethodNotAllowed {
			t.Fatalf("%d %s", r.code, r.body)
		}
		if r := do(t, h, "POST", "/health", ""); r.code != http.StatusMethodNotAllowed {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("read only", func(t *testing.T) {
		ro := node.AdminHandler(n, node.WithReadOnly())
		if r := do(t, ro, "POST", "/broadcast", "x"); r.code == http.StatusOK {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
}

func TestAdminHealthUnhealthy(t *testing.T) {
	refuse := error(nil)
	n, err := node.New(testConfig(1), "alone", newChanTransport(), nil,
		node.WithAdmission(func() error { return refuse }))
	if err != nil {
		t.Fatal(err)
	}
	h := node.AdminHandler(n)
	r := do(t, h, "GET", "/health", "")
	if hl := decode[core.Health](t, r); r.code != http.StatusServiceUnavailable || hl.Message != "No peers connected" {
		t.Fatalf("%d %s", r.code, r.body)
	}
	// Not ready, but alive: /livez does not depend on peers.
	if r := do(t, h, "GET", "/livez", ""); r.code != http.StatusOK {
		t.Fatalf("livez of a lone node: %d %s", r.code, r.body)
	}
	refuse = core.ErrBackpressure
	r = do(t, h, "POST", "/broadcast", "x")
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("backpressure: %d %s", r.code, r.body)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = do(t, h, "GET", "/health", "")
	if hl := decode[core.Health](t, r); r.code != http.StatusServiceUnavailable || hl.Message != "Protocol is shutting down" {
		t.Fatalf("after shutdown: %d %s", r.code, r.body)
	}
	refuse = nil
	if r := do(t, h, "POST", "/broadcast", "x"); r.code != http.StatusServiceUnavailable {
		t.Fatalf("broadcast after shutdown: %d %s", r.code, r.body)
	}
	if r := do(t, h, "GET", "/livez", ""); r.code != http.StatusServiceUnavailable {
		t.Fatalf("livez after shutdown: %d %s", r.code, r.body)
	}
}

// A node told it is alone by configuration is ready without peers.
func TestAdminHealthStandalone(t *testing.T) {
	cfg := testConfig(1)
	cfg.Health.Standalone = true
	n, err := node.New(cfg, "alone", newChanTransport(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	r := do(t, node.AdminHandler(n), "GET", "/health", "")
	if hl := decode[core.Health](t, r); r.code != http.StatusOK || hl.Status != core.Healthy || hl.Message != "Standalone: no peers yet" {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if hv := decode[node.HealthView](t, r); hv.Large == nil || hv.Large.AssemblyBudget != int64(cfg.LargeAssemblyBytes) {
		t.Errorf("large_health with large messages enabled: %s", r.body)
	}
}

// With large messages disabled, GET /health has no large part, and POST
// /broadcast refuses a body above max_message_size as too large.
func TestAdminHealthLargeDisabled(t *testing.T) {
	cfg := testConfig(1)
	cfg.Health.Standalone = true
	cfg.MaxLargeMessageSize = 0
	n, err := node.New(cfg, "alone", newChanTransport(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	r := do(t, node.AdminHandler(n), "GET", "/health", "")
	if hv := decode[node.HealthView](t, r); r.code != http.StatusOK || hv.Large != nil || strings.Contains(string(r.body), "large_health") {
		t.Fatalf("%d %s", r.code, r.body)
	}

	// A body above max_message_size, of unknown length or not, is refused
	// without a word about large messages, which this node cannot send.
	for _, length := range []int64{-1, int64(cfg.MaxMessageSize) + 1} {
		req := httptest.NewRequest("POST", "/broadcast", strings.NewReader(strings.Repeat("x", cfg.MaxMessageSize+1)))
		req.ContentLength = length
		rr := httptest.NewRecorder()
		node.AdminHandler(n).ServeHTTP(rr, req)
		if rr.Code != http.StatusRequestEntityTooLarge || strings.Contains(rr.Body.String(), "Content-Length") {
			t.Errorf("length %d: %d %s", length, rr.Code, rr.Body)
		}
	}
}

// The handler serves over a real loopback listener too.
func TestAdminHandlerServer(t *testing.T) {
	c := startCluster(t, clusterOpts{size: 3, seed: 4})
	srv := httptest.NewServer(node.AdminHandler(c.nodes[1]))
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var hl core.Health
	if err := json.NewDecoder(resp.Body).Decode(&hl); err != nil {
		t.Fatal(err)
	}
	// Two peers in a 3-node cluster: all it can have, so Healthy.
	if resp.StatusCode != http.StatusOK || hl.Status != core.Healthy || hl.Peers.TargetEager != 2 {
		t.Fatalf("%d %+v", resp.StatusCode, hl)
	}
}

// ConfigReport has one field per core.Config field (and HealthReport per
// HealthConfig field), so /config never silently omits a new setting.
func TestConfigReportComplete(t *testing.T) {
	pairs := []struct{ cfg, report reflect.Type }{
		{reflect.TypeFor[core.Config](), reflect.TypeFor[node.ConfigReport]()},
		{reflect.TypeFor[core.HealthConfig](), reflect.TypeFor[node.HealthReport]()},
	}
	for _, p := range pairs {
		for i := range p.cfg.NumField() {
			f := p.cfg.Field(i)
			if !f.IsExported() {
				continue
			}
			if _, ok := p.report.FieldByName(f.Name); !ok {
				t.Errorf("%s has no field %s", p.report, f.Name)
			}
		}
	}
	// Every field is set from the config.
	c := core.LargeClusterConfig()
	c.MaxPeers, c.SeenTTL, c.HopOptimizationThreshold, c.Seed = 99, 11*time.Minute, 3, 5
	c.IHaveFanout, c.LargeSendRate, c.ShortcutSamples = 10, 32<<20, 16
	v := reflect.ValueOf(node.ConfigView(c))
	for i := range v.NumField() {
		if v.Field(i).IsZero() && v.Type().Field(i).Type.Kind() != reflect.Bool {
			t.Errorf("ConfigReport.%s is zero", v.Type().Field(i).Name)
		}
	}
}
