package main

import (
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/examples/internal/explain"
	"github.com/plumtree-go/plumtree/examples/internal/stack"
	"github.com/plumtree-go/plumtree/examples/internal/ui"
	"github.com/plumtree-go/plumtree/membership"
)

// uiConfig is the web UI's part of the configuration (-ui, -explain-peers).
type uiConfig struct {
	Enabled bool
	// Peers are the admin addresses of the other nodes, asked by explain
	// and the cluster view (this node's own admin address is always asked).
	Peers []string
}

// uiFlags registers -ui and -explain-peers; the returned function finishes
// parsing after fs.Parse.
func uiFlags(fs *flag.FlagSet, c *uiConfig, env func(flagName, def string) string, usage func(flagName, text string) string) func() error {
	var peers string
	envUI := env("ui", "")
	on, envErr := false, error(nil)
	if envUI != "" {
		on, envErr = strconv.ParseBool(envUI)
	}
	fs.BoolVar(&c.Enabled, "ui", on,
		usage("ui", "serve the web UI at /ui/ and the explain API (/explain, /explain/record, /explain/cluster) on the admin address"))
	fs.StringVar(&peers, "explain-peers", env("explain-peers", ""),
		usage("explain-peers", "comma-separated admin addresses of the other nodes, asked by the UI and explain"))
	return func() error {
		uiSet := false
		fs.Visit(func(f *flag.Flag) { uiSet = uiSet || f.Name == "ui" })
		if envErr != nil && !uiSet {
			return fmt.Errorf("%s=%q: want true or false", envVars["ui"], envUI)
		}
		for _, p := range strings.Split(peers, ",") {
			if p = explain.NormalizeURL(p); p != "" {
				c.Peers = append(c.Peers, p)
			}
		}
		return nil
	}
}

// uiState is the web UI of a node; nil when it is off (every method is then
// a no-op, and the admin API serves nothing new).
type uiState struct {
	cfg    uiConfig
	grafts *explain.GraftLog
}

func newUI(c uiConfig) *uiState {
	if !c.Enabled {
		return nil
	}
	return &uiState{cfg: c, grafts: explain.NewGraftLog(recentDeliveries)}
}

// nodeOptions returns the observer that remembers grafted messages.
func (u *uiState) nodeOptions() []node.Option {
	if u == nil {
		return nil
	}
	return []node.Option{node.WithObserver(u.grafts)}
}

// handler adds /ui/ and the explain routes in front of the admin handler.
// selfURL is this node's own admin address.
func (u *uiState) handler(s *stack.Stack, h *hub, selfURL string, admin http.Handler) http.Handler {
	if u == nil {
		return admin
	}
	g := &explain.Gatherer{
		Targets: func() []string { return explainTargets(selfURL, u.cfg.Peers, s.Membership.Members()) },
		Members: func() []string {
			var names []string
			for _, m := range s.Membership.Members() {
				names = append(names, m.Name)
			}
			return names
		},
	}
	mux := http.NewServeMux()
	mux.Handle("/", admin)
	explain.Routes(string(s.Name), h.lookup, u.grafts, g, mux.Handle)
	mux.Handle("GET /ui/", http.StripPrefix("/ui", ui.Handler()))
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	return mux
}

// lookup finds a message in the hub's ring of recent deliveries (the one
// behind GET /deliveries/recent), newest first: at most recentDeliveries
// string comparisons under the hub's lock.
func (h *hub) lookup(msgID string) (d explain.Delivery, found bool, held, bound int, oldest time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.ring)
	held, bound = n, recentDeliveries
	if n == 0 {
		return d, false, held, bound, oldest
	}
	// h.next is the slot the next delivery goes to: the oldest once full.
	if n < recentDeliveries {
		oldest = h.ring[0].Time
	} else {
		oldest = h.ring[h.next%n].Time
	}
	for i := 1; i <= n; i++ {
		r := &h.ring[(h.next-i+n)%n]
		if r.MsgID == msgID {
			return explain.Delivery{From: string(r.From), Hops: r.Hops, Time: r.Time}, true, held, bound, oldest
		}
	}
	return d, false, held, bound, oldest
}

// explainTargets lists the admin addresses explain asks: this node's own,
// the -explain-peers given, and those the members advertise in their
// metadata (-advertise-admin), each once.
func explainTargets(self string, peers []string, members []membership.Member) []string {
	seen := map[string]bool{}
	var out []string
	add := func(a string) {
		if a = explain.NormalizeURL(a); a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	add(self)
	for _, p := range peers {
		add(p)
	}
	for _, m := range members {
		add(m.AdminAddr)
	}
	return out
}
