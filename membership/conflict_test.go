package membership

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestNameConflictRefused: a second node named like a live member joins the
// cluster: it refuses (ErrNameConflict, Done closed), never adds a peer, and
// the cluster keeps the original member; the member holding the name and
// the others log the conflict.
func TestNameConflictRefused(t *testing.T) {
	ha, hb, hi := &recordingHandler{}, &recordingHandler{}, &recordingHandler{}
	a := startMember(t, "alice", WithLogger(slog.New(ha)))
	b := startMember(t, "bob", WithSeeds(a.m.AdvertiseAddr()), WithLogger(slog.New(hb)))
	live := map[string]bool{"alice": true, "bob": true}
	eventually(t, settle, func() string { return expectPeers([]*testMember{a, b}, live) })

	// The impostor joins through bob (background join from its seeds).
	imp := startMember(t, "alice", WithSeeds(b.m.AdvertiseAddr()), WithLogger(slog.New(hi)))
	select {
	case <-imp.m.Done():
	case <-time.After(settle):
		t.Fatalf("impostor did not give up: %+v", imp.m.Stats())
	}
	if err := imp.m.Err(); !errors.Is(err, ErrNameConflict) || !strings.Contains(err.Error(), a.m.AdvertiseAddr()) {
		t.Fatalf("impostor error %v, want ErrNameConflict naming %s", err, a.m.AdvertiseAddr())
	}
	if _, ok := hi.find(slog.LevelError, "membership: giving up: a live member holds this node's name"); !ok {
		t.Fatal("impostor logged nothing")
	}
	if imp.peers.adds != 0 {
		t.Fatalf("impostor added %d peers", imp.peers.adds)
	}
	// bob logged the conflict and still maps alice to the original.
	eventually(t, settle, func() string {
		if _, ok := hb.find(slog.LevelWarn, "membership: node name conflict"); !ok {
			return "bob did not log the conflict"
		}
		return ""
	})
	if got, _ := b.book.get("alice"); got != a.m.TransportAddr() {
		t.Fatalf("bob maps alice to %q, want %q", got, a.m.TransportAddr())
	}
	if err := expectPeers([]*testMember{a, b}, live); err != "" {
		t.Fatal(err)
	}
	// Leave and Shutdown after giving up are fine.
	if err := imp.m.Leave(time.Second); err != nil {
		t.Fatalf("Leave after a conflict: %v", err)
	}
	imp.kill()

	// An explicit Join refuses the same way, through the member itself.
	imp2 := startMember(t, "alice", WithJoinRetries(0, time.Millisecond))
	n, err := imp2.m.Join(context.Background(), a.m.AdvertiseAddr())
	if n != 0 || !errors.Is(err, ErrNameConflict) {
		t.Fatalf("Join: n=%d err=%v, want ErrNameConflict", n, err)
	}
	// alice saw someone claim its name and logged it.
	eventually(t, settle, func() string {
		if _, ok := ha.find(slog.LevelError, "membership: another node claims this node's name"); !ok {
			return "alice did not log the claim"
		}
		return ""
	})
	if imp2.peers.adds != 0 {
		t.Fatalf("impostor added %d peers", imp2.peers.adds)
	}
	// The cluster is unchanged.
	eventually(t, settle, func() string { return expectPeers([]*testMember{a, b}, live) })
	if st := a.m.Stats(); st.Members != 2 {
		t.Fatalf("alice sees %d members", st.Members)
	}
}
