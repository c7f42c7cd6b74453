package membership

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLogBridgeLevels(t *testing.T) {
	const closedSend = "[ERR] memberlist: Failed to send gossip to 127.0.0.1:7946: write udp 127.0.0.1:7956->127.0.0.1:7946: use of closed network connection"
	for _, c := range []struct {
		name   string
		closed bool
		line   string
		want   slog.Level
		msg    string
	}{
		{"warn", false, "2026/12/06 [WARN] memberlist: Refuting a suspect message", slog.LevelWarn, "memberlist: Refuting a suspect message"},
		{"debug", false, "[DEBUG] memberlist: Stream connection from=127.0.0.1:1", slog.LevelDebug, "memberlist: Stream connection from=127.0.0.1:1"},
		{"untagged", false, "memberlist: something", slog.LevelInfo, "memberlist: something"},
		{"closed socket while running", false, closedSend, slog.LevelError, closedSend[len("[ERR] "):]},
		{"closed socket after shutdown", true, closedSend, slog.LevelDebug, closedSend[len("[ERR] "):]},
		{"other error after shutdown", true, "[ERR] memberlist: Failed to send gossip to 127.0.0.1:7946: write udp: network is unreachable", slog.LevelError, "memberlist: Failed to send gossip to 127.0.0.1:7946: write udp: network is unreachable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := &recordingHandler{}
			b := &logBridge{l: slog.New(h), closed: func() bool { return c.closed }}
			if n, err := b.Write([]byte(c.line + "\n")); err != nil || n != len(c.line)+1 {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if len(h.recs) != 1 {
				t.Fatalf("%d records", len(h.recs))
			}
			if r := h.recs[0]; r.Level != c.want || r.Message != c.msg {
				t.Fatalf("got %v %q, want %v %q", r.Level, r.Message, c.want, c.msg)
			}
		})
	}
}

// A clean stop logs no ERROR: memberlist closes its transport before it
// stops its probe and gossip timers, so those can still fire and find the
// socket closed. The test closes the transport alone, as memberlist's
// Shutdown does first, and waits until memberlist has tried to send on it.
func TestShutdownLogsNoClosedSocketErrors(t *testing.T) {
	h := &recordingHandler{}
	a := startMember(t, "a", WithLogger(slog.New(h)))
	b := startMember(t, "b", WithSeeds(a.m.AdvertiseAddr()))
	eventually(t, settle, func() string {
		return expectPeers([]*testMember{a, b}, map[string]bool{"a": true, "b": true})
	})
	if err := a.m.tr.Shutdown(); err != nil {
		t.Fatal(err)
	}
	closed := func() []slog.Record {
		h.mu.Lock()
		defer h.mu.Unlock()
		var out []slog.Record
		for _, r := range h.recs {
			if strings.Contains(r.Message, string(errClosedText)) {
				out = append(out, r)
			}
		}
		return out
	}
	// memberlist probes b and gossips every few tens of milliseconds here
	// (fastTimings): each attempt now fails on the closed socket.
	eventually(t, settle, func() string {
		if len(closed()) == 0 {
			return "memberlist has not sent on the closed transport yet"
		}
		return ""
	})
	for _, r := range closed() {
		if r.Level != slog.LevelDebug {
			var buf bytes.Buffer
			_ = slog.NewTextHandler(&buf, nil).Handle(t.Context(), r)
			t.Errorf("logged at %v after shutdown: %s", r.Level, buf.String())
		}
	}
}
