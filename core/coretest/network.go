package coretest

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// Config describes a simulated network.
type Config struct {
	// Nodes is the number of nodes (at least 1).
	Nodes int
	// Protocol is every node's configuration. Each node's Seed is
	// Protocol.Seed plus its index, so nodes make different choices.
	Protocol core.Config
	// Seed drives the network's randomness: drops, jitter, per-link delays,
	// the order in which nodes learn about each other.
	Seed int64
	// Latency is the base one-way delay of every link. Default 1 ms.
	Latency time.Duration
	// LinkSpread adds to each link a fixed extra delay drawn once, uniformly
	// in [0, LinkSpread), the same in both directions.
	LinkSpread time.Duration
	// Jitter adds to each message an extra delay uniformly in [0, Jitter),
	// so messages can overtake each other.
	Jitter time.Duration
	// ServiceTime, when positive, is how long a node takes to handle each
	// message it receives: a node handles one message at a time, in
	// arrival order, and a message that arrives while it is busy waits.
	// Under load, queues then form at the receivers as in a real runtime
	// (the tree's copies run late); 0 handles every message on arrival.
	ServiceTime time.Duration
	// SharedCores, with ServiceTime, makes the nodes share that many
	// processors, as processes on one machine do: a message is handled
	// once its node is free and one of the processors is, so every node's
	// queue grows with the whole network's work. 0: every node has its own.
	SharedCores int
	// OverloadSignal, with ServiceTime, tells a node it is overloaded
	// (Protocol.SetOverloaded) as core/node does: while the last message
	// it handled waited more than half the graft timeout for it, until a
	// graft timeout passes without messages.
	OverloadSignal bool
	// DropRate is the probability that a message is lost.
	DropRate float64
	// DetectionDelay is how long after a crash the live nodes are told
	// (RemovePeer) that the node is gone. 0 means at once; negative means
	// never (the crashed node stays in their views).
	DetectionDelay time.Duration
	// NoMembership, when set, does not introduce the nodes to each other at
	// start (call Introduce or the Protocols' AddPeer yourself).
	NoMembership bool
	// Start is the virtual time at start. Default 2024-01-01T00:00:00Z.
	Start time.Time
	// Observer, if set, sees every event of every node.
	Observer func(node int, e core.Event)
	// Persist, when set, gives every node persistence: Crash saves the
	// node's State (as a runtime that saved it at its last change would
	// have) through its binary encoding, and Restart restores it.
	Persist bool
}

// Broadcast records one message broadcast through the Network.
type Broadcast struct {
	ID          core.MessageID
	Node        int
	Incarnation int
	At          time.Time
}

// Counters are network-wide counts since the last ResetCounters.
type Counters struct {
	PayloadSent     uint64 // Gossip messages handed to the network
	PayloadReceived uint64 // Gossip messages received by a live node (duplicates included)
	ControlSent     uint64 // IHave, Graft and Prune messages handed to the network
	ControlReceived uint64 // IHave, Graft and Prune messages received by a live node
	Dropped         uint64 // messages lost (drop rate, partition, crashed receiver)
	Deliveries      uint64 // application deliveries over all nodes
	DoubleDelivered uint64 // deliveries of a message an incarnation had already delivered
	Redelivered     uint64 // deliveries of a message an earlier incarnation of the same node had delivered
	RepairSent      uint64 // anti-entropy Repair messages handed to the network (also in PayloadSent)
	DigestSent      uint64 // anti-entropy Digest messages handed to the network (also in ControlSent)
}

type node struct {
	id          core.PeerID
	p           *core.Protocol
	alive       bool
	incarnation int
	armed       time.Time
	delivered   map[core.MessageID]int // this incarnation
	ever        map[core.MessageID]int // the incarnation that first delivered it
	saved       []byte                 // the State saved at the last crash (Persist)
	busyUntil   time.Time              // with ServiceTime: when the node has handled every message sent to it so far
	overloaded  bool                   // last value given to SetOverloaded (OverloadSignal)
	lastWait    time.Duration          // OverloadSignal: the wait of the last message handled
	lastHandled time.Time              // and when it was handled
}

// Network is a deterministic simulated network of Protocols under a virtual
// clock: the same Config and the same calls give the same run. It is not
// safe for concurrent use.
type Network struct {
	cfg      Config
	cores    []time.Time // with SharedCores: when each processor is free
	now      time.Time
	rng      *rand.Rand
	nodes    []*node
	index    map[core.PeerID]int
	q        eventQueue
	seq      uint64
	inFlight int
	dropRate float64
	linkDrop map[[2]int]float64
	group    []int // partition group per node; all equal when healed
	c        Counters
	recv     map[core.MessageID]uint64 // Gossip receipts per message
	ndeliv   map[core.MessageID]uint64 // deliveries per message
	sent     []Broadcast
}

type eventKind uint8

const (
	evMessage eventKind = iota
	evTimer
	evDetect
)

type event struct {
	at   time.Time
	seq  uint64
	kind eventKind
	to   int
	from int
	inc  int // receiver incarnation at send time (messages, timers); crashed incarnation (detection)
	msg  core.Message
	wait time.Duration // with ServiceTime: how long the message waited for its node (and a processor)
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// New builds the network, creates every node and (unless NoMembership)
// introduces every node to every other one in a random order.
// signalOverload gives nd's protocol its overload state (OverloadSignal):
// the last message it handled waited more than half the graft timeout, and
// that was less than a graft timeout ago.
func (n *Network) signalOverload(nd *node) {
	gt := nd.p.Tuning().GraftTimeout
	ov := nd.lastWait > gt/2 && n.now.Sub(nd.lastHandled) < gt
	if ov != nd.overloaded {
		nd.overloaded = ov
		nd.p.SetOverloaded(n.now, ov)
	}
}

func New(cfg Config) (*Network, error) {
	if cfg.Nodes < 1 {
		return nil, errors.New("coretest: Nodes must be at least 1")
	}
	if err := cfg.Protocol.Validate(); err != nil {
		return nil, err
	}
	if cfg.Latency <= 0 {
		cfg.Latency = time.Millisecond
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	n := &Network{
		cfg:      cfg,
		now:      cfg.Start,
		rng:      rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)),
		index:    make(map[core.PeerID]int),
		dropRate: cfg.DropRate,
		linkDrop: make(map[[2]int]float64),
		group:    make([]int, cfg.Nodes),
		recv:     make(map[core.MessageID]uint64),
		ndeliv:   make(map[core.MessageID]uint64),
	}
	if cfg.ServiceTime > 0 && cfg.SharedCores > 0 {
		n.cores = make([]time.Time, cfg.SharedCores)
	}
	width := len(fmt.Sprint(cfg.Nodes - 1))
	for i := 0; i < cfg.Nodes; i++ {
		id := core.PeerID(fmt.Sprintf("n%0*d", width, i))
		n.nodes = append(n.nodes, &node{id: id})
		n.index[id] = i
	}
	for i := range n.nodes {
		if err := n.start(i); err != nil {
			return nil, err
		}
	}
	if !cfg.NoMembership {
		for i := range n.nodes {
			n.Introduce(i)
		}
	}
	return n, nil
}

func (n *Network) start(i int) error {
	nd := n.nodes[i]
	c := n.cfg.Protocol
	c.Seed += int64(i)
	p, err := core.New(c, nd.id, nil, n.now)
	if err != nil {
		return err
	}
	if nd.saved != nil {
		var st core.State
		if err := st.UnmarshalBinary(nd.saved); err != nil {
			return err
		}
		if err := p.Restore(st); err != nil {
			return err
		}
	}
	if nd.ever == nil {
		nd.ever = make(map[core.MessageID]int)
	}
	nd.p, nd.alive = p, true
	nd.incarnation++
	nd.armed = time.Time{}
	nd.delivered = make(map[core.MessageID]int)
	n.flush(i)
	return nil
}

// Introduce tells node i about every other live node, in a random order.
func (n *Network) Introduce(i int) {
	nd := n.nodes[i]
	if !nd.alive {
		return
	}
	for _, j := range n.rng.Perm(len(n.nodes)) {
		if j != i && n.nodes[j].alive {
			nd.p.AddPeer(n.now, n.nodes[j].id)
		}
	}
	n.flush(i)
}

// Len returns the number of nodes.
func (n *Network) Len() int { return len(n.nodes) }

// Now returns the virtual time.
func (n *Network) Now() time.Time { return n.now }

// ID returns node i's PeerID.
func (n *Network) ID(i int) core.PeerID { return n.nodes[i].id }

// Index returns the index of the node named id, or -1.
func (n *Network) Index(id core.PeerID) int {
	if i, ok := n.index[id]; ok {
		return i
	}
	return -1
}

// Node returns node i's current Protocol (nil while it is crashed). Inputs
// given to it directly must be followed by Flush(i).
func (n *Network) Node(i int) *core.Protocol { return n.nodes[i].p }

// Alive reports whether node i is running.
func (n *Network) Alive(i int) bool { return n.nodes[i].alive }

// Incarnation returns how many times node i was started.
func (n *Network) Incarnation(i int) int { return n.nodes[i].incarnation }

// Counters returns the network-wide counters.
func (n *Network) Counters() Counters { return n.c }

// ResetCounters zeroes the counters and the per-message receipt counts (not
// the per-node delivery records).
func (n *Network) ResetCounters() {
	n.c = Counters{}
	clear(n.recv)
	clear(n.ndeliv)
}

// Broadcasts returns every message broadcast through the network.
func (n *Network) Broadcasts() []Broadcast { return slices.Clone(n.sent) }

// DeliveredEver reports whether any incarnation of node i delivered id.
func (n *Network) DeliveredEver(i int, id core.MessageID) bool {
	_, ok := n.nodes[i].ever[id]
	return ok
}

// Delivered returns how many times node i's current incarnation delivered id.
func (n *Network) Delivered(i int, id core.MessageID) int { return n.nodes[i].delivered[id] }

// DeliveredCount returns how many messages node i's current incarnation
// delivered (each counted once).
func (n *Network) DeliveredCount(i int) int { return len(n.nodes[i].delivered) }

// Received returns how many Gossip copies of id live nodes received since the
// last ResetCounters.
func (n *Network) Received(id core.MessageID) uint64 { return n.recv[id] }

// Deliveries returns how many nodes delivered id since the last
// ResetCounters (its origin included).
func (n *Network) Deliveries(id core.MessageID) uint64 { return n.ndeliv[id] }

// RMR returns the paper's relative message redundancy of id since the last
// ResetCounters: m/(n-1) - 1 with m the payload copies received and n the
// nodes that delivered it. It is 0 when n < 2.
func (n *Network) RMR(id core.MessageID) float64 {
	d := n.ndeliv[id]
	if d < 2 {
		return 0
	}
	return float64(n.recv[id])/float64(d-1) - 1
}

// InFlight returns the number of messages on the wire.
func (n *Network) InFlight() int { return n.inFlight }

// Broadcast broadcasts payload from node i.
func (n *Network) Broadcast(i int, payload []byte) (core.MessageID, error) {
	nd := n.nodes[i]
	if !nd.alive {
		return core.MessageID{}, fmt.Errorf("coretest: node %d is crashed", i)
	}
	id, err := nd.p.Broadcast(n.now, payload, nil)
	if err != nil {
		return id, err
	}
	n.sent = append(n.sent, Broadcast{ID: id, Node: i, Incarnation: nd.incarnation, At: n.now})
	n.flush(i)
	return id, nil
}

// SetDropRate sets the probability that any message is lost.
func (n *Network) SetDropRate(rate float64) { n.dropRate = rate }

// SetLinkDropRate sets the loss probability of the link between a and b (both
// directions), overriding the network-wide rate.
func (n *Network) SetLinkDropRate(a, b int, rate float64) {
	n.linkDrop[linkKey(a, b)] = rate
}

func linkKey(a, b int) [2]int {
	if a > b {
		a, b = b, a
	}
	return [2]int{a, b}
}

// Partition splits the network: nodes in the same group talk, others do not.
// Nodes not listed form one more group together.
func (n *Network) Partition(groups ...[]int) {
	for i := range n.group {
		n.group[i] = 0
	}
	for g, members := range groups {
		for _, i := range members {
			if i >= 0 && i < len(n.group) {
				n.group[i] = g + 1
			}
		}
	}
}

// Heal removes partitions, per-link drop rates and the network-wide drop
// rate.
func (n *Network) Heal() {
	for i := range n.group {
		n.group[i] = 0
	}
	clear(n.linkDrop)
	n.dropRate = 0
}

// Crash stops node i: its state is lost, messages to it are dropped, and
// after DetectionDelay the live nodes remove it.
func (n *Network) Crash(i int) {
	nd := n.nodes[i]
	if !nd.alive {
		return
	}
	if n.cfg.Persist {
		b, err := nd.p.State().MarshalBinary()
		if err != nil {
			panic(fmt.Sprintf("coretest: saving the state of node %d: %v", i, err))
		}
		nd.saved = b
	}
	nd.alive, nd.p = false, nil
	if n.cfg.DetectionDelay >= 0 {
		n.push(&event{at: n.now.Add(n.cfg.DetectionDelay), kind: evDetect, to: i, inc: nd.incarnation})
	}
}

// Restart starts a crashed node afresh (new state, new store; its message
// sequence restarts from the clock) and re-introduces it to the live nodes
// and them to it.
func (n *Network) Restart(i int) error {
	nd := n.nodes[i]
	if nd.alive {
		return nil
	}
	if err := n.start(i); err != nil {
		return err
	}
	for _, j := range n.rng.Perm(len(n.nodes)) {
		if j != i && n.nodes[j].alive {
			n.nodes[j].p.AddPeer(n.now, nd.id)
			n.flush(j)
		}
	}
	n.Introduce(i)
	return nil
}

func (n *Network) push(e *event) {
	n.seq++
	e.seq = n.seq
	heap.Push(&n.q, e)
}

// linkDelay is the fixed delay of the link between a and b.
func (n *Network) linkDelay(a, b int) time.Duration {
	d := n.cfg.Latency
	if n.cfg.LinkSpread > 0 {
		k := linkKey(a, b)
		h := uint64(n.cfg.Seed)*0x9e3779b97f4a7c15 ^ uint64(k[0])*0xbf58476d1ce4e5b9 ^ uint64(k[1])*0x94d049bb133111eb
		h ^= h >> 31
		h *= 0xd6e8feb86837b1d5
		h ^= h >> 29
		d += time.Duration(h % uint64(n.cfg.LinkSpread))
	}
	return d
}

func (n *Network) lost(a, b int) bool {
	if n.group[a] != n.group[b] {
		return true
	}
	rate, ok := n.linkDrop[linkKey(a, b)]
	if !ok {
		rate = n.dropRate
	}
	return rate > 0 && n.rng.Float64() < rate
}

// Flush collects node i's output after inputs given to its Protocol directly.
func (n *Network) Flush(i int) { n.flush(i) }

func (n *Network) flush(i int) {
	nd := n.nodes[i]
	if !nd.alive {
		return
	}
	out := nd.p.Drain()
	for _, ob := range out.Messages {
		j := n.Index(ob.To)
		switch ob.Msg.Type {
		case core.MsgGossip:
			n.c.PayloadSent++
		case core.MsgRepair:
			n.c.PayloadSent++
			n.c.RepairSent++
		case core.MsgDigest:
			n.c.ControlSent++
			n.c.DigestSent++
		default:
			n.c.ControlSent++
		}
		if j < 0 || n.lost(i, j) {
			n.c.Dropped++
			continue
		}
		m := ob.Msg
		// The Output's slices are valid until the next Drain: copy the
		// batches (payloads and headers are read-only and shared).
		m.IHaves = slices.Clone(m.IHaves)
		m.IDs = slices.Clone(m.IDs)
		d := n.linkDelay(i, j)
		if n.cfg.Jitter > 0 {
			d += time.Duration(n.rng.Int64N(int64(n.cfg.Jitter)))
		}
		at := n.now.Add(d)
		arrival := at
		if st := n.cfg.ServiceTime; st > 0 {
			// Handled once the node has handled what arrived before.
			at = maxTime(at, n.nodes[j].busyUntil)
			if len(n.cores) > 0 {
				c := 0
				for k := range n.cores {
					if n.cores[k].Before(n.cores[c]) {
						c = k
					}
				}
				at = maxTime(at, n.cores[c]).Add(st)
				n.cores[c] = at
			} else {
				at = at.Add(st)
			}
			n.nodes[j].busyUntil = at
		}
		n.inFlight++
		var wait time.Duration
		if st := n.cfg.ServiceTime; st > 0 {
			wait = at.Sub(arrival) - st
		}
		n.push(&event{at: at, kind: evMessage, to: j, from: i, inc: n.nodes[j].incarnation, msg: m, wait: wait})
	}
	for _, d := range out.Deliveries {
		nd.delivered[d.ID]++
		if nd.delivered[d.ID] > 1 {
			n.c.DoubleDelivered++
		}
		if inc, ok := nd.ever[d.ID]; ok && inc != nd.incarnation {
			n.c.Redelivered++
		} else if !ok {
			nd.ever[d.ID] = nd.incarnation
		}
		n.c.Deliveries++
		n.ndeliv[d.ID]++
	}
	if n.cfg.Observer != nil {
		for _, e := range out.Events {
			n.cfg.Observer(i, e)
		}
	}
	if dl := nd.p.NextDeadline(); !dl.IsZero() && !dl.Equal(nd.armed) {
		nd.armed = dl
		if dl.Before(n.now) {
			dl = n.now
		}
		n.push(&event{at: dl, kind: evTimer, to: i, inc: nd.incarnation})
	}
}

// Step processes the next event and reports whether there was one.
func (n *Network) Step() bool {
	if len(n.q) == 0 {
		return false
	}
	e := heap.Pop(&n.q).(*event)
	if e.at.After(n.now) {
		n.now = e.at
	}
	nd := n.nodes[e.to]
	switch e.kind {
	case evMessage:
		n.inFlight--
		if !nd.alive || nd.incarnation != e.inc || n.group[e.from] != n.group[e.to] {
			n.c.Dropped++
			return true
		}
		if e.msg.Type == core.MsgGossip {
			n.c.PayloadReceived++
			n.recv[e.msg.ID]++
		} else if e.msg.Type == core.MsgRepair {
			n.c.PayloadReceived++
		} else {
			n.c.ControlReceived++
		}
		if n.cfg.OverloadSignal {
			// As core/node: behind while the message handled waited more
			// than half the graft timeout.
			nd.lastWait, nd.lastHandled = e.wait, n.now
			n.signalOverload(nd)
		}
		nd.p.Receive(n.now, n.nodes[e.from].id, e.msg)
		n.flush(e.to)
	case evTimer:
		if !nd.alive || nd.incarnation != e.inc {
			return true
		}
		if n.cfg.OverloadSignal {
			n.signalOverload(nd)
		}
		if dl := nd.p.NextDeadline(); dl.IsZero() || dl.After(n.now) {
			// A stale timer: the deadline moved; flush re-arms if needed.
			if !dl.Equal(nd.armed) {
				n.flush(e.to)
			}
			return true
		}
		nd.armed = time.Time{}
		nd.p.Tick(n.now)
		n.flush(e.to)
	case evDetect:
		if nd.alive && nd.incarnation != e.inc {
			return true // restarted before anyone noticed
		}
		for j, o := range n.nodes {
			if j != e.to && o.alive {
				o.p.RemovePeer(n.now, nd.id)
				n.flush(j)
			}
		}
	}
	return true
}

// RunFor processes every event due within d and moves the clock forward by d.
func (n *Network) RunFor(d time.Duration) {
	end := n.now.Add(d)
	for len(n.q) > 0 && !n.q[0].at.After(end) {
		n.Step()
	}
	n.now = end
}

// RunUntil processes events until cond holds (checked before every event)
// or max of virtual time passed; it reports whether cond held.
func (n *Network) RunUntil(cond func() bool, max time.Duration) bool {
	end := n.now.Add(max)
	for {
		if cond() {
			return true
		}
		if len(n.q) == 0 || n.q[0].at.After(end) {
			n.now = end
			return cond()
		}
		n.Step()
	}
}

// Quiescent reports whether nothing is in flight and no live node has a
// pending graft or a queued announcement. Periodic timers (maintenance,
// anti-entropy) keep running in a quiescent network.
func (n *Network) Quiescent() bool {
	if n.inFlight > 0 {
		return false
	}
	for _, nd := range n.nodes {
		if nd.alive {
			s := nd.p.Stats()
			if s.PendingGrafts > 0 || s.IHaveQueueSize > 0 {
				return false
			}
		}
	}
	return true
}

// RunUntilQuiescent runs until Quiescent holds or max of virtual time passed.
func (n *Network) RunUntilQuiescent(max time.Duration) bool {
	return n.RunUntil(n.Quiescent, max)
}

// AllDelivered reports whether every live node's current incarnation has
// delivered every message broadcast by an incarnation that is still alive.
func (n *Network) AllDelivered() bool { return n.CheckDelivery(false) == nil }

// CheckDelivery verifies reliability: every live node's current incarnation
// delivered every message broadcast by a still-alive incarnation, and (with
// exactlyOnce) no incarnation ever delivered a message twice.
func (n *Network) CheckDelivery(exactlyOnce bool) error {
	return n.CheckDeliveryOf(func(b Broadcast) bool {
		o := n.nodes[b.Node]
		return o.alive && o.incarnation == b.Incarnation
	}, exactlyOnce)
}

// CheckDeliveryOf is CheckDelivery for the broadcasts want selects: every
// live node's current incarnation delivered each of them (with Persist, an
// earlier incarnation of the node counts too: it is not delivered again),
// and (with exactlyOnce) no incarnation delivered a message twice and, with
// Persist, no incarnation delivered what an earlier one had.
func (n *Network) CheckDeliveryOf(want func(Broadcast) bool, exactlyOnce bool) error {
	if exactlyOnce && n.c.DoubleDelivered > 0 {
		return fmt.Errorf("coretest: %d double deliveries", n.c.DoubleDelivered)
	}
	if exactlyOnce && n.cfg.Persist && n.c.Redelivered > 0 {
		return fmt.Errorf("coretest: %d re-deliveries across restarts", n.c.Redelivered)
	}
	missing := 0
	var first string
	for _, b := range n.sent {
		if !want(b) {
			continue
		}
		for i, nd := range n.nodes {
			if !nd.alive {
				continue
			}
			c := nd.delivered[b.ID]
			if _, ok := nd.ever[b.ID]; ok && c == 0 && n.cfg.Persist {
				c = 1 // delivered by an earlier incarnation
			}
			if c == 0 || (exactlyOnce && c > 1) {
				if missing == 0 {
					first = fmt.Sprintf("node %d (%s) delivered %s %d times", i, nd.id, b.ID, c)
				}
				missing++
			}
		}
	}
	if missing > 0 {
		return fmt.Errorf("coretest: %d (node, message) pairs wrong; first: %s", missing, first)
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}
