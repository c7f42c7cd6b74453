package metricsprom

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// The operations guide's "Key Log Patterns". Each is emitted by the
// component that knows the fact: the runtime (core/node) logs the first two,
// the cache module and the membership module the others. This file checks
// all four: the runtime's by capturing them from a real node, the others by
// finding the text in their module's code and in the module's own capture
// test (metrics-prom does not depend on those modules).
var guideLogLines = []struct {
	level, text string
}{
	{"WARN", "Graft failed for message {msg_id} after {retries} retries"},
	{"DEBUG", "Demoting peer {peer} to lazy (optimization threshold reached)"},
	{"DEBUG", "Evicting {count} messages from cache (TTL expired)"},
	{"WARN", "Possible partition detected - cannot reach peers: {peers}"},
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// find returns the first record whose message is msg.
func (l *logBuffer) find(t *testing.T, msg string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(l.b.String(), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}

// TestGuideLogLinesFromNode captures the runtime's two lines from a real
// node: a graft that fails and an eager peer that sends duplicates.
func TestGuideLogLinesFromNode(t *testing.T) {
	var logs logBuffer
	cfg := core.DefaultConfig()
	cfg.GraftTimeout = 100 * time.Millisecond
	cfg.GraftMaxRetries = 2
	cfg.OptimizationThreshold = 1
	cfg.PruneDelay = 0 // prune on the duplicate (the paper), not after a random delay
	h := &healthDriver{t: t, clk: newManualClock(), tr: newFakeTransport(), peers: []core.PeerID{"p1", "p2", "p3"}}
	n, err := node.New(cfg, "self", h.tr, node.NopDelegate{}, node.WithClock(h.clk),
		node.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	h.n = n
	defer n.Shutdown(context.Background())
	h.link(h.peers...)

	// WARN Graft failed for message {msg_id} after {retries} retries
	h.graftsFail(1)
	id := core.MessageID{Origin: "far-origin", Seq: h.seq}
	want := fmt.Sprintf("Graft failed for message %s after %d retries", id, cfg.GraftMaxRetries)
	r := logs.find(t, want)
	if r == nil || r["level"] != "WARN" || r["msg_id"] != id.String() || r["retries"] != float64(cfg.GraftMaxRetries) {
		t.Errorf("graft failure: record %v, want WARN %q with msg_id and retries; log:\n%s", r, want, logs.b.String())
	}

	// DEBUG Demoting peer {peer} to lazy (optimization threshold reached)
	eager := n.EagerPeers()
	if len(eager) < 2 {
		t.Fatalf("eager peers %v", eager)
	}
	dup := h.newID()
	h.gossip(eager[0], dup)
	h.gossip(eager[1], dup)
	h.settle()
	want = fmt.Sprintf("Demoting peer %s to lazy (optimization threshold reached)", eager[1])
	r = logs.find(t, want)
	if r == nil || r["level"] != "DEBUG" || r["peer"] != string(eager[1]) {
		t.Errorf("demotion: record %v, want DEBUG %q with peer; log:\n%s", r, want, logs.b.String())
	}
}

// TestGuideLogLinesInModules finds each guide line whose emitter is not
// core/node in its module: the fixed text in the code, a log call at the
// guide's level in the same file, and the text in the module's tests (its
// capture test).
func TestGuideLogLinesInModules(t *testing.T) {
	if _, err := os.Stat("../go.work"); err != nil {
		t.Skip("not inside the plumtree repository")
	}
	for _, tc := range []struct {
		module string
		line   int // index in guideLogLines
		call   string
	}{
		{"cache", 2, ".Debug("},
		{"membership", 3, ".Warn("},
	} {
		g := guideLogLines[tc.line]
		// The fixed text: the guide's line up to its first placeholder, or
		// the part after it.
		fixed := g.text
		if i := strings.Index(fixed, "{"); i > 0 {
			if j := strings.Index(fixed, "}"); tc.module == "cache" {
				fixed = fixed[j+1:] // " messages from cache (TTL expired)"
			} else {
				fixed = fixed[:i]
			}
		}
		files, err := filepath.Glob(filepath.Join("..", tc.module, "*.go"))
		if err != nil || len(files) == 0 {
			t.Errorf("%s: no Go files (%v)", tc.module, err)
			continue
		}
		inCode, inTest := false, false
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			if !strings.Contains(s, fixed) {
				continue
			}
			if strings.HasSuffix(f, "_test.go") {
				inTest = true
			} else if strings.Contains(s, tc.call) {
				inCode = true
			}
		}
		if !inCode {
			t.Errorf("%s: no %s log call with %q (guide: %s %q)", tc.module, tc.call, fixed, g.level, g.text)
		}
		if !inTest {
			t.Errorf("%s: no test captures %q", tc.module, fixed)
		}
	}
}
