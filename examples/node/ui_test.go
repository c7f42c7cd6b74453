package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/examples/internal/explain"
	"github.com/plumtree-go/plumtree/examples/internal/stack"
)

// uiNode is one in-process node with the admin API and, when enabled, the UI.
type uiNode struct {
	s     *stack.Stack
	hub   *hub
	admin string // http://...
	srv   *http.Server
}

// startUICluster starts n nodes in this process, each with its admin API on
// a loopback port and -ui on (with every admin address as -explain-peers),
// and waits until every node sees all the others and has a tree link.
func startUICluster(t *testing.T, ctx context.Context, n int) []*uiNode {
	t.Helper()
	lns := make([]net.Listener, n)
	var peers []string
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		peers = append(peers, "http://"+ln.Addr().String())
	}
	nodes := make([]*uiNode, n)
	for i := range nodes {
		// Join the first node and the four latest, as the cluster package
		// does: each push-pull tells an existing node about the newcomer at
		// once, without waiting for memberlist's periodic sync.
		var seeds []string
		if i > 0 {
			seeds = append(seeds, nodes[0].s.Addr())
		}
		for j := max(1, i-4); j < i; j++ {
			seeds = append(seeds, nodes[j].s.Addr())
		}
		u := newUI(uiConfig{Enabled: true, Peers: peers})
		h := newHub()
		s, err := stack.Start(ctx, stack.Config{
			Name: fmt.Sprintf("node-%d", i+1), Preset: "local", Seeds: seeds,
			Delegate: node.DeliverFunc(h.Deliver), NodeOptions: u.nodeOptions(),
		})
		if err != nil {
			t.Fatal(err)
		}
		un := &uiNode{s: s, hub: h, admin: peers[i]}
		un.srv = &http.Server{Handler: u.handler(s, h, peers[i], adminHandler(s, h)), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = un.srv.Serve(lns[i]) }()
		nodes[i] = un
		t.Cleanup(func() {
			h.close()
			_ = un.srv.Close()
			s.Kill()
		})
	}
	waitUntil(t, ctx, "the cluster to form", func() (bool, string) {
		for _, un := range nodes {
			if got := len(un.s.Membership.Members()); got != n {
				return false, fmt.Sprintf("%s sees %d members", un.s.Name, got)
			}
			if len(un.s.Node.EagerPeers())+len(un.s.Node.LazyPeers()) == 0 {
				return false, fmt.Sprintf("%s has no tree link", un.s.Name)
			}
		}
		return true, ""
	})
	return nodes
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %s: %v", what, why, ctx.Err())
		case <-tick.C:
		}
	}
}

func fetchJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v\n%s", url, err, b)
		}
	}
	return resp.StatusCode
}

func postBroadcast(t *testing.T, admin, text string) string {
	t.Helper()
	resp, err := http.Post(admin+"/broadcast", "text/plain", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		MsgID string `json:"msg_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("broadcast: %s %v", resp.Status, err)
	}
	return r.MsgID
}

// explainUntil asks admin's /explain until want(report) holds.
func explainUntil(t *testing.T, ctx context.Context, admin, msgID string, want func(explain.Report) (bool, string)) explain.Report {
	t.Helper()
	var rep explain.Report
	waitUntil(t, ctx, "explain "+msgID, func() (bool, string) {
		rep = explain.Report{}
		if code := fetchJSON(t, admin+"/explain?id="+msgID, &rep); code != http.StatusOK {
			return false, fmt.Sprintf("status %d", code)
		}
		return want(rep)
	})
	return rep
}

// checkTree checks that every delivered node has a parent chain back to the
// origin whose hops follow the chain.
func checkTree(t *testing.T, rep explain.Report) {
	t.Helper()
	by := map[string]explain.NodeReport{}
	for _, n := range rep.Nodes {
		by[n.Name] = n
	}
	if len(rep.Problems) != 0 {
		t.Errorf("problems: %v", rep.Problems)
	}
	for _, n := range rep.Nodes {
		if n.Status != explain.StatusDelivered {
			continue
		}
		if len(n.Chain) == 0 || n.Chain[0] != n.Name || n.Chain[len(n.Chain)-1] != rep.Origin {
			t.Errorf("%s: chain %v does not run from it to the origin %s", n.Name, n.Chain, rep.Origin)
			continue
		}
		if n.Depth != len(n.Chain)-1 || n.Hops != n.Depth {
			t.Errorf("%s: hops %d, depth %d, chain %v", n.Name, n.Hops, n.Depth, n.Chain)
		}
		for i := 0; i+1 < len(n.Chain); i++ {
			child, parent := by[n.Chain[i]], by[n.Chain[i+1]]
			if child.Parent != parent.Name || parent.Status != explain.StatusDelivered || child.Hops != parent.Hops+1 {
				t.Errorf("%s: link %s <- %s: parent %q, hops %d after %d", n.Name, child.Name, parent.Name, child.Parent, child.Hops, parent.Hops)
			}
		}
		if n.Name == rep.Origin && (n.Hops != 0 || n.Via != explain.ViaOrigin || n.SinceOriginMS != 0) {
			t.Errorf("origin %+v", n)
		}
		if n.Name != rep.Origin && n.Via != explain.ViaTree && n.Via != explain.ViaGraft {
			t.Errorf("%s: via %q", n.Name, n.Via)
		}
	}
}

// TestExplainEightNodes broadcasts in an 8-node cluster, checks the explain
// JSON (every node has a parent chain back to the origin, hops consistent
// with the chain), then cuts one node off the cluster (its gossip stack
// stopped, its admin API still answering) and checks that the next
// broadcast's explain marks it missing.
func TestExplainEightNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	nodes := startUICluster(t, ctx, 8)
	t.Logf("formed in %v", time.Since(start))
	names := func(rep explain.Report, status string) []string {
		var out []string
		for _, n := range rep.Nodes {
			if n.Status == status {
				out = append(out, n.Name)
			}
		}
		return out
	}

	id := postBroadcast(t, nodes[2].admin, "first")
	rep := explainUntil(t, ctx, nodes[5].admin, id, func(r explain.Report) (bool, string) {
		return r.Delivered == 8, fmt.Sprintf("%d delivered", r.Delivered)
	})
	checkTree(t, rep)
	if rep.Origin != "node-3" || len(rep.Nodes) != 8 || rep.Depth < 1 || rep.SlowestEdge == nil {
		t.Fatalf("report %+v", rep)
	}
	t.Logf("first broadcast: depth %d, slowest edge %+v", rep.Depth, *rep.SlowestEdge)

	// Cut node-8 off: its gossip stack stops, its admin API (and its record
	// of deliveries) stays up.
	cut := nodes[7]
	start = time.Now()
	cut.s.Kill()
	t.Logf("node-8 stopped in %v", time.Since(start))
	start = time.Now()
	id2 := postBroadcast(t, nodes[0].admin, "second")
	rep = explainUntil(t, ctx, nodes[3].admin, id2, func(r explain.Report) (bool, string) {
		return r.Delivered == 7, fmt.Sprintf("%d delivered", r.Delivered)
	})
	t.Logf("second broadcast explained in %v", time.Since(start))
	checkTree(t, rep)
	if !slices.Equal(rep.Missing, []string{"node-8"}) || !slices.Equal(names(rep, explain.StatusMissing), []string{"node-8"}) {
		t.Fatalf("missing %v, want node-8: %+v", rep.Missing, rep.Nodes)
	}
	if len(rep.Unreachable) != 0 {
		t.Fatalf("unreachable %v", rep.Unreachable)
	}
	// The first broadcast is still explained with node-8 in it.
	rep = explainUntil(t, ctx, nodes[0].admin, id, func(r explain.Report) (bool, string) { return true, "" })
	if rep.Delivered != 8 {
		t.Fatalf("first broadcast after the cut: %d delivered", rep.Delivered)
	}
	// A node whose admin API is gone is unreachable, under the name it
	// answered with before (nodes[3]'s gatherer has seen it).
	_ = cut.srv.Close()
	rep = explainUntil(t, ctx, nodes[3].admin, id2, func(r explain.Report) (bool, string) { return true, "" })
	if !slices.Equal(rep.Unreachable, []string{"node-8"}) || len(rep.Missing) != 0 || slices.Contains(rep.Unknown, "node-8") || rep.Delivered != 7 {
		t.Fatalf("after node-8's admin API closed: unreachable %v missing %v unknown %v", rep.Unreachable, rep.Missing, rep.Unknown)
	}
}

// TestUIClusterView checks /explain/cluster against every node's
// /topology, and that /ui/ serves the embedded page.
func TestUIClusterView(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodes := startUICluster(t, ctx, 4)
	var cl explain.Cluster
	waitUntil(t, ctx, "a stable cluster view", func() (bool, string) {
		var before []explain.ClusterNode
		for _, un := range nodes {
			before = append(before, topologyNode(t, un.admin))
		}
		cl = explain.Cluster{}
		fetchJSON(t, nodes[0].admin+"/explain/cluster", &cl)
		var after []explain.ClusterNode
		for _, un := range nodes {
			after = append(after, topologyNode(t, un.admin))
		}
		want := explain.Links(before)
		if !slices.Equal(want, explain.Links(after)) {
			return false, "links changed while reading"
		}
		if !slices.Equal(want, cl.Links) {
			return false, fmt.Sprintf("links %v, /topology says %v", cl.Links, want)
		}
		return true, ""
	})
	if len(cl.Nodes) != 4 || len(cl.Members) != 4 {
		t.Fatalf("cluster view %+v", cl)
	}
	for _, n := range cl.Nodes {
		if n.Error != "" || n.Health == "" || len(n.Members) != 4 {
			t.Fatalf("node %+v", n)
		}
	}
	resp, err := http.Get(nodes[1].admin + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `<svg id="graph"`) {
		t.Fatalf("/ui/: %s\n%s", resp.Status, body)
	}
	for _, asset := range []string{"app.js", "style.css"} {
		if code := fetchJSON(t, nodes[1].admin+"/ui/"+asset, nil); code != http.StatusOK {
			t.Errorf("/ui/%s: %d", asset, code)
		}
	}
}

func topologyNode(t *testing.T, admin string) explain.ClusterNode {
	var topo topology
	if code := fetchJSON(t, admin+"/topology", &topo); code != http.StatusOK {
		t.Fatalf("%s/topology: %d", admin, code)
	}
	n := explain.ClusterNode{Name: string(topo.Self)}
	for _, p := range topo.Eager {
		n.Eager = append(n.Eager, string(p))
	}
	for _, p := range topo.Lazy {
		n.Lazy = append(n.Lazy, string(p))
	}
	for _, p := range topo.Protected {
		n.Protected = append(n.Protected, string(p))
	}
	return n
}

// TestWithoutUIServesNothingNew checks that a node without -ui serves
// neither /ui/ nor the explain routes.
func TestWithoutUIServesNothingNew(t *testing.T) {
	u := newUI(uiConfig{})
	if u != nil || u.nodeOptions() != nil {
		t.Fatal("a disabled UI has state")
	}
	admin := http.NotFoundHandler()
	if got := u.handler(nil, nil, "", admin); fmt.Sprint(got) != fmt.Sprint(admin) {
		t.Fatal("a disabled UI wraps the admin handler")
	}
	// Over HTTP: the admin API of a node without -ui has none of the routes.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, stack.Config{Name: "plain", Preset: "local"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Kill()
	h := newHub()
	srv := httptest.NewServer(u.handler(s, h, "", adminHandler(s, h)))
	defer srv.Close()
	for _, path := range []string{"/ui/", "/ui/app.js", "/explain?id=a/1", "/explain/record?id=a/1", "/explain/cluster"} {
		if code := fetchJSON(t, srv.URL+path, nil); code != http.StatusNotFound {
			t.Errorf("%s without -ui: %d, want 404", path, code)
		}
	}
	if code := fetchJSON(t, srv.URL+"/topology", nil); code != http.StatusOK {
		t.Errorf("/topology: %d", code)
	}

	c, err := parseConfig([]string{"-ui", "-admin-addr", "off"}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-ui needs the admin API") {
		t.Fatalf("-ui without admin: %v", err)
	}
	c, err = parseConfig([]string{"-explain-peers", "10.0.0.1:7947, http://10.0.0.2:7947/"}, func(k string) string {
		if k == "PLUMTREE_UI" {
			return "true"
		}
		return ""
	}, io.Discard)
	if err != nil || !c.UI.Enabled || !slices.Equal(c.UI.Peers, []string{"http://10.0.0.1:7947", "http://10.0.0.2:7947"}) {
		t.Fatalf("config %+v %v", c.UI, err)
	}
	bad := func(k string) string {
		if k == "PLUMTREE_UI" {
			return "yes please"
		}
		return ""
	}
	if _, err := parseConfig(nil, bad, io.Discard); err == nil || !strings.Contains(err.Error(), "PLUMTREE_UI") {
		t.Fatalf("bad PLUMTREE_UI: %v", err)
	}
	if c, err := parseConfig([]string{"-ui=false"}, bad, io.Discard); err != nil || c.UI.Enabled {
		t.Fatalf("-ui=false over a bad PLUMTREE_UI: %+v %v", c.UI, err)
	}
}

// TestHubLookup finds messages in the ring of recent deliveries before and
// after it wraps, and reports its fill and oldest entry.
func TestHubLookup(t *testing.T) {
	h := newHub()
	if _, found, held, bound, oldest := h.lookup("o/0"); found || held != 0 || bound != recentDeliveries || !oldest.IsZero() {
		t.Fatalf("empty hub: found %v held %d bound %d oldest %v", found, held, bound, oldest)
	}
	deliver := func(i int) {
		d := testDelivery(i)
		d.From, d.Hops = core.PeerID(fmt.Sprintf("p%d", i%7)), uint16(i%5)
		h.Deliver(d)
	}
	for i := range 10 {
		deliver(i)
	}
	d, found, held, _, oldest := h.lookup("o/3")
	if !found || d.From != "p3" || d.Hops != 3 || held != 10 || d.Time.IsZero() || oldest.After(d.Time) {
		t.Fatalf("o/3: %+v found %v held %d oldest %v", d, found, held, oldest)
	}
	for i := 10; i < recentDeliveries+25; i++ {
		deliver(i)
	}
	// The first 25 are evicted; the oldest held is o/25.
	for _, c := range []struct {
		i     int
		found bool
	}{{0, false}, {24, false}, {25, true}, {500, true}, {recentDeliveries + 24, true}, {recentDeliveries + 25, false}} {
		d, found, held, bound, _ := h.lookup(fmt.Sprintf("o/%d", c.i))
		if found != c.found || held != recentDeliveries || bound != recentDeliveries {
			t.Errorf("o/%d: found %v held %d bound %d", c.i, found, held, bound)
		}
		if found && (d.From != fmt.Sprintf("p%d", c.i%7) || d.Hops != uint16(c.i%5)) {
			t.Errorf("o/%d: %+v", c.i, d)
		}
	}
	o25, _, _, _, _ := h.lookup("o/25")
	if _, _, _, _, oldest := h.lookup("o/26"); !oldest.Equal(o25.Time) {
		t.Errorf("oldest %v, want o/25's %v", oldest, o25.Time)
	}
}

// TestRunWithUI runs the program's run with -ui: the start line's admin
// address serves /ui/, and a broadcast is explained (the origin alone).
func TestRunWithUI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(runCtx, []string{"-name", "solo", "-bind", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-metrics-addr", "off",
			"-preset", "local", "-ui", "-leave-timeout", "0s", "-log-level", "error"}, func(string) string { return "" }, pw, io.Discard)
		pw.Close()
	}()
	lines := make(chan string, 1)
	go func() {
		b := make([]byte, 4096)
		n, _ := pr.Read(b)
		lines <- string(b[:n])
		_, _ = io.Copy(io.Discard, pr)
	}()
	var admin string
	select {
	case l := <-lines:
		m := startLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			t.Fatalf("start line %q", l)
		}
		admin = m[3]
	case code := <-done:
		t.Fatalf("run exited with %d", code)
	case <-ctx.Done():
		t.Fatal("no start line")
	}
	if code := fetchJSON(t, admin+"/ui/", nil); code != http.StatusOK {
		t.Fatalf("/ui/: %d", code)
	}
	id := postBroadcast(t, admin, "hello")
	rep := explainUntil(t, ctx, admin, id, func(r explain.Report) (bool, string) {
		return r.Delivered == 1, fmt.Sprintf("%d delivered", r.Delivered)
	})
	if n := rep.Nodes[0]; n.Name != "solo" || n.Via != explain.ViaOrigin || n.Depth != 0 {
		t.Fatalf("%+v", rep.Nodes)
	}
	stop()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run exited with %d", code)
		}
	case <-ctx.Done():
		t.Fatal("run did not return")
	}
}
