package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// explainReport is the JSON of GET /explain?id= (examples/node with -ui;
// the explain package of the examples module defines it).
type explainReport struct {
	MsgID       string              `json:"msg_id"`
	Origin      string              `json:"origin"`
	Nodes       []explainNodeReport `json:"nodes"`
	Depth       int                 `json:"depth"`
	Delivered   int                 `json:"delivered"`
	Missing     []string            `json:"missing"`
	Unreachable []string            `json:"unreachable"`
	Unknown     []string            `json:"unknown"`
	Grafted     []string            `json:"grafted"`
	SlowestEdge *struct {
		From string  `json:"from"`
		To   string  `json:"to"`
		MS   float64 `json:"ms"`
	} `json:"slowest_edge"`
	OriginTime string   `json:"origin_time"`
	Clocks     string   `json:"clocks"`
	Problems   []string `json:"problems"`
}

type explainNodeReport struct {
	Name          string   `json:"name"`
	Status        string   `json:"status"`
	Error         string   `json:"error"`
	Parent        string   `json:"parent"`
	Hops          int      `json:"hops"`
	Depth         int      `json:"depth"`
	Via           string   `json:"via"`
	SinceOriginMS float64  `json:"since_origin_ms"`
	EdgeMS        float64  `json:"edge_ms"`
	ClockErrMS    float64  `json:"clock_err_ms"`
	MaybeEvicted  bool     `json:"maybe_evicted"`
	Children      []string `json:"children"`
}

const hintExplain = "the node does not serve GET /explain: start examples/node with -ui (and -explain-peers)"

// explain prints the propagation tree of one broadcast, as the node's
// GET /explain gathers it from the nodes it knows. Exit 0 when every node
// asked delivered it, 1 when one did not or did not answer.
func (c *cli) explain(ctx context.Context, args []string) int {
	fs := c.flagSet("explain")
	if ok, code := c.parse(fs, args, "explain"); !ok {
		return code
	}
	if fs.NArg() > 1 {
		return c.usageErr("explain", "one message id, got %q", fs.Args())
	}
	cl, err := c.client(c.addr)
	if err != nil {
		return c.usageErr("explain", "%v", err)
	}
	id := ""
	if fs.NArg() == 1 {
		id = strings.TrimSpace(fs.Arg(0))
	} else {
		// The latest delivery of the node.
		var r recentDeliveries
		a, err := cl.call(ctx, http.MethodGet, "/deliveries/recent?limit=1", nil, &r, hintAdmin)
		if err == nil {
			err = requireKeys(a, "deliveries")
		}
		if err != nil {
			return c.fail("explain", err)
		}
		if len(r.Deliveries) == 0 {
			return c.fail("explain", fmt.Errorf("no message id given, and %s has delivered nothing yet", c.addr))
		}
		id = r.Deliveries[len(r.Deliveries)-1].MsgID
	}
	if id == "" {
		return c.usageErr("explain", "empty message id")
	}
	var rep explainReport
	a, err := cl.call(ctx, http.MethodGet, "/explain?id="+url.QueryEscape(id), nil, &rep, hintExplain)
	if err == nil {
		err = requireKeys(a, "msg_id", "nodes", "delivered")
	}
	if err != nil {
		return c.fail("explain", err)
	}
	if c.json {
		if err := indentJSON(c.stdout, a); err != nil {
			return c.fail("explain", err)
		}
	} else {
		printExplain(c.stdout, rep)
	}
	if len(rep.Missing) > 0 || len(rep.Unreachable) > 0 {
		return exitFail
	}
	return exitOK
}

// printExplain prints the report as a tree from the origin, then the nodes
// outside it.
func printExplain(w io.Writer, r explainReport) {
	zero := "the origin's delivery to itself"
	if r.OriginTime != "origin" {
		zero = "the earliest delivery (the origin did not answer)"
	}
	fmt.Fprintf(w, "%s: delivered by %d of %d nodes, depth %d; times from %s\n", r.MsgID, r.Delivered, len(r.Nodes), r.Depth, zero)
	by := map[string]explainNodeReport{}
	for _, n := range r.Nodes {
		by[n.Name] = n
	}
	line := func(n explainNodeReport) string {
		s := fmt.Sprintf("%s  hop %d  %+.1f ms (±%.1f)", n.Name, n.Hops, n.SinceOriginMS, n.ClockErrMS)
		if n.Parent != "" {
			s += fmt.Sprintf("  edge %+.1f ms", n.EdgeMS)
		}
		switch n.Via {
		case "graft":
			s += "  [graft]"
		case "origin":
			s += "  [origin]"
		}
		return s
	}
	printed := map[string]bool{}
	var walk func(name, prefix string, last, root bool)
	walk = func(name, prefix string, last, root bool) {
		n := by[name]
		printed[name] = true
		branch, next := "", ""
		if !root {
			branch, next = "├── ", "│   "
			if last {
				branch, next = "└── ", "    "
			}
		}
		fmt.Fprintf(w, "%s%s%s\n", prefix, branch, line(n))
		var kids []string
		for _, k := range n.Children {
			if c, ok := by[k]; ok && !printed[k] && c.Depth >= 0 {
				kids = append(kids, k)
			}
		}
		for i, k := range kids {
			walk(k, prefix+next, i == len(kids)-1, false)
		}
	}
	if o, ok := by[r.Origin]; ok && o.Status == "delivered" && o.Depth == 0 {
		walk(r.Origin, "", true, true)
	}
	for _, n := range r.Nodes {
		if n.Status == "delivered" && !printed[n.Name] {
			fmt.Fprintf(w, "(chain broken) %s  from %s\n", line(n), n.Parent)
		}
	}
	if r.SlowestEdge != nil {
		fmt.Fprintf(w, "slowest edge: %s -> %s %.1f ms\n", r.SlowestEdge.From, r.SlowestEdge.To, r.SlowestEdge.MS)
	}
	list := func(label string, names []string) {
		if len(names) == 0 {
			fmt.Fprintf(w, "%s: none\n", label)
			return
		}
		fmt.Fprintf(w, "%s: %s\n", label, strings.Join(names, ", "))
	}
	list("reached by graft instead of the tree", r.Grafted)
	var missing []string
	for _, name := range r.Missing {
		if by[name].MaybeEvicted {
			name += " (its record is full: maybe evicted)"
		}
		missing = append(missing, name)
	}
	list("not delivered", missing)
	if len(r.Unreachable) > 0 {
		list("admin API did not answer", r.Unreachable)
	}
	if len(r.Unknown) > 0 {
		list("members without a known admin address", r.Unknown)
	}
	if len(r.Problems) > 0 {
		list("problems", r.Problems)
	}
	if r.Clocks != "" {
		fmt.Fprintf(w, "clocks: %s\n", r.Clocks)
	}
}
