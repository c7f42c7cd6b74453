package explain

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// Node statuses in a Report.
const (
	StatusDelivered   = "delivered"
	StatusMissing     = "missing"     // answered: not in its delivery record
	StatusUnreachable = "unreachable" // its admin API did not answer
	StatusUnknown     = "unknown"     // a member whose admin address is not known
)

// Answer is what the gatherer learned from one node.
type Answer struct {
	URL    string  // admin address asked ("" for a member without one)
	Name   string  // node name: Record.Node, or the member name
	Record *Record // nil when the node did not answer
	Err    string  // why not
	// Offset is the node's clock minus the gatherer's, estimated from the
	// request: Record.Now - (sent+received)/2. Uncertainty is RTT/2.
	Offset time.Duration
	RTT    time.Duration
}

// NodeReport is one node of a Report.
type NodeReport struct {
	Name   string `json:"name"`
	URL    string `json:"url,omitempty"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// For delivered nodes:
	Parent string   `json:"parent,omitempty"` // the peer the first copy came from ("" for the origin)
	Hops   int      `json:"hops"`             // the hop count the node delivered with
	Depth  int      `json:"depth"`            // length of the parent chain back to the origin; -1 when the chain is broken
	Chain  []string `json:"chain,omitempty"`  // the node, its parent, ..., the origin
	Via    string   `json:"via,omitempty"`    // origin, tree or graft
	// SinceOriginMS is the delivery time minus time zero (Report.OriginTime), after
	// correcting both clocks by their estimated offsets; ClockErrMS bounds
	// the error of that correction (half the two round trips).
	SinceOriginMS float64 `json:"since_origin_ms"`
	// EdgeMS is the delivery time minus the parent's, corrected likewise.
	EdgeMS   float64 `json:"edge_ms"`
	OffsetMS float64 `json:"clock_offset_ms"`
	ClockErr float64 `json:"clock_err_ms"`
	// MaybeEvicted is set on a missing node whose record is full and older
	// than the message is not: the entry may have been evicted.
	MaybeEvicted bool     `json:"maybe_evicted,omitempty"`
	Children     []string `json:"children,omitempty"`
}

// Edge is one parent to child delivery.
type Edge struct {
	From string  `json:"from"`
	To   string  `json:"to"`
	MS   float64 `json:"ms"`
}

// Report is the explanation of one broadcast: GET /explain?id=.
type Report struct {
	MsgID       string       `json:"msg_id"`
	Origin      string       `json:"origin"`
	Seq         uint64       `json:"seq"`
	Gathered    time.Time    `json:"gathered"`
	Nodes       []NodeReport `json:"nodes"` // delivered ones first, by depth then name
	Depth       int          `json:"depth"` // the deepest chain
	Delivered   int          `json:"delivered"`
	Missing     []string     `json:"missing"`     // answered without it
	Unreachable []string     `json:"unreachable"` // did not answer
	Unknown     []string     `json:"unknown"`     // members without a known admin address
	Grafted     []string     `json:"grafted"`     // obtained by a Graft instead of the tree
	SlowestEdge *Edge        `json:"slowest_edge,omitempty"`
	// OriginTime says where time zero comes from: "origin" (the origin's
	// delivery of its own broadcast, which follows its publish by the time
	// its delivery handler takes to run) or "earliest" (the origin did not
	// answer: the earliest delivery stands in).
	OriginTime string `json:"origin_time"`
	// Clocks states how clock offsets were handled.
	Clocks string `json:"clocks"`
	// Problems lists inconsistencies: a broken parent chain, a hop count
	// that does not follow the chain.
	Problems []string `json:"problems"`
}

// ClocksNote is Report.Clocks.
const ClocksNote = "a delivery time is when the node's delivery handler ran, on its clock, corrected by the clock's offset estimated from the admin request's round trip (offset = node clock - midpoint of the request; taken as 0 when within half the round trip); the error is at most half the two round trips involved (clock_err_ms). Time zero is the origin's delivery of its own broadcast, which runs after it has sent the first copies: on a fast network first hops can show small negative times"

func parseMsgID(s string) (core.MessageID, error) {
	i := strings.LastIndexByte(s, '/')
	if i <= 0 || i == len(s)-1 {
		return core.MessageID{}, fmt.Errorf("message id %q: want origin/seq", s)
	}
	seq, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return core.MessageID{}, fmt.Errorf("message id %q: bad sequence number", s)
	}
	return core.MessageID{Origin: core.PeerID(s[:i]), Seq: seq}, nil
}

// ErrNoAnswers is returned by Build when no node answered.
var ErrNoAnswers = errors.New("explain: no node answered")

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Build turns the answers about msgID into a Report. It trusts nothing in
// the answers: a parent that did not deliver, a cycle or a hop count that
// does not follow the chain is reported under Problems, never a panic.
func Build(msgID string, answers []Answer, now time.Time) (Report, error) {
	id, err := parseMsgID(msgID)
	if err != nil {
		return Report{}, err
	}
	r := Report{MsgID: msgID, Origin: string(id.Origin), Seq: id.Seq, Gathered: now.UTC(), Clocks: ClocksNote,
		Missing: []string{}, Unreachable: []string{}, Unknown: []string{}, Grafted: []string{}, Problems: []string{}}
	type info struct {
		n   NodeReport
		t   time.Time // delivery on the gatherer's clock
		err time.Duration
	}
	byName := map[string]*info{}
	var order []string
	for _, a := range answers {
		name := a.Name
		if a.Record != nil && a.Record.Node != "" {
			name = a.Record.Node
		}
		if name == "" {
			name = a.URL
		}
		if _, dup := byName[name]; dup {
			continue
		}
		in := &info{n: NodeReport{Name: name, URL: a.URL, Depth: -1}}
		switch {
		case a.Record == nil && a.URL == "":
			in.n.Status = StatusUnknown
			r.Unknown = append(r.Unknown, name)
		case a.Record == nil:
			in.n.Status = StatusUnreachable
			in.n.Error = a.Err
			r.Unreachable = append(r.Unreachable, name)
		case !a.Record.Delivered:
			in.n.Status = StatusMissing
			in.n.MaybeEvicted = a.Record.Bound > 0 && a.Record.Held >= a.Record.Bound
			r.Missing = append(r.Missing, name)
		default:
			rec := a.Record
			in.n.Status = StatusDelivered
			in.n.Parent = rec.From
			in.n.Hops = int(rec.Hops)
			in.n.Via = rec.Via
			in.n.OffsetMS = ms(a.Offset)
			in.n.ClockErr = ms(a.RTT / 2)
			in.t = rec.Time.Add(-a.Offset)
			in.err = a.RTT / 2
			if name == r.Origin {
				in.n.Parent = ""
				in.n.Via = ViaOrigin
			} else if in.n.Parent == name || in.n.Parent == "" {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: delivered from %q", name, rec.From))
				in.n.Parent = ""
			}
			if in.n.Via == ViaGraft {
				r.Grafted = append(r.Grafted, name)
			}
			r.Delivered++
		}
		byName[name] = in
		order = append(order, name)
	}
	if r.Delivered == 0 && len(r.Missing) == 0 {
		return r, ErrNoAnswers
	}

	// Time zero: the origin's own delivery, else the earliest one.
	var zero time.Time
	var zeroErr time.Duration
	if o, ok := byName[r.Origin]; ok && o.n.Status == StatusDelivered {
		zero, zeroErr, r.OriginTime = o.t, o.err, "origin"
	} else {
		for _, name := range order {
			in := byName[name]
			if in.n.Status == StatusDelivered && (zero.IsZero() || in.t.Before(zero)) {
				zero, zeroErr = in.t, in.err
			}
		}
		r.OriginTime = "earliest"
	}

	// Chains, depths, edges.
	for _, name := range order {
		in := byName[name]
		if in.n.Status != StatusDelivered {
			continue
		}
		in.n.SinceOriginMS = ms(in.t.Sub(zero))
		in.n.ClockErr = ms(in.err + zeroErr)
		chain := []string{name}
		seen := map[string]bool{name: true}
		cur := in
		ok := false
		for {
			if cur.n.Name == r.Origin && cur.n.Via == ViaOrigin {
				ok = true
				break
			}
			p, found := byName[cur.n.Parent]
			if cur.n.Parent == "" || !found || p.n.Status != StatusDelivered || seen[p.n.Name] {
				break
			}
			seen[p.n.Name] = true
			chain = append(chain, p.n.Name)
			cur = p
		}
		in.n.Chain = chain
		if ok {
			in.n.Depth = len(chain) - 1
		} else {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: parent chain %s does not reach the origin", name, strings.Join(chain, " <- ")))
		}
		if in.n.Depth > r.Depth {
			r.Depth = in.n.Depth
		}
		if p, found := byName[in.n.Parent]; found && p.n.Status == StatusDelivered && in.n.Via != ViaOrigin {
			in.n.EdgeMS = ms(in.t.Sub(p.t))
			p.n.Children = append(p.n.Children, name)
			if in.n.Hops != p.n.Hops+1 {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: hop %d but its parent %s delivered at hop %d", name, in.n.Hops, p.n.Name, p.n.Hops))
			}
			if r.SlowestEdge == nil || in.n.EdgeMS > r.SlowestEdge.MS {
				r.SlowestEdge = &Edge{From: p.n.Name, To: name, MS: in.n.EdgeMS}
			}
		}
	}
	statusRank := map[string]int{StatusDelivered: 0, StatusMissing: 1, StatusUnreachable: 2, StatusUnknown: 3}
	for _, name := range order {
		in := byName[name]
		slices.Sort(in.n.Children)
		r.Nodes = append(r.Nodes, in.n)
	}
	slices.SortStableFunc(r.Nodes, func(a, b NodeReport) int {
		if c := statusRank[a.Status] - statusRank[b.Status]; c != 0 {
			return c
		}
		if a.Status == StatusDelivered {
			da, db := a.Depth, b.Depth
			if da < 0 {
				da = 1 << 30
			}
			if db < 0 {
				db = 1 << 30
			}
			if da != db {
				return da - db
			}
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, l := range [][]string{r.Missing, r.Unreachable, r.Unknown, r.Grafted} {
		slices.Sort(l)
	}
	return r, nil
}
