package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestExplain prints recorded answers of examples/node's GET /explain (five
// nodes on loopback; then one of them stopped) as a tree.
func TestExplain(t *testing.T) {
	all, cut := fixture(t, "explain.json"), fixture(t, "explain_unreachable.json")
	var rep explainReport
	if err := json.Unmarshal([]byte(all), &rep); err != nil {
		t.Fatal(err)
	}
	var asked string
	srv := fakeAdmin(t, map[string]answerSpec{
		"GET /explain": {body: all, check: func(r *http.Request, _ []byte) { asked = r.URL.Query().Get("id") }},
		"GET /deliveries/recent": {body: `{"total": 2, "deliveries": [{"msg_id": "` + rep.MsgID + `", "origin": "x", "seq": 1, "from": "x", "hops": 0, "size": 1, "time": "2026-01-01T00:00:00Z"}]}`,
			check: func(r *http.Request, _ []byte) {
				if r.URL.Query().Get("limit") != "1" {
					t.Errorf("recent: %s", r.URL)
				}
			}},
	})
	code, out, errOut := runCLI(t, nil, "", "-addr", srv.URL, "explain", rep.MsgID)
	if code != exitOK || asked != rep.MsgID {
		t.Fatalf("exit %d, asked %q\n%s%s", code, asked, out, errOut)
	}
	// Every node on its own line, the origin first, the others under it.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], rep.MsgID+": delivered by 5 of 5 nodes") || !strings.HasPrefix(lines[1], rep.Origin+"  hop 0") || !strings.Contains(lines[1], "[origin]") {
		t.Fatalf("head:\n%s", out)
	}
	tree := 0
	for _, n := range rep.Nodes {
		for _, l := range lines[1:6] {
			if strings.Contains(l, n.Name+"  hop ") {
				tree++
			}
		}
	}
	if tree != 5 || !strings.Contains(out, "└── ") || !strings.Contains(out, "not delivered: none") || !strings.Contains(out, "slowest edge: ") {
		t.Fatalf("tree (%d nodes):\n%s", tree, out)
	}
	// Without an id: the node's latest delivery.
	asked = ""
	if code, out, _ := runCLI(t, nil, "", "-addr", srv.URL, "explain"); code != exitOK || asked != rep.MsgID {
		t.Fatalf("latest: exit %d asked %q\n%s", code, asked, out)
	}
	// -json passes the answer through.
	code, out, _ = runCLI(t, nil, "", "-addr", srv.URL, "-json", "explain", rep.MsgID)
	var back explainReport
	if code != exitOK || json.Unmarshal([]byte(out), &back) != nil || back.Delivered != 5 {
		t.Fatalf("json: exit %d\n%s", code, out)
	}

	// A node that did not answer: listed, exit 1.
	srv2 := fakeAdmin(t, map[string]answerSpec{"GET /explain": {body: cut}})
	code, out, _ = runCLI(t, nil, "", "-addr", srv2.URL, "explain", "a/1")
	if code != exitFail || !strings.Contains(out, "delivered by 4 of 5 nodes") || !strings.Contains(out, "admin API did not answer: node-5") {
		t.Fatalf("exit %d\n%s", code, out)
	}

	// A node without -ui: the hint says so; bad input is a usage error.
	srv3 := fakeAdmin(t, nil)
	if code, _, errOut := runCLI(t, nil, "", "-addr", srv3.URL, "explain", "a/1"); code != exitFail || !strings.Contains(errOut, "-ui") {
		t.Fatalf("no /explain: exit %d\n%s", code, errOut)
	}
	if code, _, _ := runCLI(t, nil, "", "-addr", srv3.URL, "explain", "a/1", "b/2"); code != exitUsage {
		t.Fatalf("two ids: exit %d", code)
	}
	srv4 := fakeAdmin(t, map[string]answerSpec{"GET /explain": {status: 400, body: `{"error": "message id \"zz\": want origin/seq"}`}})
	if code, _, errOut := runCLI(t, nil, "", "-addr", srv4.URL, "explain", "zz"); code != exitFail || !strings.Contains(errOut, "want origin/seq") {
		t.Fatalf("bad id: exit %d\n%s", code, errOut)
	}
}

// TestPrintExplainBrokenChain prints a node whose chain does not reach the
// origin apart from the tree.
func TestPrintExplainBrokenChain(t *testing.T) {
	var b strings.Builder
	printExplain(&b, explainReport{MsgID: "a/1", Origin: "a", Delivered: 2, OriginTime: "origin", Nodes: []explainNodeReport{
		{Name: "a", Status: "delivered", Via: "origin", Children: []string{"b"}},
		{Name: "b", Status: "delivered", Parent: "a", Hops: 1, Depth: 1, Via: "graft"},
		{Name: "c", Status: "delivered", Parent: "zz", Hops: 4, Depth: -1},
		{Name: "d", Status: "missing", MaybeEvicted: true},
	}, Missing: []string{"d"}, Grafted: []string{"b"}, Problems: []string{"c: parent chain c does not reach the origin"}})
	out := b.String()
	for _, want := range []string{"└── b  hop 1", "[graft]", "(chain broken) c  hop 4", "from zz", "not delivered: d (its record is full: maybe evicted)", "reached by graft instead of the tree: b", "problems: c: parent chain"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
