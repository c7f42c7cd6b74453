package explain

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Bounds of a gather.
const (
	// MaxTargets is the most admin addresses a gather asks.
	MaxTargets = 256
	// maxRecord bounds an answer of GET /explain/record (a few hundred
	// bytes normally), maxBody every other answer (GET /topology lists
	// the members: about 100 bytes each).
	maxRecord = 64 << 10
	maxBody   = 1 << 20
	// parallel is the number of requests in flight.
	parallel = 16
)

// Gatherer asks a set of nodes' admin APIs. Targets returns their base
// URLs ("http://host:port", or "host:port"); it is called on every gather,
// so it can follow membership (for example admin addresses read from the
// member metadata). Members, when set, returns the names memberlist knows:
// a member none of the targets answered for is reported as unknown.
type Gatherer struct {
	Targets func() []string
	Members func() []string
	Client  *http.Client  // default: a client with Timeout
	Timeout time.Duration // per request; default 3s

	// names remembers the node name each target answered with, so a target
	// that stops answering is still reported under its name.
	names sync.Map // URL -> name

	mu      sync.Mutex
	samples map[string][2]rateSample // URL -> samples for the delivery rate
}

// nameOf returns the name last seen at url, or url.
func (g *Gatherer) nameOf(url string) string {
	if v, ok := g.names.Load(url); ok {
		return v.(string)
	}
	return url
}

func (g *Gatherer) client() *http.Client {
	if g.Client != nil {
		return g.Client
	}
	return &http.Client{Timeout: g.timeout()}
}

func (g *Gatherer) timeout() time.Duration {
	if g.Timeout > 0 {
		return g.Timeout
	}
	return 3 * time.Second
}

// NormalizeURL turns "host:port" into "http://host:port" and drops a
// trailing slash.
func NormalizeURL(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	return strings.TrimRight(s, "/")
}

func (g *Gatherer) targets() []string {
	var out []string
	if g.Targets != nil {
		for _, t := range g.Targets() {
			if t = NormalizeURL(t); t != "" && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	if len(out) > MaxTargets {
		out = out[:MaxTargets]
	}
	return out
}

// getJSON fetches base+path into v and returns the round trip.
func (g *Gatherer) getJSON(ctx context.Context, base, path string, v any) (sent, recv time.Time, err error) {
	ctx, cancel := context.WithTimeout(ctx, g.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return sent, recv, err
	}
	req.Header.Set("Accept", "application/json")
	sent = time.Now()
	resp, err := g.client().Do(req)
	if err != nil {
		return sent, recv, err
	}
	defer resp.Body.Close()
	limit := int64(maxBody)
	if strings.HasPrefix(path, "/explain/record") {
		limit = maxRecord
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	recv = time.Now()
	if err != nil {
		return sent, recv, err
	}
	if int64(len(body)) > limit {
		return sent, recv, fmt.Errorf("%s%s: answer above %d bytes", base, path, limit)
	}
	if resp.StatusCode != http.StatusOK && (resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(path, "/health")) {
		return sent, recv, fmt.Errorf("%s%s: %s: %s", base, path, resp.Status, strings.TrimSpace(string(body[:min(len(body), 200)])))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return sent, recv, fmt.Errorf("%s%s: %w", base, path, err)
	}
	return sent, recv, nil
}

// each runs f for every target, parallel at most at a time.
func each(targets []string, f func(i int, t string)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i, t)
		}()
	}
	wg.Wait()
}

// Answers asks every target for its record of msgID.
func (g *Gatherer) Answers(ctx context.Context, msgID string) []Answer {
	targets := g.targets()
	answers := make([]Answer, len(targets))
	each(targets, func(i int, t string) {
		a := Answer{URL: t}
		var rec Record
		sent, recv, err := g.getJSON(ctx, t, "/explain/record?id="+url.QueryEscape(msgID), &rec)
		if err != nil {
			a.Err = err.Error()
		} else if rec.Node == "" || rec.MsgID != msgID {
			a.Err = fmt.Sprintf("%s: answer for %q from %q", t, rec.MsgID, rec.Node)
		} else {
			g.names.Store(t, rec.Node)
			a.Record = &rec
			a.RTT = recv.Sub(sent)
			a.Offset = rec.Now.Sub(sent.Add(a.RTT / 2))
			if a.Offset.Abs() <= a.RTT/2 {
				// Zero is within the estimate's error: take the clocks
				// as agreeing rather than add the noise of the estimate.
				a.Offset = 0
			}
		}
		if a.Record == nil {
			a.Name = g.nameOf(t)
		}
		answers[i] = a
	})
	return g.addMembers(answers)
}

// addMembers appends an unknown Answer for every member no target answered
// for.
func (g *Gatherer) addMembers(answers []Answer) []Answer {
	if g.Members == nil {
		return answers
	}
	known := map[string]bool{}
	for _, a := range answers {
		if a.Record != nil {
			known[a.Record.Node] = true
		} else {
			known[a.Name] = true
		}
	}
	for _, m := range g.Members() {
		if m != "" && !known[m] {
			known[m] = true
			answers = append(answers, Answer{Name: m})
		}
	}
	return answers
}

// Explain gathers the answers about msgID and builds the report.
func (g *Gatherer) Explain(ctx context.Context, msgID string) (Report, error) {
	if _, err := parseMsgID(msgID); err != nil {
		return Report{}, err
	}
	return Build(msgID, g.Answers(ctx, msgID), time.Now())
}
