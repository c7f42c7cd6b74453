package tcp

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/plumtree-go/plumtree/core"
)

// The connection lifecycle against a model, as a rapid state machine: three
// nodes dial, accept, send (one way and both ways at once, so both sides
// dial each other), drop links (RemovePeer and SetPeerAddr again), crash
// (Close) and restart on a new port, with or without a keyring.
//
// Checked after every step: no frame is received twice; every send queue
// holds at most its bound; open connections stay within MaxConns. At every
// settle step (and at the end): every frame sent on a settled link (one
// connection, the same on both ends, nothing pending) since the last settle
// arrives exactly once and in the order sent; and after closing every node,
// no goroutine is left.
func TestConnectionLifecycleModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := newLifeModel(rt, rapid.Bool().Draw(rt, "keyring"))
		defer m.closeAll()
		rt.Repeat(map[string]func(*rapid.T){
			// send and settle twice as likely as the disruptions
			"send":        m.send,
			"send more":   m.send,
			"settle more": m.settle,
			"sendBoth":    m.sendBoth,
			"drop":        m.drop,
			"crash":       m.crash,
			"restart":     m.restart,
			"settle":      m.settle,
			"":            m.invariants,
		})
		m.settle(rt)
		m.closeAll()
		if err := goleak.Find(m.leakOpt); err != nil {
			rt.Fatalf("goroutines outlive Close: %v", err)
		}
	})
}

const (
	lifeNodes     = 3
	lifeSendQueue = 16
	lifeMaxConns  = 8
)

// lifeNode is one node's current instance (nil tr while crashed) and what
// it received.
type lifeNode struct {
	id   core.PeerID
	tr   *Transport
	inst uint32 // instance number (a restart makes a new one)

	mu   sync.Mutex
	got  []lifeRecv // in the order received
	seen map[uint64]bool
	dups []uint64
	done chan struct{} // the receiver goroutine ended
}

type lifeRecv struct {
	from uint32 // sender instance
	seq  uint64
}

// lifePair is the model of one direction of one pair of nodes.
type lifePair struct {
	settled bool     // one connection, the same on both ends, since the last settle
	strict  []uint64 // frames sent on the settled link since the last settle
	sender  uint32   // the sender instance of strict
	recvr   uint32   // the receiver instance of strict
}

type lifeModel struct {
	t       *rapid.T
	keyring Keyring
	nodes   []*lifeNode
	pairs   map[[2]int]*lifePair
	seq     uint64
	inst    uint32
	leakOpt goleak.Option
}

func newLifeModel(t *rapid.T, keyed bool) *lifeModel {
	m := &lifeModel{t: t, pairs: map[[2]int]*lifePair{}, leakOpt: goleak.IgnoreCurrent()}
	if keyed {
		m.keyring = newKeyring(testKey(7, 32))
	}
	for i := range lifeNodes {
		m.nodes = append(m.nodes, &lifeNode{id: core.PeerID(fmt.Sprintf("n%d", i))})
		for j := range lifeNodes {
			if i != j {
				m.pairs[[2]int{i, j}] = &lifePair{}
			}
		}
	}
	for i := range m.nodes {
		m.start(i)
	}
	// Who knows whose address: some links are dialed from one side only,
	// some from both, some never (until the other side dials).
	for i := range m.nodes {
		for j := range m.nodes {
			if i != j && rapid.Bool().Draw(t, fmt.Sprintf("n%d knows n%d", i, j)) {
				m.nodes[i].tr.SetPeerAddr(m.nodes[j].id, m.nodes[j].tr.Addr().String())
			}
		}
	}
	return m
}

// start starts a new instance of node i.
func (m *lifeModel) start(i int) {
	n := m.nodes[i]
	opts := []Option{WithListenAddr("127.0.0.1:0"), WithSendQueue(lifeSendQueue), WithMaxConns(lifeMaxConns),
		WithBackoff(time.Millisecond, 20*time.Millisecond)}
	if m.keyring != nil {
		opts = append(opts, WithKeyring(m.keyring))
	}
	tr, err := New(n.id, opts...)
	if err != nil {
		m.t.Fatal(err)
	}
	m.inst++
	n.tr, n.inst = tr, m.inst
	n.mu.Lock()
	n.got, n.seen, n.dups = nil, map[uint64]bool{}, nil
	n.mu.Unlock()
	n.done = make(chan struct{})
	go func() {
		defer close(n.done)
		for f := range tr.Receive() {
			r := lifeRecv{from: binary.BigEndian.Uint32(f.Data[11:]), seq: frameSeq(f.Data)}
			n.mu.Lock()
			if n.seen[r.seq] {
				n.dups = append(n.dups, r.seq)
			}
			n.seen[r.seq] = true
			n.got = append(n.got, r)
			n.mu.Unlock()
		}
	}()
}

// stop closes node i's instance (a crash: its connections end at once).
func (m *lifeModel) stop(i int) {
	n := m.nodes[i]
	n.tr.Close()
	<-n.done
	n.tr = nil
	m.unsettle(i, -1)
}

func (m *lifeModel) closeAll() {
	for i, n := range m.nodes {
		if n.tr != nil {
			m.stop(i)
		}
	}
}

// unsettle forgets the settled state of the pairs of i (with j, or with
// every node if j < 0): what was sent on them since the last settle may be
// lost.
func (m *lifeModel) unsettle(i, j int) {
	for k, p := range m.pairs {
		if (k[0] == i || k[1] == i) && (j < 0 || k[0] == j || k[1] == j) {
			p.settled, p.strict = false, nil
		}
	}
}

func (m *lifeModel) live() []int {
	var out []int
	for i, n := range m.nodes {
		if n.tr != nil {
			out = append(out, i)
		}
	}
	return out
}

// livePair draws two different live nodes; it skips the step if there are
// fewer than two.
func (m *lifeModel) livePair(t *rapid.T) (int, int) {
	live := m.live()
	if len(live) < 2 {
		t.Skip("fewer than two live nodes")
	}
	i := rapid.SampledFrom(live).Draw(t, "from")
	j := rapid.SampledFrom(slices.DeleteFunc(slices.Clone(live), func(x int) bool { return x == i })).Draw(t, "to")
	return i, j
}

// sendN sends n frames from i to j and records them in the model.
func (m *lifeModel) sendN(i, j, n int) {
	src, dst := m.nodes[i], m.nodes[j]
	p := m.pairs[[2]int{i, j}]
	for range n {
		m.seq++
		f := testFrame(m.seq, 24)
		binary.BigEndian.PutUint32(f[11:], src.inst)
		if err := src.tr.Send(dst.id, f); err != nil {
			continue
		}
		if p.settled {
			p.strict = append(p.strict, m.seq)
		}
	}
}

func (m *lifeModel) send(t *rapid.T) {
	i, j := m.livePair(t)
	m.sendN(i, j, rapid.IntRange(1, 24).Draw(t, "n"))
}

// sendBoth sends both ways at once: when neither side is connected and
// both know the other's address, both dial.
func (m *lifeModel) sendBoth(t *rapid.T) {
	i, j := m.livePair(t)
	n := rapid.IntRange(1, 8).Draw(t, "n")
	for range n {
		m.sendN(i, j, 1)
		m.sendN(j, i, 1)
	}
}

// drop makes i forget j (its connection closes) and, maybe, learn j's
// address again.
func (m *lifeModel) drop(t *rapid.T) {
	i, j := m.livePair(t)
	m.nodes[i].tr.RemovePeer(m.nodes[j].id)
	m.unsettle(i, j)
	if rapid.Bool().Draw(t, "relearn") {
		m.nodes[i].tr.SetPeerAddr(m.nodes[j].id, m.nodes[j].tr.Addr().String())
	}
}

func (m *lifeModel) crash(t *rapid.T) {
	live := m.live()
	if len(live) == 0 {
		t.Skip("no live node")
	}
	m.stop(rapid.SampledFrom(live).Draw(t, "node"))
}

// restart starts a crashed node on a new port; every live node that knew
// its address (or, maybe, did not) learns the new one.
func (m *lifeModel) restart(t *rapid.T) {
	var dead []int
	for i, n := range m.nodes {
		if n.tr == nil {
			dead = append(dead, i)
		}
	}
	if len(dead) == 0 {
		t.Skip("no crashed node")
	}
	i := rapid.SampledFrom(dead).Draw(t, "node")
	m.start(i)
	for _, j := range m.live() {
		if j != i && rapid.Bool().Draw(t, fmt.Sprintf("n%d learns", j)) {
			m.nodes[j].tr.SetPeerAddr(m.nodes[i].id, m.nodes[i].tr.Addr().String())
		}
	}
}

// invariants hold after every step.
func (m *lifeModel) invariants(t *rapid.T) {
	for _, n := range m.nodes {
		n.mu.Lock()
		dups := slices.Clone(n.dups)
		n.mu.Unlock()
		if len(dups) > 0 {
			t.Fatalf("%s received frames %v twice", n.id, dups)
		}
		if n.tr == nil {
			continue
		}
		s := n.tr.Stats()
		for p, d := range s.PeerQueueDepth {
			if d > lifeSendQueue {
				t.Fatalf("%s: queue to %s holds %d frames, bound %d", n.id, p, d, lifeSendQueue)
			}
		}
		if s.Conns+s.Handshaking+s.Streams > lifeMaxConns {
			t.Fatalf("%s: %d connections, bound %d", n.id, s.Conns+s.Handshaking, lifeMaxConns)
		}
	}
}

// linkOf returns the addresses of the connection a writes to b through,
// and whether it is the only connection a has with b and a is not dialing
// b.
func linkOf(a *Transport, b core.PeerID) (local, remote string, alone bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.peers[b]
	if p == nil || p.conn == nil {
		return "", "", false
	}
	for _, c := range a.conns {
		if c != nil && c.peer == p && c != p.conn {
			return "", "", false // a duplicate being drained
		}
	}
	return p.conn.raw.LocalAddr().String(), p.conn.raw.RemoteAddr().String(), !p.dialing.Load()
}

// linking reports whether a has a connection to b's current instance or is
// about to have one (it is dialing b's address or has frames for it).
func linking(a *Transport, b *lifeNode) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.peers[b.id]
	if p == nil {
		return false
	}
	return p.conn != nil || ((p.dialing.Load() || p.queue.len() > 0) && p.addr == b.tr.Addr().String())
}

// settledLink reports whether a and b write to each other through the same
// connection, have no other between them and neither dials the other:
// frames sent now travel on that connection, in order.
func settledLink(a, b *lifeNode) bool {
	al, ar, aok := linkOf(a.tr, b.id)
	bl, br, bok := linkOf(b.tr, a.id)
	return aok && bok && al == br && ar == bl
}

// settle waits until every frame sent on a settled link has arrived and
// checks that each did once and in order. Then it marks the pairs whose
// link is settled (waiting a little for links still being set up).
func (m *lifeModel) settle(t *rapid.T) {
	m.invariants(t)
	deadline := time.Now().Add(time.Minute)
	for k, p := range m.pairs {
		if len(p.strict) == 0 {
			continue
		}
		dst := m.nodes[k[1]]
		for {
			dst.mu.Lock()
			var got []uint64
			for _, r := range dst.got {
				if r.from == p.sender && slices.Contains(p.strict, r.seq) {
					got = append(got, r.seq)
				}
			}
			dst.mu.Unlock()
			// What arrived so far must be the start of what was sent:
			// nothing twice, nothing skipped, nothing out of order.
			if len(got) > len(p.strict) || !slices.Equal(got, p.strict[:len(got)]) {
				t.Fatalf("%s → %s on a settled link: received %v, sent %v", m.nodes[k[0]].id, dst.id, got, p.strict)
			}
			if len(got) == len(p.strict) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s → %s on a settled link: received %v of %v", m.nodes[k[0]].id, dst.id, got, p.strict)
			}
			time.Sleep(time.Millisecond) // poll
		}
		p.strict = nil
	}
	// Links being set up or drained settle within a few round trips; a
	// link that has not settled by then is just not checked next time.
	wait := time.Now().Add(2 * time.Second)
	for {
		pending := false
		for k, p := range m.pairs {
			a, b := m.nodes[k[0]], m.nodes[k[1]]
			p.settled = a.tr != nil && b.tr != nil && settledLink(a, b)
			if p.settled {
				p.sender, p.recvr = a.inst, b.inst
			} else if a.tr != nil && b.tr != nil {
				pending = pending || linking(a.tr, b) || linking(b.tr, a)
			}
		}
		if !pending || time.Now().After(wait) {
			return
		}
		time.Sleep(time.Millisecond) // poll
	}
}
