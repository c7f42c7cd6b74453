package membership

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/plumtree-go/plumtree/core"
)

// Errors.
var (
	ErrNotStarted     = errors.New("membership: not started")
	ErrAlreadyStarted = errors.New("membership: already started")
	ErrShutdown       = errors.New("membership: shut down")
	ErrJoin           = errors.New("membership: join failed")
	// ErrNameConflict: the node's name is taken by a live member at another
	// address. The node refuses to join and stops its memberlist (see Done).
	ErrNameConflict = errors.New("membership: node name taken by a live member")
)

// Peers is what the membership drives: the runtime's peer set.
// *node.Node (core/node) satisfies it. The methods are called from one
// goroutine of the Membership, never from memberlist's callbacks.
type Peers interface {
	AddPeer(p core.PeerID) error
	RemovePeer(p core.PeerID) error
	RecordRTT(p core.PeerID, rtt time.Duration)
}

// AddressBook maps peers to transport addresses. *tcp.Transport
// (transport-tcp) satisfies it. SetPeerAddr is called before the peer is
// added to Peers, RemovePeer after it was removed.
type AddressBook interface {
	SetPeerAddr(p core.PeerID, addr string)
	RemovePeer(p core.PeerID)
}

// Membership turns memberlist membership into Plumtree peers.
//
// Lifecycle: New binds the port (TCP and UDP); hand Listener to the Plumtree
// transport together with HandleStream as its stream handler (one port per
// node), build the runtime, then Start. Leave announces a graceful departure;
// Shutdown stops everything the Membership started. All methods are safe for
// concurrent use.
type Membership struct {
	self core.PeerID
	opts options
	log  *slog.Logger
	tr   *sharedTransport

	life    sync.Mutex // serialises Leave and Shutdown (memberlist panics on Leave after Shutdown)
	mu      sync.Mutex // guards ml, state
	ml      *memberlist.Memberlist
	mlp     atomic.Pointer[memberlist.Memberlist] // ml, for the stream guard (no lock)
	keyring atomic.Pointer[memberlist.Keyring]    // memberlist's keyring once started, if encrypted
	guard   *streamGuard
	state   int // stateNew, stateStarted, stateLeft, stateShutdown
	// syncAfter is how long after joining the node exchanges full state
	// once more (syncAfterJoin): settleRounds gossip intervals.
	syncAfter   time.Duration
	meta        atomic.Pointer[[]byte] // read by memberlist through NodeMeta
	leavingMeta []byte
	advAddr     string // advertised memberlist address
	plumAdr     string // advertised Plumtree transport address

	peers Peers
	book  AddressBook

	// Event queue (coalescing, one entry per member). qmu is the only lock
	// memberlist's callbacks take.
	qmu   sync.Mutex
	pend  map[string]*pendingMember
	order []string
	rtt   map[string]time.Duration
	wake  chan struct{}
	// rttTimer wakes the drainer rttFlushDelay after the first RTT sample
	// that found no drain due (rttArmed; see enqueueRTT). Reset and Stop
	// under qmu.
	rttTimer *time.Timer
	rttArmed bool
	rttDelay time.Duration // rttFlushDelay (tests shorten it)

	applied map[string]appliedMember // drainer goroutine only

	snapMu sync.Mutex
	snap   map[string]memberSnap // live members, copied in memberlist's callbacks

	// Name conflicts. gate is held by Join around memberlist's join and by
	// the drainer around applying events, so that a node that learns while
	// joining that its name is taken never adds a peer.
	gate       sync.Mutex
	joining    atomic.Int32
	selfClash  atomic.Pointer[string] // address of the live member holding our name (seen while joining)
	conflicted atomic.Bool
	failErr    atomic.Pointer[error]
	failed     chan struct{}
	failOnce   sync.Once
	part       partitionDetector

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	eventsReceived, eventsProcessed, eventsCoalesced atomic.Uint64
	peersAdded, peersRemoved, rttSamples             atomic.Uint64
	ignoredTotal                                     atomic.Uint64
	joinAttempts, joinFailures                       atomic.Uint64
	seedRejoinAttempts, seedRejoins                  atomic.Uint64
	partitionSuspicions, partitionedMessages         atomic.Uint64
	graftFailures                                    atomic.Uint64
	persistSaves, persistErrors                      atomic.Uint64
	alive, ignored                                   atomic.Int64
}

const (
	stateNew = iota
	stateStarted
	stateLeft
	stateShutdown
)

// New binds the node's port (TCP listener and UDP socket on the same
// address) and prepares the membership of the node named self. Nothing is
// sent until Start.
func New(self core.PeerID, opts ...Option) (*Membership, error) {
	if self == "" || len(self) > core.MaxPeerIDLen {
		return nil, fmt.Errorf("membership: node name: %w", core.ErrInvalidPeer)
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.secretKey != nil && o.keyring != nil {
		return nil, errors.New("membership: set either a secret key or a keyring, not both")
	}
	guard := newStreamGuard(o.streamLimits, o.logger)
	tr, err := listenShared(o.bindAddr, o.bindPort, o.logger, guard)
	if err != nil {
		return nil, err
	}
	m := &Membership{
		guard:  guard,
		self:   self,
		opts:   o,
		log:    o.logger,
		tr:     tr,
		stop:   make(chan struct{}),
		failed: make(chan struct{}),
		part:   partitionDetector{window: o.partWindow, fraction: o.partFraction, minPeers: o.partMinPeers},
	}
	m.initQueue()
	guard.known = func() int {
		if ml := m.mlp.Load(); ml != nil {
			return ml.NumMembers()
		}
		return 1
	}
	guard.keys = func() [][]byte {
		if kr := m.keyring.Load(); kr != nil {
			return kr.GetKeys()
		}
		return nil
	}
	return m, nil
}

// Listener returns the TCP listener of the node's port for the Plumtree
// transport (transport-tcp's WithListener); it must pass every connection
// that is not a Plumtree connection to HandleStream (transport-tcp's
// WithStreamHandler). Once Listener was called the Membership never accepts
// on it itself and does not close it: the transport owns it. Without a call
// to Listener before Start, the Membership accepts on the listener itself
// (memberlist only; Plumtree then needs its own port, see WithTransportAddr).
func (m *Membership) Listener() net.Listener {
	m.tr.lnShared.Store(true)
	return m.tr.ln
}

// HandleStream hands an inbound memberlist stream connection to memberlist.
// It takes ownership of conn and blocks until memberlist accepted it;
// connections arriving before Start or after Shutdown are closed.
func (m *Membership) HandleStream(conn net.Conn) {
	m.mu.Lock()
	st := m.state
	m.mu.Unlock()
	if st == stateNew || st == stateShutdown {
		_ = conn.Close()
		return
	}
	m.tr.handleStream(conn)
}

// BindAddr returns the address the node's port is bound to.
func (m *Membership) BindAddr() net.Addr { return m.tr.ln.Addr() }

// Port returns the bound port.
func (m *Membership) Port() int { return m.tr.port() }

// AdvertiseAddr returns the memberlist address other nodes use ("ip:port").
// Empty before Start.
func (m *Membership) AdvertiseAddr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.advAddr
}

// TransportAddr returns the Plumtree transport address advertised in the
// node's metadata. Empty before Start.
func (m *Membership) TransportAddr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.plumAdr
}

func (m *Membership) memberlist() *memberlist.Memberlist {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ml
}

// Start creates the memberlist of the node, starts applying membership
// events to peers (and book, when not nil), and joins the static seeds and
// the persisted peers in the background, with retries. A node without seeds
// starts alone and waits to be joined. ctx bounds the setup only.
func (m *Membership) Start(ctx context.Context, peers Peers, book AddressBook) error {
	if peers == nil {
		return errors.New("membership: Start needs a Peers (the runtime node)")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state {
	case stateShutdown:
		return ErrShutdown
	case stateNew:
	default:
		return ErrAlreadyStarted
	}
	m.peers, m.book = peers, book

	conf, err := presetConfig(m.opts.preset)
	if err != nil {
		return err
	}
	conf.Name = string(m.self)
	conf.BindAddr = m.opts.bindAddr
	conf.BindPort = m.tr.port()
	conf.AdvertiseAddr = m.opts.advertiseAddr
	conf.AdvertisePort = m.opts.advertisePort
	if conf.AdvertisePort == 0 {
		conf.AdvertisePort = m.tr.port()
	}
	conf.SecretKey = m.opts.secretKey
	conf.Keyring = m.opts.keyring
	for _, f := range m.opts.tweak {
		f(conf)
	}
	ip, port, err := m.tr.FinalAdvertiseAddr(conf.AdvertiseAddr, conf.AdvertisePort)
	if err != nil {
		return err
	}
	m.advAddr = net.JoinHostPort(ip.String(), strconv.Itoa(port))
	m.plumAdr = m.advAddr
	if m.opts.transportAddr != "" {
		m.plumAdr = fixHost(m.opts.transportAddr, ip)
	}
	adminAddr := ""
	if m.opts.adminAddr != "" {
		adminAddr = fixHost(m.opts.adminAddr, ip)
	}
	meta, err := Meta{Version: ProtocolVersion, Addr: m.plumAdr, AdminAddr: adminAddr}.MarshalBinary()
	if err != nil {
		return err
	}
	m.meta.Store(&meta)
	m.leavingMeta, _ = Meta{Version: ProtocolVersion, Addr: m.plumAdr, Leaving: true, AdminAddr: adminAddr}.MarshalBinary()
	d := (*eventDelegate)(m)
	conf.Name = string(m.self)
	conf.Transport = m.tr
	conf.Delegate = d
	conf.Events = d
	conf.Ping = d
	conf.Conflict = d
	conf.LogOutput = nil
	conf.Logger = log.New(&logBridge{l: m.log, closed: m.tr.closed.Load}, "", 0)

	m.syncAfter = settleRounds * conf.GossipInterval
	tcpTimeout := conf.TCPTimeout
	m.guard.readTimeout = func() time.Duration { return tcpTimeout }
	// Streams checked before Create returns are decrypted with the
	// configured keys (Create turns a secret key into a keyring).
	if conf.Keyring != nil {
		m.keyring.Store(conf.Keyring)
	} else if conf.SecretKey != nil {
		if kr, err := memberlist.NewKeyring(nil, conf.SecretKey); err == nil {
			m.keyring.Store(kr)
		}
	}
	m.tr.start()
	ml, err := memberlist.Create(conf)
	if err != nil {
		_ = m.tr.Shutdown()
		m.state = stateShutdown
		return fmt.Errorf("membership: create memberlist: %w", err)
	}
	m.ml = ml
	m.mlp.Store(ml)
	if conf.Keyring != nil {
		m.keyring.Store(conf.Keyring)
	}
	m.state = stateStarted
	m.log.Info("membership: started", "self", m.self, "addr", m.advAddr, "transport_addr", m.plumAdr,
		"preset", m.opts.preset, "encrypted", conf.SecretKey != nil || conf.Keyring != nil)

	join := append([]string(nil), m.opts.seeds...)
	join = appendUnique(join, m.loadPeers()...)
	m.wg.Add(2)
	go m.drain()
	go m.maintain(join)
	return nil
}

func appendUnique(dst []string, more ...string) []string {
	for _, s := range more {
		dup := false
		for _, d := range dst {
			if d == s {
				dup = true
				break
			}
		}
		if !dup {
			dst = append(dst, s)
		}
	}
	return dst
}

// Join contacts the given addresses ("host:port", or "host" for port 7946)
// and joins their cluster, retrying with the configured retries and
// back-off until one answers or ctx is done. It returns the number of nodes
// contacted.
func (m *Membership) Join(ctx context.Context, addrs ...string) (int, error) {
	ml := m.memberlist()
	if ml == nil {
		return 0, ErrNotStarted
	}
	norm := make([]string, 0, len(addrs))
	for _, a := range addrs {
		host, port, err := splitHostPortDefault(a, DefaultPort)
		if err != nil || host == "" {
			return 0, fmt.Errorf("%w: invalid address %q", ErrJoin, a)
		}
		norm = append(norm, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	if len(norm) == 0 {
		return 0, nil
	}
	delay := m.opts.joinInterval
	var lastErr error
	for attempt := 0; attempt <= m.opts.joinRetries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return 0, fmt.Errorf("%w: %w (last error: %v)", ErrJoin, ctx.Err(), lastErr)
			case <-m.stop:
				t.Stop()
				return 0, ErrShutdown
			}
			delay = min(2*delay, 30*time.Second)
		}
		m.joinAttempts.Add(1)
		n, err := m.joinOnce(ml, norm)
		if errors.Is(err, ErrNameConflict) {
			return 0, err
		}
		if n > 0 {
			m.log.Info("membership: joined", "contacted", n, "addrs", norm)
			return n, nil
		}
		m.joinFailures.Add(1)
		lastErr = err
		m.log.Warn("membership: join failed", "addrs", norm, "attempt", attempt+1, "err", err)
	}
	return 0, fmt.Errorf("%w: %v", ErrJoin, lastErr)
}

// joinOnce runs one memberlist join. When the push/pull of the join shows
// that a live member at another address holds this node's name, the node is
// the newcomer: it gives up (see abandon) and returns ErrNameConflict.
func (m *Membership) joinOnce(ml *memberlist.Memberlist, addrs []string) (int, error) {
	m.gate.Lock()
	defer m.gate.Unlock()
	if m.conflicted.Load() {
		return 0, *m.failErr.Load()
	}
	m.selfClash.Store(nil)
	m.joining.Add(1)
	n, err := ml.Join(addrs)
	m.joining.Add(-1)
	if other := m.selfClash.Swap(nil); other != nil {
		if !m.answers(ml, *other) {
			// Most likely this node's previous instance, stopped without a
			// leave: memberlist admits this one once it is declared dead.
			m.log.Warn("membership: a member that does not answer still holds this node's name; joining anyway",
				"self", m.self, "addr", m.AdvertiseAddr(), "other_addr", *other)
			return n, err
		}
		err := fmt.Errorf("%w: %q is %s here and %s at the member already in the cluster; start this node with another name",
			ErrNameConflict, m.self, m.AdvertiseAddr(), *other)
		m.abandon(err)
		return 0, err
	}
	return n, err
}

// answers reports whether a node named like this one answers memberlist
// pings at addr (a few tries, each memberlist's probe timeout).
func (m *Membership) answers(ml *memberlist.Memberlist, addr string) bool {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return false
	}
	for range 5 {
		if _, err := ml.Ping(string(m.self), ua); err == nil {
			return true
		}
		select {
		case <-m.stop:
			return false
		default:
		}
	}
	return false
}

// abandon stops the node's memberlist without a leave announcement (a
// leave in this node's name would make the others drop the member that
// really holds it) and records err for Err and Done.
func (m *Membership) abandon(err error) {
	m.conflicted.Store(true)
	m.failErr.Store(&err)
	// Log before Done closes: whoever waits on Done finds the line written
	// (the conflict test read the log right after Done and, on a loaded
	// machine, sometimes found it empty).
	m.log.Error("membership: giving up: a live member holds this node's name", "self", m.self, "err", err.Error())
	m.failOnce.Do(func() { close(m.failed) })
	m.mu.Lock()
	ml := m.ml
	stop := m.state == stateStarted
	if stop {
		m.state = stateLeft // Leave is then a no-op; Shutdown finishes
	}
	m.mu.Unlock()
	if stop && ml != nil {
		_ = ml.Shutdown()
	}
	m.stopOnce.Do(func() { close(m.stop) })
}

// Done is closed when the Membership stopped on its own: its name is taken
// by a live member (Err returns ErrNameConflict). Call Shutdown afterwards
// as usual.
func (m *Membership) Done() <-chan struct{} { return m.failed }

// Err returns why the Membership stopped on its own, or nil.
func (m *Membership) Err() error {
	if e := m.failErr.Load(); e != nil {
		return *e
	}
	return nil
}

// maintain joins the seeds, then periodically rejoins lost static seeds and
// saves the known peers.
func (m *Membership) maintain(join []string) {
	defer m.wg.Done()
	var resync <-chan time.Time // syncAfterJoin, once
	if len(join) > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-m.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		n, err := m.Join(ctx, join...)
		cancel()
		if errors.Is(err, ErrNameConflict) {
			return
		}
		if err != nil && !errors.Is(err, ErrShutdown) {
			m.log.Warn("membership: could not join any seed; waiting to be joined", "seeds", join, "err", err)
		}
		if n > 0 {
			t := time.NewTimer(m.syncAfter)
			defer t.Stop()
			resync = t.C
		}
	}
	var rejoin, persist <-chan time.Time
	if m.opts.rejoinSeeds && len(m.opts.seeds) > 0 {
		t := time.NewTicker(m.opts.rejoinInterval)
		defer t.Stop()
		rejoin = t.C
	}
	if m.opts.peerFile != "" {
		t := time.NewTicker(m.opts.persistEvery)
		defer t.Stop()
		persist = t.C
	}
	for {
		select {
		case <-m.stop:
			return
		case <-resync:
			resync = nil
			m.syncAfterJoin()
		case <-rejoin:
			m.rejoinSeeds()
		case <-persist:
			m.savePeers()
		}
	}
}

// settleRounds is how many gossip intervals after joining a node exchanges
// full state once more (2 s in the lan and local presets, 5 s in wan).
const settleRounds = 10

// syncAfterJoin exchanges full state (memberlist's push/pull) once with a
// random live member, settleRounds gossip intervals after this node joined.
// Why: nodes that join at about the same time can miss each other. A join
// that reaches the seed just after this node's own push/pull with it comes
// here only by gossip, whose few transmissions, spread over the members
// known at the time, can all go elsewhere; the member then stayed unknown
// here until the next periodic push/pull (30 s in the lan and local
// presets): 5 of 60 starts of 32 nodes joining one seed together took
// 35–54 s to form, none with this exchange (README). By the time of this
// exchange the joins have spread, and any member holds them.
func (m *Membership) syncAfterJoin() {
	ml := m.memberlist()
	if ml == nil {
		return
	}
	self := m.AdvertiseAddr()
	var others []string
	for _, n := range m.liveMembers() {
		if a := n.addr(); a != self {
			others = append(others, a)
		}
	}
	if len(others) == 0 {
		return
	}
	a := others[rand.IntN(len(others))]
	if _, err := ml.Join([]string{a}); err != nil {
		m.log.Debug("membership: state exchange after joining failed", "member", a, "err", err)
	}
}

// rejoinSeeds joins every static seed that is not in the alive set.
func (m *Membership) rejoinSeeds() {
	ml := m.memberlist()
	if ml == nil {
		return
	}
	alive := make(map[string]bool)
	for _, n := range m.liveMembers() {
		alive[n.addr()] = true
	}
	self := m.AdvertiseAddr()
	for _, seed := range m.opts.seeds {
		addrs := resolveSeed(seed)
		present := false
		for _, a := range addrs {
			if alive[a] || a == self || m.isLocal(a) {
				present = true
				break
			}
		}
		if present {
			continue
		}
		select {
		case <-m.stop:
			return
		default:
		}
		m.seedRejoinAttempts.Add(1)
		if n, err := ml.Join([]string{seed}); n > 0 {
			m.seedRejoins.Add(1)
			m.log.Info("membership: rejoined static seed", "seed", seed)
		} else {
			m.log.Debug("membership: static seed still unreachable", "seed", seed, "err", err)
		}
	}
}

// isLocal reports whether addr ("ip:port", a resolved seed) is this node:
// its advertised address, its bound address, or — when bound to all
// interfaces — a loopback address on its port (the kernel delivers those to
// this node's wildcard socket). Another node on another address with the
// same port (other loopback IPs, containers, several interfaces) is not this
// node, so a shared seed list is rejoined after a partition.
func (m *Membership) isLocal(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if adv := m.AdvertiseAddr(); adv != "" {
		if ah, ap, err := net.SplitHostPort(adv); err == nil && ap == port {
			if aip := net.ParseIP(ah); aip != nil && aip.Equal(ip) {
				return true
			}
		}
	}
	bound := m.tr.ln.Addr().(*net.TCPAddr)
	if port != strconv.Itoa(bound.Port) {
		return false
	}
	if bound.IP.IsUnspecified() {
		return ip.IsLoopback() || ip.IsUnspecified()
	}
	return bound.IP.Equal(ip)
}

// resolveSeed returns the ip:port forms of seed.
func resolveSeed(seed string) []string {
	host, port, err := net.SplitHostPort(seed)
	if err != nil {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		return []string{net.JoinHostPort(ip.String(), port)}
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		out = append(out, net.JoinHostPort(ip.String(), port))
	}
	return out
}

// Leave announces the node's departure to the cluster and waits up to
// timeout for the announcement to go out; the known peers are saved first.
// Other nodes remove the peer at once instead of waiting for failure
// detection. Call Shutdown afterwards.
func (m *Membership) Leave(timeout time.Duration) error {
	m.life.Lock()
	defer m.life.Unlock()
	m.mu.Lock()
	if m.state != stateStarted {
		st := m.state
		m.mu.Unlock()
		switch st {
		case stateLeft:
			return nil
		case stateShutdown:
			return ErrShutdown
		}
		return ErrNotStarted
	}
	m.state = stateLeft
	ml := m.ml
	m.meta.Store(&m.leavingMeta)
	m.mu.Unlock()
	m.savePeers()
	start := time.Now()
	// Flag the metadata first so that the others count this departure as a
	// leave, not a failure (for partition suspicion).
	if err := ml.UpdateNode(timeout / 2); err != nil {
		m.log.Debug("membership: announcing leave in metadata", "err", err)
	}
	if err := ml.Leave(max(timeout-time.Since(start), time.Millisecond)); err != nil {
		return fmt.Errorf("membership: leave: %w", err)
	}
	m.log.Info("membership: left the cluster", "self", m.self)
	return nil
}

// Shutdown stops memberlist (without a leave announcement unless Leave was
// called), the event drainer and the maintenance loop, and saves the known
// peers. It waits for its goroutines until ctx is done. Safe to call more
// than once.
func (m *Membership) Shutdown(ctx context.Context) error {
	m.life.Lock()
	defer m.life.Unlock()
	m.mu.Lock()
	prev := m.state
	m.state = stateShutdown
	ml := m.ml
	m.mu.Unlock()
	if prev == stateShutdown {
		return nil
	}
	if prev == stateStarted {
		m.savePeers()
	}
	m.stopOnce.Do(func() { close(m.stop) })
	if ml != nil {
		_ = ml.Shutdown()
	} else {
		_ = m.tr.Shutdown()
		if !m.tr.lnShared.Load() {
			m.tr.closeListener()
		}
	}
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("membership: shutdown: %w", ctx.Err())
	}
}

// Member describes one memberlist member.
type Member struct {
	Name          string `json:"name"`
	Addr          string `json:"addr"`                     // memberlist address
	TransportAddr string `json:"transport_addr,omitempty"` // Plumtree address from the metadata
	AdminAddr     string `json:"admin_addr,omitempty"`     // admin API address, when the node advertises it (WithAdminAddr)
	Leaving       bool   `json:"leaving,omitempty"`        // announced a graceful leave
	Plumtree      bool   `json:"plumtree"`                 // valid metadata of our protocol version
	Version       int    `json:"version,omitempty"`        // advertised protocol version
	Self          bool   `json:"self,omitempty"`
}

// Members returns memberlist's live members (alive or suspect; the node
// itself included), sorted by name.
func (m *Membership) Members() []Member {
	ml := m.memberlist()
	if ml == nil {
		return nil
	}
	nodes := m.liveMembers()
	out := make([]Member, 0, len(nodes))
	for _, n := range nodes {
		mb := Member{Name: n.name, Addr: n.addr(), Self: n.name == string(m.self)}
		if meta, err := ParseMeta(n.meta); err == nil {
			mb.Plumtree, mb.TransportAddr, mb.Version, mb.Leaving = true, fixHost(meta.Addr, n.ip), int(meta.Version), meta.Leaving
			if meta.AdminAddr != "" {
				mb.AdminAddr = fixHost(meta.AdminAddr, n.ip)
			}
		} else if meta.Version != 0 {
			mb.Version = int(meta.Version)
		}
		out = append(out, mb)
	}
	return out
}

// Stats is a snapshot of the membership's gauges and counters.
type Stats struct {
	Members             int    `json:"members"`              // memberlist members alive, the node included
	Alive               int    `json:"alive"`                // Plumtree peers currently applied to the runtime
	Ignored             int    `json:"ignored"`              // alive members ignored: no or foreign metadata
	IgnoredTotal        uint64 `json:"ignored_total"`        // members ever ignored
	EventsReceived      uint64 `json:"events_received"`      // memberlist join/leave/update callbacks
	EventsProcessed     uint64 `json:"events_processed"`     // member states applied by the drainer
	EventsCoalesced     uint64 `json:"events_coalesced"`     // events replaced by a newer one for the same member before being applied
	QueueLen            int    `json:"queue_len"`            // member states waiting to be applied
	PeersAdded          uint64 `json:"peers_added"`          // AddPeer calls
	PeersRemoved        uint64 `json:"peers_removed"`        // RemovePeer calls
	RTTSamples          uint64 `json:"rtt_samples"`          // RecordRTT calls
	JoinAttempts        uint64 `json:"join_attempts"`        // Join rounds (initial join and explicit Join)
	JoinFailures        uint64 `json:"join_failures"`        // Join rounds that reached nobody
	SeedRejoinAttempts  uint64 `json:"seed_rejoin_attempts"` // joins of static seeds missing from the alive set
	SeedRejoins         uint64 `json:"seed_rejoins"`         // of which succeeded
	PartitionSuspicions uint64 `json:"partition_suspicions"` // "Possible partition detected" warnings
	PartitionedMessages uint64 `json:"partitioned_messages"` // EventMessagePartitioned observed
	GraftFailures       uint64 `json:"graft_failures"`       // EventGraftFailed observed
	PersistSaves        uint64 `json:"persist_saves"`
	PersistErrors       uint64 `json:"persist_errors"`

	// Inbound memberlist streams (see WithStreamLimits).
	StreamsAccepted         uint64 `json:"streams_accepted"`          // checked and handed to memberlist
	StreamsRefused          uint64 `json:"streams_refused"`           // closed before memberlist saw them; the sum of the next five
	StreamsRefusedBusy      uint64 `json:"streams_refused_busy"`      // too many streams open or bytes held
	StreamsRefusedNodes     uint64 `json:"streams_refused_nodes"`     // push/pull announcing too many nodes
	StreamsRefusedSize      uint64 `json:"streams_refused_size"`      // message or announced length over the stream bound (MaxStreamBytes, or 1 KiB per node a push/pull may announce)
	StreamsRefusedMalformed uint64 `json:"streams_refused_malformed"` // not memberlist, truncated, or too slow
	StreamsRefusedDecrypt   uint64 `json:"streams_refused_decrypt"`   // encrypted with no installed key
	StreamsOpen             int64  `json:"streams_open"`              // being checked or handled by memberlist now
	StreamBytes             int64  `json:"stream_bytes"`              // bytes held for open streams now
}

// Stats returns a snapshot.
func (m *Membership) Stats() Stats {
	s := Stats{
		Alive:               int(m.alive.Load()),
		Ignored:             int(m.ignored.Load()),
		IgnoredTotal:        m.ignoredTotal.Load(),
		EventsReceived:      m.eventsReceived.Load(),
		EventsProcessed:     m.eventsProcessed.Load(),
		EventsCoalesced:     m.eventsCoalesced.Load(),
		PeersAdded:          m.peersAdded.Load(),
		PeersRemoved:        m.peersRemoved.Load(),
		RTTSamples:          m.rttSamples.Load(),
		JoinAttempts:        m.joinAttempts.Load(),
		JoinFailures:        m.joinFailures.Load(),
		SeedRejoinAttempts:  m.seedRejoinAttempts.Load(),
		SeedRejoins:         m.seedRejoins.Load(),
		PartitionSuspicions: m.partitionSuspicions.Load(),
		PartitionedMessages: m.partitionedMessages.Load(),
		GraftFailures:       m.graftFailures.Load(),
		PersistSaves:        m.persistSaves.Load(),
		PersistErrors:       m.persistErrors.Load(),

		StreamsAccepted:         m.guard.accepted.Load(),
		StreamsRefused:          m.guard.refused.Load(),
		StreamsRefusedBusy:      m.guard.refusedBusy.Load(),
		StreamsRefusedNodes:     m.guard.refusedNodes.Load(),
		StreamsRefusedSize:      m.guard.refusedSize.Load(),
		StreamsRefusedMalformed: m.guard.refusedFormat.Load(),
		StreamsRefusedDecrypt:   m.guard.refusedDecrypt.Load(),
		StreamsOpen:             m.guard.streams.Load(),
		StreamBytes:             m.guard.buffered.Load(),
	}
	m.qmu.Lock()
	s.QueueLen = len(m.order)
	m.qmu.Unlock()
	if ml := m.memberlist(); ml != nil {
		s.Members = ml.NumMembers()
	}
	return s
}

// WaitForPeers polls until at least n Plumtree peers are applied to the
// runtime or ctx is done.
func (m *Membership) WaitForPeers(ctx context.Context, n int) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if int(m.alive.Load()) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("membership: waiting for %d peers (have %d): %w", n, m.alive.Load(), ctx.Err())
		case <-t.C:
		}
	}
}

// initQueue makes the event queue's state: what New builds, and what the
// tests that drive enqueue and drainOnce by hand build alone.
func (m *Membership) initQueue() {
	m.pend = make(map[string]*pendingMember)
	m.rtt = make(map[string]time.Duration)
	m.wake = make(chan struct{}, 1)
	m.rttTimer = stoppedTimer()
	m.rttDelay = rttFlushDelay
	m.applied = make(map[string]appliedMember)
}
