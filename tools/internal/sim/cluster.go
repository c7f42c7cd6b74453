package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// epoch is the virtual time origin of every run (the paper's conference
// year), so that message ids and deadlines are the same on every machine.
var epoch = time.Date(2007, time.June, 25, 0, 0, 0, 0, time.UTC)

// Message tags: what phase sent a message, so that receipts are attributed
// to the broadcast or to the membership step.
const (
	tagBroadcast  uint8 = 0
	tagMembership uint8 = 1
)

// inflight is a message on its way.
type inflight struct {
	at   int64 // arrival time (event engine)
	from int32
	to   int32
	tag  uint8
	msg  core.Message
}

// bstat is what is measured about one broadcast. The measurement closes
// (cycle engine: when the broadcast's run is over, before the membership
// step; event engine: at the membership step that ends its cycle, 1 ms
// before the next broadcast): what arrives later is
// counted as late, outside the paper's metrics.
type bstat struct {
	cycle     int
	origin    int32
	at        int64 // virtual time of the broadcast (ns since epoch)
	alive     int   // live nodes when it was broadcast
	delivered int
	dupDeliv  int      // deliveries of a node that had delivered already (must stay 0)
	got       []uint64 // bitset: which nodes delivered
	payload   int      // payload (Gossip) receipts by live nodes, duplicates included
	ldh       int
	last      int64 // time of the last delivery

	frozen      bool
	until       int64 // event engine: deliveries after this time are late
	lateDeliv   int   // deliveries after the freeze
	latePayload int   // payload receipts after the freeze
}

func (b *bstat) deliver(node int32, hops uint16, now int64) {
	w, bit := node>>6, uint64(1)<<(node&63)
	if b.got[w]&bit != 0 {
		b.dupDeliv++
		return
	}
	b.got[w] |= bit
	if b.frozen || (b.until > 0 && now > b.until) {
		b.lateDeliv++
		return
	}
	b.delivered++
	if int(hops) > b.ldh {
		b.ldh = int(hops)
	}
	if now > b.last {
		b.last = now
	}
}

func (b *bstat) receivedPayload(now int64) {
	if b.frozen || (b.until > 0 && now > b.until) {
		b.latePayload++
	} else {
		b.payload++
	}
}

// timerEntry is a node deadline in the timer heap. Entries whose t differs
// from the node's current deadline are stale and skipped.
type timerEntry struct {
	t    int64
	node int32
}

type timerHeap []timerEntry

func (h timerHeap) less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].node < h[j].node
}

func (h *timerHeap) push(e timerEntry) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *timerHeap) pop() timerEntry {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// cluster holds the simulated nodes: one real core.Protocol each.
type cluster struct {
	spec   Spec
	n      int
	ids    []core.PeerID
	index  map[core.PeerID]int32
	procs  []*core.Protocol
	alive  []bool
	nAlive int
	now    int64 // ns since epoch
	phase  uint8

	dl     []int64 // current deadline per node (0 = none)
	timers timerHeap

	// send hands a message to the engine's network.
	send func(from, to int32, tag uint8, msg core.Message)

	// slabs the IHave/Graft id lists are copied into (see emit).
	annSlab []core.Announcement
	idSlab  []core.MessageID

	payload []byte
	evHook  func(core.Event) // tests: sees every event

	bstats    map[core.MessageID]*bstat
	order     []*bstat // broadcasts in order
	cycle     int      // current cycle (-1 during setup)
	control   []int    // control receipts per cycle (broadcast phase)
	member    []int    // membership-step receipts per cycle
	lost      int      // messages addressed to failed nodes
	unknown   int      // messages addressed to ids the simulator does not know
	stale     int      // payload receipts of messages not tracked
	protoErrs int      // Broadcast errors
}

func newCluster(spec Spec) (*cluster, error) {
	n := spec.Nodes
	c := &cluster{
		spec:    spec,
		n:       n,
		ids:     make([]core.PeerID, n),
		index:   make(map[core.PeerID]int32, n),
		procs:   make([]*core.Protocol, n),
		alive:   make([]bool, n),
		nAlive:  n,
		dl:      make([]int64, n),
		cycle:   -1,
		bstats:  make(map[core.MessageID]*bstat),
		payload: []byte("plumtree-sim-payload"),
	}
	width := len(strconv.Itoa(n - 1))
	for i := 0; i < n; i++ {
		id := core.PeerID(fmt.Sprintf("n%0*d", width, i))
		c.ids[i] = id
		c.index[id] = int32(i)
		c.alive[i] = true
	}
	for i := 0; i < n; i++ {
		cfg, err := spec.NodeConfig(i)
		if err != nil {
			return nil, err
		}
		p, err := core.New(cfg, c.ids[i], nil, c.t())
		if err != nil {
			return nil, fmt.Errorf("sim: node %d: %w", i, err)
		}
		c.procs[i] = p
	}
	return c, nil
}

// t is the current virtual time.
func (c *cluster) t() time.Time { return epoch.Add(time.Duration(c.now)) }

// copyAnns copies an announcement list into the slab. The copy's capacity
// is its length, so a receiver that appends never writes into a neighbour.
func (c *cluster) copyAnns(a []core.Announcement) []core.Announcement {
	if len(a) > 1024 {
		return append([]core.Announcement(nil), a...)
	}
	if len(c.annSlab) < len(a) {
		c.annSlab = make([]core.Announcement, 4096)
	}
	out := c.annSlab[:len(a):len(a)]
	copy(out, a)
	c.annSlab = c.annSlab[len(a):]
	return out
}

func (c *cluster) copyIDs(a []core.MessageID) []core.MessageID {
	if len(a) > 1024 {
		return append([]core.MessageID(nil), a...)
	}
	if len(c.idSlab) < len(a) {
		c.idSlab = make([]core.MessageID, 1024)
	}
	out := c.idSlab[:len(a):len(a)]
	copy(out, a)
	c.idSlab = c.idSlab[len(a):]
	return out
}

// emit routes what node from produced and records its deliveries. The
// Output is only valid until the next Drain, so the id lists are copied;
// payloads are shared read-only, as the core documents.
func (c *cluster) emit(from int32, out core.Output) {
	for i := range out.Messages {
		o := &out.Messages[i]
		to, ok := c.index[o.To]
		if !ok {
			c.unknown++
			continue
		}
		m := o.Msg
		if len(m.IHaves) > 0 {
			m.IHaves = c.copyAnns(m.IHaves)
		}
		if len(m.IDs) > 0 {
			m.IDs = c.copyIDs(m.IDs)
		}
		c.send(from, to, c.phase, m)
	}
	if c.evHook != nil {
		for _, e := range out.Events {
			c.evHook(e)
		}
	}
	for i := range out.Deliveries {
		d := &out.Deliveries[i]
		if st := c.bstats[d.ID]; st != nil {
			st.deliver(from, d.Hops, c.now)
		}
	}
}

// touch re-reads node i's deadline after an input.
func (c *cluster) touch(i int32) {
	d := c.procs[i].NextDeadline()
	var t int64
	if !d.IsZero() {
		t = int64(d.Sub(epoch))
		if t <= 0 {
			t = 1
		}
	}
	if t == c.dl[i] {
		return
	}
	c.dl[i] = t
	if t != 0 {
		c.timers.push(timerEntry{t: t, node: i})
		if len(c.timers) > 8*c.n+1024 {
			c.rebuildTimers()
		}
	}
}

func (c *cluster) rebuildTimers() {
	c.timers = c.timers[:0]
	for i, t := range c.dl {
		if t != 0 && c.alive[i] {
			c.timers.push(timerEntry{t: t, node: int32(i)})
		}
	}
}

// nextTimer returns the earliest live deadline (dropping stale entries).
func (c *cluster) nextTimer() (int64, bool) {
	for len(c.timers) > 0 {
		e := c.timers[0]
		if c.dl[e.node] != e.t || !c.alive[e.node] {
			c.timers.pop()
			continue
		}
		return e.t, true
	}
	return 0, false
}

// fireDue ticks every node whose deadline is at or before c.now.
func (c *cluster) fireDue() {
	for {
		t, ok := c.nextTimer()
		if !ok || t > c.now {
			return
		}
		e := c.timers.pop()
		c.dl[e.node] = 0
		p := c.procs[e.node]
		p.Tick(c.t())
		c.emit(e.node, p.Drain())
		c.touch(e.node)
	}
}

// receive hands msg to node to.
func (c *cluster) receive(m *inflight) {
	to := m.to
	if !c.alive[to] {
		c.lost++
		return
	}
	switch {
	case m.msg.Type == core.MsgGossip:
		if st := c.bstats[m.msg.ID]; st != nil {
			st.receivedPayload(c.now)
		} else {
			c.stale++
		}
	case c.cycle < 0:
	case m.tag == tagMembership:
		c.member[c.cycle]++
	default:
		c.control[c.cycle]++
	}
	p := c.procs[to]
	p.Receive(c.t(), c.ids[m.from], m.msg)
	c.emit(to, p.Drain())
	c.touch(to)
}

// broadcast makes node origin broadcast one message and starts measuring it.
func (c *cluster) broadcast(origin int32, cycle int) {
	st := &bstat{cycle: cycle, origin: origin, at: c.now, alive: c.nAlive, got: make([]uint64, (c.n+63)/64)}
	if c.spec.Engine == EngineEvent {
		st.until = c.now + int64(c.spec.Params.Interval-time.Millisecond)
	}
	p := c.procs[origin]
	id, err := p.Broadcast(c.t(), c.payload, nil)
	if err != nil {
		c.protoErrs++
		c.order = append(c.order, st)
		return
	}
	c.bstats[id] = st
	c.order = append(c.order, st)
	c.emit(origin, p.Drain())
	c.touch(origin)
}

func (c *cluster) addPeer(i, j int32) {
	p := c.procs[i]
	p.AddPeer(c.t(), c.ids[j])
	c.emit(i, p.Drain())
	c.touch(i)
}

func (c *cluster) removePeer(i, j int32) {
	p := c.procs[i]
	p.RemovePeer(c.t(), c.ids[j])
	c.emit(i, p.Drain())
	c.touch(i)
}

// fail crashes node i: it stops processing anything (its state is freed).
func (c *cluster) fail(i int32) {
	if !c.alive[i] {
		return
	}
	c.alive[i] = false
	c.nAlive--
	c.procs[i] = nil
	c.dl[i] = 0
}

// pickFailures picks k live nodes to fail, never node 0 (the single
// sender), using rng.
func (c *cluster) pickFailures(rng *rand.Rand, k int) []int32 {
	cand := make([]int32, 0, c.nAlive)
	for i := 1; i < c.n; i++ {
		if c.alive[i] {
			cand = append(cand, int32(i))
		}
	}
	if k > len(cand) {
		k = len(cand)
	}
	for i := 0; i < k; i++ {
		j := i + rng.IntN(len(cand)-i)
		cand[i], cand[j] = cand[j], cand[i]
	}
	out := cand[:k]
	slices.Sort(out)
	return out
}

// randomAlive returns a uniformly random live node.
func (c *cluster) randomAlive(rng *rand.Rand) int32 {
	for {
		i := int32(rng.IntN(c.n))
		if c.alive[i] {
			return i
		}
	}
}
