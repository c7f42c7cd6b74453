package core

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Errors returned by the Protocol's inputs.
var (
	ErrMessageTooLarge = errors.New("core: message too large")
	ErrInvalidHeaders  = errors.New("core: invalid headers")
	ErrClosed          = errors.New("core: protocol closed")
	ErrInvalidPeer     = errors.New("core: invalid peer id")
	// ErrBackpressure is not returned by the Protocol itself; runtimes and
	// admission hooks use it to refuse a Broadcast when the application
	// cannot keep up (core/node returns it from Broadcast).
	ErrBackpressure = errors.New("core: backpressure")
)

// ForwardHook is called on the first copy of a message received from a peer,
// before the message is delivered, stored and forwarded. Its result replaces
// the headers that are delivered, stored and forwarded (tracing uses it to
// put the local span into the trace context). It runs on the caller's
// goroutine inside Receive and must not call back into the Protocol. The
// returned slice is owned by the Protocol from then on.
type ForwardHook func(d Delivery) []Header

// Output is what the Protocol produced since the previous Drain. The caller
// acts on it in this order:
//
//  1. Messages: encode and send each to its peer (order within a peer matters
//     only for efficiency; the protocol tolerates loss and reordering).
//  2. Deliveries: hand each payload to the application, in order.
//  3. Events: feed observers, metrics and logs.
//
// Then it arms a timer for NextDeadline and calls Tick when it fires.
//
// The slices are owned by the Protocol and stay valid until the next call
// to Drain; copy what must outlive that. Payloads and headers are shared with
// the store: treat them as read-only.
type Output struct {
	Messages   []Outbound
	Deliveries []Delivery
	Events     []Event
}

// Empty reports whether o holds nothing.
func (o *Output) Empty() bool {
	return len(o.Messages) == 0 && len(o.Deliveries) == 0 && len(o.Events) == 0
}

// outBuf accumulates one Output. Two of them alternate so that the slices
// returned by Drain stay valid until the next Drain without copying.
type outBuf struct {
	msgs []Outbound
	dels []Delivery
	evs  []Event
	anns []Announcement // arena for IHave batches
	ids  []MessageID    // arena for Graft ids
}

func (o *outBuf) reset() {
	clear(o.msgs)
	clear(o.dels)
	clear(o.evs)
	clear(o.anns)
	clear(o.ids)
	o.msgs, o.dels, o.evs, o.anns, o.ids = o.msgs[:0], o.dels[:0], o.evs[:0], o.anns[:0], o.ids[:0]
}

// Protocol is the Plumtree state machine of one node. It is not safe for
// concurrent use: one goroutine owns it (core/node does this). It starts no
// goroutines, reads no clock, uses no global randomness and does no I/O:
// every input carries the current time, and every effect is returned by
// Drain.
type Protocol struct {
	cfg   Config
	tun   Tuning // timings in effect (see SetTuning)
	self  PeerID
	store Store
	rng   *rand.Rand
	// aeRng draws anti-entropy's choices (whom a digest goes to), apart
	// from rng: how many digests a node sends changes with what stirs it
	// (aeQuietDoublings), and sharing rng let that reshuffle the overlay's
	// random choices, such as a prune's delay.
	aeRng *rand.Rand
	hook  ForwardHook
	// backlog: see SetBacklog.
	backlog func(PeerID) bool

	now    time.Time // latest time seen; earlier times are clamped to it
	closed bool

	seqStart uint64 // first sequence number of this incarnation
	seq      uint64 // next sequence number

	peers       map[PeerID]*peer
	eager       []*peer
	lazy        []*peer
	passive     []*peer
	joins       int       // Joins in flight (passive peers with joining set)
	joinsEager  int       // of which ask for an eager link
	nPruned     int       // lazy peers that are lazy because of a redundancy Prune
	linksVer    uint64    // bumped whenever a peer enters or leaves a list (LinksVersion)
	pushes      uint64    // Gossip messages received from known peers (recency clock for peer.lastPush)
	relinkAt    time.Time // no relink before this (see relink)
	dupEpoch    uint64    // bumped when an eager link is lost involuntarily (duplicate counts restart)
	tomb        tombstones
	ring        hashRing
	prot        []*peer // protected ring neighbours (at most MaxProtectedNeighbors): kept in the active view
	near        []*peer // ring neighbours
	protScratch []*peer

	seen seenSet
	pend pendingSet

	dirty   []*peer // peers with queued announcements (lazy, or eager: see announceRepaired)
	queued  int     // announcements queued over all peers
	flushAt time.Time

	maintAt    time.Time
	streams    streamTable       // per-origin delivered summaries (exactly-once, anti-entropy)
	aeScratch  []repairCandidate // reused by onDigest
	aeRounds   int               // maintenance rounds since the last round that sent a digest
	aeMended   uint64            // deliveries by pull or Repair when the last round's digest went (mended)
	aeJoinLeft int               // rounds left that send a digest because a member joined (aeJoinRounds)
	aeQuiet    int               // digest periods in a row in which nothing stirred (aeQuietDoublings)
	aeStir     uint64            // stirred() when the last round's digest went
	aeListed   uint64            // digests received (streamSummary.listed)
	// aeAskUntil: until then this node sends no digest (each asks for
	// repairs): it asked one peer, and that peer's repairs may be on their
	// way (see askWindow).
	aeAskUntil time.Time
	aeAskedAt  time.Time // when the last digest was sent (see holdAsks)
	// aeMore: a repair delivered something in the current ask window, from
	// aeMoreFrom, who may have more (an answer is bounded): it is asked
	// again when the window ends (askAgain).
	aeMore     bool
	aeMoreFrom PeerID

	shortcuts []shortcut // tree shaping for many senders (shortcut.go)
	swap      pendingSwap
	// Deliveries and time at the last maintenance round, and whether the
	// rate since then was above maxQuietRate (busy.go).
	rateMark    uint64
	rateRoundAt time.Time
	rateBusy    bool
	pulls       pullPolicy // keeps pulls from growing the tree (pulls.go)
	overloaded  bool       // the runtime reports a backlog: no pulls (SetOverloaded)

	strangers bucket // Graft rate limit shared by peers we do not track
	// Digest answer limit shared by senders we do not track (see
	// digestAnswerRate).
	digestStrangers bucket
	window          graftWindow
	counters        Counters
	evictSize       int // seen evictions by size during this input, reported once
	evictTTL        int

	out [2]outBuf
	cur int

	scratch []graftReq
	// announcers: the announcers of the copy being handled, while notePull
	// or noteLate runs (a copy of the pending entry's, which is freed
	// before).
	announcers []PeerID
}

// New returns a Protocol for the node self. store keeps payloads for Grafts;
// nil means a MemStore sized from cfg (MessageCacheMaxSize, MessageCacheTTL,
// DefaultMemStoreBytes).
// now is the creation time: it seeds the message sequence (see MessageID)
// and the first deadlines. cfg is validated and copied.
func New(cfg Config, self PeerID, store Store, now time.Time) (*Protocol, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if self == "" || len(self) > MaxPeerIDLen {
		return nil, fmt.Errorf("%w: %q (length %d, must be 1..%d)", ErrInvalidPeer, truncID(self), len(self), MaxPeerIDLen)
	}
	if store == nil {
		store = NewMemStoreBytes(cfg.MessageCacheMaxSize, DefaultMemStoreBytes(cfg), cfg.MessageCacheTTL)
	}
	h := fnv64(string(self))
	p := &Protocol{
		cfg:   cfg,
		tun:   Tuning{GraftTimeout: cfg.GraftTimeout, IHaveInterval: cfg.IHaveInterval, IHaveBatchSize: cfg.IHaveBatchSize},
		self:  self,
		store: store,
		// The node's own id is mixed into the seed so that nodes sharing a
		// Config (and its Seed) still make independent choices.
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), h^0x9e3779b97f4a7c15)),
		aeRng: rand.New(rand.NewPCG(uint64(cfg.Seed)^0x5851f42d4c957f2d, h)),
		now:   now,
		peers: make(map[PeerID]*peer),
	}
	start := now.UnixNano()
	if start <= 0 {
		start = 1
	}
	p.seqStart, p.seq = uint64(start), uint64(start)
	p.tomb.init(cfg.MaxPassivePeers)
	p.ring.init(self)
	p.seen.init(cfg.SeenMaxSize, cfg.seenTTL())
	p.streams.init(cfg.MaxStreams, cfg.MaxStreamGaps, cfg.MessageCacheMaxSize)
	p.pend.init()
	p.window.init(cfg.Health.Window, now)
	p.maintAt = p.nextMaintenance(now)
	p.rateRoundAt = now
	return p, nil
}

func truncID(id PeerID) string {
	if len(id) > 32 {
		return string(id[:32]) + "..."
	}
	return string(id)
}

// Self returns the local node's id.
func (p *Protocol) Self() PeerID { return p.self }

// Config returns a copy of the configuration.
func (p *Protocol) Config() Config { return p.cfg }

// SetForwardHook installs h (nil removes it). See ForwardHook.
func (p *Protocol) SetForwardHook(h ForwardHook) { p.hook = h }

// SetBacklog installs f (nil removes it): f reports whether frames sent to
// a peer may still wait in a queue of the transport behind which a frame
// sent now would wait too — core/node reports a non-empty bulk lane, the
// queue of large-message parts (docs/design.md, "Large messages"). The
// Protocol calls it within the call (Receive, Tick) that sends a Prune. Over
// such a link both ends push parts, so the peer's copies queued before it
// reads the Prune keep coming for as long as its queue lasts: seconds, not
// a round trip. While they come they are taken for what they are, copies
// pushed while the link was eager: a first copy among them does not link
// the peer back, a duplicate does not prune it again (see leftover).
func (p *Protocol) SetBacklog(f func(to PeerID) bool) { p.backlog = f }

// advance moves the protocol clock to now. Time never goes backwards: an
// earlier (or zero) time is treated as the latest time seen.
func (p *Protocol) advance(now time.Time) {
	if now.After(p.now) {
		p.now = now
	}
	if n := p.seen.expire(p.now); n > 0 {
		p.evictTTL += n
	}
}

// finish reports what an input accumulated (seen-set evictions) as one event
// per kind.
func (p *Protocol) finish() {
	if len(p.lazy) > p.cfg.LazyFanout {
		// A ring neighbour that lost its protection.
		p.trimLazy(nil)
	}
	p.trimPassive()
	if p.evictSize > 0 {
		p.counters.SeenMapEvictions += uint64(p.evictSize)
		p.emit(Event{Kind: EventSeenEviction, Reason: ReasonCapacity, Count: p.evictSize})
		p.evictSize = 0
	}
	if p.evictTTL > 0 {
		p.counters.SeenMapEvictions += uint64(p.evictTTL)
		p.emit(Event{Kind: EventSeenEviction, Reason: ReasonExpired, Count: p.evictTTL})
		p.evictTTL = 0
	}
}

func (p *Protocol) emit(e Event) {
	o := &p.out[p.cur]
	o.evs = append(o.evs, e)
}

func (p *Protocol) send(to PeerID, m Message) {
	o := &p.out[p.cur]
	o.msgs = append(o.msgs, Outbound{To: to, Msg: m})
}

func (p *Protocol) sendPrune(pe *peer) {
	p.send(pe.id, Message{Type: MsgPrune})
	if p.backlog != nil && p.backlog(pe.id) {
		pe.leftovers = p.now.Add(p.cfg.AntiEntropyMinAge) // see leftover
	}
	p.counters.PruneSent++
	p.emit(Event{Kind: EventPruneSent, Peer: pe.id})
}

// sendLinkGraft asks pe to make the link eager (a Graft without ids).
func (p *Protocol) sendLinkGraft(pe *peer) {
	pe.linkAsked = p.now
	p.send(pe.id, Message{Type: MsgGraft})
	p.counters.GraftSent++
	p.emit(Event{Kind: EventGraftSent, Peer: pe.id})
}

// Drain returns everything produced since the previous Drain. The returned
// slices stay valid until the next call to Drain.
func (p *Protocol) Drain() Output {
	o := &p.out[p.cur]
	res := Output{Messages: o.msgs, Deliveries: o.dels, Events: o.evs}
	p.cur ^= 1
	p.out[p.cur].reset()
	return res
}

// NextDeadline returns when Tick must next be called: the earliest pending
// graft timer, IHave flush, end of a tree-shaping swap's overlap, end of
// an anti-entropy catch-up's ask window or maintenance round. The zero time
// means no deadline (after Close). A deadline in the past means "call Tick
// now".
func (p *Protocol) NextDeadline() time.Time {
	if p.closed {
		return time.Time{}
	}
	d := p.maintAt
	if !p.flushAt.IsZero() && p.flushAt.Before(d) {
		d = p.flushAt
	}
	if t, ok := p.pend.top(); ok && t.Before(d) {
		d = t
	}
	if t := p.swapDue(); !t.IsZero() && t.Before(d) {
		d = t
	}
	if p.aeMore && p.aeAskUntil.Before(d) {
		d = p.aeAskUntil
	}
	return d
}

// Tick processes everything due at or before now: graft timers, the end of
// a swap's overlap (tree shaping), the IHave flush, maintenance (peer
// repair, anti-entropy), the next ask of a catch-up and seen-set expiry.
func (p *Protocol) Tick(now time.Time) {
	if p.closed {
		return
	}
	p.advance(now)
	p.fireGrafts()
	p.finishSwap()
	if !p.flushAt.IsZero() && !p.now.Before(p.flushAt) {
		p.flushAll()
	}
	if !p.now.Before(p.maintAt) {
		p.maintenance()
		p.maintAt = p.nextMaintenance(p.now)
	}
	p.askAgain()
	p.finish()
}

func (p *Protocol) nextMaintenance(now time.Time) time.Time {
	d := p.cfg.MaintenanceInterval
	if j := p.cfg.MaintenanceJitter; j > 0 {
		d += time.Duration(p.rng.Int64N(int64(2*j)+1)) - j
	}
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return now.Add(d)
}

// Close stops the protocol: queued announcements are flushed one last time,
// pending grafts are dropped, and every later input is ignored (Broadcast
// returns ErrClosed). Health reports Unhealthy from then on.
func (p *Protocol) Close(now time.Time) {
	if p.closed {
		return
	}
	p.advance(now)
	p.flushAll()
	p.pend.clearAll()
	p.closed = true
	p.finish()
}

// HasSeen reports whether id was delivered, or lies below its stream's
// floor (given up by age or by the gap bound): either way a copy of it is
// never delivered.
func (p *Protocol) HasSeen(id MessageID) bool { return p.known(id) }

// known reports whether a copy of id is a duplicate: its stream summary
// lists it (delivered or given up), or the seen set still holds it (the
// summary can disagree: a copy of a known id with another, fresher origin
// time passes the age check after the first copy's stream expired —
// FuzzReceive input 690213afdc410f7b delivered a repair twice that way;
// docs/design.md, exactly-once).
func (p *Protocol) known(id MessageID) bool {
	return p.streams.delivered(id) || p.seen.has(id)
}

// LinksVersion changes whenever the node's links (its eager and lazy
// peers, and the passive ones) may have changed, so a runtime can watch
// them without building EagerPeers and LazyPeers after every input.
func (p *Protocol) LinksVersion() uint64 { return p.linksVer }

// EagerPeers returns the eager peers, sorted.
func (p *Protocol) EagerPeers() []PeerID { return sortedIDs(p.eager) }

// LazyPeers returns the lazy peers, sorted.
func (p *Protocol) LazyPeers() []PeerID { return sortedIDs(p.lazy) }

// JoiningPeers returns the passive peers with a Join in flight, sorted.
func (p *Protocol) JoiningPeers() []PeerID {
	var ids []PeerID
	for _, pe := range p.passive {
		if pe.joining {
			ids = append(ids, pe.id)
		}
	}
	slices.Sort(ids)
	return ids
}

// PassivePeers returns the known peers outside the active view, sorted.
func (p *Protocol) PassivePeers() []PeerID { return sortedIDs(p.passive) }

// ProtectedNeighbors returns the protected ring neighbours, sorted (empty
// unless UseHashRing and ProtectRingNeighbors are set). They are kept in the
// active view (eager or lazy), never evicted for capacity.
func (p *Protocol) ProtectedNeighbors() []PeerID { return sortedIDs(p.prot) }

// PeerCount returns the size of the active view (eager + lazy).
func (p *Protocol) PeerCount() int { return len(p.eager) + len(p.lazy) }

func sortedIDs(ps []*peer) []PeerID {
	ids := make([]PeerID, len(ps))
	for i, pe := range ps {
		ids[i] = pe.id
	}
	slices.Sort(ids)
	return ids
}

// Stats returns a snapshot of the state and the counters.
func (p *Protocol) Stats() Stats {
	st := Stats{
		EagerPeers:     len(p.eager),
		LazyPeers:      len(p.lazy),
		TotalPeers:     len(p.eager) + len(p.lazy),
		PassivePeers:   len(p.passive),
		ProtectedPeers: len(p.prot),
		CacheSize:      p.store.Len(),
		CacheCapacity:  p.store.Capacity(),
		SeenSize:       p.seen.len(),
		SeenCapacity:   p.cfg.SeenMaxSize,
		PendingGrafts:  len(p.pend.m),
		IHaveQueueSize: p.queued,
		Streams:        p.streams.len(),
		Counters:       p.counters,
	}
	st.GapsLost = p.streams.gapsLost
	st.StreamsForgotten = p.streams.forgotten
	st.StreamsNotLearnt = p.streams.notLearnt
	return st
}
