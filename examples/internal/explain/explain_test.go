package explain

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func delivered(node, from string, hops uint16, after time.Duration, via string) Answer {
	return Answer{URL: "http://" + node, Record: &Record{Node: node, MsgID: "a/1", Delivered: true, From: from, Hops: hops, Time: t0.Add(after), Via: via}}
}

func find(t *testing.T, r Report, name string) NodeReport {
	t.Helper()
	for _, n := range r.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("%s not in the report: %+v", name, r.Nodes)
	return NodeReport{}
}

func TestBuildTree(t *testing.T) {
	answers := []Answer{
		delivered("c", "b", 2, 30*time.Millisecond, ViaGraft),
		delivered("a", "a", 0, 0, ViaOrigin),
		delivered("b", "a", 1, 10*time.Millisecond, ViaTree),
		delivered("d", "a", 1, 5*time.Millisecond, ViaTree),
		{URL: "http://e", Record: &Record{Node: "e", MsgID: "a/1", Held: 10, Bound: 10}},
		{URL: "http://f", Name: "f", Err: "connection refused"},
		{Name: "g"},
	}
	r, err := Build("a/1", answers, t0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Delivered != 4 || r.Depth != 2 || r.OriginTime != "origin" {
		t.Fatalf("delivered %d depth %d origin time %q", r.Delivered, r.Depth, r.OriginTime)
	}
	if len(r.Problems) != 0 {
		t.Fatalf("problems: %v", r.Problems)
	}
	c := find(t, r, "c")
	if !slices.Equal(c.Chain, []string{"c", "b", "a"}) || c.Depth != 2 || c.Parent != "b" || c.SinceOriginMS != 30 || c.EdgeMS != 20 {
		t.Fatalf("c: %+v", c)
	}
	if a := find(t, r, "a"); !slices.Equal(a.Children, []string{"b", "d"}) || a.Depth != 0 {
		t.Fatalf("a: %+v", a)
	}
	if r.SlowestEdge == nil || *r.SlowestEdge != (Edge{From: "b", To: "c", MS: 20}) {
		t.Fatalf("slowest edge %+v", r.SlowestEdge)
	}
	if !slices.Equal(r.Grafted, []string{"c"}) || !slices.Equal(r.Missing, []string{"e"}) ||
		!slices.Equal(r.Unreachable, []string{"f"}) || !slices.Equal(r.Unknown, []string{"g"}) {
		t.Fatalf("grafted %v missing %v unreachable %v unknown %v", r.Grafted, r.Missing, r.Unreachable, r.Unknown)
	}
	if !find(t, r, "e").MaybeEvicted {
		t.Fatal("e's full record should flag a possible eviction")
	}
	// Delivered first by depth, then the rest.
	var order []string
	for _, n := range r.Nodes {
		order = append(order, n.Name)
	}
	if !slices.Equal(order, []string{"a", "b", "d", "c", "e", "f", "g"}) {
		t.Fatalf("order %v", order)
	}
}

func TestBuildClockOffsets(t *testing.T) {
	// b's clock runs 100 ms ahead: the estimate takes it back.
	b := delivered("b", "a", 1, 110*time.Millisecond, ViaTree)
	b.Offset, b.RTT = 100*time.Millisecond, 4*time.Millisecond
	r, err := Build("a/1", []Answer{delivered("a", "a", 0, 0, ViaOrigin), b}, t0)
	if err != nil {
		t.Fatal(err)
	}
	n := find(t, r, "b")
	if n.SinceOriginMS != 10 || n.OffsetMS != 100 || n.ClockErr != 2 {
		t.Fatalf("b: %+v", n)
	}
}

func TestBuildReportsBadAnswers(t *testing.T) {
	answers := []Answer{
		delivered("a", "a", 0, 0, ViaOrigin),
		delivered("b", "a", 3, 1, ViaTree), // hop does not follow the chain
		delivered("c", "d", 2, 2, ViaTree), // a cycle c <- d <- c
		delivered("d", "c", 3, 3, ViaTree),
		delivered("e", "zz", 1, 4, ViaTree), // parent unknown
		delivered("f", "f", 1, 5, ViaTree),  // from itself
	}
	r, err := Build("a/1", answers, t0)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(r.Problems, "\n")
	for _, want := range []string{"b: hop 3 but its parent a delivered at hop 0", "c: parent chain c <- d does not reach", "d: parent chain d <- c does not reach", "e: parent chain e does not reach", "f: delivered from \"f\""} {
		if !strings.Contains(text, want) {
			t.Errorf("problems lack %q:\n%s", want, text)
		}
	}
	for _, name := range []string{"c", "d", "e", "f"} {
		if n := find(t, r, name); n.Depth != -1 {
			t.Errorf("%s: depth %d, want -1 (broken chain)", name, n.Depth)
		}
	}
}

func TestBuildWithoutOrigin(t *testing.T) {
	r, err := Build("a/1", []Answer{delivered("b", "a", 1, 10*time.Millisecond, ViaTree), delivered("c", "b", 2, 15*time.Millisecond, ViaTree)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if r.OriginTime != "earliest" || find(t, r, "c").SinceOriginMS != 5 || find(t, r, "c").Depth != -1 {
		t.Fatalf("%+v", r)
	}
	if _, err := Build("a/1", []Answer{{URL: "x", Err: "down"}}, t0); err != ErrNoAnswers {
		t.Fatalf("no answers: %v", err)
	}
	for _, bad := range []string{"", "a", "a/", "/1", "a/x", "a/-1"} {
		if _, err := Build(bad, nil, t0); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if id, err := ParseMsgID("x/y/42"); err != nil || id != (core.MessageID{Origin: "x/y", Seq: 42}) {
		t.Fatalf("%v %v", id, err)
	}
}

func TestLinks(t *testing.T) {
	nodes := []ClusterNode{
		{Name: "a", Eager: []string{"b"}, Lazy: []string{"c"}, Protected: []string{"c"}},
		{Name: "b", Eager: []string{"a"}, Lazy: []string{"c"}},
		{Name: "c", Lazy: []string{"a"}, Eager: []string{"b"}},
	}
	got := Links(nodes)
	want := []Link{
		{A: "a", B: "b", Kind: "eager"},
		{A: "a", B: "c", Kind: "lazy", Protected: true},
		{A: "b", B: "c", Kind: "eager", Asymmetric: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("links\n got %+v\nwant %+v", got, want)
	}
	c := BuildCluster(append(nodes, ClusterNode{Name: "http://x", Error: "down"}, ClusterNode{Name: "d", Members: []string{"a", "e"}}), t0)
	if !slices.Equal(c.Members, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("members %v", c.Members)
	}
}

func TestGraftLogBound(t *testing.T) {
	g := NewGraftLog(3)
	id := func(i int) core.MessageID { return core.MessageID{Origin: "o", Seq: uint64(i)} }
	for i := range 10 {
		g.Observe([]core.Event{{Kind: core.EventGraftSuccess, ID: id(i)}, {Kind: core.EventDelivered, ID: id(100 + i)}, {Kind: core.EventGraftSuccess, ID: id(i)}})
	}
	if g.Len() != 3 {
		t.Fatalf("len %d", g.Len())
	}
	for i := range 10 {
		if g.Grafted(id(i)) != (i >= 7) {
			t.Errorf("%d: grafted %v", i, g.Grafted(id(i)))
		}
	}
	if g.Grafted(id(105)) {
		t.Error("a delivery counted as a graft")
	}
}

// TestGatherer runs the routes of three nodes over HTTP: one delivered by
// graft, one without the message, one whose admin API is gone.
func TestGatherer(t *testing.T) {
	type node struct {
		name string
		d    *Delivery
	}
	grafts := NewGraftLog(8)
	grafts.Observe([]core.Event{{Kind: core.EventGraftSuccess, ID: core.MessageID{Origin: "a", Seq: 1}}})
	g := &Gatherer{Members: func() []string { return []string{"a", "b", "c", "m"} }}
	var urls []string
	for _, n := range []node{{"a", &Delivery{From: "a", Time: t0}}, {"b", &Delivery{From: "a", Hops: 1, Time: t0.Add(time.Millisecond)}}, {"c", nil}} {
		mux := http.NewServeMux()
		lookup := func(id string) (Delivery, bool, int, int, time.Time) {
			if id != "a/1" || n.d == nil {
				return Delivery{}, false, 5, 10, t0
			}
			return *n.d, true, 5, 10, t0
		}
		var gl *GraftLog
		if n.name == "b" {
			gl = grafts
		}
		Routes(n.name, lookup, gl, g, mux.Handle)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	g.Targets = func() []string { return append(slices.Clone(urls), strings.TrimPrefix(dead.URL, "http://")+"/") }

	resp, err := http.Get(urls[0] + "/explain?id=a/1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r Report
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %s", err, resp.Status)
	}
	if r.Delivered != 2 || find(t, r, "b").Via != ViaGraft || find(t, r, "a").Via != ViaOrigin ||
		!slices.Equal(r.Missing, []string{"c"}) || !slices.Equal(r.Unknown, []string{"m"}) || !slices.Equal(r.Unreachable, []string{dead.URL}) {
		t.Fatalf("report %+v", r)
	}
	for _, bad := range []string{"", "nope", "a/x"} {
		resp, err := http.Get(urls[0] + "/explain/record?id=" + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("record %q: %s", bad, resp.Status)
		}
	}
	rep, err := g.Explain(context.Background(), "zz/9")
	if err != nil || rep.Delivered != 0 || len(rep.Missing) != 3 {
		t.Fatalf("unknown message: %v %+v", err, rep)
	}
}

func TestRate(t *testing.T) {
	var g Gatherer
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	steps := []struct {
		t    float64
		n    uint64
		want float64 // -1: no rate yet
	}{
		{0, 0, -1}, {0.1, 10, -1}, {1, 100, -1}, // under 2 s of samples
		{2, 200, 100},    // 200 since t=0
		{2.05, 210, 102}, // still since t=0: the next base (t=0.1) is not 2 s old
		{4.5, 700, 156},  // since t=0.1: 690 in 4.4 s
		{5, 50, -1},      // the counter went back (a restart): start over
	}
	for _, st := range steps {
		got := g.rate("u", at(st.t), st.n)
		switch {
		case st.want < 0 && got != nil:
			t.Errorf("t=%v: rate %v, want none", st.t, *got)
		case st.want >= 0 && got == nil:
			t.Errorf("t=%v: no rate", st.t)
		case got != nil && (*got < st.want-1 || *got > st.want+1):
			t.Errorf("t=%v: rate %v, want about %v", st.t, *got, st.want)
		}
	}
	g.forget([]string{"other"})
	if len(g.samples) != 0 {
		t.Fatal("forget kept a sample")
	}
}

// TestGathererBoundsAnswers refuses an oversized or foreign answer with an
// error instead of reading it all.
func TestGathererBoundsAnswers(t *testing.T) {
	big := strings.Repeat("x", maxRecord+10)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /explain/record", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"node": "n", "msg_id": "a/1", "from": %q}`, big)
	})
	mux.HandleFunc("GET /topology", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat(" ", maxBody+1)))
	})
	huge := httptest.NewServer(mux)
	defer huge.Close()
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"node": "n", "msg_id": "b/2", "delivered": true}`))
	}))
	defer foreign.Close()
	g := &Gatherer{Targets: func() []string { return []string{huge.URL, foreign.URL} }}
	answers := g.Answers(context.Background(), "a/1")
	if len(answers) != 2 || answers[0].Record != nil || !strings.Contains(answers[0].Err, "answer above") ||
		answers[1].Record != nil || !strings.Contains(answers[1].Err, `answer for "b/2"`) {
		t.Fatalf("%+v", answers)
	}
	cl := g.Cluster(context.Background())
	if len(cl.Nodes) != 2 || !strings.Contains(cl.Nodes[0].Error+cl.Nodes[1].Error, "answer above") {
		t.Fatalf("%+v", cl.Nodes)
	}
}
