package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/large"
)

// SendQueueLener is implemented by a Transport that can tell how many frames
// wait to be written to a peer (transport-tcp's Transport does). With it,
// BroadcastLarge keeps at most a window of frames queued per eager peer
// (WithLargeWindow); without it, chunks are paced only by the delivery
// queue.
type SendQueueLener interface {
	SendQueueLen(to core.PeerID) int
}

// SendProgresser is implemented by a Transport that counts the frames it
// wrote to each peer. BroadcastLarge then tells a peer whose queue drains
// while other traffic refills it (making progress) from one that takes
// nothing (stalled); without it, a queue that does not shrink counts as
// stalled.
type SendProgresser interface {
	// SentTo returns the frames written to peer to so far (never less
	// than an earlier call returned while to stayed known).
	SentTo(to core.PeerID) uint64
}

// DefaultLargeWindow is the default send window of BroadcastLarge, in
// frames queued per eager peer.
const DefaultLargeWindow = 32

// largeStall is how long BroadcastLarge waits for a peer whose send queue
// does not drain at all (no frame written to it, see SendProgresser)
// before it stops waiting for that peer (for the rest of the message): a
// slow or dead peer never stalls the others. The chunks it misses are
// pulled or repaired later, or dropped with the peer.
const largeStall = time.Second

// errLargeDisabled: max_large_message_size is 0.
var errLargeDisabled = errors.New("node: large messages are disabled (max_large_message_size is 0)")

// LargeStats are the counters and gauges of large messages on a node
// (docs/design.md, "Large messages").
type LargeStats struct {
	// InFlight is the number of large messages partly received.
	InFlight int `json:"in_flight"`
	// Bytes is the assembly budget they reserve (their whole sizes).
	Bytes int64 `json:"bytes"`
	// Budget is large_assembly_bytes.
	Budget int64 `json:"budget"`
	// Parts counts chunks and manifests taken from the protocol.
	Parts uint64 `json:"parts"`
	// Repairs counts the parts among them the tree did not push: pulled
	// after an announcement (a Graft) or sent by anti-entropy repair
	// (core.Delivery.Repaired).
	Repairs uint64 `json:"repairs"`
	// Delivered counts large messages delivered (digest verified).
	Delivered uint64 `json:"delivered"`
	// DeliveredBytes counts their bytes.
	DeliveredBytes uint64 `json:"delivered_bytes"`
	// DigestFailures counts large messages whose assembled bytes did not
	// match their digest: dropped, never delivered.
	DigestFailures uint64 `json:"digest_failures"`
	// Evicted counts partial messages given up to make room (budget).
	Evicted uint64 `json:"evicted"`
	// Expired counts partial messages given up because their missing
	// parts could no longer arrive (older than message_cache_ttl +
	// clock_skew).
	Expired uint64 `json:"expired"`
	// Refused counts parts refused: a message above
	// max_large_message_size or the budget, too old, or contradicting its
	// own geometry.
	Refused uint64 `json:"refused"`
	// Invalid counts parts that did not decode.
	Invalid uint64 `json:"invalid"`
	// Duplicates and Late count parts a message already had, and parts of
	// messages already delivered, failed or given up.
	Duplicates uint64 `json:"duplicates"`
	Late       uint64 `json:"late"`
	// Sent and SentBytes count the large messages this node published.
	Sent      uint64 `json:"sent"`
	SentBytes uint64 `json:"sent_bytes"`
	// SendWaits counts the times BroadcastLarge waited for its window or
	// the delivery queue; SlowPeers the peers it stopped waiting for.
	SendWaits uint64 `json:"send_waits"`
	SlowPeers uint64 `json:"slow_peers"`
	// RateCuts counts the times BroadcastLarge halved its pace because a
	// peer pulled from this node (the tree was behind).
	RateCuts uint64 `json:"rate_cuts"`
	// RateWaits counts the times a part waited for large_send_rate (the
	// node-wide cap; also counted in SendWaits).
	RateWaits uint64 `json:"rate_waits"`
}

// largeState is the node's side of large messages: the Assembler (used on
// the delegate goroutine, read by Stats) and the sender's counters.
type largeState struct {
	lim      large.Limits
	budget   int64
	inFlight atomic.Int64 // read by the protocol goroutine to schedule expiry

	mu        sync.Mutex
	asm       *large.Assembler            // nil when disabled
	manifests map[large.Key]core.Delivery // the manifest's delivery, per partial transfer
	parts     uint64
	invalid   uint64
	repairs   uint64
	delivered uint64 // bytes

	lastTransfer                              atomic.Uint64
	sent, sentBytes, waits, slowPrs, rateCuts atomic.Uint64
	rateWaits                                 atomic.Uint64

	// gate keeps the sizes of the node's BroadcastLarge calls in
	// progress within max_large_message_size (largeGate).
	gate largeGate

	// bucket is the node-wide cap on the bytes of parts published
	// (large_send_rate), shared by every BroadcastLarge of the node. Used
	// on the protocol goroutine only.
	bucket rateBucket
}

func newLargeState(cfg core.Config, self core.PeerID) *largeState {
	// The bucket's phase comes from the Config's seed mixed with the node's
	// id, as the protocol's own choices do: nodes sharing a Config still
	// draw apart.
	h := fnv.New64a()
	h.Write([]byte(self))
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), h.Sum64()^0x6a09e667f3bcc909))
	l := &largeState{
		lim:       large.Limits{MaxSize: int64(cfg.MaxLargeMessageSize), MaxChunkSize: cfg.MaxMessageSize},
		budget:    int64(cfg.LargeAssemblyBytes),
		manifests: map[large.Key]core.Delivery{},
		bucket:    rateBucket{rate: float64(cfg.LargeSendRate), burst: float64(cfg.MaxMessageSize), phase: rng.Float64},
		gate:      largeGate{max: int64(cfg.MaxLargeMessageSize)},
	}
	if cfg.MaxLargeMessageSize > 0 {
		l.asm = large.NewAssembler(large.Config{
			MaxSize:      int64(cfg.MaxLargeMessageSize),
			Budget:       int64(cfg.LargeAssemblyBytes),
			OriginBudget: originShare(cfg),
			Retention:    cfg.MessageCacheTTL + cfg.ClockSkew,
		})
	}
	return l
}

// originShare is the most a receiver assembles of one origin's large
// messages at once: two of the largest, within the node's budget. An
// origin sends at most one share of max_large_message_size at a time
// (largeGate); the second is room for its previous message when a
// receiver still pulls the last parts of it as the next one begins —
// with one, the older was evicted for the newer and never delivered there.
func originShare(cfg core.Config) int64 {
	return min(2*int64(cfg.MaxLargeMessageSize), int64(cfg.LargeAssemblyBytes))
}

func (l *largeState) stats() LargeStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := LargeStats{
		Budget:         l.budget,
		Parts:          l.parts,
		Repairs:        l.repairs,
		Invalid:        l.invalid,
		DeliveredBytes: l.delivered,
		Sent:           l.sent.Load(),
		SentBytes:      l.sentBytes.Load(),
		SendWaits:      l.waits.Load(),
		SlowPeers:      l.slowPrs.Load(),
		RateCuts:       l.rateCuts.Load(),
		RateWaits:      l.rateWaits.Load(),
	}
	if l.asm != nil {
		a := l.asm.Stats()
		s.InFlight, s.Bytes = a.InFlight, a.Bytes
		s.Delivered, s.DigestFailures, s.Evicted, s.Expired = a.Delivered, a.DigestFailures, a.Evicted, a.Expired
		s.Refused, s.Duplicates, s.Late = a.Refused, a.Duplicates, a.Late
	}
	return s
}

// isLargePart reports whether headers mark a large-message part.
func isLargePart(hs []core.Header) bool {
	for _, h := range hs {
		if h.Key == large.HeaderKey {
			return true
		}
	}
	return false
}

// withoutLargeHeader returns hs without the marker (nil when nothing is
// left).
func withoutLargeHeader(hs []core.Header) []core.Header {
	var out []core.Header
	for _, h := range hs {
		if h.Key != large.HeaderKey {
			out = append(out, h)
		}
	}
	return out
}

// keepLargeHeader wraps a forward hook so that the marker of a large part
// survives it: a hook that rewrites headers (tracing) need not know it.
func keepLargeHeader(h core.ForwardHook) core.ForwardHook {
	return func(d core.Delivery) []core.Header {
		out := h(d)
		if isLargePart(d.Headers) && !isLargePart(out) {
			out = append(slices.Clone(out), core.Header{Key: large.HeaderKey, Value: large.HeaderValue})
		}
		return out
	}
}

// deliverPart runs on the delegate goroutine: it feeds a part to the
// Assembler and delivers the message it completes.
func (n *Node) deliverPart(d core.Delivery) {
	l := n.large
	now := n.clock.Now()
	p, err := large.Decode(d.Payload, l.lim)
	l.mu.Lock()
	l.parts++
	if d.Repaired {
		l.repairs++
	}
	if err != nil || l.asm == nil {
		if err == nil {
			err = errLargeDisabled
		}
		l.invalid++
		l.mu.Unlock()
		n.log.Debug("Dropping large-message part "+d.ID.String()+": "+err.Error(), "msg_id", d.ID.String(), "error", err)
		return
	}
	r := l.asm.Add(now, d.ID.Origin, d.OriginTime, &p)
	key := large.Key{Origin: d.ID.Origin, Transfer: p.Geometry().Transfer}
	if p.Kind == large.KindManifest && r.Status == large.Pending {
		l.manifests[key] = d
	}
	man, hasMan := l.manifests[key]
	if p.Kind == large.KindManifest {
		man, hasMan = d, true
	}
	if r.Status == large.Delivered || r.Status == large.Failed {
		delete(l.manifests, key)
	}
	for _, k := range r.Evicted {
		delete(l.manifests, k)
	}
	if r.Status == large.Delivered {
		l.delivered += uint64(len(r.Message.Payload))
	}
	l.inFlight.Store(int64(l.asm.Stats().InFlight))
	l.mu.Unlock()

	for _, k := range r.Evicted {
		n.log.Warn("Large message "+k.String()+" evicted: the assembly budget is full", "transfer", k.String())
	}
	switch r.Status {
	case large.Failed:
		n.log.Warn("Large message "+key.String()+" failed its digest check: dropped", "transfer", key.String(), "error", r.Err)
	case large.Refused:
		n.log.Debug("Large-message part "+d.ID.String()+" refused: "+r.Err.Error(), "msg_id", d.ID.String(), "error", r.Err)
	case large.Delivered:
		if !hasMan { // cannot happen: a message completes with its manifest
			return
		}
		n.del.Deliver(core.Delivery{
			ID:         man.ID,
			OriginTime: man.OriginTime,
			From:       man.From,
			Hops:       man.Hops,
			Payload:    r.Message.Payload,
			Headers:    withoutLargeHeader(man.Headers),
		})
		n.c.delivered.Add(1)
	}
}

// expireLarge runs on the delegate goroutine: it gives up the partial
// messages that can no longer complete.
func (n *Node) expireLarge() {
	l := n.large
	l.mu.Lock()
	if l.asm == nil {
		l.mu.Unlock()
		return
	}
	keys := l.asm.Expire(n.clock.Now())
	for _, k := range keys {
		delete(l.manifests, k)
	}
	l.inFlight.Store(int64(l.asm.Stats().InFlight))
	l.mu.Unlock()
	for _, k := range keys {
		n.log.Warn("Large message "+k.String()+" expired incomplete: dropped", "transfer", k.String())
	}
}

// maybeExpireLarge runs on the protocol goroutine: about once a second
// while large messages are partly received, it asks the delegate goroutine
// to expire the ones that can no longer complete.
func (n *Node) maybeExpireLarge(now time.Time) {
	if n.large.inFlight.Load() == 0 || now.Before(n.largeExpireAt) {
		return
	}
	n.largeExpireAt = now.Add(time.Second)
	n.enqueue(hook(itemLargeExpire, "", core.MessageID{}, 0))
}

// BroadcastLarge sends the size bytes read from r to every node of the
// cluster as one large message, and delivers it locally, like Broadcast.
// It is for payloads above max_message_size, up to max_large_message_size
// (docs/design.md, "Large messages"): the payload travels as chunks of at
// most max_message_size along the same tree as every message, then a
// manifest with its SHA-256; every node delivers it once, whole, after
// checking the digest. It returns the manifest's id, which is the id every
// node's Delegate.Deliver sees, once every part is handed to the protocol.
//
// BroadcastLarge streams: it reads r one chunk at a time (it reads exactly
// size bytes and nothing after them) and holds one chunk at a time itself.
// It waits while the delivery queue is above its high-water mark, or while
// an eager peer's transport queue holds more than the window
// (WithLargeWindow; only with a transport that implements SendQueueLener);
// a peer whose queue does not drain for a second is not waited for again
// during this message. It also paces itself (an adaptive rate that halves
// when peers pull from it) and, with large_send_rate set, waits for the
// node-wide cap that all of the node's BroadcastLarge calls share.
// Concurrent calls run together while their sizes add up to at most
// max_large_message_size (a receiver assembles twice that of one origin:
// the rest is room for a message still being completed there); a call that
// does not fit waits for earlier ones to return, in arrival order.
//
// Errors: ErrMessageTooLarge (size above max_large_message_size; nothing is
// sent), a read error or a reader shorter than size, ctx's error, ErrClosed,
// core.ErrInvalidHeaders, an admission error. An error after the first
// chunk leaves the chunks sent so far without a manifest: no node delivers
// them, and each gives them up when they expire (message_cache_ttl +
// clock_skew) or when its budget needs the room.
func (n *Node) BroadcastLarge(ctx context.Context, r io.Reader, size int64) (core.MessageID, error) {
	return n.BroadcastLargeWithHeaders(ctx, r, size, nil)
}

// BroadcastLargeWithHeaders is BroadcastLarge with headers that travel with
// the manifest and are delivered with the message. The manifest carries one
// header more (large.HeaderKey), so the headers (with those of the
// WithHeaderInjector functions) get one less than core.MaxHeaders and
// len(large.HeaderKey)+len(large.HeaderValue) bytes less than
// core.MaxHeaderBytes; over that, core.ErrInvalidHeaders before anything is
// sent.
func (n *Node) BroadcastLargeWithHeaders(ctx context.Context, r io.Reader, size int64, headers []core.Header) (core.MessageID, error) {
	limit := int64(n.cfg.MaxLargeMessageSize)
	switch {
	case limit == 0:
		return core.MessageID{}, errLargeDisabled
	case size < 0:
		return core.MessageID{}, fmt.Errorf("node: large message size %d is negative", size)
	case size > limit:
		return core.MessageID{}, fmt.Errorf("%w: %d bytes, max_large_message_size is %d", ErrMessageTooLarge, size, limit)
	}
	chunkSize := n.cfg.MaxMessageSize - large.ChunkOverhead // at least 256: Config.Validate
	if err := n.admit(ctx); err != nil {
		return core.MessageID{}, err
	}
	hs, err := n.publishHeaders(ctx, headers)
	if err != nil {
		return core.MessageID{}, err
	}
	marker := core.Header{Key: large.HeaderKey, Value: large.HeaderValue}
	chunkHeaders := []core.Header{marker}
	manHeaders := append(hs, marker)
	if err := core.CheckHeaders(manHeaders); err != nil {
		// Checked before the first chunk: nothing is sent.
		return core.MessageID{}, fmt.Errorf("%w (a large message's manifest also carries the %s header: one header and %d bytes of the limits)",
			err, large.HeaderKey, len(large.HeaderKey)+len(large.HeaderValue))
	}

	l := n.large
	if err := l.gate.acquire(ctx, size); err != nil {
		return core.MessageID{}, err
	}
	defer l.gate.release(size)
	transfer := uint64(n.clock.Now().UnixNano())
	for {
		last := l.lastTransfer.Load()
		transfer = max(transfer, last+1)
		if l.lastTransfer.CompareAndSwap(last, transfer) {
			break
		}
	}
	g := large.Geometry{Transfer: transfer, Size: size, ChunkSize: chunkSize}
	h := sha256.New()
	buf := make([]byte, chunkSize)
	w := newSendWindow(n.opts.largeWindow)
	for i := range g.Chunks() {
		c := buf[:g.ChunkLen(i)]
		if k, err := io.ReadFull(r, c); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				err = fmt.Errorf("node: large message: the reader ended after %d of %d bytes", int64(i)*int64(chunkSize)+int64(k), size)
			}
			return core.MessageID{}, err
		}
		h.Write(c)
		payload := large.AppendChunk(make([]byte, 0, len(c)+large.ChunkOverhead), g, i, c)
		if _, err := n.publishPart(ctx, payload, chunkHeaders, w); err != nil {
			return core.MessageID{}, err
		}
	}
	m := large.Manifest{Geometry: g, OriginTime: n.clock.Now()}
	copy(m.Digest[:], h.Sum(nil))
	id, err := n.publishPart(ctx, large.AppendManifest(nil, &m), manHeaders, w)
	if err != nil {
		return core.MessageID{}, err
	}
	l.sent.Add(1)
	l.sentBytes.Add(uint64(size))
	return id, nil
}

type queueProgress struct {
	len   int
	sent  uint64 // frames written to the peer (SendProgresser)
	since time.Time
}

// Pacing of BroadcastLarge (see docs/design.md, "Large messages"): the
// origin starts at largeStartRate, adds largeRateStep per chunk sent, and
// halves the rate (not below largeMinRate, at most once per largeCutEvery)
// whenever it is asked for a pull (a Graft): peers announced a chunk before
// their tree copy came, so the tree is behind the origin.
const (
	largeStartRate = 16 << 20  // bytes/s
	largeMinRate   = 256 << 10 // bytes/s
	largeRateStep  = 64 << 10  // bytes/s per chunk sent
	largeCutEvery  = 200 * time.Millisecond
)

// sendWindow is BroadcastLarge's view of its eager peers' send queues and
// of its pace. Used on the protocol goroutine only.
type sendWindow struct {
	size int
	seen map[core.PeerID]queueProgress // peers over the window: queue length and since when it has not shrunk
	skip map[core.PeerID]bool          // peers no longer waited for

	pace pacer
}

func newSendWindow(size int) *sendWindow {
	return &sendWindow{size: size, seen: map[core.PeerID]queueProgress{}, skip: map[core.PeerID]bool{}, pace: pacer{rate: largeStartRate}}
}

// pacer is BroadcastLarge's additive-increase, multiplicative-decrease
// pace.
type pacer struct {
	rate   float64   // bytes/s
	next   time.Time // earliest time for the next part
	grafts uint64    // the Grafts received at the last look
	seen   bool      // grafts is set
	cutAt  time.Time // last halving
}

// observe takes the node's count of Grafts received; it halves the rate
// (at most once per largeCutEvery, not below largeMinRate) when the count
// grew, and reports whether it did.
func (p *pacer) observe(now time.Time, grafts uint64) bool {
	grew := p.seen && grafts != p.grafts
	p.grafts, p.seen = grafts, true
	if !grew || (!p.cutAt.IsZero() && now.Sub(p.cutAt) < largeCutEvery) {
		return false
	}
	p.rate = max(p.rate/2, largeMinRate)
	p.cutAt = now
	return true
}

// ready reports whether the next part may go at now, else how long to
// wait.
func (p *pacer) ready(now time.Time) (bool, time.Duration) {
	if now.Before(p.next) {
		return false, p.next.Sub(now)
	}
	return true, 0
}

// sent paces the next part after one of size bytes went out at now.
func (p *pacer) sent(now time.Time, size int) {
	p.next = now.Add(time.Duration(float64(size) / p.rate * float64(time.Second)))
	p.rate += largeRateStep
}

// rateBucket is a token bucket of bytes: the node-wide cap of
// large_send_rate on the parts BroadcastLarge publishes. It holds at most
// burst bytes of credit (one max_message_size: parts go out evenly, not in
// bursts after a pause) and lets a part go whenever the credit is not
// negative, taking the part's size (the credit may go below zero by one
// part). Over any interval T it lets at most burst + one part + rate × T
// bytes go, and a sender that keeps it busy gets rate × T − one part. A
// rate of 0 lets everything go.
//
// A busy period (the first part after the bucket filled up: the node's
// first, or after a pause) starts at a random phase: the credit is set to
// burst − 2 × burst × phase(), so that part waits up to two part times.
// Why: nodes whose BroadcastLarge calls begin together (one event starts
// them all) with the same rate send their parts in step for the whole
// transfer, and every relay gets one part of each at the same moment, a
// queue each time that small messages wait behind. Measured over 4 MB/s
// links with the kernel's priority queue, 16 origins of 16 MiB at
// 0.15 MiB/s each, seeds 1 and 2 (docs/design.md, "A node-wide cap"):
// small messages' p90 / p99 to the last node 28 / 65 and 13 / 64 ms
// against 126 / 186 and 142 / 186 ms in step.
type rateBucket struct {
	rate   float64 // bytes/s; 0: no cap
	burst  float64 // bytes
	credit float64 // bytes, at most burst
	at     time.Time
	// phase returns a number in [0, 1) for the start of a busy period;
	// nil starts every busy period with the full burst.
	phase func() float64
}

// refill adds the credit earned since the last look.
func (b *rateBucket) refill(now time.Time) {
	if b.at.IsZero() {
		b.credit, b.at = b.burst, now
		return
	}
	if now.After(b.at) {
		b.credit = min(b.burst, b.credit+now.Sub(b.at).Seconds()*b.rate)
		b.at = now
	}
}

// ready reports whether a part may go at now, else how long until it may.
func (b *rateBucket) ready(now time.Time) (bool, time.Duration) {
	if b.rate <= 0 {
		return true, 0
	}
	b.refill(now)
	if b.phase != nil && b.credit >= b.burst {
		b.credit = b.burst - 2*b.burst*b.phase()
	}
	if b.credit >= 0 {
		return true, 0
	}
	return false, max(time.Duration(-b.credit/b.rate*float64(time.Second)), time.Microsecond)
}

// take charges a part of size bytes sent at now.
func (b *rateBucket) take(now time.Time, size int) {
	if b.rate <= 0 {
		return
	}
	b.refill(now)
	b.credit -= float64(size)
}

// open reports whether the next part may go now: its pacing time has come,
// the node's large_send_rate allows it, and every eager peer (not skipped)
// has at most size frames queued. When it may not, wait is a hint for how
// long to wait (0: unknown).
func (w *sendWindow) open(n *Node, now time.Time) (ok bool, wait time.Duration) {
	if w.pace.observe(now, n.proto.Stats().GraftReceived) {
		n.large.rateCuts.Add(1)
	}
	if ok, wait := w.pace.ready(now); !ok {
		return false, wait
	}
	if ok, wait := n.large.bucket.ready(now); !ok {
		n.large.rateWaits.Add(1)
		return false, wait
	}
	q, ok := n.tr.(SendQueueLener)
	if !ok {
		return true, 0
	}
	prog, _ := n.tr.(SendProgresser)
	open := true
	for _, p := range n.proto.EagerPeers() {
		var sent uint64
		if prog != nil {
			sent = prog.SentTo(p)
		}
		wait, stalled := w.waits(p, q.SendQueueLen(p), sent, now)
		if stalled {
			n.large.slowPrs.Add(1)
			n.log.Warn("Large message: peer "+string(p)+" does not drain its send queue; not waiting for it", "peer", string(p))
		}
		open = open && !wait
	}
	return open, 0
}

// waits reports whether the window waits for peer p, whose send queue holds
// l frames and to which sent frames were written so far: not while l is
// within the window; while it is above, as long as p makes progress (its
// queue shrank, or a frame was written to it, within largeStall). Then p
// is stalled: skipped for the rest of the message (stalled is true once).
// A queue that other traffic refills as fast as it drains is progress, not
// a stall: with a link shared by many transfers, that is the normal case,
// and skipping such a peer let the origin outrun the link.
func (w *sendWindow) waits(p core.PeerID, l int, sent uint64, now time.Time) (wait, stalled bool) {
	if w.skip[p] {
		return false, false
	}
	if l <= w.size {
		delete(w.seen, p)
		return false, false
	}
	pr, ok := w.seen[p]
	switch {
	case !ok || l < pr.len || sent != pr.sent:
		w.seen[p] = queueProgress{len: l, sent: sent, since: now}
		return true, false
	case now.Sub(pr.since) > largeStall:
		w.skip[p] = true
		return false, true
	default:
		return true, false
	}
}

// publishPart broadcasts one part, waiting (with backoff) while the
// delivery queue is above its high-water mark or the window is closed.
func (n *Node) publishPart(ctx context.Context, payload []byte, hs []core.Header, w *sendWindow) (core.MessageID, error) {
	backoff := 100 * time.Microsecond
	for {
		var (
			id   core.MessageID
			err  error
			wait bool
			hint time.Duration
		)
		if cerr := n.callCtx(ctx, func(now time.Time) {
			if n.queued() >= n.highWater || n.ovLen() > 0 {
				wait = true
				return
			}
			var ok bool
			if ok, hint = w.open(n, now); !ok {
				wait = true
				return
			}
			id, err = n.proto.Broadcast(now, payload, hs)
			if err == nil {
				w.pace.sent(now, len(payload))
				n.large.bucket.take(now, len(payload))
			}
		}); cerr != nil {
			return core.MessageID{}, cerr
		}
		if !wait {
			return id, err
		}
		n.large.waits.Add(1)
		d := backoff
		if hint > 0 {
			d = hint
		} else {
			backoff = min(2*backoff, 5*time.Millisecond)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return core.MessageID{}, ctx.Err()
		case <-n.stopped:
			t.Stop()
			return core.MessageID{}, ErrClosed
		}
	}
}

// bulkLane chooses the lane of each outbound frame when the transport has
// two (BulkSender). Used on the protocol goroutine only.
//
//   - Gossip and Repair frames of large-message parts go to the bulk lane,
//     and so does any other copy of an origin whose parts may still wait
//     in that peer's bulk lane: one origin's copies keep their order on a
//     link (the core takes a later copy of an origin arriving first as a
//     sign that the earlier one was lost).
//   - IHave and Prune frames go behind the bulk frames already queued for
//     the peer, if any: an announcement that overtook them would make the
//     peer pull what is already on its way; a Prune that overtook them
//     would make the peer take them for first copies from a lazy link and
//     link back.
//   - Everything else (ordinary copies, Grafts, digests, the link
//     protocol) goes to the urgent lane. A digest describes what this
//     node has now: held behind megabytes of chunks it would be stale on
//     arrival, and the peer would repair what this node received
//     meanwhile (measured: 20 × 16 MiB at N = 16 made 5,140 repairs with
//     digests in the bulk lane, 267 without lanes).
type bulkLane struct {
	tr BulkSender
	// origins holds, per peer, the origins whose parts went into its bulk
	// lane since its lane was last seen empty. A peer whose lane is seen
	// empty is forgotten (an unknown or removed peer's lane reads as
	// empty), so it holds at most the peers with queued bulk frames.
	origins map[core.PeerID]map[core.PeerID]struct{}
}

func newBulkLane(tr Transport) *bulkLane {
	b, ok := tr.(BulkSender)
	if !ok {
		return nil
	}
	return &bulkLane{tr: b, origins: map[core.PeerID]map[core.PeerID]struct{}{}}
}

// bulk reports whether m, to peer to, goes to the bulk lane; part tells
// whether m carries a large-message part.
func (b *bulkLane) bulk(to core.PeerID, m *core.Message, part bool) bool {
	switch m.Type {
	case core.MsgIHave, core.MsgPrune:
		return b.tr.BulkQueueLen(to) > 0
	case core.MsgGossip, core.MsgRepair:
	default:
		return false
	}
	s := b.origins[to]
	if part {
		if s == nil {
			b.sweep()
			s = map[core.PeerID]struct{}{}
			b.origins[to] = s
		}
		s[m.ID.Origin] = struct{}{}
		return true
	}
	if _, ok := s[m.ID.Origin]; !ok {
		return false
	}
	if b.tr.BulkQueueLen(to) == 0 {
		delete(b.origins, to)
		return false
	}
	return true
}

// backlog reports whether frames wait in to's bulk lane (see
// core.Protocol.SetBacklog).
func (b *bulkLane) backlog(to core.PeerID) bool { return b.tr.BulkQueueLen(to) > 0 }

// sweep forgets the peers whose bulk lane is empty.
func (b *bulkLane) sweep() {
	for p := range b.origins {
		if b.tr.BulkQueueLen(p) == 0 {
			delete(b.origins, p)
		}
	}
}
