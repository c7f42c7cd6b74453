package membership

import (
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/plumtree-go/plumtree/core"
)

// pendingMember is the latest state of one member not yet applied to the
// runtime. The queue holds at most one per member name: a newer event
// replaces an older one, so the queue is bounded by the number of members
// and a callback never blocks or drops.
type pendingMember struct {
	alive   bool
	valid   bool   // valid Plumtree metadata of our version
	addr    string // Plumtree transport address (valid only)
	mlAddr  string // memberlist address
	bounced bool   // the member went down and came back since the last drain
	leaving bool   // it announced a graceful leave (metadata flag)
	reason  string // why the metadata is invalid
}

// appliedMember is the state the drainer last applied for a live member.
type appliedMember struct {
	valid   bool
	addr    string
	leaving bool
}

// enqueue records the latest state of member n. Called from memberlist's
// callbacks with memberlist's locks held: it only takes the queue mutex.
func (m *Membership) enqueue(n *memberlist.Node, alive bool) {
	if n == nil {
		return
	}
	m.snapshot(n, alive)
	if n.Name == string(m.self) {
		return
	}
	m.eventsReceived.Add(1)
	p := pendingMember{alive: alive, mlAddr: n.Address()}
	if alive {
		meta, err := ParseMeta(n.Meta)
		if err != nil {
			p.reason = err.Error()
		} else {
			p.valid = true
			p.addr = fixHost(meta.Addr, n.Addr)
			p.leaving = meta.Leaving
		}
	}
	m.qmu.Lock()
	if old, ok := m.pend[n.Name]; ok {
		m.eventsCoalesced.Add(1)
		if alive {
			p.bounced = old.bounced || !old.alive
		} else {
			p.leaving = old.leaving // a leave announced just before going
		}
		*old = p
	} else {
		pp := p
		m.pend[n.Name] = &pp
		m.order = append(m.order, n.Name)
	}
	m.qmu.Unlock()
	m.signal()
}

// memberSnap is a copy of a live member as memberlist last reported it.
// memberlist's Members returns pointers into its own state, which it
// rewrites without a lock the caller could take; the callbacks run with its
// lock held, so the copies taken there are consistent.
type memberSnap struct {
	name string
	ip   net.IP
	port uint16
	meta []byte
}

func (s memberSnap) addr() string { return net.JoinHostPort(s.ip.String(), strconv.Itoa(int(s.port))) }

// snapshot records (alive) or forgets (not alive) member n. Called from
// memberlist's callbacks; bounded by the member count.
func (m *Membership) snapshot(n *memberlist.Node, alive bool) {
	m.snapMu.Lock()
	defer m.snapMu.Unlock()
	if !alive {
		delete(m.snap, n.Name)
		return
	}
	if m.snap == nil {
		m.snap = make(map[string]memberSnap)
	}
	m.snap[n.Name] = memberSnap{name: n.Name, ip: append(net.IP(nil), n.Addr...), port: n.Port, meta: append([]byte(nil), n.Meta...)}
}

// liveMembers returns the copies of the live members, sorted by name.
func (m *Membership) liveMembers() []memberSnap {
	m.snapMu.Lock()
	out := make([]memberSnap, 0, len(m.snap))
	for _, s := range m.snap {
		out = append(out, s)
	}
	m.snapMu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// rttFlushDelay is how long an RTT sample may wait for the drainer. A
// sample alone does not wake it at once: memberlist probes one member per
// ProbeInterval (1 s in the lan and local presets), and waking the drainer,
// and through it the runtime, for each was two goroutine wake-ups per node
// and second in an idle cluster. The samples wait (latest per member) for
// the next member event or at most rttFlushDelay, and go to the runtime
// together. The runtime's ranking changes only at its maintenance rounds
// and a member is probed about once per member count × ProbeInterval, so
// the delay changes what it decides by at most one round; in a cluster of
// fewer than about five members a member probed twice within the delay
// gives one sample instead of two.
const rttFlushDelay = 5 * time.Second

// enqueueRTT records the latest ping round trip to member name; the drainer
// takes it with the next member event or rttFlushDelay later.
func (m *Membership) enqueueRTT(name string, rtt time.Duration) {
	if name == string(m.self) || rtt <= 0 {
		return
	}
	m.qmu.Lock()
	m.rtt[name] = rtt
	if !m.rttArmed {
		m.rttArmed = true
		m.rttTimer.Reset(m.rttDelay)
	}
	m.qmu.Unlock()
}

// stoppedTimer returns a timer that is not running.
func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

func (m *Membership) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// fixHost replaces an empty or unspecified host of addr with ip.
func fixHost(addr string, ip net.IP) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || ip == nil {
		return addr
	}
	if h := net.ParseIP(host); host == "" || (h != nil && h.IsUnspecified()) {
		return net.JoinHostPort(ip.String(), port)
	}
	return addr
}

// drainBuffers are the drainer's spare queue buffers, swapped with the
// Membership's on every round so that steady state allocates nothing.
type drainBuffers struct {
	order []string
	pend  map[string]*pendingMember
	rtt   map[string]time.Duration
}

// drain runs on its own goroutine: it applies queued member states to the
// runtime and the transport, one member at a time, in arrival order.
func (m *Membership) drain() {
	defer m.wg.Done()
	b := drainBuffers{pend: make(map[string]*pendingMember), rtt: make(map[string]time.Duration)}
	for {
		select {
		case <-m.stop:
			return
		case <-m.wake:
		case <-m.rttTimer.C:
		}
		m.drainOnce(&b)
	}
}

// drainOnce applies everything queued so far. A node that gave up its name
// (ErrNameConflict) applies nothing.
func (m *Membership) drainOnce(b *drainBuffers) {
	m.gate.Lock()
	defer m.gate.Unlock()
	m.qmu.Lock()
	b.order, m.order = m.order, b.order[:0]
	b.pend, m.pend = m.pend, b.pend
	b.rtt, m.rtt = m.rtt, b.rtt
	if m.rttArmed {
		// This drain takes the waiting samples.
		m.rttTimer.Stop()
		m.rttArmed = false
	}
	m.qmu.Unlock()

	if m.conflicted.Load() {
		clear(b.pend)
		clear(b.rtt)
		return
	}
	now := time.Now()
	for _, name := range b.order {
		m.apply(now, name, b.pend[name])
		delete(b.pend, name)
		m.eventsProcessed.Add(1)
	}
	for name, d := range b.rtt {
		if a, ok := m.applied[name]; ok && a.valid {
			m.peers.RecordRTT(core.PeerID(name), d)
			m.rttSamples.Add(1)
		}
		delete(b.rtt, name)
	}
	m.checkPartition(now)
}

func (m *Membership) apply(now time.Time, name string, p *pendingMember) {
	cur, had := m.applied[name]
	switch {
	case p.alive && p.valid:
		if had && !cur.valid {
			m.ignored.Add(-1)
			had = false
		}
		if had && p.bounced {
			m.removePeer(name)
			had = false
		}
		if !had {
			if m.book != nil {
				m.book.SetPeerAddr(core.PeerID(name), p.addr)
			}
			if err := m.peers.AddPeer(core.PeerID(name)); err != nil {
				m.log.Debug("membership: add peer failed", "peer", name, "err", err)
			}
			m.peersAdded.Add(1)
			m.alive.Add(1)
			m.part.recovered(name)
			m.log.Debug("membership: peer added", "peer", name, "addr", p.addr)
		} else if cur.addr != p.addr && m.book != nil {
			m.book.SetPeerAddr(core.PeerID(name), p.addr)
			m.log.Info("membership: peer address changed", "peer", name, "addr", p.addr)
		}
		m.applied[name] = appliedMember{valid: true, addr: p.addr, leaving: p.leaving}
	case p.alive:
		if had && cur.valid {
			m.removePeer(name)
			had = false
		}
		if !had {
			m.ignored.Add(1)
			m.ignoredTotal.Add(1)
			m.log.Info("membership: ignoring member without valid plumtree metadata",
				"peer", name, "addr", p.mlAddr, "reason", p.reason)
		}
		m.applied[name] = appliedMember{valid: false}
	default:
		if !had {
			return
		}
		if cur.valid {
			m.removePeer(name)
			if !p.leaving && !cur.leaving {
				// memberlist does not say whether a member left or
				// failed; a graceful Leave flags the metadata first.
				m.part.failed(now, name)
			}
		} else {
			m.ignored.Add(-1)
		}
		delete(m.applied, name)
	}
}

func (m *Membership) removePeer(name string) {
	if err := m.peers.RemovePeer(core.PeerID(name)); err != nil {
		m.log.Debug("membership: remove peer failed", "peer", name, "err", err)
	}
	if m.book != nil {
		m.book.RemovePeer(core.PeerID(name))
	}
	m.peersRemoved.Add(1)
	m.alive.Add(-1)
	m.log.Debug("membership: peer removed", "peer", name)
}

// eventDelegate adapts memberlist's callbacks; they never block.
type eventDelegate Membership

func (d *eventDelegate) NotifyJoin(n *memberlist.Node)   { (*Membership)(d).enqueue(n, true) }
func (d *eventDelegate) NotifyUpdate(n *memberlist.Node) { (*Membership)(d).enqueue(n, true) }
func (d *eventDelegate) NotifyLeave(n *memberlist.Node)  { (*Membership)(d).enqueue(n, false) }

// AckPayload implements memberlist.PingDelegate.
func (d *eventDelegate) AckPayload() []byte { return nil }

// NotifyPingComplete implements memberlist.PingDelegate: the round trip is
// queued (latest per member) and fed to the runtime as an RTT sample.
func (d *eventDelegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, _ []byte) {
	if other != nil {
		(*Membership)(d).enqueueRTT(other.Name, rtt)
	}
}

// NotifyConflict implements memberlist.ConflictDelegate: memberlist saw an
// alive member claiming a name already held by a live member at another
// address, and ignored it. About this node's own name while joining, this
// node is the newcomer: Join gives up (ErrNameConflict). Otherwise it is
// logged: by the member holding the name ("another node claims this node's
// name") and by the others ("node name conflict").
func (d *eventDelegate) NotifyConflict(existing, other *memberlist.Node) {
	if existing == nil || other == nil {
		return
	}
	if existing.Name == string(d.self) {
		if d.joining.Load() > 0 {
			addr := other.Address()
			d.selfClash.Store(&addr)
			return
		}
		d.log.Error("membership: another node claims this node's name; the cluster ignores it",
			"name", existing.Name, "addr", existing.Address(), "other_addr", other.Address())
		return
	}
	d.log.Warn("membership: node name conflict: a second node claims the name of a live member and is ignored",
		"peer", existing.Name, "addr", existing.Address(), "other_addr", other.Address())
}

// NodeMeta implements memberlist.Delegate.
func (d *eventDelegate) NodeMeta(limit int) []byte {
	meta := d.meta.Load()
	if meta == nil || len(*meta) > limit {
		return nil
	}
	return *meta
}

// NotifyMsg implements memberlist.Delegate. Plumtree never uses memberlist's
// user messages: payloads travel over the Plumtree transport.
func (d *eventDelegate) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate. Nothing is broadcast through
// memberlist's TransmitLimitedQueue (it silently drops queued messages).
func (d *eventDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState implements memberlist.Delegate.
func (d *eventDelegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate.
func (d *eventDelegate) MergeRemoteState(buf []byte, join bool) {}
