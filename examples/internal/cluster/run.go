package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// RunOptions configures Run (the examples/cluster job).
type RunOptions struct {
	Cluster Options
	// Rate is the cluster-wide broadcast rate (messages per second).
	// Default 50.
	Rate float64
	// Duration is how long messages are broadcast. Default 10 s.
	Duration time.Duration
	// Size is the payload size in bytes. Default 1024.
	Size int
	// Kill is the fraction of nodes killed hard half-way through (0: none),
	// rounded down, at least one (see KillCount).
	Kill float64
	// Out receives the live progress and the summary. Default io.Discard.
	Out io.Writer
	// TTY redraws a table in place; otherwise plain lines are printed.
	TTY bool
	// Progress is the refresh period. Default 250 ms on a TTY, 1 s
	// otherwise.
	Progress time.Duration
	// FormTimeout bounds the wait for the cluster to form. Default 30 s.
	FormTimeout time.Duration
	// DrainTimeout bounds the wait for the last deliveries. Default 15 s.
	DrainTimeout time.Duration
	// Seed seeds the choice of origins and victims (0: random).
	Seed uint64
	// HeapEvery is the period of the heap samples taken while
	// broadcasting. Default 1 s.
	HeapEvery time.Duration
	// Warmup is the start of the broadcasting whose heap samples the
	// summary ignores (caches filling, tables growing). Default a fifth of
	// Duration.
	Warmup time.Duration
	// Burst, when above 0, broadcasts this many messages back to back
	// (from random live nodes, as fast as the nodes accept them) after the
	// steady traffic has been delivered, and reports the burst's delivery
	// and RMR separately.
	Burst int
	// MaxHeapGrowth, when above 0, fails the run if the live heap after
	// the warm-up grows by more than this fraction (see HeapGrowth), or if
	// fewer than 5 samples were taken after the warm-up.
	MaxHeapGrowth float64
}

// Phase summarises the messages sent before or after the kill.
type Phase struct {
	Sent        int
	DeliveryPct float64
	P50, P99    time.Duration
}

// Summary is the outcome of Run.
type Summary struct {
	Nodes       int
	Killed      []string
	Survivors   int
	FormTime    time.Duration
	Sent        int
	Refused     int // broadcasts refused (backpressure)
	Complete    int // messages that reached every live node
	DeliveryPct float64
	Duplicates  int // deliveries of a message the node had already delivered (must be 0)
	RMR         float64
	// RemoteDeliveries counts deliveries over the network (not the
	// origin's own); PayloadSends the payload messages sent, including
	// those sent to dead peers before failure detection.
	RemoteDeliveries int
	PayloadSends     uint64
	P50, P99         time.Duration
	Max              time.Duration
	Before           Phase // with Kill: messages sent before the kill
	After            Phase // and after it
	// Steady: the messages sent after the warm-up (RunOptions.Warmup),
	// whose first deliveries also dial the connections and prune the tree.
	Steady       Phase
	DetectTime   time.Duration
	Detected     bool
	RepairTime   time.Duration
	Peers        []PeerRow
	Incomplete   []core.MessageID
	DrainTimeout bool
	// Heap: the live heap after the warm-up and the caches.
	Heap HeapSummary
	// SteadyWire: the wire traffic from the end of the warm-up (the tree
	// has formed) to the last delivery of the steady traffic.
	SteadyWire Window
	// Burst: the back-to-back burst (RunOptions.Burst), if any.
	BurstSent, BurstComplete int
	BurstWindow              Window
	BurstP99                 time.Duration
}

// Window is the wire traffic between two moments.
type Window struct {
	Wire       WireSnapshot
	Remote     int    // deliveries over the network
	Firsts     uint64 // first copies of core messages received from a peer (per chunk for large messages)
	Redundant  uint64
	Deliveries int
}

// ControlPerDelivery is the control frames sent per delivery over the
// network.
func (w Window) ControlPerDelivery() float64 {
	f, _ := w.Wire.Control()
	return float64(f) / float64(max(w.Remote, 1))
}

// ControlByteShare is the control bytes' share of all bytes sent.
func (w Window) ControlByteShare() float64 {
	_, b := w.Wire.Control()
	_, t := w.Wire.Total()
	return float64(b) / float64(max(t, 1))
}

// RMR is the redundant payload copies per first copy over the network.
func (w Window) RMR() float64 { return float64(w.Redundant) / float64(max(w.Firsts, 1)) }

type windowMark struct {
	wire   WireSnapshot
	remote int
	firsts uint64
	dups   uint64
}

func (c *Cluster) mark() windowMark {
	_, remote, _ := c.Tracker.Counts()
	return windowMark{wire: c.Wire.Snapshot(), remote: remote, firsts: c.FirstCopies(), dups: c.RedundantCopies()}
}

func (c *Cluster) since(m windowMark) Window {
	now := c.mark()
	return Window{Wire: now.wire.Sub(m.wire), Remote: now.remote - m.remote, Firsts: now.firsts - m.firsts, Redundant: now.dups - m.dups}
}

// Delivered reports whether every message reached every live node exactly
// once.
func (s Summary) Delivered() bool {
	return s.Sent > 0 && s.Complete == s.Sent && s.Duplicates == 0 && !s.DrainTimeout
}

// OK reports whether every message reached every live node exactly once
// and, with RunOptions.MaxHeapGrowth, the heap stayed flat.
func (s Summary) OK() bool { return s.Delivered() && !s.Heap.Exceeded }

// Run starts a cluster, waits until it has formed, broadcasts for the
// configured duration from random live nodes while printing progress,
// optionally kills a fraction of the nodes half-way, waits for the last
// deliveries, stops the cluster and returns the summary (also printed).
func Run(ctx context.Context, o RunOptions) (Summary, error) {
	if o.Rate == 0 {
		o.Rate = 50
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Size == 0 {
		o.Size = 1024
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Progress == 0 {
		o.Progress = time.Second
		if o.TTY {
			o.Progress = 250 * time.Millisecond
		}
	}
	if o.FormTimeout == 0 {
		o.FormTimeout = 30 * time.Second
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 15 * time.Second
	}
	if o.HeapEvery == 0 {
		o.HeapEvery = time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = o.Duration / 5
	}
	if o.Cluster.Nodes == 0 {
		o.Cluster.Nodes = 5
	}
	switch {
	case o.Rate <= 0 || math.IsInf(o.Rate, 0) || math.IsNaN(o.Rate):
		return Summary{}, fmt.Errorf("rate %v: must be > 0", o.Rate)
	case o.Duration < 0:
		return Summary{}, fmt.Errorf("duration %v: must be > 0", o.Duration)
	case o.Size < payloadHeader:
		return Summary{}, fmt.Errorf("size %d: must be at least %d bytes", o.Size, payloadHeader)
	case o.Burst < 0:
		return Summary{}, fmt.Errorf("burst %d: must be >= 0", o.Burst)
	case o.Cluster.Loss < 0 || o.Cluster.Loss >= 1:
		return Summary{}, fmt.Errorf("loss %v: must be in [0, 1)", o.Cluster.Loss)
	case o.Kill < 0 || o.Kill >= 1:
		return Summary{}, fmt.Errorf("kill %v: must be in [0, 1)", o.Kill)
	case o.Cluster.Nodes < 2:
		return Summary{}, fmt.Errorf("nodes %d: must be at least 2", o.Cluster.Nodes)
	case o.HeapEvery < 0 || o.Warmup < 0 || o.Warmup >= o.Duration:
		return Summary{}, fmt.Errorf("warm-up %v: must be in [0, duration %v)", o.Warmup, o.Duration)
	case o.MaxHeapGrowth < 0 || math.IsNaN(o.MaxHeapGrowth):
		return Summary{}, fmt.Errorf("max heap growth %v: must be >= 0", o.MaxHeapGrowth)
	case o.MaxHeapGrowth > 0 && int((o.Duration-o.Warmup)/o.HeapEvery) < minHeapSamples:
		return Summary{}, fmt.Errorf("max heap growth needs at least %d heap samples after the warm-up: %v of broadcasting after a %v warm-up at one sample per %v is too short",
			minHeapSamples, o.Duration-o.Warmup, o.Warmup, o.HeapEvery)
	}
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	sum := Summary{Nodes: o.Cluster.Nodes}
	fmt.Fprintf(o.Out, "starting %d nodes on 127.0.0.1 (memberlist + TCP on one port each, preset %s)...\n", o.Cluster.Nodes, presetName(o.Cluster.Preset))
	start := time.Now()
	c, err := Start(ctx, o.Cluster)
	if err != nil {
		return sum, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Close(cctx)
	}()
	fctx, cancel := context.WithTimeout(ctx, o.FormTimeout)
	err = c.WaitFormed(fctx)
	cancel()
	if err != nil {
		return sum, err
	}
	sum.FormTime = time.Since(start)
	fmt.Fprintf(o.Out, "cluster formed in %v: every node sees %d peers\n", sum.FormTime.Round(time.Millisecond), o.Cluster.Nodes-1)

	// Victims are chosen up front and stop originating messages a moment
	// before they are killed, so that no message dies with its origin
	// before it left it.
	var victims map[int]bool
	nKill := KillCount(o.Kill, o.Cluster.Nodes)
	if nKill > 0 {
		fmt.Fprintf(o.Out, "will kill %d of %d nodes (no leave) at t=%.1fs: -kill %g rounded down, at least one\n",
			nKill, o.Cluster.Nodes, (o.Duration / 2).Seconds(), o.Kill)
		victims = make(map[int]bool)
		for _, i := range rng.Perm(o.Cluster.Nodes)[:nKill] {
			victims[i] = true
		}
	}
	killAt := o.Duration / 2
	quiet := min(time.Second, o.Duration/4)

	heap := newHeapReader()
	var samples []HeapSample
	p := &progress{out: o.Out, tty: o.TTY, c: c, opts: &o}
	interval := time.Duration(float64(time.Second) / o.Rate)
	send := time.NewTicker(max(interval, 100*time.Microsecond))
	defer send.Stop()
	show := time.NewTicker(o.Progress)
	defer show.Stop()
	watch := time.NewTicker(20 * time.Millisecond)
	defer watch.Stop()
	mem := time.NewTicker(o.HeapEvery)
	defer mem.Stop()

	t0 := time.Now()
	c.Tracker.SetSteadyFrom(t0.Add(o.Warmup))
	var killTime time.Time
	killed := false
	sendEnd := t0.Add(o.Duration)
	due := 0.0 // messages owed at the configured rate (catch up after slow ticks)
	last := t0
	steadyFrom := c.mark()
	marked := false
loop:
	for {
		select {
		case <-ctx.Done():
			return sum, ctx.Err()
		case now := <-send.C:
			if !now.Before(sendEnd) {
				break loop
			}
			if nKill > 0 && !killed && now.Sub(t0) >= killAt {
				killTime = time.Now()
				for _, i := range slices.Sorted(maps.Keys(victims)) {
					c.Kill(i)
					sum.Killed = append(sum.Killed, c.Member(i).Name)
				}
				killed = true
				p.line(fmt.Sprintf("killed %s (no leave) at t=%.1fs", strings.Join(sum.Killed, ", "), killTime.Sub(t0).Seconds()))
			}
			if !marked && now.Sub(t0) >= o.Warmup {
				steadyFrom, marked = c.mark(), true
			}
			due += now.Sub(last).Seconds() * o.Rate
			last = now
			origins := c.Live()
			if nKill > 0 && !killed && now.Sub(t0) >= killAt-quiet {
				origins = without(origins, victims)
			}
			for ; due >= 1 && len(origins) > 0; due-- {
				from := pick(rng, origins)
				if _, err := c.Broadcast(ctx, from, o.Size); err != nil {
					if errors.Is(err, core.ErrBackpressure) {
						sum.Refused++
						continue
					}
					return sum, fmt.Errorf("broadcast from %s: %w", c.Member(from).Name, err)
				}
				sum.Sent++
			}
		case <-watch.C:
			if killed && !sum.Detected {
				if ok, _ := c.Formed(); ok {
					sum.Detected, sum.DetectTime = true, time.Since(killTime)
					p.line(fmt.Sprintf("failure detected: survivors removed the dead peers %.2fs after the kill", sum.DetectTime.Seconds()))
				}
			}
		case <-mem.C:
			at := time.Since(t0)
			if at > o.Duration {
				continue
			}
			hs := heap.read(at)
			samples = append(samples, hs)
			p.heap = &hs
			if nKill == 0 {
				// Keep the tracker flat over a long run: fold what every
				// node has and the progress counts as settled.
				c.Tracker.Fold(time.Now().Add(-2 * settle))
			}
		case <-show.C:
			p.render(time.Since(t0), sum.Sent)
		}
	}
	p.render(time.Since(t0), sum.Sent)
	sum.Heap = SummarizeHeap(samples, o.Warmup, o.MaxHeapGrowth)
	sum.Heap.Caches = c.Caches()

	// Wait for the last deliveries (and for failure detection, which
	// removes dead peers from the tree).
	dctx, cancel := context.WithTimeout(ctx, o.DrainTimeout)
	r, err := c.WaitDelivered(dctx, nil)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
		sum.DrainTimeout = true
	}
	if killed && !sum.Detected {
		dctx, cancel := context.WithTimeout(ctx, o.DrainTimeout)
		if c.WaitFormed(dctx) == nil {
			sum.Detected, sum.DetectTime = true, time.Since(killTime)
		}
		cancel()
	}
	sum.SteadyWire = c.since(steadyFrom)
	if o.Burst > 0 && !sum.DrainTimeout {
		from := c.mark()
		bstart := time.Now()
		for sum.BurstSent < o.Burst {
			origins := c.Live()
			if _, err := c.Broadcast(ctx, pick(rng, origins), o.Size); err != nil {
				if errors.Is(err, core.ErrBackpressure) {
					time.Sleep(time.Millisecond) // the node's queue is full: let it drain
					continue
				}
				return sum, err
			}
			sum.BurstSent++
		}
		dctx, cancel := context.WithTimeout(ctx, o.DrainTimeout+time.Duration(o.Burst)*time.Millisecond)
		br, err := c.WaitDelivered(dctx, func(sent time.Time, _ int) bool { return !sent.Before(bstart) })
		cancel()
		if err != nil && ctx.Err() != nil {
			return sum, ctx.Err()
		}
		sum.BurstWindow = c.since(from)
		sum.BurstP99 = br.P99
		sum.Sent += sum.BurstSent
		if err != nil {
			sum.DrainTimeout = true
		}
		// Reports count folded (settled) messages whatever include says:
		// the burst's share is the difference of two complete reports.
		all := c.Tracker.Report(nil, c.Live(), c.Since())
		sum.BurstComplete = all.Complete - r.Complete
		r.Complete = all.Complete
	}
	p.finish()

	live := c.Live()
	sum.Survivors = len(live)
	sum.Complete = r.Complete
	sum.DeliveryPct = r.DeliveryPct()
	sum.P50, sum.P99, sum.Max = r.P50, r.P99, r.Max
	sum.Incomplete = r.Incomplete
	_, remote, dups := c.Tracker.Counts()
	sum.Duplicates = dups
	sum.RMR = c.RMR()
	sum.RemoteDeliveries = remote
	sum.PayloadSends = c.GossipSent()
	if killed {
		since := c.Since()
		before := c.Tracker.Report(func(sent time.Time, _ int) bool { return sent.Before(killTime) }, live, since)
		after := c.Tracker.Report(func(sent time.Time, _ int) bool { return !sent.Before(killTime) }, live, since)
		sum.Before = Phase{Sent: before.Messages, DeliveryPct: before.DeliveryPct(), P50: before.P50, P99: before.P99}
		sum.After = Phase{Sent: after.Messages, DeliveryPct: after.DeliveryPct(), P50: after.P50, P99: after.P99}
		// Repair: when the last delivery slowed down by the failure (more
		// than twice the p99 before the kill, at least 50 ms) completed.
		threshold := max(2*before.P99, 50*time.Millisecond)
		for i, lat := range after.Latencies {
			if lat > threshold {
				if d := after.SentTimes[i].Add(lat).Sub(killTime); d > sum.RepairTime {
					sum.RepairTime = d
				}
			}
		}
	}
	steady := c.Tracker.ReportFrom(live, c.Since())
	sum.Steady = Phase{Sent: steady.Messages, DeliveryPct: steady.DeliveryPct(), P50: steady.P50, P99: steady.P99}
	sum.Peers = c.Peers()
	printSummary(o.Out, &o, sum)
	return sum, nil
}

// MinSize is the smallest payload the job sends (its header: origin slot,
// sequence and send time).
const MinSize = payloadHeader

// KillCount is the number of nodes a Kill fraction kills: the fraction of
// the nodes rounded down (0.3 of 5 is 1, of 10 is 3), at least one when the
// fraction is above 0, and never every node.
func KillCount(frac float64, nodes int) int {
	if frac <= 0 || nodes < 2 {
		return 0
	}
	// The epsilon keeps 0.29 × 100 = 28.999999999999996 at 29.
	n := int(math.Floor(frac*float64(nodes) + 1e-9))
	return min(max(n, 1), nodes-1)
}

func presetName(p string) string {
	if p == "" {
		return "local"
	}
	return p
}

func without(slots []int, drop map[int]bool) []int {
	out := slots[:0:0]
	for _, s := range slots {
		if !drop[s] {
			out = append(out, s)
		}
	}
	return out
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func printSummary(w io.Writer, o *RunOptions, s Summary) {
	fmt.Fprintf(w, "\n=== summary ===\n")
	fmt.Fprintf(w, "nodes             %d (%d killed, %d live)\n", s.Nodes, len(s.Killed), s.Survivors)
	fmt.Fprintf(w, "messages          %d sent (%d B, %.0f msg/s for %v)", s.Sent, o.Size, o.Rate, o.Duration)
	if s.Refused > 0 {
		fmt.Fprintf(w, ", %d refused by backpressure", s.Refused)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "delivered         %.2f%% of (message, live node) pairs; %d/%d messages reached every live node\n", s.DeliveryPct, s.Complete, s.Sent)
	fmt.Fprintf(w, "duplicates        %d (exactly-once delivery)\n", s.Duplicates)
	fmt.Fprintf(w, "RMR               %.3f (redundant payload copies received per delivery; 0 = a perfect tree)\n", s.RMR)
	fmt.Fprintf(w, "payload sends     %d for %d deliveries over the network (%.2f per delivery)\n", s.PayloadSends, s.RemoteDeliveries, float64(s.PayloadSends)/float64(max(s.RemoteDeliveries, 1)))
	if o.Duration > 0 {
		fmt.Fprintf(w, "throughput        %.2f MiB/s delivered over the network (%d deliveries of %d B in %v of broadcasting)", float64(s.RemoteDeliveries)*float64(o.Size)/(1<<20)/o.Duration.Seconds(), s.RemoteDeliveries, o.Size, o.Duration)
		if o.Size > core.DefaultConfig().MaxMessageSize {
			fmt.Fprintf(w, "; large messages: payload sends and RMR count chunks and manifests")
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "time to last node p50 %s  p99 %s  max %s (every message, the warm-up included)\n", ms(s.P50), ms(s.P99), ms(s.Max))
	if s.Steady.Sent > 0 {
		fmt.Fprintf(w, "  after warm-up   %d msgs sent after the first %v (the warm-up dials connections and prunes the tree), p50 %s p99 %s\n",
			s.Steady.Sent, o.Warmup, ms(s.Steady.P50), ms(s.Steady.P99))
	}
	printWindow(w, "after warm-up", s.SteadyWire)
	if s.BurstSent > 0 {
		fmt.Fprintf(w, "burst             %d messages back to back: %d reached every live node, p99 %s\n", s.BurstSent, s.BurstComplete, ms(s.BurstP99))
		printWindow(w, "burst", s.BurstWindow)
	}
	printHeap(w, s.Heap)
	if len(s.Killed) > 0 {
		fmt.Fprintf(w, "healing           killed %s\n", strings.Join(s.Killed, ", "))
		fmt.Fprintf(w, "  before the kill %d msgs, %.2f%% delivered, p50 %s p99 %s\n", s.Before.Sent, s.Before.DeliveryPct, ms(s.Before.P50), ms(s.Before.P99))
		fmt.Fprintf(w, "  after the kill  %d msgs, %.2f%% delivered, p50 %s p99 %s\n", s.After.Sent, s.After.DeliveryPct, ms(s.After.P50), ms(s.After.P99))
		if s.Detected {
			fmt.Fprintf(w, "  failure detected %.2fs after the kill (memberlist removed the dead peers)\n", s.DetectTime.Seconds())
		} else {
			fmt.Fprintf(w, "  failure not detected within the run\n")
		}
		if s.RepairTime > 0 {
			fmt.Fprintf(w, "  tree repaired   %.2fs after the kill (last delivery slowed by the failure)\n", s.RepairTime.Seconds())
		} else {
			fmt.Fprintf(w, "  tree repaired   at once (no delivery slowed down by the failure)\n")
		}
	}
	fmt.Fprintf(w, "tree              ")
	if len(s.Peers) > maxNodeRows {
		fmt.Fprintln(w, distribution(s.Peers))
		s.Peers = nil
	}
	for i, r := range s.Peers {
		if i > 0 {
			fmt.Fprint(w, "  ")
		}
		if r.Up {
			fmt.Fprintf(w, "%s %d/%d", r.Name, r.Eager, r.Lazy)
		} else {
			fmt.Fprintf(w, "%s down", r.Name)
		}
	}
	if s.Peers != nil {
		fmt.Fprintln(w, "   (eager/lazy)")
	}
	if s.OK() {
		fmt.Fprintf(w, "OK: every message reached every live node exactly once")
		if s.Heap.MaxGrowth > 0 {
			fmt.Fprintf(w, "; live heap flat after the warm-up (%+.1f%%, limit %.0f%%)", 100*s.Heap.Growth, 100*s.Heap.MaxGrowth)
		}
		fmt.Fprintln(w)
		return
	}
	if v := s.Heap.Verdict(); v != "" {
		fmt.Fprintf(w, "FAIL: %s\n", v)
	}
	if s.DrainTimeout {
		fmt.Fprintf(w, "FAIL: %d messages did not reach every live node (e.g. %v)\n", s.Sent-s.Complete, s.Incomplete)
	}
	if s.Duplicates > 0 {
		fmt.Fprintf(w, "FAIL: %d duplicate deliveries\n", s.Duplicates)
	}
	if s.Sent == 0 {
		fmt.Fprintf(w, "FAIL: nothing was sent\n")
	}
}

// printHeap prints the summary's memory line: the live heap after the
// warm-up (min–max, last, growth between the medians of the first and last
// fifth) and the mean cache per node.
func printHeap(w io.Writer, h HeapSummary) {
	fmt.Fprintf(w, "heap (live)       ")
	if h.Samples == 0 {
		fmt.Fprintf(w, "no sample after the %v warm-up", h.Warmup)
	} else {
		fmt.Fprintf(w, "%.1f–%.1f MiB after the %v warm-up, last %.1f", float64(h.Min)/(1<<20), float64(h.Max)/(1<<20), h.Warmup, float64(h.Last)/(1<<20))
		if h.Judged {
			fmt.Fprintf(w, ", growth %+.1f%%", 100*h.Growth)
		}
	}
	if len(h.Caches) > 0 {
		e, b := h.CacheMean()
		fmt.Fprintf(w, "; cache %.0f entries, %.1f MiB per node", e, b/(1<<20))
	}
	fmt.Fprintln(w)
}

// printWindow prints the wire traffic of a window: control frames per
// delivery by type, the control bytes' share, the RMR.
func printWindow(w io.Writer, name string, win Window) {
	names := map[int]string{1: "gossip", 2: "ihave", 3: "graft", 4: "prune", 5: "join", 6: "join_reply", 7: "disconnect", 8: "digest", 9: "repair"}
	cf, cb := win.Wire.Control()
	_, tb := win.Wire.Total()
	fmt.Fprintf(w, "wire (%s) %d deliveries: control %.3f frames per delivery (", name, win.Remote, win.ControlPerDelivery())
	first := true
	for i, f := range win.Wire.Frames {
		if i == gossipType || f == 0 {
			continue
		}
		if !first {
			fmt.Fprint(w, ", ")
		}
		first = false
		n := names[i]
		if n == "" {
			n = fmt.Sprintf("type %d", i)
		}
		fmt.Fprintf(w, "%s %.3f", n, float64(f)/float64(max(win.Remote, 1)))
	}
	fmt.Fprintf(w, "), %d control frames, %.1f%% of %.1f MiB; RMR %.3f", cf, 100*win.ControlByteShare(), float64(tb)/(1<<20), win.RMR())
	if win.Wire.Dropped > 0 {
		fmt.Fprintf(w, "; %d frames dropped by the injected loss", win.Wire.Dropped)
	}
	_ = cb
	fmt.Fprintln(w)
}
