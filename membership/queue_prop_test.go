package membership

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/plumtree-go/plumtree/core"
	"pgregory.net/rapid"
)

// queueModel is the specification of the event queue: a map from member
// name to its latest state, applied in full on every drain.
type queueModel struct {
	latest   map[string]modelMember // every event so far, latest per member
	applied  map[string]modelMember // what the last drain applied (live members only)
	batch    map[string]bool        // members with events since the last drain
	downSeen map[string]bool        // a failure or leave since the last drain
	rtt      map[string]bool        // RTT samples since the last drain
	adds     int
	removes  int
	rtts     int
	ignored  int64
}

type modelMember struct {
	alive, valid bool
	port         int
}

// TestQueueStateMachine drives the event queue with joins, updates, leaves,
// failures and RTT samples of a few members in any order, drained at random
// points, and checks it against a map model: after every drain the runtime's
// peers, the transport's addresses and the gauges are exactly what the
// latest state of every member says (latest state wins, nothing lost, a
// member that went down and came back is re-added), and the queue never
// holds more than one entry per member.
func TestQueueStateMachine(t *testing.T) {
	names := []string{"a", "b", "c", "d", "self"}
	rapid.Check(t, func(rt *rapid.T) {
		m, peers, book := newQueueOnly("self")
		var buf drainBuffers
		buf.pend, buf.rtt = make(map[string]*pendingMember), make(map[string]time.Duration)
		md := &queueModel{
			latest: map[string]modelMember{}, applied: map[string]modelMember{},
			batch: map[string]bool{}, downSeen: map[string]bool{}, rtt: map[string]bool{},
		}
		event := func(rt *rapid.T, alive bool) {
			name := rapid.SampledFrom(names).Draw(rt, "name")
			var meta []byte
			port := 0
			valid := false
			if alive {
				valid = rapid.Bool().Draw(rt, "valid")
				port = rapid.IntRange(1, 3).Draw(rt, "port")
				if valid {
					meta = metaFor(t, port)
				} else if rapid.Bool().Draw(rt, "garbage") {
					meta = []byte("role=web")
				}
			}
			st := memberlist.StateAlive
			if !alive {
				st = rapid.SampledFrom([]memberlist.NodeStateType{memberlist.StateDead, memberlist.StateLeft}).Draw(rt, "down")
			}
			m.enqueue(mlNode(t, name, port, st, meta), alive)
			if name == "self" {
				return
			}
			md.latest[name] = modelMember{alive: alive, valid: valid, port: port}
			md.batch[name] = true
			if !alive {
				md.downSeen[name] = true
			}
		}
		processed := uint64(0)
		rt.Repeat(map[string]func(*rapid.T){
			"join":    func(rt *rapid.T) { event(rt, true) },
			"update":  func(rt *rapid.T) { event(rt, true) },
			"leave":   func(rt *rapid.T) { event(rt, false) },
			"failure": func(rt *rapid.T) { event(rt, false) },
			"rtt": func(rt *rapid.T) {
				name := rapid.SampledFrom(names).Draw(rt, "name")
				m.enqueueRTT(name, time.Millisecond)
				if name != "self" {
					md.rtt[name] = true
				}
			},
			"drain": func(rt *rapid.T) {
				md.drain()
				processed += uint64(len(md.batch))
				clear(md.batch)
				clear(md.downSeen)
				m.drainOnce(&buf)
				md.check(rt, m, peers, book, processed)
			},
			"": func(rt *rapid.T) {
				// Bounded by the member count: one entry per member.
				m.qmu.Lock()
				n, p := len(m.order), len(m.pend)
				m.qmu.Unlock()
				if n != p || n > len(names)-1 {
					rt.Fatalf("queue holds %d entries (%d in the map) for %d members", n, p, len(names)-1)
				}
				if n != len(md.batch) {
					rt.Fatalf("queue holds %d members, %d had events", n, len(md.batch))
				}
			},
		})
	})
}

// drain applies the model's latest states (the specification of apply).
func (md *queueModel) drain() {
	for name := range md.batch {
		cur, had := md.applied[name]
		p := md.latest[name]
		switch {
		case p.alive && p.valid:
			if had && !cur.valid {
				md.ignored--
				had = false
			}
			if had && md.downSeen[name] { // down and back: removed, re-added
				md.removes++
				had = false
			}
			if !had {
				md.adds++
			}
			md.applied[name] = p
		case p.alive:
			if had && cur.valid {
				md.removes++
				had = false
			}
			if !had {
				md.ignored++
			}
			md.applied[name] = p
		default:
			if had && cur.valid {
				md.removes++
			} else if had {
				md.ignored--
			}
			delete(md.applied, name)
		}
	}
	for name := range md.rtt {
		if a, ok := md.applied[name]; ok && a.valid {
			md.rtts++
		}
	}
	clear(md.rtt)
}

func (md *queueModel) check(rt *rapid.T, m *Membership, peers *fakePeers, book *fakeBook, processed uint64) {
	var want []string
	for name, a := range md.applied {
		if a.valid {
			want = append(want, name)
			if got, _ := book.get(core.PeerID(name)); got != fmt.Sprintf("127.0.0.1:%d", a.port) {
				rt.Fatalf("address of %s: %q, want port %d", name, got, a.port)
			}
		}
	}
	sort.Strings(want)
	if got := strings.Join(peers.names(), ","); got != strings.Join(want, ",") {
		rt.Fatalf("peers %q, want %q", got, strings.Join(want, ","))
	}
	book.mu.Lock()
	nb := len(book.addrs)
	book.mu.Unlock()
	if nb != len(want) {
		rt.Fatalf("transport knows %d addresses for %d peers", nb, len(want))
	}
	peers.mu.Lock()
	adds, removes, rtts, dup, bad := peers.adds, peers.removes, peers.rtts, peers.dupAdd, peers.badRm
	peers.mu.Unlock()
	if dup != 0 || bad != 0 {
		rt.Fatalf("duplicate adds %d, removes of absent peers %d", dup, bad)
	}
	if adds != md.adds || removes != md.removes {
		rt.Fatalf("adds %d removes %d, want %d %d", adds, removes, md.adds, md.removes)
	}
	if rtts != md.rtts {
		rt.Fatalf("rtt samples %d, want %d", rtts, md.rtts)
	}
	if g := m.ignored.Load(); g != md.ignored {
		rt.Fatalf("ignored gauge %d, want %d", g, md.ignored)
	}
	if g := m.alive.Load(); g != int64(len(want)) {
		rt.Fatalf("alive gauge %d, want %d", g, len(want))
	}
	if g := m.eventsProcessed.Load(); g != processed {
		rt.Fatalf("events processed %d, want %d", g, processed)
	}
}
