package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/plumtree-go/plumtree/core"
)

const hintTopology = "the node serves no GET /topology (examples/node does, from its membership layer)"

// memberInfo is one member of GET /topology (membership.Member).
type memberInfo struct {
	Name          string `json:"name"`
	Addr          string `json:"addr"`
	TransportAddr string `json:"transport_addr,omitempty"`
	AdminAddr     string `json:"admin_addr,omitempty"`
	Leaving       bool   `json:"leaving,omitempty"`
	Plumtree      bool   `json:"plumtree"`
	Version       int    `json:"version,omitempty"`
	Self          bool   `json:"self,omitempty"`
}

// topologyReport is the JSON of GET /topology (examples/node): the node's
// tree links and memberlist's view.
type topologyReport struct {
	Self          core.PeerID     `json:"self"`
	Addr          string          `json:"addr"`
	TransportAddr string          `json:"transport_addr"`
	Eager         []core.PeerID   `json:"eager"`
	Lazy          []core.PeerID   `json:"lazy"`
	Protected     []core.PeerID   `json:"protected"`
	Members       []memberInfo    `json:"members"`
	Membership    json.RawMessage `json:"membership,omitempty"`
}

func getTopology(ctx context.Context, cl *client) (topologyReport, *answer, error) {
	var t topologyReport
	a, err := cl.call(ctx, http.MethodGet, "/topology", nil, &t, hintTopology)
	if err == nil {
		err = requireKeys(a, "self", "eager", "lazy", "members")
	}
	return t, a, err
}

// topologyCmd prints the node's eager and lazy links and memberlist's view,
// one member a line with its link from this node.
func (c *cli) topology(ctx context.Context, args []string) int {
	const cmd = "topology"
	t, a, code, ok := c.fetchTopology(ctx, cmd, args)
	if !ok {
		return code
	}
	if c.json {
		if err := indentJSON(c.stdout, a); err != nil {
			return c.fail(cmd, err)
		}
		return exitOK
	}
	printTopology(c.stdout, t)
	return exitOK
}

// members prints memberlist's view: every member with its addresses.
func (c *cli) members(ctx context.Context, args []string) int {
	const cmd = "members"
	t, _, code, ok := c.fetchTopology(ctx, cmd, args)
	if !ok {
		return code
	}
	if c.json {
		b, _ := json.MarshalIndent(t.Members, "", "  ")
		fmt.Fprintf(c.stdout, "%s\n", b)
		return exitOK
	}
	printMembers(c.stdout, t)
	return exitOK
}

func (c *cli) fetchTopology(ctx context.Context, cmd string, args []string) (topologyReport, *answer, int, bool) {
	fs := c.flagSet(cmd)
	if ok, code := c.parse(fs, args, cmd); !ok {
		return topologyReport{}, nil, code, false
	}
	if fs.NArg() > 0 {
		return topologyReport{}, nil, c.usageErr(cmd, "unexpected arguments %q", fs.Args()), false
	}
	cl, err := c.client(c.addr)
	if err != nil {
		return topologyReport{}, nil, c.usageErr(cmd, "%v", err), false
	}
	t, a, err := getTopology(ctx, cl)
	if err != nil {
		return topologyReport{}, nil, c.fail(cmd, err), false
	}
	return t, a, exitOK, true
}

// link is this node's link to a member: self, eager, lazy, or "-" (known,
// not in the active view), with "protected" added for ring neighbours.
func (t topologyReport) link(m memberInfo) string {
	id := core.PeerID(m.Name)
	var l string
	switch {
	case m.Self || id == t.Self:
		return "self"
	case slices.Contains(t.Eager, id):
		l = "eager"
	case slices.Contains(t.Lazy, id):
		l = "lazy"
	case !m.Plumtree:
		return "ignored (no plumtree metadata)"
	default:
		l = "-"
	}
	if slices.Contains(t.Protected, id) {
		l += ", protected"
	}
	return l
}

func printTopology(w io.Writer, t topologyReport) {
	list := func(ps []core.PeerID) string {
		if len(ps) == 0 {
			return "-"
		}
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = string(p)
		}
		return strings.Join(s, ", ")
	}
	fmt.Fprintf(w, "=== Topology of %s (%s) ===\n", t.Self, t.Addr)
	fmt.Fprintf(w, "%-15s%s\n", fmt.Sprintf("Eager (%d):", len(t.Eager)), list(t.Eager))
	fmt.Fprintf(w, "%-15s%s\n", fmt.Sprintf("Lazy (%d):", len(t.Lazy)), list(t.Lazy))
	fmt.Fprintf(w, "%-15s%s\n", fmt.Sprintf("Protected (%d):", len(t.Protected)), list(t.Protected))
	// Tree links to peers memberlist no longer lists (being removed).
	var stale []string
	for _, p := range append(slices.Clone(t.Eager), t.Lazy...) {
		if !slices.ContainsFunc(t.Members, func(m memberInfo) bool { return m.Name == string(p) }) {
			stale = append(stale, string(p))
		}
	}
	fmt.Fprintf(w, "Members (memberlist's view, %d):\n", len(t.Members))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tADDR\tLINK")
	for _, m := range sortedMembers(t.Members) {
		name := m.Name
		if m.Leaving {
			name += " (leaving)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", name, m.Addr, t.link(m))
	}
	tw.Flush()
	if len(stale) > 0 {
		fmt.Fprintf(w, "Links to peers memberlist does not list: %s\n", strings.Join(stale, ", "))
	}
}

func printMembers(w io.Writer, t topologyReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDR\tPLUMTREE ADDR\tADMIN ADDR\tSTATE")
	plum := 0
	for _, m := range sortedMembers(t.Members) {
		state := "member"
		switch {
		case m.Self:
			state = "self"
		case !m.Plumtree:
			state = "ignored (no plumtree metadata)"
		case m.Leaving:
			state = "leaving"
		}
		if m.Plumtree {
			plum++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, m.Addr, dash(m.TransportAddr), dash(m.AdminAddr), state)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d %s seen by %s, %d with plumtree metadata\n", len(t.Members), plural(len(t.Members), "member", "members"), t.Self, plum)
}

func sortedMembers(ms []memberInfo) []memberInfo {
	out := slices.Clone(ms)
	slices.SortFunc(out, func(a, b memberInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}
