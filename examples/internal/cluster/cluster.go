package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/examples/internal/stack"
	"github.com/plumtree-go/plumtree/membership"
)

// Options configures a Cluster.
type Options struct {
	// Nodes is the number of node slots. Default 5.
	Nodes int
	// Preset is the stack preset (see stack.Preset). Default "local".
	Preset string
	// Logger receives every node's logs. Default: discard.
	Logger *slog.Logger
	// SecretKey enables gossip encryption.
	SecretKey []byte
	// MembershipOptions are added to every node's membership options.
	MembershipOptions []membership.Option
	// Protocol overrides the preset's Plumtree configuration when its
	// EagerFanout is not zero.
	Protocol core.Config
	// BindIP is the loopback address the nodes bind (ports chosen by the
	// OS). Default 127.0.0.1.
	BindIP string
	// Loss is the probability that a Plumtree frame is dropped on send
	// (every link, both directions). Default 0.
	Loss float64
	// CacheTTL, when not zero, replaces the message cache TTL
	// (MessageCacheTTL) of the Plumtree configuration: a short one makes
	// the caches cycle quickly under load (soak). Anti-entropy's minimum
	// age, when not below it, becomes half of it.
	CacheTTL time.Duration
}

// Member is one node slot.
type Member struct {
	Slot  int
	Name  string
	Addr  string // kept across restarts
	Gen   uint32 // instance number, 1 for the first
	Since time.Time
	Stack *stack.Stack // nil while the slot is down
}

// Cluster is a set of nodes in this process. Safe for concurrent use.
type Cluster struct {
	opts    Options
	Tracker *Tracker

	mu      sync.Mutex
	members []*Member
	gossip  atomic.Uint64 // payload messages sent, all nodes and generations
	// Wire counts the Plumtree frames and bytes sent, all nodes.
	Wire WireStats
	dups atomic.Uint64 // redundant payload copies received (EventDuplicate)
	// firsts counts the first copies of core messages received from a peer
	// (EventDelivered from another node): the RMR's denominator. For a large
	// message that is every chunk and the manifest, the same unit as dups.
	firsts atomic.Uint64
}

// Start starts opts.Nodes nodes on 127.0.0.1 with ports chosen by the OS;
// every node but the first joins the first and the four latest. It does not
// wait for the cluster to form (see WaitFormed).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 5
	}
	if opts.Nodes < 1 {
		return nil, fmt.Errorf("cluster: %d nodes", opts.Nodes)
	}
	if opts.Preset == "" {
		opts.Preset = "local"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CacheTTL < 0 {
		return nil, fmt.Errorf("cluster: cache TTL %v", opts.CacheTTL)
	}
	if opts.CacheTTL > 0 {
		if opts.Protocol.EagerFanout == 0 {
			p, _, err := stack.Preset(opts.Preset)
			if err != nil {
				return nil, err
			}
			opts.Protocol = p
		}
		opts.Protocol.MessageCacheTTL = opts.CacheTTL
		if opts.Protocol.AntiEntropyMinAge >= opts.CacheTTL {
			// Anti-entropy sends messages at least this old and still
			// stored: below the TTL, or it sends none (Config.Validate).
			opts.Protocol.AntiEntropyMinAge = opts.CacheTTL / 2
		}
	}
	c := &Cluster{opts: opts, Tracker: NewTracker(opts.Nodes)}
	for i := range opts.Nodes {
		m := &Member{Slot: i, Name: fmt.Sprintf("node-%02d", i+1)}
		c.members = append(c.members, m)
		// Join the first node and a few of the latest ones: each push-pull
		// tells an existing node about the newcomer at once, so a large
		// cluster forms without waiting for memberlist's periodic sync.
		var seeds []string
		if i > 0 {
			seeds = append(seeds, c.members[0].Addr)
		}
		for j := max(1, i-4); j < i; j++ {
			seeds = append(seeds, c.members[j].Addr)
		}
		ip := opts.BindIP
		if ip == "" {
			ip = "127.0.0.1"
		}
		if err := c.startSlot(ctx, m, net.JoinHostPort(ip, "0"), seeds); err != nil {
			c.Close(context.Background())
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) startSlot(ctx context.Context, m *Member, bind string, seeds []string) error {
	gen := m.Gen + 1
	slot := m.Slot
	tr := c.Tracker
	deliver := node.DeliverFunc(func(d core.Delivery) { tr.Delivered(slot, gen, d, time.Now()) })
	self := core.PeerID(m.Name)
	count := node.ObserverFunc(func(events []core.Event) {
		var sent, dup, first uint64
		for i := range events {
			switch events[i].Kind {
			case core.EventGossipSent:
				sent++
			case core.EventDuplicate:
				dup++
			case core.EventDelivered:
				if events[i].Peer != self { // a node's own broadcasts come "from" itself
					first++
				}
			}
		}
		if first > 0 {
			c.firsts.Add(first)
		}
		if sent > 0 {
			c.gossip.Add(sent)
		}
		if dup > 0 {
			c.dups.Add(dup)
		}
	})
	s, err := stack.Start(ctx, stack.Config{
		Name:        m.Name,
		BindAddr:    bind,
		Seeds:       seeds,
		Preset:      c.opts.Preset,
		Protocol:    c.opts.Protocol,
		SecretKey:   c.opts.SecretKey,
		Logger:      c.opts.Logger,
		Delegate:    deliver,
		NodeOptions: []node.Option{node.WithObserver(count)},
		WrapTransport: func(t node.Transport) node.Transport {
			return &countingTransport{Transport: t, stats: &c.Wire, loss: c.opts.Loss,
				rng: rand.New(rand.NewPCG(uint64(slot), uint64(gen)))}
		},
		MembershipOptions: c.opts.MembershipOptions,
	})
	if err != nil {
		return fmt.Errorf("cluster: start %s: %w", m.Name, err)
	}
	c.mu.Lock()
	m.Stack, m.Gen, m.Since, m.Addr = s, gen, time.Now(), s.Addr()
	c.mu.Unlock()
	return nil
}

// Size returns the number of slots.
func (c *Cluster) Size() int { return len(c.members) }

// Member returns slot i (its fields may change on Kill and Restart: read
// them through the Cluster's methods while the cluster runs).
func (c *Cluster) Member(i int) Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.members[i]
}

// Stack returns the running stack of slot i, or nil.
func (c *Cluster) Stack(i int) *stack.Stack {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[i].Stack
}

// Live returns the slots whose node runs.
func (c *Cluster) Live() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for _, m := range c.members {
		if m.Stack != nil {
			out = append(out, m.Slot)
		}
	}
	return out
}

// Since returns, per slot, when its current instance started.
func (c *Cluster) Since() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Time, len(c.members))
	for i, m := range c.members {
		out[i] = m.Since
	}
	return out
}

// Formed reports whether every live node sees every other live node as a
// Plumtree peer, and if not, why.
func (c *Cluster) Formed() (bool, string) {
	live := c.Live()
	for _, i := range live {
		s := c.Stack(i)
		if s == nil {
			continue
		}
		if got := s.Membership.Stats().Alive; got != len(live)-1 {
			return false, fmt.Sprintf("%s sees %d peers, want %d", s.Name, got, len(live)-1)
		}
	}
	return true, ""
}

// WaitFormed polls Formed until it holds or ctx is done.
func (c *Cluster) WaitFormed(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		ok, why := c.Formed()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster did not form: %s: %w", why, ctx.Err())
		case <-t.C:
		}
	}
}

// ErrDown is returned for operations on a slot whose node is down.
var ErrDown = errors.New("cluster: node is down")

// Broadcast sends a payload of size bytes from slot i: above
// max_message_size as a large message (node.BroadcastLarge, up to
// max_large_message_size).
func (c *Cluster) Broadcast(ctx context.Context, i, size int) (core.MessageID, error) {
	s := c.Stack(i)
	if s == nil {
		return core.MessageID{}, ErrDown
	}
	now := time.Now()
	var (
		id  core.MessageID
		err error
	)
	if p := MakePayload(size, now, i); len(p) > s.Node.Config().MaxMessageSize {
		id, err = s.Node.BroadcastLarge(ctx, bytes.NewReader(p), int64(len(p)))
	} else {
		id, err = s.Node.Broadcast(ctx, p)
	}
	if err == nil {
		c.Tracker.Sent(id, now, i)
	}
	return id, err
}

// Kill stops slot i hard: no leave, the others detect the failure.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	s := c.members[i].Stack
	c.members[i].Stack = nil
	c.mu.Unlock()
	if s != nil {
		s.Kill()
	}
}

// Restart starts a new instance of slot i under the same name and address,
// joining the live nodes.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	c.mu.Lock()
	m := c.members[i]
	if m.Stack != nil {
		c.mu.Unlock()
		return fmt.Errorf("cluster: %s is running", m.Name)
	}
	var seeds []string
	for _, o := range c.members {
		if o.Stack != nil && len(seeds) < 3 {
			seeds = append(seeds, o.Addr)
		}
	}
	addr := m.Addr
	c.mu.Unlock()
	return c.startSlot(ctx, m, addr, seeds)
}

// GossipSent returns the payload messages sent by all nodes so far
// (including those sent to peers that had died and never arrived).
func (c *Cluster) GossipSent() uint64 { return c.gossip.Load() }

// RedundantCopies returns the payload copies received by nodes that already
// had the message, all nodes so far (the core's EventDuplicate).
func (c *Cluster) RedundantCopies() uint64 { return c.dups.Load() }

// FirstCopies returns the first copies of core messages received from a
// peer, all nodes so far: deliveries over the network, counted per chunk
// (and manifest) for large messages.
func (c *Cluster) FirstCopies() uint64 { return c.firsts.Load() }

// RMR returns the relative message redundancy of the paper: payload
// messages received per first copy over the network, minus one —
// redundant copies / first copies. 0 is a perfect tree. Both count core
// messages, so a large message counts each of its chunks.
func (c *Cluster) RMR() float64 {
	first := c.FirstCopies()
	if first == 0 {
		return 0
	}
	return float64(c.RedundantCopies()) / float64(first)
}

// WaitDelivered polls the tracker until every message selected by include
// reached every live slot (that was up when it was sent) or ctx is done, and
// returns the last report.
func (c *Cluster) WaitDelivered(ctx context.Context, include func(sent time.Time, origin int) bool) (Report, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		r := c.Tracker.Report(include, c.Live(), c.Since())
		if r.Complete == r.Messages {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("%d of %d messages incomplete (e.g. %v): %w", r.Messages-r.Complete, r.Messages, r.Incomplete, ctx.Err())
		case <-t.C:
		}
	}
}

// PeerRow is one node's view of the tree.
type PeerRow struct {
	Name    string
	Up      bool
	Eager   int
	Lazy    int
	Members int // memberlist members alive, the node included
}

// Peers returns every slot's eager and lazy peer counts.
func (c *Cluster) Peers() []PeerRow {
	c.mu.Lock()
	members := slices.Clone(c.members)
	stacks := make([]*stack.Stack, len(members))
	for i, m := range members {
		stacks[i] = m.Stack
	}
	c.mu.Unlock()
	rows := make([]PeerRow, len(members))
	for i, m := range members {
		rows[i] = PeerRow{Name: m.Name}
		if s := stacks[i]; s != nil {
			st := s.Node.Stats()
			rows[i].Up, rows[i].Eager, rows[i].Lazy = true, st.EagerPeers, st.LazyPeers
			rows[i].Members = s.Membership.Stats().Members
		}
	}
	return rows
}

// Caches returns the message cache of every live node.
func (c *Cluster) Caches() []CacheRow {
	c.mu.Lock()
	var rows []CacheRow
	var stacks []*stack.Stack
	for _, m := range c.members {
		if m.Stack != nil {
			rows = append(rows, CacheRow{Name: m.Name})
			stacks = append(stacks, m.Stack)
		}
	}
	c.mu.Unlock()
	for i, s := range stacks {
		st := s.Cache.Stats()
		rows[i].Entries, rows[i].Bytes = st.Size, st.Bytes
	}
	return rows
}

// Close stops every live node gracefully (leave, then stop), in parallel.
func (c *Cluster) Close(ctx context.Context) {
	c.mu.Lock()
	var stacks []*stack.Stack
	for _, m := range c.members {
		if m.Stack != nil {
			stacks = append(stacks, m.Stack)
			m.Stack = nil
		}
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range stacks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Stop(ctx, time.Second)
		}()
	}
	wg.Wait()
}

// pick returns a random element of slots.
func pick(r *rand.Rand, slots []int) int { return slots[r.IntN(len(slots))] }
