package node_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// repairConfig is testConfig with anti-entropy answering at once (the
// default waits 5 s before repairing a message, to leave it to the tree).
func repairConfig(seed int64) core.Config {
	c := testConfig(seed)
	c.AntiEntropyMinAge = 50 * time.Millisecond
	return c
}

// restartVictim stops node victim cleanly, broadcasts while it is down,
// restarts it under the same name with opts, and waits until it delivered
// everything sent while it was down. It returns the restarted node's
// recorder and the ids sent before and during the downtime.
func restartVictim(t *testing.T, opts func() []node.Option) (rec *recorder, before, during []core.MessageID) {
	const victim = 3
	c := startCluster(t, clusterOpts{size: 4, seed: 7, cfg: repairConfig, nodeOpt: func(i int) []node.Option {
		if i == victim {
			return opts()
		}
		return nil
	}})
	rng := rand.New(rand.NewPCG(7, 1))
	before = c.broadcastRandom(rng, 10)
	c.quiesce(before, 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.nodes[victim].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.net.Crash(peerName(victim)); err != nil {
		t.Fatal(err)
	}
	c.live[victim] = false
	for i := range victim {
		if err := c.nodes[i].RemovePeer(peerName(victim)); err != nil {
			t.Fatal(err)
		}
	}
	during = c.broadcastRandom(rng, 10)
	c.quiesce(append(append([]core.MessageID(nil), before...), during...), 10*time.Second)

	tr, err := c.net.Restart(peerName(victim))
	if err != nil {
		t.Fatal(err)
	}
	restarted := newRecorder()
	n, err := node.New(repairConfig(99), peerName(victim), tr, restarted, opts()...)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[victim], c.recs[victim], c.live[victim] = n, restarted, true
	for i := range victim {
		if err := n.AddPeer(peerName(i)); err != nil {
			t.Fatal(err)
		}
		if err := c.nodes[i].AddPeer(peerName(victim)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "the restarted node to catch up what it missed", func() bool {
		for _, id := range during {
			if restarted.count(id) == 0 {
				return false
			}
		}
		return true
	})
	// Give anti-entropy a few more rounds to (wrongly) send anything else.
	rounds := n.Stats().DigestReceived
	waitFor(t, 20*time.Second, "ten more digests at the restarted node", func() bool { return n.Stats().DigestReceived >= rounds+10 })
	return restarted, before, during
}

// With a state file, a restarted node delivers what it missed while down,
// once, and nothing it delivered before the restart.
func TestStateFileRestartNoRedeliveryAndCatchUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "victim.state")
	rec, before, during := restartVictim(t, func() []node.Option { return []node.Option{node.WithStateFile(path)} })
	for _, id := range during {
		if got := rec.count(id); got != 1 {
			t.Errorf("missed message %s delivered %d times after the restart, want 1", id, got)
		}
	}
	for _, id := range before {
		if got := rec.count(id); got != 0 {
			t.Errorf("message %s delivered before the restart was delivered again (%d)", id, got)
		}
	}
	// The directory holds the state file only (no temporary files left).
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "victim.state" {
		t.Errorf("state directory holds %v", ents)
	}
}

// Without a state file the restarted node catches up too, and delivers
// again what is still within the retention (what the README says a restart
// re-delivers). This is also the control of the test above: the same run
// does re-deliver without the file.
func TestRestartWithoutStateFileRedeliversRetention(t *testing.T) {
	rec, before, during := restartVictim(t, func() []node.Option { return nil })
	for _, id := range append(append([]core.MessageID(nil), before...), during...) {
		if got := rec.count(id); got != 1 {
			t.Errorf("message %s delivered %d times after the restart, want 1", id, got)
		}
	}
}

// A corrupt or oversized state file stops New with an error naming the
// file ("oversized": above what the configuration writes, at least 64 MiB);
// a missing one is a first start.
func TestStateFileBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.state")
	if err := os.WriteFile(bad, []byte("PTS\x01garbage and more garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := node.New(testConfig(1), "a", newChanTransport(), nil, node.WithStateFile(bad))
	if err == nil || !errors.Is(err, core.ErrInvalidState) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("corrupt state file: %v", err)
	}
	big := filepath.Join(dir, "big.state")
	if err := os.WriteFile(big, make([]byte, node.MaxStateFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := node.New(testConfig(1), "a", newChanTransport(), nil, node.WithStateFile(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized state file: %v", err)
	}
	// A configuration whose states can be larger (core.MaxStateSize) reads
	// larger files: this one is refused for what it holds, not its size.
	roomy := testConfig(1)
	roomy.MaxStreams = core.MaxStateStreams
	if core.MaxStateSize(roomy) <= node.MaxStateFileSize {
		t.Fatalf("MaxStateSize %d of the roomy config is not above %d", core.MaxStateSize(roomy), node.MaxStateFileSize)
	}
	if _, err := node.New(roomy, "a", newChanTransport(), nil, node.WithStateFile(big)); !errors.Is(err, core.ErrInvalidState) {
		t.Fatalf("a state file above %d bytes with max_streams %d: %v, want it read (and refused as invalid)", node.MaxStateFileSize, roomy.MaxStreams, err)
	}
	fresh := filepath.Join(dir, "fresh.state")
	n, err := node.New(testConfig(1), "a", newChanTransport(), nil, node.WithStateFile(fresh))
	if err != nil {
		t.Fatalf("missing state file: %v", err)
	}
	if _, err := n.Broadcast(context.Background(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fresh)
	if err != nil {
		t.Fatalf("no state written at shutdown: %v", err)
	}
	var st core.State
	if err := st.UnmarshalBinary(b); err != nil || len(st.Streams) != 1 || st.Streams[0].Origin != "a" {
		t.Fatalf("saved state %+v, %v", st, err)
	}
	if s := n.Stats().Runtime; s.StateSaves == 0 || s.StateSaveErrors != 0 {
		t.Fatalf("saves %d errors %d", s.StateSaves, s.StateSaveErrors)
	}
}
