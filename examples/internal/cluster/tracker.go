package cluster

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// payloadHeader is the prefix of every test payload: the send time (unix
// nanoseconds) and the origin's slot, so deliveries can be timed without a
// lookup by message id (the local delivery may precede Broadcast's return).
const payloadHeader = 12

// MakePayload returns a payload of size bytes (at least payloadHeader)
// stamped with now and the origin slot.
func MakePayload(size int, now time.Time, origin int) []byte {
	size = max(size, payloadHeader)
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b, uint64(now.UnixNano()))
	binary.BigEndian.PutUint32(b[8:], uint32(origin))
	for i := payloadHeader; i < size; i++ {
		b[i] = byte(i)
	}
	return b
}

func parsePayload(p []byte) (time.Time, int, bool) {
	if len(p) < payloadHeader {
		return time.Time{}, 0, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(p))), int(binary.BigEndian.Uint32(p[8:])), true
}

// message is what the tracker knows of one broadcast.
type message struct {
	id     core.MessageID
	sent   time.Time
	origin int
	got    []time.Time // per slot: first delivery time (zero: none)
	gen    []uint32    // per slot: generation of the node instance that got it
}

// Tracker records every delivery of every node slot. A slot is one node
// name; a restarted node is a new generation of its slot. Safe for concurrent
// use.
type Tracker struct {
	mu         sync.Mutex
	slots      int
	msgs       map[core.MessageID]*message
	order      []*message
	dups       int // the same instance delivered a message twice
	remote     int // deliveries with Hops > 0
	deliveries int
	foreign    int // payloads not made by MakePayload

	// Folded messages (see Fold): counted, their latencies in a histogram.
	folded    int
	foldedMax time.Duration
	hist      *latencyHist
	// The same for the folded messages sent at or after steadyFrom (see
	// SetSteadyFrom), so that ReportFrom can leave the warm-up out.
	steadyFrom      time.Time
	steadyFolded    int
	steadyFoldedMax time.Duration
	steadyHist      *latencyHist
}

// SetSteadyFrom sets the start of the steady state: ReportFrom(from) leaves
// out the messages sent before it, folded ones included. Call it before the
// first Fold.
func (t *Tracker) SetSteadyFrom(from time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.steadyFrom = from
}

// ReportFrom is Report for the messages sent at or after the SetSteadyFrom
// time.
func (t *Tracker) ReportFrom(expect []int, since []time.Time) Report {
	t.mu.Lock()
	from := t.steadyFrom
	t.mu.Unlock()
	return t.report(func(sent time.Time, _ int) bool { return !sent.Before(from) }, expect, since, true)
}

// NewTracker returns a Tracker for slots node slots.
func NewTracker(slots int) *Tracker {
	return &Tracker{slots: slots, msgs: make(map[core.MessageID]*message)}
}

func (t *Tracker) record(id core.MessageID, sent time.Time, origin int) *message {
	m := t.msgs[id]
	if m == nil {
		m = &message{id: id, sent: sent, origin: origin, got: make([]time.Time, t.slots), gen: make([]uint32, t.slots)}
		t.msgs[id] = m
		t.order = append(t.order, m)
	}
	return m
}

// Delivered records that the instance gen of slot delivered d at now.
func (t *Tracker) Delivered(slot int, gen uint32, d core.Delivery, now time.Time) {
	sent, origin, ok := parsePayload(d.Payload)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ok {
		t.foreign++
		return
	}
	m := t.record(d.ID, sent, origin)
	t.deliveries++
	if d.Hops > 0 {
		t.remote++
	}
	if slot < 0 || slot >= t.slots {
		return
	}
	if !m.got[slot].IsZero() && m.gen[slot] == gen {
		t.dups++
		return
	}
	m.got[slot], m.gen[slot] = now, gen
}

// Sent registers a broadcast (its local delivery may already have done so).
func (t *Tracker) Sent(id core.MessageID, sent time.Time, origin int) {
	t.mu.Lock()
	t.record(id, sent, origin)
	t.mu.Unlock()
}

// Counts returns the total deliveries, those that crossed the network
// (hops > 0) and the duplicate deliveries (the same node instance delivering
// a message twice: must be 0).
func (t *Tracker) Counts() (deliveries, remote, dups int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.deliveries, t.remote, t.dups
}

// Fold forgets the details of the messages sent before cutoff that reached
// every slot, keeping only their count and their times to the last slot in
// a histogram (buckets within 1.6 %), so that a long run's tracker does not
// grow with the messages sent. It returns how many it folded. A message that
// reached every slot stays complete for any later Report, so folding
// changes no count, but Reports count folded messages whatever their
// include says: fold only messages every later include accepts (Run folds
// messages older than its progress' settle time, and only without kills).
func (t *Tracker) Fold(cutoff time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept, n := t.order[:0], 0
	for _, m := range t.order {
		if !m.sent.Before(cutoff) || !t.everywhere(m) {
			kept = append(kept, m)
			continue
		}
		var last time.Time
		for _, g := range m.got {
			if g.After(last) {
				last = g
			}
		}
		lat := max(last.Sub(m.sent), 0)
		if t.hist == nil {
			t.hist = new(latencyHist)
		}
		t.hist.add(lat)
		t.foldedMax = max(t.foldedMax, lat)
		t.folded++
		if !t.steadyFrom.IsZero() && !m.sent.Before(t.steadyFrom) {
			if t.steadyHist == nil {
				t.steadyHist = new(latencyHist)
			}
			t.steadyHist.add(lat)
			t.steadyFoldedMax = max(t.steadyFoldedMax, lat)
			t.steadyFolded++
		}
		delete(t.msgs, m.id)
		n++
	}
	clear(t.order[len(kept):])
	t.order = kept
	return n
}

// Folded returns how many messages were folded.
func (t *Tracker) Folded() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.folded
}

func (t *Tracker) everywhere(m *message) bool {
	for _, g := range m.got {
		if g.IsZero() {
			return false
		}
	}
	return true
}

// Report summarises the messages selected by include, each expected at the
// slots of expect (for which since[slot], when not zero, must precede the
// send: a node restarted after the send is not expected to have it).
type Report struct {
	Messages   int           // messages considered
	Complete   int           // reached every expected slot
	Expected   int           // (message, slot) pairs expected
	Delivered  int           // of which delivered
	P50, P99   time.Duration // time to last delivery, over complete messages
	Max        time.Duration
	Latencies  []time.Duration // per complete message not folded, in send order
	SentTimes  []time.Time     // per complete message not folded
	Incomplete []core.MessageID
}

// DeliveryPct returns Delivered / Expected in percent (100 when nothing was
// expected).
func (r Report) DeliveryPct() float64 {
	if r.Expected == 0 {
		return 100
	}
	return 100 * float64(r.Delivered) / float64(r.Expected)
}

// Report computes a Report. include selects messages by send time and
// origin; expect lists the slots that must have them; since (may be nil)
// gives per slot the time from which it is expected to receive. Folded
// messages are all counted, complete and delivered to every slot of expect;
// with any folded, P50 and P99 come from the histogram (within 1.6 %).
func (t *Tracker) Report(include func(sent time.Time, origin int) bool, expect []int, since []time.Time) Report {
	return t.report(include, expect, since, false)
}

// report is Report; steady counts the folded messages of the steady state
// (ReportFrom) instead of every folded message.
func (t *Tracker) report(include func(sent time.Time, origin int) bool, expect []int, since []time.Time, steady bool) Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	folded, foldedMax, hist := t.folded, t.foldedMax, t.hist
	if steady {
		folded, foldedMax, hist = t.steadyFolded, t.steadyFoldedMax, t.steadyHist
	}
	var r Report
	for _, m := range t.order {
		if include != nil && !include(m.sent, m.origin) {
			continue
		}
		r.Messages++
		var last time.Time
		complete := true
		for _, s := range expect {
			if since != nil && !since[s].IsZero() && m.sent.Before(since[s]) {
				continue
			}
			r.Expected++
			if m.got[s].IsZero() || (since != nil && m.got[s].Before(since[s])) {
				complete = false
				continue
			}
			r.Delivered++
			if m.got[s].After(last) {
				last = m.got[s]
			}
		}
		if !complete {
			if len(r.Incomplete) < 20 {
				r.Incomplete = append(r.Incomplete, m.id)
			}
			continue
		}
		r.Complete++
		lat := max(last.Sub(m.sent), 0)
		r.Latencies = append(r.Latencies, lat)
		r.SentTimes = append(r.SentTimes, m.sent)
	}
	if folded > 0 {
		r.Messages += folded
		r.Complete += folded
		r.Expected += folded * len(expect)
		r.Delivered += folded * len(expect)
		h := *hist
		for _, l := range r.Latencies {
			h.add(l)
		}
		r.P50, r.P99 = h.quantile(50), h.quantile(99)
		r.Max = foldedMax
		for _, l := range r.Latencies {
			r.Max = max(r.Max, l)
		}
		return r
	}
	if n := len(r.Latencies); n > 0 {
		sorted := slices.Clone(r.Latencies)
		slices.Sort(sorted)
		r.P50 = sorted[(n-1)*50/100]
		r.P99 = sorted[(n-1)*99/100]
		r.Max = sorted[n-1]
	}
	return r
}

// latencyHist is a log-linear histogram of durations: exact below 128 ns,
// then 64 buckets per power of two (each within 1/64 of its value).
type latencyHist struct {
	n      uint64
	counts [histBuckets]uint64
}

const histBuckets = 58*64 + 128

func histIndex(v uint64) int {
	if v < 128 {
		return int(v)
	}
	e := bits.Len64(v) - 7 // v>>e is in [64, 128)
	return e*64 + int(v>>e)
}

// histValue returns the middle of bucket i.
func histValue(i int) uint64 {
	if i < 128 {
		return uint64(i)
	}
	e := i/64 - 1
	return uint64(i-e*64)<<e + (uint64(1)<<e)/2
}

func (h *latencyHist) add(d time.Duration) {
	h.counts[histIndex(uint64(max(d, 0)))]++
	h.n++
}

// quantile returns the p-th percentile as Report computes it for sorted
// latencies: the value of rank (n-1)*p/100.
func (h *latencyHist) quantile(p int) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := (h.n - 1) * uint64(p) / 100
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			return time.Duration(histValue(i))
		}
	}
	return 0
}
