package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// logRecords parses the JSON lines of buf.
func logRecords(t *testing.T, buf *syncBuffer) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("bad log line %q: %v", sc.Text(), err)
		}
		recs = append(recs, m)
	}
	return recs
}

func findLog(recs []map[string]any, prefix string) map[string]any {
	for _, r := range recs {
		if msg, _ := r["msg"].(string); strings.HasPrefix(msg, prefix) {
			return r
		}
	}
	return nil
}

func jsonLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// WARN "Graft failed for message {msg_id} after {retries} retries", with the
// values in the text and as the keys msg_id and retries.
func TestLogGraftFailed(t *testing.T) {
	var buf syncBuffer
	clk := newManualClock()
	tr := newChanTransport()
	cfg := testConfig(1)
	cfg.GraftMaxRetries = 2
	rec := newRecorder()
	n, err := node.New(cfg, "a", tr, rec, node.WithClock(clk), node.WithLogger(jsonLogger(&buf)))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	if err := n.AddPeer("b"); err != nil {
		t.Fatal(err)
	}
	missing := core.MessageID{Origin: "c", Seq: 7}
	tr.inject(t, "b", core.Message{Type: core.MsgIHave, IHaves: []core.Announcement{{ID: missing, Hops: 1, OriginTime: clk.Now()}}})
	waitFor(t, 5*time.Second, "the announcement to be pending", func() bool { return n.Stats().PendingGrafts == 1 })
	// b never answers: advance the clock until the protocol gives up.
	deadline := time.Now().Add(10 * time.Second)
	for findLog(logRecords(t, &buf), "Graft failed") == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no graft failure logged; log:\n%s", buf.String())
		}
		clk.Advance(cfg.GraftTimeout)
		_ = n.Stats() // a round trip through the protocol goroutine
	}
	r := findLog(logRecords(t, &buf), "Graft failed")
	retries, _ := r["retries"].(float64)
	want := fmt.Sprintf("Graft failed for message %s after %d retries", missing, int(retries))
	if r["level"] != "WARN" || r["msg"] != want || r["msg_id"] != missing.String() || int(retries) != cfg.GraftMaxRetries {
		t.Fatalf("log record %v, want WARN %q with msg_id %s and retries %d", r, want, missing, cfg.GraftMaxRetries)
	}
	waitFor(t, 5*time.Second, "the GraftFailed hook", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.failed == 1 && rec.graftsSent >= 1
	})
}

// DEBUG "Demoting peer {peer} to lazy (optimization threshold reached)" when
// an eager peer sent optimization_threshold duplicates.
func TestLogDemotion(t *testing.T) {
	var buf syncBuffer
	tr := newChanTransport()
	cfg := testConfig(1)
	cfg.OptimizationThreshold = 1
	rec := newRecorder()
	n, err := node.New(cfg, "a", tr, rec, node.WithLogger(jsonLogger(&buf)))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	for _, p := range []core.PeerID{"b", "c"} {
		if err := n.AddPeer(p); err != nil {
			t.Fatal(err)
		}
		tr.inject(t, p, core.Message{Type: core.MsgJoin, Eager: true}) // the peer asks for an eager link too
	}
	waitFor(t, 5*time.Second, "two eager links", func() bool { return len(n.EagerPeers()) == 2 })
	id := core.MessageID{Origin: "o", Seq: 1}
	msg := core.Message{Type: core.MsgGossip, ID: id, OriginTime: time.Now(), Hops: 2, Payload: []byte("p")}
	tr.inject(t, "b", msg)
	tr.inject(t, "c", msg)
	want := "Demoting peer c to lazy (optimization threshold reached)"
	waitFor(t, 5*time.Second, "the demotion log line", func() bool { return findLog(logRecords(t, &buf), want) != nil })
	r := findLog(logRecords(t, &buf), want)
	if r["level"] != "DEBUG" || r["msg"] != want || r["peer"] != "c" {
		t.Fatalf("log record %v", r)
	}
	if got := n.LazyPeers(); len(got) != 1 || got[0] != "c" {
		t.Fatalf("lazy peers %v", got)
	}
	waitFor(t, 5*time.Second, "the LazyDemotion and PruneSent hooks", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.demotions >= 1 && rec.prunesSent >= 1
	})
	// Only optimization demotions are logged.
	for _, r := range logRecords(t, &buf) {
		if msg, _ := r["msg"].(string); strings.HasPrefix(msg, "Demoting") && msg != want {
			t.Errorf("unexpected demotion line %q", msg)
		}
	}
}

// A logger at INFO does not receive the DEBUG demotion line.
func TestLogLevelsFiltered(t *testing.T) {
	var buf syncBuffer
	tr := newChanTransport()
	cfg := testConfig(1)
	cfg.OptimizationThreshold = 1
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := node.New(cfg, "a", tr, nil, node.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	for _, p := range []core.PeerID{"b", "c"} {
		n.AddPeer(p)
		tr.inject(t, p, core.Message{Type: core.MsgJoin, Eager: true})
	}
	waitFor(t, 5*time.Second, "two eager links", func() bool { return len(n.EagerPeers()) == 2 })
	msg := core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "o", Seq: 1}, OriginTime: time.Now(), Hops: 2, Payload: []byte("p")}
	tr.inject(t, "b", msg)
	tr.inject(t, "c", msg)
	waitFor(t, 5*time.Second, "the demotion", func() bool { return len(n.LazyPeers()) == 1 })
	if s := buf.String(); s != "" {
		t.Fatalf("INFO logger got %q", s)
	}
}
