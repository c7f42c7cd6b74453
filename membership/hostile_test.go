package membership_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// hostilePushPull is memberlist's push/pull message header as memberlist's
// own encoder writes it, claiming 2^20 nodes: the message type (6), then
// the msgpack map {"Nodes": 1048576, "UserStateLen": 0, "Join": false}.
// memberlist v0.7.0 allocates about 100 MiB for the node slice on reading
// it, before reading a single node.
var hostilePushPull = []byte{
	6,
	0x83,
	0xa5, 'N', 'o', 'd', 'e', 's', 0xce, 0x00, 0x10, 0x00, 0x00,
	0xac, 'U', 's', 'e', 'r', 'S', 't', 'a', 't', 'e', 'L', 'e', 'n', 0x00,
	0xa4, 'J', 'o', 'i', 'n', 0xc2,
}

// hostileDuration is how long TestHostilePushPullHeaders attacks:
// MEMBERSHIP_HOSTILE_DURATION (a Go duration, e.g. 60s), default 3 s.
func hostileDuration(t *testing.T) time.Duration {
	if s := os.Getenv("MEMBERSHIP_HOSTILE_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("MEMBERSHIP_HOSTILE_DURATION: %v", err)
		}
		return d
	}
	return 3 * time.Second
}

// TestHostilePushPullHeaders: 16 connections keep sending push/pull headers
// that claim 2^20 nodes to a node's shared port (reconnecting whenever the
// node closes them) while the cluster broadcasts. The node's heap grows by
// less than 64 MiB, the headers are refused and counted, and every message
// is delivered exactly once on every node.
func TestHostilePushPullHeaders(t *testing.T) {
	dur := hostileDuration(t)
	a := startFullNode(t, "a")
	b := startFullNode(t, "b", a.m.AdvertiseAddr())
	c := startFullNode(t, "c", a.m.AdvertiseAddr())
	nodes := []*fullNode{a, b, c}
	waitFormed(t, nodes, 2)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var sent atomic.Int64
	target := a.m.AdvertiseAddr()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				conn, err := net.DialTimeout("tcp", target, time.Second)
				if err != nil {
					continue
				}
				// Re-send the header until the node closes the connection.
				for ctx.Err() == nil {
					_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := conn.Write(hostilePushPull); err != nil {
						break
					}
					sent.Add(1)
				}
				_ = conn.Close()
			}
		}()
	}

	// Heap sampler.
	var peak atomic.Uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
		}
	}()

	// Broadcasts during the attack, from every node in turn.
	var ids []core.MessageID
	end := time.Now().Add(dur)
	for i := 0; time.Now().Before(end); i++ {
		id, err := nodes[i%3].n.Broadcast(context.Background(), fmt.Appendf(nil, "during attack %d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		time.Sleep(100 * time.Millisecond) // pacing the load, not synchronisation
	}
	cancel()
	wg.Wait()

	grew := int64(peak.Load()) - int64(base)
	st := a.m.Stats()
	t.Logf("attack %v: %d headers sent, %d streams refused (%d for their node count), heap peak %.1f MiB over a %.1f MiB baseline, %d broadcasts",
		dur, sent.Load(), st.StreamsRefused, st.StreamsRefusedNodes, float64(grew)/(1<<20), float64(base)/(1<<20), len(ids))
	if grew >= 64<<20 {
		t.Errorf("heap grew by %.1f MiB during the attack, want < 64 MiB", float64(grew)/(1<<20))
	}
	if st.StreamsRefusedNodes == 0 {
		t.Errorf("no push/pull refused for its node count: %+v", st)
	}

	// Every broadcast arrives exactly once everywhere (the repair plane may
	// need a while after the attack on a loaded machine).
	deadline := time.Now().Add(60 * time.Second)
	for _, f := range nodes {
		for _, id := range ids {
			for {
				n := f.count(id)
				if n > 1 {
					t.Fatalf("%s delivered %v %d times", f.n.Self(), id, n)
				}
				if n == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s never delivered %v", f.n.Self(), id)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	// The cluster is still whole and the guard holds nothing once idle.
	waitFormed(t, nodes, 2)
	waitFor(t, 30*time.Second, func() error {
		if st := a.m.Stats(); st.StreamsOpen != 0 || st.StreamBytes != 0 {
			return fmt.Errorf("guard accounting off: %+v", st)
		}
		return nil
	})
}

// waitFormed waits until every node has peers Plumtree peers applied and
// the runtime agrees.
func waitFormed(t *testing.T, nodes []*fullNode, peers int) {
	t.Helper()
	waitFor(t, 60*time.Second, func() error {
		for _, f := range nodes {
			if f.m.Stats().Alive != peers || f.n.PeerCount() != peers {
				return fmt.Errorf("%s: %+v, %d protocol peers", f.n.Self(), f.m.Stats(), f.n.PeerCount())
			}
		}
		return nil
	})
}

// waitFor polls cond until it returns nil or d passed.
func waitFor(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
