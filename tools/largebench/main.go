// Command largebench measures large messages (node.BroadcastLarge) on one
// machine: N nodes in this process over real TCP on loopback, every node a
// peer of every other, one or more large broadcasts from different origins,
// optionally with frame loss on every link. It reports, per run: whether
// every node delivered every message exactly once with the right bytes,
// the time to the last node, the bytes all transports wrote per delivered
// byte, the time one plain TCP copy of the payload takes between two sockets
// on the same loopback in the same run, chunk pulls and repairs, and the
// peak heap.
//
//	go run ./largebench -nodes 32 -size 64MiB
//	go run ./largebench -nodes 8 -size 256MiB
//	go run ./largebench -nodes 16 -size 16MiB -origins 20
//	go run ./largebench -nodes 16 -size 16MiB -origins 4 -small-rate 20
//	go run ./largebench -nodes 16 -size 16MiB -origins 20 -small-rate 20 -large-rate 0.25
//	go run ./largebench -nodes 16 -size 8MiB -drop 0.05
//	go run ./largebench -nodes 16 -size 1MiB -origins 20 -small-rate 20 -idle 10s -views
//	go run ./largebench -nodes 16 -size 16MiB -origins 20 -small-rate 20 -cache
//
// Nodes store payloads in the core's default MemStore, bounded by message
// count and by core.DefaultMemStoreBytes (one list for all messages: 64 MiB,
// and the largest large message's size and an eighth); -cache gives them the cache module as the examples build it
// (cache.ConfigFromCore: 64 MiB of ordinary messages and a list of its own
// for large messages' parts).
//
// Manual runs may pin the addresses: -ip 127.0.3.1 -port 23000 gives node
// i port 23000+i (the TCP copy uses the port after the last node).
// -distinct-ips gives node i the address -ip + i instead, for both its
// listener and its dials.
//
// On one machine the CPU, not a link, bounds a transfer to many nodes.
// shaped-links.sh (root, iproute2) limits the links instead: it runs this
// command in a network namespace of its own, nodes on distinct addresses,
// every pair's link (-m pair) or every node's uplink and downlink (-m node)
// shaped by tc:
//
//	tools/largebench/shaped-links.sh -m pair -r 32mbit -n 32 -- -size 64MiB
//	tools/largebench/shaped-links.sh -m node -r 32mbit -n 32 -- -size 64MiB
package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumtree-go/plumtree/cache"
	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	tcp "github.com/plumtree-go/plumtree/transport-tcp"
	"github.com/plumtree-go/plumtree/tuner"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "largebench:", err)
		os.Exit(1)
	}
}

type flags struct {
	nodes    int
	size     int64
	origins  int
	drop     float64
	ip       string
	distinct bool
	port     int
	preset   string
	warmup   int
	timeout  time.Duration
	seed     uint64
	window   int
	sendQ    int
	copyRuns int
	tuner    bool
	cache    bool
	pace     float64
	smallHz  float64
	sockBuf  int
	bulkConn bool
	bulkQ    int
	rate     float64
	idle     time.Duration
	views    bool
	trace    string
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 64MiB)", s)
	}
	return v * mult, nil
}

func run(args []string, out io.Writer) error {
	var f flags
	fs := flag.NewFlagSet("largebench", flag.ContinueOnError)
	fs.IntVar(&f.nodes, "nodes", 32, "nodes")
	size := fs.String("size", "64MiB", "payload size of each large message (B, KiB, MiB, GiB)")
	fs.IntVar(&f.origins, "origins", 1, "large messages sent at once, from nodes 0, 1, … in turn (more than -nodes: some send two)")
	fs.Float64Var(&f.drop, "drop", 0, "probability that a frame is lost on any link (injected at Send)")
	fs.StringVar(&f.ip, "ip", "127.0.0.1", "loopback address to listen on")
	fs.BoolVar(&f.distinct, "distinct-ips", false, "node i listens on and dials from the -ip address plus i (-ip 127.0.0.11: 127.0.0.11, .12, …), and the TCP copy goes from node 0's address to node 1's: for links shaped per pair of addresses (shaped-links.sh)")
	fs.IntVar(&f.port, "port", 0, "first port (node i listens on port+i); 0: let the OS choose")
	fs.StringVar(&f.preset, "preset", "lan", "core preset")
	fs.IntVar(&f.warmup, "warmup", 60, "small broadcasts before the measurement, so the tree settles")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up after this long")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the payloads and of the frame loss")
	fs.IntVar(&f.window, "window", node.DefaultLargeWindow, "BroadcastLarge send window (frames per peer)")
	fs.IntVar(&f.sendQ, "send-queue", 4096, "transport send queue per peer, urgent lane (frames)")
	fs.IntVar(&f.bulkQ, "bulk-queue", 4096, "transport send queue per peer, bulk lane: chunks (frames)")
	fs.BoolVar(&f.bulkConn, "bulk-conn", true, "give each peer's bulk lane (large messages' parts) a connection of its own (the transport's default); false: both lanes share one connection")
	fs.IntVar(&f.sockBuf, "socket-buffer", 0, "kernel send and receive buffer per connection (bytes; 0: the transport's default)")
	fs.IntVar(&f.copyRuns, "copy-runs", 3, "plain TCP copies timed (median reported)")
	fs.Float64Var(&f.pace, "pace", 0, "feed each BroadcastLarge at most this many MiB/s (0: as fast as it takes them), to see how the tree behaves below its capacity")
	fs.Float64Var(&f.rate, "large-rate", 0, "large_send_rate of every node, in MiB/s (0: no cap, the default): the bytes of large-message parts a node publishes per second, across its BroadcastLarge calls")
	fs.DurationVar(&f.idle, "idle", 5*time.Second, "with -small-rate: how long small messages are measured on the idle cluster first")
	fs.Float64Var(&f.smallHz, "small-rate", 0, "also broadcast 1 KiB messages at this rate from the last node, idle (before) and while the large ones are in flight, and report their time to the last node")
	fs.StringVar(&f.trace, "small-trace", "", "with -small-rate: write every small message's delivery at every node to this CSV file (phase, message, sent since the phase began, node, the peer it came from, time since sent, time since that peer's delivery, pulled; milliseconds): to find the hops where the slow ones waited")
	fs.BoolVar(&f.views, "views", false, "print every node's eager and lazy peers and link counters after the warm-up, after the idle small messages and at the end: to find which nodes the tree leaves out and why")
	fs.BoolVar(&f.tuner, "tuner", true, "run each node with the node tuner, as the examples do (graft timeout from measured delays)")
	fs.BoolVar(&f.cache, "cache", false, "store payloads in the cache module (cache.ConfigFromCore: 64 MiB of messages and a list of their own for large messages' parts, as the examples do) instead of the core's default MemStore (one list for all messages, bounded by message count and core.DefaultMemStoreBytes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if f.size, err = parseSize(*size); err != nil {
		return err
	}
	if f.nodes < 2 || f.origins < 1 {
		return errors.New("need -nodes >= 2 and -origins >= 1")
	}
	if f.distinct {
		if _, err := nodeIP(f.ip, f.nodes-1); err != nil {
			return err
		}
	}
	return bench(f, out)
}

// lossy drops each frame with probability p at Send (the frame is lost on
// the link; Send reports success, as a network would).
type lossy struct {
	*tcp.Transport
	p       float64
	mu      sync.Mutex
	rng     *rand.Rand
	dropped atomic.Uint64
}

func (l *lossy) Send(to core.PeerID, frame []byte) error {
	if l.lose() {
		return nil
	}
	return l.Transport.Send(to, frame)
}

// SendBulk is Send for the transport's bulk lane (chunks), with the same
// loss.
func (l *lossy) SendBulk(to core.PeerID, frame []byte) error {
	if l.lose() {
		return nil
	}
	return l.Transport.SendBulk(to, frame)
}

// SendParts and SendBulkParts are the two-part forms (node.PartsSender),
// with the same loss.
func (l *lossy) SendParts(to core.PeerID, head, body []byte) error {
	if l.lose() {
		return nil
	}
	return l.Transport.SendParts(to, head, body)
}

func (l *lossy) SendBulkParts(to core.PeerID, head, body []byte) error {
	if l.lose() {
		return nil
	}
	return l.Transport.SendBulkParts(to, head, body)
}

// lose reports whether the next frame is lost, and counts it.
func (l *lossy) lose() bool {
	if l.p <= 0 {
		return false
	}
	l.mu.Lock()
	drop := l.rng.Float64() < l.p
	l.mu.Unlock()
	if drop {
		l.dropped.Add(1)
	}
	return drop
}

// recorder counts deliveries and keeps the digest and time of each.
type recorder struct {
	node.NopDelegate
	mu sync.Mutex
	n  map[core.MessageID]int
	// which is, per large delivery, the index of the payload sent that it
	// equals (-1: none).
	which map[core.MessageID]int
	at    map[core.MessageID]time.Time
	done  chan core.MessageID
	// pulled holds the messages this node got from a pull or repair (not
	// pushed by the tree).
	pulled map[core.MessageID]bool
	// checked is closed when a large delivery's which is set.
	checked map[core.MessageID]chan struct{}
	// payloads are the large payloads sent.
	payloads [][]byte
	// self is the node's id; from, per delivery, the peer that sent it
	// (for the time per hop of small messages).
	self core.PeerID
	from map[core.MessageID]core.PeerID
	// checkAfter is closed when the measured phase is over: a large
	// delivery is checked only then (see Deliver).
	checkAfter <-chan struct{}
}

// Deliver records d. A large payload is compared with the payloads sent,
// byte for byte, on a goroutine of its own: checking 16 MiB or more on the
// delegate goroutine would hold every later delivery of the node (the small
// messages whose latency is measured) behind the benchmark's own check. The
// comparison, not a second SHA-256, keeps the benchmark's own CPU use small
// next to the nodes' (the nodes checked the digest before delivering). And it
// waits until the measured phase is over (checkAfter): every node completes
// its large messages within the same half second, and the checks of all of
// them at once (half a gigabyte of memory compared per 16 MiB message at
// N = 16) took both cores from the nodes they share them with; in that half
// second the nodes pulled copies the tree was still bringing (measured over
// 4 MB/s links, 15 origins of 16 MiB, seeds 1-3: 78-177 Grafts and 169-391
// duplicate copies with the checks at delivery, 2-21 and 2-52 after).
func (r *recorder) Deliver(d core.Delivery) {
	now := time.Now()
	r.mu.Lock()
	r.n[d.ID]++
	r.at[d.ID] = now
	r.from[d.ID] = d.From
	if d.Repaired {
		r.pulled[d.ID] = true
	}
	if len(d.Payload) > 64<<10 {
		ch := make(chan struct{})
		r.checked[d.ID] = ch
		want := r.payloads
		go func() {
			<-r.checkAfter
			which := -1
			for i, p := range want {
				if bytes.Equal(p, d.Payload) {
					which = i
					break
				}
			}
			r.mu.Lock()
			r.which[d.ID] = which
			r.mu.Unlock()
			close(ch)
		}()
	}
	r.mu.Unlock()
	select {
	case r.done <- d.ID:
	default:
	}
}

// get returns how many times id was delivered, the index of the large
// payload it equals (-1 for none or a small message; it waits for the check
// of a large one) and when it was last delivered.
// count returns how many times id was delivered, without waiting for a
// large delivery's check.
func (r *recorder) count(id core.MessageID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[id]
}

func (r *recorder) get(id core.MessageID) (int, int, time.Time) {
	r.mu.Lock()
	ch := r.checked[id]
	r.mu.Unlock()
	if ch != nil {
		<-ch
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	which, ok := r.which[id]
	if !ok {
		which = -1
	}
	return r.n[id], which, r.at[id]
}

func bench(f flags, out io.Writer) error {
	cfg, err := core.Preset(f.preset)
	if err != nil {
		return err
	}
	if f.size > int64(cfg.MaxLargeMessageSize) {
		cfg.MaxLargeMessageSize = int(f.size)
	}
	if f.rate < 0 {
		return fmt.Errorf("-large-rate %v: must be at least 0", f.rate)
	}
	cfg.LargeSendRate = int(f.rate * (1 << 20))
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.LargeAssemblyBytes = max(cfg.LargeAssemblyBytes, cfg.MaxLargeMessageSize, int(f.size)*f.origins+cfg.MaxLargeMessageSize)
	var (
		nodes []*node.Node
		trs   []*lossy
		recs  []*recorder
	)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, n := range nodes {
			n.Shutdown(ctx)
		}
	}()
	// The checks of large deliveries wait for the measured phase to end
	// (recorder.Deliver); on every way out they are released.
	checks := make(chan struct{})
	var checksReleased <-chan struct{} = checks
	releaseChecks := sync.OnceFunc(func() { close(checks) })
	defer releaseChecks()
	for i := range f.nodes {
		id := core.PeerID(fmt.Sprintf("n%02d", i))
		ip := f.ip
		topts := []tcp.Option{tcp.WithSendQueue(f.sendQ), tcp.WithBulkQueue(f.bulkQ), tcp.WithSocketBuffer(f.sockBuf), tcp.WithMaxFrameSize(tcp.MaxFrameSizeFor(cfg)),
			tcp.WithBulkConnection(f.bulkConn)}
		if f.distinct {
			a, _ := nodeIP(f.ip, i) // checked in run
			ip = a.String()
			topts = append(topts, tcp.WithSourceIP(a))
		}
		addr := net.JoinHostPort(ip, "0")
		if f.port > 0 {
			addr = net.JoinHostPort(ip, strconv.Itoa(f.port+i))
		}
		tr, err := tcp.New(id, append(topts, tcp.WithListenAddr(addr))...)
		if err != nil {
			return err
		}
		l := &lossy{Transport: tr, p: f.drop, rng: rand.New(rand.NewPCG(f.seed, uint64(i)))}
		c := cfg
		c.Seed = int64(f.seed)*1000 + int64(i)
		rec := &recorder{checkAfter: checksReleased, n: map[core.MessageID]int{}, which: map[core.MessageID]int{}, pulled: map[core.MessageID]bool{}, at: map[core.MessageID]time.Time{}, checked: map[core.MessageID]chan struct{}{}, done: make(chan core.MessageID, 1), self: id, from: map[core.MessageID]core.PeerID{}}
		opts := []node.Option{node.WithLargeWindow(f.window)}
		if f.tuner {
			nt, err := tuner.NewNodeTuner(tuner.NodeConfigFor(c.GraftTimeout, c.IHaveInterval, c.IHaveBatchSize))
			if err != nil {
				tr.Close()
				return err
			}
			opts = append(opts, node.WithTuner(nt))
		}
		if f.cache {
			store, err := cache.New(cache.ConfigFromCore(c))
			if err != nil {
				tr.Close()
				return err
			}
			opts = append(opts, node.WithStore(store))
		}
		n, err := node.New(c, id, l, rec, opts...)
		if err != nil {
			tr.Close()
			return err
		}
		nodes, trs, recs = append(nodes, n), append(trs, l), append(recs, rec)
	}
	for i, n := range nodes {
		for j, t := range trs {
			if i != j {
				trs[i].SetPeerAddr(t.Self(), t.Addr().String())
				if err := n.AddPeer(t.Self()); err != nil {
					return err
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()

	// Warm-up: small messages from the origins until the tree settles
	// (pruned redundant links carry no chunk twice).
	var warm []core.MessageID
	for k := range f.warmup {
		o := k % min(f.origins, f.nodes)
		for {
			id, err := nodes[o].Broadcast(ctx, []byte(fmt.Sprintf("warm-up %d", k)))
			if err == nil {
				warm = append(warm, id)
				break
			}
			if !errors.Is(err, node.ErrBackpressure) {
				return err
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := waitAll(ctx, recs, warm); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	time.Sleep(time.Second) // the last prunes

	// One plain TCP copy of the payload between two sockets, the bound.
	copyPort := 0
	if f.port > 0 {
		copyPort = f.port + f.nodes
	}
	from, to := net.ParseIP(f.ip), net.ParseIP(f.ip)
	if f.distinct {
		from, _ = nodeIP(f.ip, 0)
		to, _ = nodeIP(f.ip, 1)
	}
	var copies []time.Duration
	for range f.copyRuns {
		d, err := tcpCopy(from, to, copyPort, f.size)
		if err != nil {
			return fmt.Errorf("tcp copy: %w", err)
		}
		copies = append(copies, d)
	}
	slices.Sort(copies)
	copyTime := copies[len(copies)/2]

	// Small messages on an idle cluster, for comparison.
	var (
		idle  smallStats
		trace *csv.Writer
	)
	if f.trace != "" && f.smallHz > 0 {
		tf, err := os.Create(f.trace)
		if err != nil {
			return fmt.Errorf("-small-trace: %w", err)
		}
		defer tf.Close()
		trace = csv.NewWriter(tf)
		defer trace.Flush()
		if err := trace.Write([]string{"phase", "message", "sent_ms", "node", "from", "latency_ms", "hop_ms", "pulled"}); err != nil {
			return fmt.Errorf("-small-trace: %w", err)
		}
	}
	links, reach := eagerReach(nodes, nodes[f.nodes-1])
	if f.views {
		printViews(out, "after the warm-up", nodes)
	}
	if f.smallHz > 0 {
		stop := make(chan struct{})
		time.AfterFunc(f.idle, func() { close(stop) })
		if idle, err = smallTraffic(ctx, nodes[f.nodes-1], recs, f.smallHz, stop, trace, "idle"); err != nil {
			return fmt.Errorf("small messages (idle): %w", err)
		}
		if f.views {
			printViews(out, "after the idle small messages", nodes)
		}
	}

	// The measurement.
	payloads := make([][]byte, f.origins)
	for o := range payloads {
		payloads[o] = make([]byte, f.size)
		rng := rand.New(rand.NewPCG(f.seed, uint64(100+o)))
		for i := 0; i+8 <= len(payloads[o]); i += 8 {
			v := rng.Uint64()
			for k := range 8 {
				payloads[o][i+k] = byte(v >> (8 * k))
			}
		}
	}
	for _, r := range recs {
		r.mu.Lock()
		r.payloads = payloads
		r.mu.Unlock()
	}
	before := totals(nodes, trs)
	var peak atomic.Uint64
	// deepest: per sample, the longest bulk lane (chunks queued by any node
	// for any peer): where the transfers queue, which no origin's window
	// sees beyond its own peers. Read after sampled is closed.
	var deepest []int
	peers := make([]core.PeerID, len(nodes))
	for i, n := range nodes {
		peers[i] = n.Self()
	}
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		// runtime/metrics, not ReadMemStats: no stop-the-world every
		// 50 ms for all the nodes. Objects plus unused slots in their
		// spans is MemStats.HeapInuse.
		samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		for {
			metrics.Read(samples)
			if inuse := samples[0].Value.Uint64() + samples[1].Value.Uint64(); inuse > peak.Load() {
				peak.Store(inuse)
			}
			deepest = append(deepest, deepestBulkLane(trs, peers))
			select {
			case <-t.C:
			case <-stopSampling:
				return
			}
		}
	}()
	smallDone := make(chan struct{})
	stopSmall := make(chan struct{})
	var (
		loaded   smallStats
		smallErr error
	)
	if f.smallHz > 0 {
		go func() {
			defer close(smallDone)
			loaded, smallErr = smallTraffic(ctx, nodes[f.nodes-1], recs, f.smallHz, stopSmall, trace, "loaded")
		}()
	} else {
		close(smallDone)
	}
	start := time.Now()
	ids := make([]core.MessageID, f.origins)
	errs := make(chan error, f.origins)
	for o := range f.origins {
		go func() {
			var r io.Reader = bytes.NewReader(payloads[o])
			if f.pace > 0 {
				r = &pacedReader{r: r, rate: f.pace * (1 << 20), start: time.Now()}
			}
			id, err := nodes[o%f.nodes].BroadcastLarge(ctx, r, f.size)
			ids[o] = id
			errs <- err
		}()
	}
	for range f.origins {
		if err := <-errs; err != nil {
			return fmt.Errorf("BroadcastLarge: %w", err)
		}
	}
	published := time.Since(start)
	if err := waitAll(ctx, recs, ids); err != nil {
		return err
	}
	close(stopSmall)
	<-smallDone
	releaseChecks()
	if smallErr != nil {
		return fmt.Errorf("small messages (loaded): %w", smallErr)
	}
	close(stopSampling)
	<-sampled
	var last time.Time
	bad := 0
	for _, r := range recs {
		for o, id := range ids {
			n, which, at := r.get(id)
			if n != 1 || which != o {
				bad++
			}
			if at.After(last) {
				last = at
			}
		}
	}
	toLast := last.Sub(start)
	// Let the last announcements go out before counting the bytes (they
	// belong to this broadcast).
	time.Sleep(time.Second)
	after := totals(nodes, trs)
	deliveries := float64(f.nodes-1) * float64(f.origins)
	payload := float64(f.size)
	wire := float64(after.bytesOut - before.bytesOut)

	store := "MemStore"
	if f.cache {
		store = "cache module"
	}
	fmt.Fprintf(out, "nodes %d, %d large message(s) of %d bytes (%.1f MiB) at once, frame loss %.1f%%, preset %s, tuner %v, window %d, store %s\n",
		f.nodes, f.origins, f.size, payload/(1<<20), 100*f.drop, f.preset, f.tuner, f.window, store)
	if f.rate > 0 {
		fmt.Fprintf(out, "large_send_rate %.2f MiB/s per node\n", f.rate)
	}
	if f.pace > 0 {
		fmt.Fprintf(out, "publishing paced at %.1f MiB/s per origin\n", f.pace)
	}
	fmt.Fprintf(out, "exactly once with the right bytes: %v (%d node×message pairs wrong)\n", bad == 0, bad)
	fmt.Fprintf(out, "time to the last node: %v (publish took %v); throughput %.1f MiB/s per node\n",
		toLast.Round(time.Millisecond), published.Round(time.Millisecond), payload*float64(f.origins)/(1<<20)/toLast.Seconds())
	fmt.Fprintf(out, "one TCP copy of the payload between two sockets: %v (median of %d: %v)\n",
		copyTime.Round(time.Millisecond), len(copies), roundAll(copies))
	fmt.Fprintf(out, "time to last node / one TCP copy: %.2f\n", toLast.Seconds()/copyTime.Seconds())
	fmt.Fprintf(out, "bytes on the wire per delivered byte: %.4f (%d bytes written by all transports for %.0f deliveries)\n",
		wire/(deliveries*payload), after.bytesOut-before.bytesOut, deliveries)
	fmt.Fprintf(out, "duplicate copies: %d, pulls answered: %d, anti-entropy repairs: %d, frames dropped by the loss: %d, transport drops: %d\n",
		after.dups-before.dups, after.pulls-before.pulls, after.repairs-before.repairs, after.lost-before.lost, after.trDrops-before.trDrops)
	fmt.Fprintf(out, "pulls: %d Grafts sent (ids pulled and link requests; %d retries), %d held back, %d given up; links: %d promotions, %d Prunes sent\n",
		after.graftsSent-before.graftsSent, after.retries-before.retries, after.deferred-before.deferred, after.failed-before.failed,
		after.promotions-before.promotions, after.prunes-before.prunes)
	fmt.Fprintf(out, "chunk repairs (parts pulled or repaired, not pushed by the tree): %d; anti-entropy repairs of what the node already had: %d\n",
		after.partRepairs-before.partRepairs, after.repairDups-before.repairDups)
	fmt.Fprintf(out, "peak heap in use (all %d nodes): %.0f MiB; sender waits %d (for large_send_rate %d), slow peers %d, rate cuts %d\n",
		f.nodes, float64(peak.Load())/(1<<20), after.waits-before.waits, after.rateWaits-before.rateWaits, after.slow-before.slow, after.cuts-before.cuts)
	if len(deepest) > 0 {
		slices.Sort(deepest)
		fmt.Fprintf(out, "deepest bulk lane (chunks any node queued for one peer, sampled every 50 ms): p50 %d, p90 %d, max %d frames (%.1f MiB); lane bound %d, BroadcastLarge window %d\n",
			deepest[len(deepest)/2], deepest[len(deepest)*9/10], deepest[len(deepest)-1],
			float64(deepest[len(deepest)-1])*float64(cfg.MaxMessageSize)/(1<<20), f.bulkQ, f.window)
	}
	if f.smallHz > 0 {
		fmt.Fprintf(out, "small messages, time to the last node: idle %d msgs p50 %v p90 %v p99 %v; during the large ones %d msgs p50 %v p90 %v p99 %v (p99 ratio %.2f)\n",
			idle.n, idle.p50.Round(time.Millisecond), idle.p90.Round(time.Millisecond), idle.p99.Round(time.Millisecond),
			loaded.n, loaded.p50.Round(time.Millisecond), loaded.p90.Round(time.Millisecond), loaded.p99.Round(time.Millisecond), loaded.p99.Seconds()/idle.p99.Seconds())
		fmt.Fprintf(out, "small messages some node pulled or got repaired: idle %d, loaded %d (%d of the slowest %d); slowest loaded ones (sent at +t: time to last node): %v\n",
			idle.pulled, loaded.pulled, loaded.slowPulled, loaded.slow, loaded.slowest)
		fmt.Fprintf(out, "small messages, time per hop (a node's delivery minus its sender's): idle p50 %v p90 %v p99 %v; during the large ones p50 %v p90 %v p99 %v\n",
			idle.hop50.Round(time.Microsecond), idle.hop90.Round(time.Microsecond), idle.hop99.Round(time.Microsecond),
			loaded.hop50.Round(time.Microsecond), loaded.hop90.Round(time.Microsecond), loaded.hop99.Round(time.Microsecond))
	}
	linksEnd, reachEnd := eagerReach(nodes, nodes[f.nodes-1])
	if f.views {
		printViews(out, "at the end", nodes)
	}
	fmt.Fprintf(out, "eager links (directed): %d before, %d after; nodes the last node reaches by eager links alone: %d before, %d after, of %d\n",
		links, linksEnd, reach, reachEnd, f.nodes)
	if bad > 0 {
		return fmt.Errorf("%d deliveries wrong or missing", bad)
	}
	return nil
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

type total struct {
	bytesOut, dups, pulls, repairs, lost, trDrops, waits, slow, cuts, rateWaits, partRepairs, repairDups uint64
	// the repair plane's and the tree's churn
	graftsSent, retries, deferred, failed, promotions, prunes uint64
}

func totals(nodes []*node.Node, trs []*lossy) total {
	var t total
	for i, n := range nodes {
		s := n.Stats()
		t.dups += s.MessagesDuplicate
		t.graftsSent += s.GraftSent
		t.retries += s.GraftRetries
		t.deferred += s.GraftsDeferred
		t.failed += s.GraftFailed
		t.promotions += s.PeerPromotions
		t.prunes += s.PruneSent
		t.pulls += s.GraftSuccess
		t.repairs += s.RepairReceived
		t.repairDups += s.RepairDuplicate
		t.waits += s.Large.SendWaits
		t.slow += s.Large.SlowPeers
		t.cuts += s.Large.RateCuts
		t.rateWaits += s.Large.RateWaits
		t.partRepairs += s.Large.Repairs
		ts := trs[i].Stats()
		t.bytesOut += ts.BytesOut
		t.trDrops += ts.Drops
		t.lost += trs[i].dropped.Load()
	}
	return t
}

// waitAll waits until every recorder has every id.
func waitAll(ctx context.Context, recs []*recorder, ids []core.MessageID) error {
	for {
		missing := 0
		for _, r := range recs {
			for _, id := range ids {
				if r.count(id) == 0 {
					missing++
				}
			}
		}
		if missing == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d deliveries missing: %w", missing, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// nodeIP is the IPv4 address base + i (node i's with -distinct-ips).
func nodeIP(base string, i int) (net.IP, error) {
	ip := net.ParseIP(base).To4()
	if ip == nil {
		return nil, fmt.Errorf("-distinct-ips needs an IPv4 -ip, not %q", base)
	}
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	if uint64(v)+uint64(i) > uint64(v|0xff) {
		return nil, fmt.Errorf("-distinct-ips: %s + %d leaves its /24", base, i)
	}
	v += uint32(i)
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)), nil
}

// tcpCopy times one copy of size bytes over a fresh TCP connection from
// the address from to a listener on to, from the first write to the last
// byte read.
func tcpCopy(from, to net.IP, port int, size int64) (time.Duration, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(to.String(), strconv.Itoa(port)))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	got := make(chan error, 1)
	var end time.Time
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		n, err := io.Copy(io.Discard, c)
		end = time.Now()
		if err == nil && n != size {
			err = fmt.Errorf("read %d of %d bytes", n, size)
		}
		got <- err
	}()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from}}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	start := time.Now()
	for left := size; left > 0; {
		k := min(left, int64(len(buf)))
		if _, err := c.Write(buf[:k]); err != nil {
			c.Close()
			return 0, err
		}
		left -= k
	}
	c.Close()
	if err := <-got; err != nil {
		return 0, err
	}
	return end.Sub(start), nil
}

// pacedReader hands out at most rate bytes per second since start.
type pacedReader struct {
	r     io.Reader
	rate  float64
	start time.Time
	n     int64
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if due := p.start.Add(time.Duration(float64(p.n) / p.rate * float64(time.Second))); time.Now().Before(due) {
		time.Sleep(time.Until(due))
	}
	k, err := p.r.Read(b[:min(len(b), 64<<10)])
	p.n += int64(k)
	return k, err
}

type smallStats struct {
	n             int
	p50, p90, p99 time.Duration
	// pulled counts the messages some node got by a pull or repair
	// instead of the tree; slowPulled those among the slowest 1 %.
	pulled, slowPulled, slow int
	// slowest are the slowest few: when they were sent (since the
	// first) and their time to the last node.
	slowest []timedLatency
	// hop50, hop90, hop99: the time per hop, a node's delivery minus
	// that of the peer it got the copy from (all nodes share the
	// process's clock), over every node and message.
	hop50, hop90, hop99 time.Duration
}

type timedLatency struct {
	at, lat time.Duration
	// hops is the path the copy took to the node that delivered last
	// (0: unknown), and worst its longest hop, from worstFrom to worstTo.
	hops               int
	worst              time.Duration
	worstFrom, worstTo core.PeerID
}

// smallTraffic broadcasts 1 KiB messages from n at rate per second until
// stop is closed, waits until every node has them, and returns the
// distribution of their time to the last node.
//
// With trace, it also writes one row per message and node (see the
// -small-trace flag), phase in the first column.
func smallTraffic(ctx context.Context, n *node.Node, recs []*recorder, rate float64, stop <-chan struct{}, trace *csv.Writer, phase string) (smallStats, error) {
	var (
		ids  []core.MessageID
		sent []time.Time
	)
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	payload := make([]byte, 1024)
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-ctx.Done():
			return smallStats{}, ctx.Err()
		case <-t.C:
		}
		now := time.Now()
		id, err := n.Broadcast(ctx, payload)
		if errors.Is(err, node.ErrBackpressure) {
			continue
		}
		if err != nil {
			return smallStats{}, err
		}
		ids, sent = append(ids, id), append(sent, now)
	}
	if err := waitAll(ctx, recs, ids); err != nil {
		return smallStats{}, err
	}
	lat := make([]time.Duration, len(ids))
	pulled := make([]bool, len(ids))
	for i, id := range ids {
		for _, r := range recs {
			if _, _, at := r.get(id); at.Sub(sent[i]) > lat[i] {
				lat[i] = at.Sub(sent[i])
			}
			r.mu.Lock()
			pulled[i] = pulled[i] || r.pulled[id]
			r.mu.Unlock()
		}
	}
	if len(lat) == 0 {
		return smallStats{}, errors.New("no small message was sent")
	}
	order := make([]int, len(lat))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(lat[a] - lat[b]) })
	st := smallStats{n: len(lat), p50: lat[order[len(lat)/2]], p90: lat[order[len(lat)*9/10]], p99: lat[order[min(len(lat)-1, len(lat)*99/100)]]}
	for k, i := range order {
		if pulled[i] {
			st.pulled++
		}
		if k >= len(lat)*99/100 {
			st.slow++
			if pulled[i] {
				st.slowPulled++
			}
		}
	}
	for k := len(order) - 1; k >= 0 && k >= len(order)-5; k-- {
		i := order[k]
		tl := timedLatency{at: sent[i].Sub(sent[0]).Round(100 * time.Millisecond), lat: lat[i].Round(time.Millisecond)}
		tl.hops, tl.worst, tl.worstFrom, tl.worstTo = lastPath(recs, ids[i])
		st.slowest = append(st.slowest, tl)
	}
	if trace != nil {
		if err := writeTrace(trace, phase, recs, ids, sent); err != nil {
			return smallStats{}, fmt.Errorf("-small-trace: %w", err)
		}
	}
	if hops := hopTimes(recs, ids); len(hops) > 0 {
		st.hop50, st.hop90, st.hop99 = hops[len(hops)/2], hops[len(hops)*9/10], hops[min(len(hops)-1, len(hops)*99/100)]
	}
	return st, nil
}

// byPeer finds a node's recorder by its id.
type byPeer map[core.PeerID]*recorder

func peersOf(recs []*recorder) byPeer {
	m := make(byPeer, len(recs))
	for _, r := range recs {
		m[r.self] = r
	}
	return m
}

// hop returns the peer r got its copy of id from (nil for the origin or an
// unknown peer) and, when that peer's delivery is known too, the hop: r's
// delivery minus the peer's. Deliveries are timed on the delegate
// goroutines, so a hop includes the receiver's queue to its delegate (and
// excludes the sender's); it is negative when the peer handed the copy on
// before its own delegate delivered it.
func (m byPeer) hop(r *recorder, id core.MessageID) (from *recorder, d time.Duration, ok bool) {
	r.mu.Lock()
	f, at := r.from[id], r.at[id]
	r.mu.Unlock()
	s := m[f]
	if s == nil || s == r {
		return nil, 0, false
	}
	s.mu.Lock()
	sat, ok := s.at[id]
	s.mu.Unlock()
	return s, at.Sub(sat), ok
}

// hopTimes returns, sorted, the time of every hop the messages ids took
// (byPeer.hop).
func hopTimes(recs []*recorder, ids []core.MessageID) []time.Duration {
	peers := peersOf(recs)
	var hops []time.Duration
	for _, id := range ids {
		for _, r := range recs {
			if _, d, ok := peers.hop(r, id); ok {
				hops = append(hops, d)
			}
		}
	}
	slices.Sort(hops)
	return hops
}

// writeTrace writes a row per message in ids and node in recs: when the
// message was sent (since the first of ids), the node, the peer it got its
// copy from, its delivery there since sent, the hop (byPeer.hop; empty
// when the node is the origin), and whether it came from a pull or a
// repair. Times are in milliseconds.
func writeTrace(w *csv.Writer, phase string, recs []*recorder, ids []core.MessageID, sent []time.Time) error {
	ms := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1000, 'f', 3, 64) }
	peers := peersOf(recs)
	for i, id := range ids {
		for _, r := range recs {
			r.mu.Lock()
			from, at, pulled := r.from[id], r.at[id], r.pulled[id]
			r.mu.Unlock()
			hop := ""
			if _, d, ok := peers.hop(r, id); ok {
				hop = ms(d)
			}
			if err := w.Write([]string{phase, strconv.Itoa(i), ms(sent[i].Sub(sent[0])), string(r.self), string(from), ms(at.Sub(sent[i])), hop, strconv.FormatBool(pulled)}); err != nil {
				return err
			}
		}
	}
	w.Flush()
	return w.Error()
}

func (t timedLatency) String() string {
	if t.hops == 0 {
		return fmt.Sprintf("+%v: %v", t.at, t.lat)
	}
	return fmt.Sprintf("+%v: %v (%d hops, longest %s→%s %v)", t.at, t.lat, t.hops, t.worstFrom, t.worstTo, t.worst.Round(100*time.Microsecond))
}

// lastPath follows the copy of id that reached the node delivering it last
// back to the origin, through the peers each node got it from: the hops
// on that path and the longest of them (byPeer.hop). hops is 0 when the
// path cannot be followed.
func lastPath(recs []*recorder, id core.MessageID) (hops int, worst time.Duration, worstFrom, worstTo core.PeerID) {
	var last *recorder
	var lastAt time.Time
	for _, r := range recs {
		r.mu.Lock()
		at, ok := r.at[id]
		r.mu.Unlock()
		if ok && (last == nil || at.After(lastAt)) {
			last, lastAt = r, at
		}
	}
	peers := peersOf(recs)
	for r := last; r != nil && hops < len(recs); {
		s, d, ok := peers.hop(r, id)
		if s == nil {
			return hops, worst, worstFrom, worstTo // r is the origin
		}
		if !ok {
			return 0, 0, "", ""
		}
		hops++
		if hops == 1 || d > worst {
			worst, worstFrom, worstTo = d, s.self, r.self
		}
		r = s
	}
	return 0, 0, "", ""
}

// printViews prints, per node, its eager and lazy peers, the link counters
// since it started (Grafts sent and answered, Grafts put off, Prunes sent
// and received, promotions and demotions) and its tuned graft timeout: a
// node that pulls everything shows many Grafts answered, and its peers'
// eager sets tell whether they had room to link it.
func printViews(out io.Writer, when string, nodes []*node.Node) {
	fmt.Fprintf(out, "views %s:\n", when)
	for _, n := range nodes {
		st := n.Stats()
		c := st.Counters
		fmt.Fprintf(out, "  %s eager %v lazy %v; grafts sent %d answered %d put off %d; prunes sent %d received %d; promotions %d demotions %d; graft timeout %.0f ms\n",
			n.Self(), n.EagerPeers(), n.LazyPeers(), c.GraftSent, c.GraftSuccess, c.GraftsDeferred, c.PruneSent, c.PruneReceived,
			c.PeerPromotions, c.PeerDemotions, st.Tuning.GraftTimeoutMS)
	}
}

// eagerReach returns the number of eager links (directed) and how many
// nodes from reaches by following them: the nodes its messages reach by the
// tree alone, without an announcement and a pull.
func eagerReach(nodes []*node.Node, from *node.Node) (links, reached int) {
	byID := map[core.PeerID]*node.Node{}
	for _, n := range nodes {
		byID[n.Self()] = n
		links += len(n.EagerPeers())
	}
	seen := map[core.PeerID]bool{from.Self(): true}
	for q := []*node.Node{from}; len(q) > 0; q = q[1:] {
		for _, p := range q[0].EagerPeers() {
			if !seen[p] && byID[p] != nil {
				seen[p] = true
				q = append(q, byID[p])
			}
		}
	}
	return links, len(seen)
}

// deepestBulkLane returns the longest bulk lane of any transport in trs to
// any of peers.
func deepestBulkLane(trs []*lossy, peers []core.PeerID) int {
	d := 0
	for _, tr := range trs {
		for _, p := range peers {
			if p != tr.Self() {
				d = max(d, tr.BulkQueueLen(p))
			}
		}
	}
	return d
}
