package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/large"
	"github.com/plumtree-go/plumtree/core/wire"
)

// Errors returned by the Node. They are the core's sentinels (the same
// values), so errors.Is works whichever package a caller tests against.
var (
	// ErrMessageTooLarge: the payload is above max_message_size.
	ErrMessageTooLarge = core.ErrMessageTooLarge
	// ErrClosed: the node was shut down.
	ErrClosed = core.ErrClosed
	// ErrBackpressure: the delegate is behind; the broadcast was refused
	// and nothing was sent. Retry later.
	ErrBackpressure = core.ErrBackpressure
	// ErrInvalidPeer: an empty peer id, the node's own id, or an id longer
	// than core.MaxPeerIDLen.
	ErrInvalidPeer = core.ErrInvalidPeer
)

// errBadOption wraps the errors New returns for invalid options.
var errBadOption = errors.New("node: invalid option")

// Node runs one Plumtree protocol instance (core.Protocol) over a Transport.
//
// # Goroutines
//
// New starts three goroutines: the protocol goroutine, which alone owns the
// core.Protocol (every public method talks to it through a channel, so the
// protocol needs no locks), the delegate goroutine, which calls the Delegate,
// and the observer goroutine, which calls the observers (only when there are
// observers). Shutdown stops all of them. All methods are safe for concurrent
// use.
//
// The protocol goroutine waits for an API call, an inbound frame, or the
// timer armed at Protocol.NextDeadline, hands it to the protocol, and then
// drains the protocol's Output: messages are encoded and handed to
// Transport.Send (a refused frame is counted in SendErrors, never fatal),
// deliveries and the hooks derived from events go to the delivery queue,
// events go to the observer queue.
//
// # Backpressure
//
// The delivery queue between the protocol and the delegate holds deliveries
// and hooks in protocol order. Its capacity Q is set by WithDeliveryQueue
// (default 4096), and the payload bytes it holds by WithDeliveryQueueBytes
// (default 64 MiB: a delivery beyond them waits in the overflow below, as
// at a full queue); its high-water mark is H = Q - Q/4 (at least 1).
//
//   - Broadcast is refused with ErrBackpressure (and Stats().Runtime.
//     Backpressure counts it) while the queue holds H items or more, or the
//     overflow below is not empty. A refused broadcast was not sent and was
//     not delivered locally; nothing else is affected.
//   - The protocol goroutine never blocks on the delegate: when the queue is
//     full, items go to an overflow FIFO owned by the protocol goroutine,
//     which moves them into the queue as the delegate frees room. No
//     delivery is ever dropped while the node runs.
//   - The overflow is bounded by L = max(MessageCacheMaxSize, Q) items and
//     by the payload bytes of WithDeliveryOverflowBytes (64 MiB by default):
//     when it holds L items or that many bytes (or one receive batch more:
//     64 frames) the node stops reading its transport (IntakePaused,
//     IntakePauses). Broadcasts are refused and the transport is not read, so
//     no new delivery can arise; timers and API calls keep running. Frames
//     then wait in the transport's own bounded queue, which drops (and
//     counts) what does not fit; Plumtree repairs those losses with
//     IHave/Graft once the node reads again, as long as the peers still
//     cache the payloads. Reading resumes as soon as the overflow is below
//     both bounds.
//   - Hooks (not deliveries) arriving while the overflow holds 2·L items are
//     dropped and counted in HookDrops; this bounds the overflow even if
//     timers keep producing graft hooks during a pause.
//
// Memory is therefore bounded by (Q + 2·L) items, whose deliveries reference
// payloads of WithDeliveryQueueBytes in the queue (or one payload, whatever
// its size) and, in the overflow, WithDeliveryOverflowBytes plus one
// receive batch's.
type Node struct {
	self  core.PeerID
	cfg   core.Config
	tr    Transport
	del   Delegate
	opts  options
	log   *slog.Logger
	clock Clock

	// Owned by the protocol goroutine (and, after it exits, by Shutdown).
	proto      *core.Protocol
	dec        *wire.Decoder
	timer      Timer
	timerArmed bool
	armedAt    time.Time
	overflow   []item
	ovHead     int
	overloaded bool          // last value given to SetOverloaded
	lastWait   time.Duration // how long the first frame of the last receive batch waited (real time)
	lastBatch  time.Time     // when that batch was taken
	paused     bool
	tuneAt     time.Time // next Tuner round

	highWater int
	ovLimit   int
	ovBytes   int64 // payload bytes of the deliveries in the overflow
	// dqBytes is the payload bytes of the deliveries in dq (added by the
	// protocol goroutine as it queues them, taken off by the delegate
	// goroutine as it takes them); dqRoom gets a token each time the
	// delegate goroutine takes one, for a protocol goroutine that waits
	// for room by bytes (see fitsQueue).
	dqBytes atomic.Int64
	dqRoom  chan struct{}

	reqs         chan request
	dq           chan item
	obsq         chan *[]core.Event
	quit         chan struct{} // closed by Shutdown
	stopped      chan struct{} // closed once the protocol is closed and final is set
	loopDone     chan struct{} // closed when the protocol goroutine exits
	delegateDone chan struct{}
	observerDone chan struct{}
	abandonCh    chan struct{} // closed when a Shutdown context expires
	stopOnce     sync.Once
	abandonOnce  sync.Once
	abandon      atomic.Bool

	// final is written by the protocol goroutine before stopped is closed,
	// and read only after; trErr before loopDone is closed.
	final snapshot
	trErr error

	saver *stateSaver // nil without WithStateFile

	large         *largeState // large messages (large.go)
	lane          *bulkLane   // the transport's lanes (large.go); nil without a bulk lane
	parts         PartsSender // the transport, if it takes frames in two parts
	keeper        LinkKeeper  // the transport, if it closes idle connections
	largeExpireAt time.Time   // protocol goroutine: next expiry check
	// kept is the set of links last passed to keeper, keptVer the
	// protocol's LinksVersion when they were last compared (protocol
	// goroutine).
	kept    []core.PeerID
	keptVer uint64

	c         counters
	batchPool sync.Pool
	// obsKinds marks the event kinds the observers get; nil: every kind
	// (an observer without EventFilter).
	obsKinds *[256]bool

	// RTT samples waiting for the protocol goroutine (RecordRTT): they
	// ride on its next wake-up instead of causing one.
	rttMu      sync.Mutex
	rttPend    []rttSample
	rttWaiting atomic.Bool
}

// rttSample is one RecordRTT call not yet given to the protocol.
type rttSample struct {
	peer core.PeerID
	rtt  time.Duration
}

// maxPendingRTT bounds the RTT samples waiting for the protocol goroutine;
// further samples are dropped until it wakes (one per member and probe
// round arrive, and it wakes at least every maintenance interval).
const maxPendingRTT = 1024

type counters struct {
	delivered, backpressure, admissionRefused, intakePauses, hookDrops, discarded atomic.Uint64
	framesIn, framesOut, decodeErrors, encodeErrors, sendErrors, observerDrops    atomic.Uint64
	transportClosed, intakePaused                                                 atomic.Bool
	overflowLen, overflowBytes                                                    atomic.Int64
	stateSaves, stateSaveErrors                                                   atomic.Uint64
	wakeups, timerFires                                                           atomic.Uint64
}

type snapshot struct {
	stats                  core.Stats
	health                 core.Health
	eager, lazy, protected []core.PeerID
	peerCount              int
	tuning                 core.Tuning
}

type itemKind uint8

const (
	itemDeliver itemKind = iota
	itemPromote
	itemDemote
	itemGraftSent
	itemPruneSent
	itemGraftFailed
	itemLargeExpire // expire partial large messages (large.go)
)

// item is one entry of the delivery queue: a delivery, or a hook whose peer
// is in d.From and message id in d.ID (one layout keeps the queue compact).
type item struct {
	kind    itemKind
	retries int
	d       core.Delivery
}

func hook(kind itemKind, peer core.PeerID, id core.MessageID, retries int) item {
	return item{kind: kind, retries: retries, d: core.Delivery{From: peer, ID: id}}
}

// request is an API call run on the protocol goroutine.
type request struct {
	fn   func(now time.Time)
	done chan struct{} // nil: nobody waits
}

// New creates a node named self that runs cfg over tr and calls d (nil means
// NopDelegate), and starts its goroutines. cfg is validated by core.New. The
// node owns tr from now on: Shutdown closes it.
func New(cfg core.Config, self core.PeerID, tr Transport, d Delegate, opts ...Option) (*Node, error) {
	if tr == nil {
		return nil, fmt.Errorf("%w: nil transport", errBadOption)
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.deliveryQueue < 1 {
		return nil, fmt.Errorf("%w: delivery queue is %d, must be at least 1", errBadOption, o.deliveryQueue)
	}
	if o.observerQueue < 1 {
		return nil, fmt.Errorf("%w: observer queue is %d, must be at least 1", errBadOption, o.observerQueue)
	}
	if self == "" || len(self) > core.MaxPeerIDLen {
		return nil, fmt.Errorf("%w: self %q", ErrInvalidPeer, self)
	}
	if d == nil {
		d = NopDelegate{}
	}
	p, err := core.New(cfg, self, o.store, o.clock.Now())
	if err != nil {
		return nil, err
	}
	if o.stateFile != "" {
		st, ok, err := loadState(o.stateFile, stateFileLimit(p.Config()))
		if err != nil {
			return nil, err
		}
		if ok {
			if err := p.Restore(st); err != nil {
				return nil, fmt.Errorf("state file %s: %w", o.stateFile, err)
			}
		}
	}
	if o.forwardHook != nil {
		p.SetForwardHook(keepLargeHeader(o.forwardHook))
	}
	n := &Node{
		self:         self,
		cfg:          p.Config(),
		tr:           tr,
		del:          d,
		opts:         o,
		log:          o.logger,
		clock:        o.clock,
		proto:        p,
		large:        newLargeState(p.Config(), self),
		lane:         newBulkLane(tr),
		parts:        partsSender(tr),
		keeper:       linkKeeper(tr),
		dec:          wire.NewDecoder(wire.LimitsFor(cfg)),
		highWater:    max(1, o.deliveryQueue-o.deliveryQueue/4),
		ovLimit:      max(cfg.MessageCacheMaxSize, o.deliveryQueue),
		reqs:         make(chan request, 64),
		dq:           make(chan item, o.deliveryQueue),
		dqRoom:       make(chan struct{}, 1),
		quit:         make(chan struct{}),
		stopped:      make(chan struct{}),
		loopDone:     make(chan struct{}),
		abandonCh:    make(chan struct{}),
		delegateDone: make(chan struct{}),
		observerDone: make(chan struct{}),
	}
	if o.store != nil && o.store.Capacity() > 0 {
		n.ovLimit = max(o.store.Capacity(), o.deliveryQueue)
	}
	if n.lane != nil {
		// A Prune to a peer waits behind the parts queued for it, and
		// the peer's own parts keep coming meanwhile (see
		// core.Protocol.SetBacklog).
		p.SetBacklog(n.lane.backlog)
	}
	if o.stateFile != "" {
		n.saver = newStateSaver(n, o.stateFile)
		n.saver.mark = n.markOf() // the restored state is on disk already
	}
	n.timer = n.clock.NewTimer(time.Hour)
	n.timer.Stop()
	if len(o.observers) > 0 {
		n.obsKinds = observedKinds(o.observers)
		n.obsq = make(chan *[]core.Event, o.observerQueue)
		go n.observerLoop()
	} else {
		close(n.observerDone)
	}
	go n.delegateLoop()
	go n.run()
	return n, nil
}

// Self returns the node's peer id.
func (n *Node) Self() core.PeerID { return n.self }

// Config returns the configuration the protocol runs with.
func (n *Node) Config() core.Config { return n.cfg }

// call runs fn on the protocol goroutine and waits for it. It reports false,
// without running fn, when the node is shut down.
func (n *Node) call(fn func(now time.Time)) bool {
	return n.callCtx(context.Background(), fn) == nil
}

// callCtx runs fn on the protocol goroutine and waits for it. Without
// running fn it returns ctx's error when ctx ends before the protocol takes
// the request, or ErrClosed when the node is shut down. Once taken, the
// request is waited for, whatever ctx: fn may already have sent something.
func (n *Node) callCtx(ctx context.Context, fn func(now time.Time)) error {
	r := request{fn: fn, done: make(chan struct{})}
	select {
	case n.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopped:
		return ErrClosed
	}
	select {
	case <-r.done:
		return nil
	case <-n.stopped:
		// The loop closes done before stopped when it ran fn.
		select {
		case <-r.done:
			return nil
		default:
			return ErrClosed
		}
	}
}

// admit runs the checks every publish passes before anything is read or
// sent: ctx still live, and each admission hook (WithAdmission) agreeing.
func (n *Node) admit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, admit := range n.opts.admission {
		if err := admit(); err != nil {
			n.c.admissionRefused.Add(1)
			if errors.Is(err, ErrBackpressure) {
				n.c.backpressure.Add(1)
			}
			return err
		}
	}
	return nil
}

// publishHeaders returns a copy of the caller's headers with the header
// injectors' added (nil when there are none), refusing the header reserved
// for the parts of large messages.
func (n *Node) publishHeaders(ctx context.Context, headers []core.Header) ([]core.Header, error) {
	if len(headers) == 0 && len(n.opts.injectors) == 0 {
		return nil, nil
	}
	hs := slices.Clone(headers)
	for _, inj := range n.opts.injectors {
		hs = append(hs, inj(ctx)...)
	}
	if len(hs) == 0 {
		return nil, nil
	}
	if isLargePart(hs) {
		return nil, fmt.Errorf("%w: header %q is reserved for large messages", core.ErrInvalidHeaders, large.HeaderKey)
	}
	return hs, nil
}

// Alive reports whether the protocol goroutine answers: true from New until
// Shutdown, whatever the peers. It waits for the goroutine (a stuck
// protocol makes it wait), which is what a liveness probe should see.
func (n *Node) Alive() bool { return n.call(func(time.Time) {}) }

// Broadcast sends payload to every node of the cluster and delivers it
// locally (through the delegate, like every delivery). It returns the
// message id once the protocol has accepted the message and handed its
// first copies to the transport. The payload is copied: the caller may
// reuse it. Headers from the WithHeaderInjector functions are attached.
//
// Errors: ErrMessageTooLarge, ErrClosed, ErrBackpressure (see Node),
// core.ErrInvalidHeaders, an admission error, or ctx's error if ctx ends
// before the protocol goroutine takes the call. An error means the message
// was not sent.
func (n *Node) Broadcast(ctx context.Context, payload []byte) (core.MessageID, error) {
	return n.BroadcastWithHeaders(ctx, payload, nil)
}

// BroadcastWithHeaders is Broadcast with headers (for example a trace
// context) that travel with the payload on every hop. The headers are
// copied.
func (n *Node) BroadcastWithHeaders(ctx context.Context, payload []byte, headers []core.Header) (core.MessageID, error) {
	if err := n.admit(ctx); err != nil {
		return core.MessageID{}, err
	}
	if len(payload) > n.cfg.MaxMessageSize {
		return core.MessageID{}, fmt.Errorf("%w: %d bytes, max_message_size is %d", ErrMessageTooLarge, len(payload), n.cfg.MaxMessageSize)
	}
	hs, err := n.publishHeaders(ctx, headers)
	if err != nil {
		return core.MessageID{}, err
	}
	data := slices.Clone(payload)
	if data == nil {
		data = []byte{}
	}
	var id core.MessageID
	if cerr := n.callCtx(ctx, func(now time.Time) {
		if n.queued() >= n.highWater || n.ovLen() > 0 {
			n.c.backpressure.Add(1)
			err = fmt.Errorf("%w: %d deliveries queued for the delegate (high-water mark %d)", ErrBackpressure, n.queued(), n.highWater)
			return
		}
		id, err = n.proto.Broadcast(now, data, hs)
	}); cerr != nil {
		return core.MessageID{}, cerr
	}
	return id, err
}

func validPeer(self, p core.PeerID) error {
	if p == "" || p == self || len(p) > core.MaxPeerIDLen {
		return fmt.Errorf("%w: %q", ErrInvalidPeer, p)
	}
	return nil
}

// AddPeer tells the protocol that p is a member of the cluster. Errors:
// ErrInvalidPeer, ErrClosed.
func (n *Node) AddPeer(p core.PeerID) error {
	if err := validPeer(n.self, p); err != nil {
		return err
	}
	if !n.call(func(now time.Time) { n.proto.AddPeer(now, p) }) {
		return ErrClosed
	}
	return nil
}

// RemovePeer tells the protocol that p left the cluster. Errors:
// ErrInvalidPeer, ErrClosed.
func (n *Node) RemovePeer(p core.PeerID) error {
	if err := validPeer(n.self, p); err != nil {
		return err
	}
	if !n.call(func(now time.Time) { n.proto.RemovePeer(now, p) }) {
		return ErrClosed
	}
	return nil
}

// RecordRTT feeds a round-trip time sample for p (from membership probes)
// to the protocol's peer ranking. It neither waits for nor wakes the
// protocol goroutine: the sample is queued and given to the protocol when
// that goroutine next wakes for something else (a frame, a call, its timer,
// which fires at least every maintenance interval), before that wake-up's
// work, so a call made after RecordRTT sees the sample. The ranking is
// used by the maintenance round, so the delay changes nothing it decides;
// an idle node saves a wake-up per membership probe. At most 1024 samples
// wait; more are dropped until the protocol takes them. It is ignored after
// Shutdown.
func (n *Node) RecordRTT(p core.PeerID, rtt time.Duration) {
	if validPeer(n.self, p) != nil || rtt <= 0 {
		return
	}
	select {
	case <-n.stopped:
		return
	default:
	}
	n.rttMu.Lock()
	if len(n.rttPend) < maxPendingRTT {
		n.rttPend = append(n.rttPend, rttSample{peer: p, rtt: rtt})
		n.rttWaiting.Store(true)
	}
	n.rttMu.Unlock()
}

// takeRTTs gives the queued RTT samples to the protocol (protocol
// goroutine).
func (n *Node) takeRTTs(now time.Time) {
	if !n.rttWaiting.Load() {
		return
	}
	n.rttMu.Lock()
	pend := n.rttPend
	n.rttPend = nil
	n.rttWaiting.Store(false)
	n.rttMu.Unlock()
	for _, s := range pend {
		n.proto.RecordRTT(now, s.peer, s.rtt)
	}
}

// EagerPeers returns the eager peers, sorted.
func (n *Node) EagerPeers() []core.PeerID {
	var r []core.PeerID
	if !n.call(func(time.Time) { r = slices.Clone(n.proto.EagerPeers()) }) {
		return slices.Clone(n.final.eager)
	}
	return r
}

// LazyPeers returns the lazy peers, sorted.
func (n *Node) LazyPeers() []core.PeerID {
	var r []core.PeerID
	if !n.call(func(time.Time) { r = slices.Clone(n.proto.LazyPeers()) }) {
		return slices.Clone(n.final.lazy)
	}
	return r
}

// ProtectedNeighbors returns the protected ring neighbours, sorted.
func (n *Node) ProtectedNeighbors() []core.PeerID {
	var r []core.PeerID
	if !n.call(func(time.Time) { r = slices.Clone(n.proto.ProtectedNeighbors()) }) {
		return slices.Clone(n.final.protected)
	}
	return r
}

// PeerCount returns the number of active peers (eager + lazy).
func (n *Node) PeerCount() int {
	var r int
	if !n.call(func(time.Time) { r = n.proto.PeerCount() }) {
		return n.final.peerCount
	}
	return r
}

// Health returns the protocol's health report. After Shutdown it is the
// report taken when the protocol was closed (Unhealthy, "Protocol is
// shutting down").
func (n *Node) Health() core.Health {
	var r core.Health
	if !n.call(func(now time.Time) { r = n.proto.Health(now) }) {
		return n.final.health
	}
	return r
}

// Stats returns a snapshot of the protocol's and the runtime's counters.
// After Shutdown the protocol part is frozen at the time of Close.
func (n *Node) Stats() Stats {
	var s Stats
	if !n.call(func(time.Time) {
		s.Stats = n.proto.Stats()
		s.Tuning = tuningStats(n.proto.Tuning())
	}) {
		s.Stats = n.final.stats
	}
	s.Runtime = n.runtimeStats()
	s.Large = n.large.stats()
	return s
}

func (n *Node) runtimeStats() RuntimeStats {
	r := RuntimeStats{
		DeliveryQueueLen:           len(n.dq) + int(n.c.overflowLen.Load()),
		DeliveryQueueCap:           cap(n.dq),
		DeliveryHighWater:          n.highWater,
		DeliveryOverflow:           int(n.c.overflowLen.Load()),
		DeliveryOverflowLimit:      n.ovLimit,
		DeliveryOverflowBytes:      n.c.overflowBytes.Load(),
		DeliveryOverflowBytesLimit: n.opts.overflowBytes,
		DeliveryQueueBytes:         n.dqBytes.Load(),
		DeliveryQueueBytesLimit:    n.opts.queueBytes,
		IntakePaused:               n.c.intakePaused.Load(),
		Delivered:                  n.c.delivered.Load(),
		Backpressure:               n.c.backpressure.Load(),
		AdmissionRefused:           n.c.admissionRefused.Load(),
		IntakePauses:               n.c.intakePauses.Load(),
		HookDrops:                  n.c.hookDrops.Load(),
		DeliveriesDiscarded:        n.c.discarded.Load(),
		FramesIn:                   n.c.framesIn.Load(),
		FramesOut:                  n.c.framesOut.Load(),
		DecodeErrors:               n.c.decodeErrors.Load(),
		EncodeErrors:               n.c.encodeErrors.Load(),
		SendErrors:                 n.c.sendErrors.Load(),
		ObserverDrops:              n.c.observerDrops.Load(),
		TransportClosed:            n.c.transportClosed.Load(),
		StateSaves:                 n.c.stateSaves.Load(),
		StateSaveErrors:            n.c.stateSaveErrors.Load(),
		Wakeups:                    n.c.wakeups.Load(),
		TimerFires:                 n.c.timerFires.Load(),
	}
	if n.obsq != nil {
		r.ObserverQueueLen = len(n.obsq)
	}
	return r
}

// Shutdown stops the node: it closes the protocol (its health turns to
// Unhealthy "Protocol is shutting down"), stops the protocol goroutine,
// closes the transport, lets the delegate goroutine deliver everything
// queued and the observer goroutine observe everything queued, and waits for
// every goroutine the node started.
//
// If ctx ends first, Shutdown returns ctx's error and the node stops without
// waiting for the delegate: the items still queued are discarded (counted in
// DeliveriesDiscarded), and each goroutine exits as soon as the delegate or
// observer call in progress, if any, returns. Shutdown may be called again to
// wait for that. Once everything has stopped, Shutdown returns the error of
// the transport's Close (usually nil), on every call. Methods called after
// Shutdown return ErrClosed, or the state frozen at Close for the read-only
// ones (Health, Stats, EagerPeers, ...).
//
// Shutdown waits for the delegate and the observers: calling it from a
// Delegate or Observer method blocks until ctx ends (call it from another
// goroutine instead). Every other method may be called from them.
func (n *Node) Shutdown(ctx context.Context) error {
	n.stopOnce.Do(func() { close(n.quit) })
	for _, done := range []chan struct{}{n.loopDone, n.delegateDone, n.observerDone} {
		select {
		case <-done:
		case <-ctx.Done():
			n.abandonOnce.Do(func() {
				n.abandon.Store(true)
				close(n.abandonCh)
			})
			return ctx.Err()
		}
	}
	return n.trErr
}

// finish runs on the protocol goroutine after stop: it closes the transport
// and hands the overflow to the delegate goroutine, unless a Shutdown
// context expires.
func (n *Node) finish() {
	n.trErr = n.tr.Close()
	for n.ovLen() > 0 {
		select {
		case n.dq <- n.overflow[n.ovHead]:
			n.dqBytes.Add(payloadBytes(n.overflow[n.ovHead]))
			n.popOverflow()
			continue
		case <-n.abandonCh:
		}
		n.c.discarded.Add(uint64(n.ovLen()))
		n.overflow, n.ovHead, n.ovBytes = nil, 0, 0
		n.c.overflowLen.Store(0)
		n.c.overflowBytes.Store(0)
	}
	close(n.dq)
	if n.obsq != nil {
		close(n.obsq)
	}
}

// run is the protocol goroutine.
// maxReceiveBatch bounds the frames the protocol goroutine takes from the
// transport before it flushes the protocol's output.
const maxReceiveBatch = 64

func (n *Node) run() {
	defer close(n.loopDone)
	recv := n.tr.Receive()
	for {
		var timerC <-chan time.Time
		if n.timerArmed {
			timerC = n.timer.C()
		}
		in := recv
		if n.overflowFull() {
			in = nil
			if !n.paused {
				n.paused = true
				n.c.intakePauses.Add(1)
				n.c.intakePaused.Store(true)
			}
		} else if n.paused {
			n.paused = false
			n.c.intakePaused.Store(false)
		}
		var (
			out   chan item
			head  item
			roomC chan struct{}
		)
		if n.ovLen() > 0 {
			head = n.overflow[n.ovHead]
			if n.fitsQueue(head) {
				out = n.dq
			} else {
				roomC = n.dqRoom // the queue is full by bytes: wait for the delegate
			}
		}
		select {
		case <-n.quit:
			n.stop()
			close(n.stopped)
			n.finish()
			return
		case r := <-n.reqs:
			n.c.wakeups.Add(1)
			n.takeRTTs(n.clock.Now())
			r.fn(n.clock.Now())
			if r.done != nil {
				close(r.done)
			}
		case f, ok := <-in:
			n.c.wakeups.Add(1)
			if !ok {
				recv = nil
				n.c.transportClosed.Store(true)
				n.log.Warn("Transport closed: no more frames will be received")
				continue
			}
			// The first frame of a batch is the oldest waiting: how long
			// it waited tells whether the node keeps up.
			n.lastWait = 0
			if !f.Received.IsZero() {
				n.lastBatch = time.Now()
				n.lastWait = n.lastBatch.Sub(f.Received)
			}
			n.takeRTTs(n.clock.Now())
			n.receive(f)
			// Take the frames already waiting too, before one flush: the
			// forwards of a burst leave together (one wake-up of each
			// peer's writer), and the timer, the tuner and the flush run
			// once per batch instead of once per frame.
			for k := 1; k < maxReceiveBatch && !n.overflowFull(); k++ {
				select {
				case f, ok = <-recv:
				default:
					ok = false
				}
				if !ok {
					break // recv closed or empty: the next select sees it
				}
				n.receive(f)
			}
		case <-timerC:
			n.c.wakeups.Add(1)
			n.c.timerFires.Add(1)
			n.timerArmed = false
			n.takeRTTs(n.clock.Now())
			n.proto.Tick(n.clock.Now())
		case out <- head:
			n.c.wakeups.Add(1)
			n.dqBytes.Add(payloadBytes(head))
			n.popOverflow()
			n.refill()
			continue // no protocol input: nothing to drain
		case <-roomC:
			n.refill()
			continue
		}
		// Overloaded: the application is not keeping up (intake paused),
		// more than half the transport's inbound queue waits, or the last
		// batch's first frame waited more than half the graft timeout,
		// less than a graft timeout ago (a starved CPU delays every frame
		// without filling the queue: in a burst on a busy machine the
		// tree's copies are late everywhere, and pulls would only add
		// copies; once frames stop coming, the wait is old news). The
		// protocol then pulls nothing (see core.Protocol.SetOverloaded).
		if ov := n.paused || (cap(recv) > 0 && len(recv) > cap(recv)/2) || n.behind(); ov != n.overloaded {
			n.overloaded = ov
			n.proto.SetOverloaded(n.clock.Now(), ov)
		}
		if n.opts.tuner != nil {
			n.maybeTune(n.clock.Now())
		}
		n.flush()
		n.keepLinks()
		n.maybeExpireLarge(n.clock.Now())
		n.rearm()
		if n.saver != nil {
			n.saver.maybeSave(n.clock.Now())
		}
	}
}

// keepLinks tells the transport the node's links (LinkKeeper) when they
// changed: after every input that changed the protocol's lists (it reads
// LinksVersion, a counter, so an input that changed nothing costs a
// comparison), so that a new link is kept before the transport's idle
// timeout could close its quiet connection, whatever the maintenance
// interval.
func (n *Node) keepLinks() {
	if n.keeper == nil || n.proto.LinksVersion() == n.keptVer {
		return
	}
	n.keptVer = n.proto.LinksVersion()
	links := append(n.proto.EagerPeers(), n.proto.LazyPeers()...)
	slices.Sort(links)
	if slices.Equal(links, n.kept) {
		return
	}
	n.kept = links // a new slice each time: shared with the transport, read-only
	n.keeper.KeepPeers(links)
}

// stop closes the protocol, drains its last output, answers the requests
// already queued (Broadcast gets ErrClosed from the closed protocol) and
// takes the final snapshot.
func (n *Node) stop() {
	now := n.clock.Now()
	n.proto.Close(now)
	n.flush()
	for {
		select {
		case r := <-n.reqs:
			r.fn(n.clock.Now())
			if r.done != nil {
				close(r.done)
			}
			n.flush()
			continue
		default:
		}
		break
	}
	now = n.clock.Now()
	n.final = snapshot{
		stats:     n.proto.Stats(),
		health:    n.proto.Health(now),
		eager:     slices.Clone(n.proto.EagerPeers()),
		lazy:      slices.Clone(n.proto.LazyPeers()),
		protected: slices.Clone(n.proto.ProtectedNeighbors()),
		peerCount: n.proto.PeerCount(),
		tuning:    n.proto.Tuning(),
	}
	if n.timerArmed {
		n.timer.Stop()
		n.timerArmed = false
	}
	if n.saver != nil {
		n.saver.close()
	}
}

func (n *Node) receive(f Frame) {
	n.c.framesIn.Add(1)
	var m core.Message // fresh: the protocol takes ownership of its slices
	if err := n.dec.Decode(f.Data, &m); err != nil {
		n.c.decodeErrors.Add(1)
		if n.log.Enabled(context.Background(), slog.LevelDebug) {
			n.log.Debug("Dropping invalid frame from "+string(f.From)+": "+err.Error(), "peer", string(f.From), "error", err)
		}
		return
	}
	n.proto.Receive(n.clock.Now(), f.From, m)
}

// behind reports whether the last receive batch's first frame waited more
// than half the graft timeout, and that batch is less than a graft timeout
// old (real time, as the wait).
func (n *Node) behind() bool {
	if n.lastWait == 0 {
		return false
	}
	gt := n.proto.Tuning().GraftTimeout
	return n.lastWait > gt/2 && time.Since(n.lastBatch) < gt
}

// rearm arms the timer at the protocol's next deadline.
func (n *Node) rearm() {
	dl := n.proto.NextDeadline()
	if dl.IsZero() {
		if n.timerArmed {
			n.timer.Stop()
			n.timerArmed = false
		}
		return
	}
	if n.timerArmed && dl.Equal(n.armedAt) {
		return
	}
	d := dl.Sub(n.clock.Now())
	if d < 0 {
		d = 0
	}
	n.timer.Reset(d)
	n.timerArmed = true
	n.armedAt = dl
}

// flush drains the protocol's output: messages to the transport,
// deliveries and hooks to the delegate queue, events to the observers and
// the log.
func (n *Node) flush() {
	out := n.proto.Drain()
	n.send(out.Messages)
	for i := range out.Deliveries {
		n.enqueue(item{kind: itemDeliver, d: out.Deliveries[i]})
	}
	if len(out.Events) == 0 {
		return
	}
	n.handleEvents(out.Events)
	if n.opts.tuner != nil {
		n.observeSamples(n.clock.Now(), out.Events)
	}
	if n.obsq != nil && n.observed(out.Events) {
		bp, _ := n.batchPool.Get().(*[]core.Event)
		if bp == nil {
			bp = new([]core.Event)
		}
		if n.obsKinds == nil {
			*bp = append((*bp)[:0], out.Events...)
		} else {
			*bp = (*bp)[:0]
			for _, e := range out.Events {
				if n.obsKinds[e.Kind] {
					*bp = append(*bp, e)
				}
			}
		}
		select {
		case n.obsq <- bp:
		default:
			n.c.observerDrops.Add(uint64(len(out.Events)))
			n.batchPool.Put(bp)
		}
	}
}

// observedKinds returns the event kinds the observers want, or nil when
// one of them wants every kind (it does not implement EventFilter).
func observedKinds(obs []Observer) *[256]bool {
	var kinds [256]bool
	for _, ob := range obs {
		f, ok := ob.(EventFilter)
		if !ok {
			return nil
		}
		for k := range kinds {
			if f.Observes(core.EventKind(k)) {
				kinds[k] = true
			}
		}
	}
	return &kinds
}

// observed reports whether events hold one the observers want.
func (n *Node) observed(events []core.Event) bool {
	if n.obsKinds == nil {
		return true
	}
	for _, e := range events {
		if n.obsKinds[e.Kind] {
			return true
		}
	}
	return false
}

// send encodes the protocol's messages and hands them to the transport. A
// Gossip sent to several peers (the same message, hop count and payload) is
// encoded once, and that one frame goes to every one of them: Send treats
// frames as read-only (see Transport), so no peer needs its own copy. Each
// frame is allocated at its exact size and owned by the transport from then
// on (nothing here reuses it). With a PartsSender transport a payload (of
// at least PartsMinPayload bytes) is not copied at all: the frame's head is
// encoded and the payload goes as it is. With a transport that has a bulk
// lane (BulkSender), large-message parts go there (see bulkLane).
func (n *Node) send(msgs []core.Outbound) {
	var (
		prev  *core.Message
		frame []byte // the whole frame, or its head when body is set
		body  []byte // the payload, sent after frame (PartsSender)
		part  bool   // prev carries a large-message part
	)
	for i := range msgs {
		ob := &msgs[i]
		if prev == nil || !sameGossip(prev, &ob.Msg) {
			var (
				b   []byte
				err error
			)
			body = nil
			if n.parts != nil && len(ob.Msg.Payload) >= PartsMinPayload {
				b, body, err = wire.AppendFrameHead(nil, &ob.Msg) // body: the payload, nil for other types
			} else {
				b, err = wire.AppendFrame(nil, &ob.Msg)
			}
			if err != nil {
				n.c.encodeErrors.Add(1)
				prev = nil
				continue
			}
			frame, prev = b, &ob.Msg
			part = n.lane != nil && isLargePart(ob.Msg.Headers)
		}
		var err error
		bulk := n.lane != nil && n.lane.bulk(ob.To, &ob.Msg, part)
		switch {
		case body != nil && bulk:
			err = n.parts.SendBulkParts(ob.To, frame, body)
		case body != nil:
			err = n.parts.SendParts(ob.To, frame, body)
		case bulk:
			err = n.lane.tr.SendBulk(ob.To, frame)
		default:
			err = n.tr.Send(ob.To, frame)
		}
		if err != nil {
			n.c.sendErrors.Add(1)
			continue
		}
		n.c.framesOut.Add(1)
	}
}

// sameGossip reports whether b encodes exactly like a: the same Gossip (same
// id, hop count, flags, payload and headers) sent to another peer.
func sameGossip(a, b *core.Message) bool {
	if a.Type != core.MsgGossip || b.Type != core.MsgGossip || a.ID != b.ID || a.Hops != b.Hops || a.Repaired != b.Repaired {
		return false
	}
	if len(a.Payload) != len(b.Payload) || len(a.Headers) != len(b.Headers) {
		return false
	}
	if len(a.Payload) > 0 && &a.Payload[0] != &b.Payload[0] {
		return false
	}
	if len(a.Headers) > 0 && &a.Headers[0] != &b.Headers[0] {
		return false
	}
	return true
}

// handleEvents turns events into delegate hooks and log lines.
func (n *Node) handleEvents(events []core.Event) {
	for i := range events {
		e := &events[i]
		switch e.Kind {
		case core.EventPeerPromoted:
			n.enqueue(hook(itemPromote, e.Peer, core.MessageID{}, 0))
		case core.EventPeerDemoted:
			n.enqueue(hook(itemDemote, e.Peer, core.MessageID{}, 0))
			if e.Reason == core.ReasonOptimization && n.log.Enabled(context.Background(), slog.LevelDebug) {
				n.log.Debug("Demoting peer "+string(e.Peer)+" to lazy (optimization threshold reached)",
					"peer", string(e.Peer))
			}
		case core.EventGraftSent:
			n.enqueue(hook(itemGraftSent, e.Peer, e.ID, 0))
		case core.EventPruneSent:
			n.enqueue(hook(itemPruneSent, e.Peer, core.MessageID{}, 0))
		case core.EventGraftFailed:
			n.enqueue(hook(itemGraftFailed, "", e.ID, e.Retries))
			if n.log.Enabled(context.Background(), slog.LevelWarn) {
				n.log.Warn(fmt.Sprintf("Graft failed for message %s after %d retries", e.ID, e.Retries),
					"msg_id", e.ID.String(), "retries", e.Retries)
			}
		}
	}
}

func (n *Node) queued() int { return len(n.dq) + n.ovLen() }

func (n *Node) ovLen() int { return len(n.overflow) - n.ovHead }

// enqueue hands it to the delegate goroutine without ever blocking.
func (n *Node) enqueue(it item) {
	if n.ovLen() == 0 && n.fitsQueue(it) {
		b := payloadBytes(it)
		n.dqBytes.Add(b) // before the delegate can take it off
		select {
		case n.dq <- it:
			return
		default:
			n.dqBytes.Add(-b)
		}
	} else if it.kind != itemDeliver && n.ovLen() >= 2*n.ovLimit {
		n.c.hookDrops.Add(1)
		return
	}
	n.overflow = append(n.overflow, it)
	n.c.overflowLen.Add(1)
	if b := payloadBytes(it); b > 0 {
		n.ovBytes += b
		n.c.overflowBytes.Add(b)
	}
}

// overflowFull reports whether the overflow reached its length bound or its
// byte bound (WithDeliveryOverflowBytes): the node then reads no frame.
func (n *Node) overflowFull() bool {
	return n.ovLen() >= n.ovLimit || (n.opts.overflowBytes > 0 && n.ovBytes >= n.opts.overflowBytes)
}

func (n *Node) popOverflow() {
	if b := payloadBytes(n.overflow[n.ovHead]); b > 0 {
		n.ovBytes -= b
		n.c.overflowBytes.Add(-b)
	}
	n.overflow[n.ovHead] = item{}
	n.ovHead++
	n.c.overflowLen.Add(-1)
	if n.ovHead == len(n.overflow) {
		n.overflow = n.overflow[:0]
		n.ovHead = 0
		if cap(n.overflow) > 4*n.ovLimit {
			n.overflow = nil
		}
	}
}

// refill moves overflow items into the queue while it has room.
func (n *Node) refill() {
	for n.ovLen() > 0 && n.fitsQueue(n.overflow[n.ovHead]) {
		it := n.overflow[n.ovHead]
		b := payloadBytes(it)
		n.dqBytes.Add(b)
		select {
		case n.dq <- it:
			n.popOverflow()
		default:
			n.dqBytes.Add(-b)
			return
		}
	}
}

// payloadBytes is the payload an item holds (a delivery's; hooks hold
// none).
func payloadBytes(it item) int64 { return int64(len(it.d.Payload)) }

// fitsQueue reports whether it may join the delivery queue by bytes
// (WithDeliveryQueueBytes): the queue holds no payload yet, or it and the
// payloads queued stay within the bound. The count is the channel's.
func (n *Node) fitsQueue(it item) bool {
	lim := n.opts.queueBytes
	if lim <= 0 {
		return true
	}
	q := n.dqBytes.Load()
	return q <= 0 || q+payloadBytes(it) <= lim
}

// tookFromQueue runs on the delegate goroutine for each item it takes: the
// item's payload leaves the queue's byte count, and a protocol goroutine
// waiting for room by bytes is woken.
func (n *Node) tookFromQueue(it item) {
	if b := payloadBytes(it); b > 0 {
		n.dqBytes.Add(-b)
		select {
		case n.dqRoom <- struct{}{}:
		default:
		}
	}
}

// delegateLoop is the delegate goroutine.
func (n *Node) delegateLoop() {
	defer close(n.delegateDone)
	for it := range n.dq {
		n.tookFromQueue(it)
		if n.abandon.Load() {
			n.c.discarded.Add(1)
			continue
		}
		switch it.kind {
		case itemDeliver:
			if isLargePart(it.d.Headers) {
				n.deliverPart(it.d)
				continue
			}
			n.del.Deliver(it.d)
			n.c.delivered.Add(1)
		case itemLargeExpire:
			n.expireLarge()
		case itemPromote:
			n.del.EagerPromotion(it.d.From)
		case itemDemote:
			n.del.LazyDemotion(it.d.From)
		case itemGraftSent:
			n.del.GraftSent(it.d.From, it.d.ID)
		case itemPruneSent:
			n.del.PruneSent(it.d.From)
		case itemGraftFailed:
			n.del.GraftFailed(it.d.ID, it.retries)
		}
	}
}

// observerLoop is the observer goroutine.
func (n *Node) observerLoop() {
	defer close(n.observerDone)
	for bp := range n.obsq {
		if !n.abandon.Load() {
			for _, ob := range n.opts.observers {
				ob.Observe(*bp)
			}
		}
		clear(*bp)
		*bp = (*bp)[:0]
		n.batchPool.Put(bp)
	}
}
