package stack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/plumtree-go/plumtree/cache"
	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/membership"
	tcp "github.com/plumtree-go/plumtree/transport-tcp"
	"github.com/plumtree-go/plumtree/tuner"
)

// Config describes one node.
type Config struct {
	// Name is the node's name: its memberlist name and Plumtree peer id.
	Name string
	// BindAddr is the address of the node's single port (memberlist UDP and
	// TCP, Plumtree TCP). Default "127.0.0.1:0".
	BindAddr string
	// AdvertiseAddr is the address other nodes use, when it differs from
	// the bound one.
	AdvertiseAddr string
	// Seeds are joined at start (and re-joined when they drop out).
	Seeds []string
	// Standalone tells the health report that the node is alone by
	// configuration (core.HealthConfig.Standalone): with no peer it is
	// Healthy, so a readiness probe passes before anyone joins.
	Standalone bool
	// Preset names the Plumtree and memberlist timing presets; see Preset.
	// Default "lan".
	Preset string
	// Protocol overrides the Plumtree configuration of the preset when its
	// EagerFanout is not zero.
	Protocol core.Config
	// SecretKey enables memberlist's gossip encryption and authenticates
	// Plumtree connections and frames (16, 24 or 32 bytes).
	SecretKey []byte
	// ServerTLS and ClientTLS protect Plumtree connections (both or none).
	ServerTLS, ClientTLS *tls.Config
	// PeerFile persists known members across restarts.
	PeerFile string
	// Logger receives every module's logs. Default: discard.
	Logger *slog.Logger
	// Delegate receives deliveries and tree changes. Default: none.
	Delegate node.Delegate
	// WrapTransport, if set, wraps the Plumtree transport the node sends
	// through (the cluster job counts frames and injects loss with it).
	WrapTransport func(node.Transport) node.Transport
	// Extra options for each module.
	NodeOptions       []node.Option
	MembershipOptions []membership.Option
	TCPOptions        []tcp.Option
}

// Stack is one running node.
type Stack struct {
	Name       core.PeerID
	Node       *node.Node
	Membership *membership.Membership
	Transport  *tcp.Transport
	Cache      *cache.Cache
	Tuner      *tuner.CleanupTuner
	// NodeTuner sets the graft timeout and the IHave batching from the
	// delays the runtime measures (owned by the node's protocol goroutine:
	// do not call it).
	NodeTuner *tuner.NodeTuner
	// Protocol is the Plumtree configuration the node runs.
	Protocol core.Config

	log *slog.Logger
}

// Preset returns the Plumtree configuration and the memberlist preset of a
// preset name:
//
//	local    Plumtree LAN + membership local (loopback: memberlist's fast
//	         failure detection, LAN's gossip and push/pull intervals, no
//	         compression; see membership.LocalConfig)
//	lan      Plumtree LAN + memberlist LAN (default)
//	wan      Plumtree WAN + memberlist WAN
//	large    Plumtree large-cluster + memberlist LAN
//	default  Plumtree default + memberlist LAN
func Preset(name string) (core.Config, string, error) {
	switch name {
	case "local":
		return core.LANConfig(), "local", nil
	case "", "lan":
		return core.LANConfig(), "lan", nil
	case "wan":
		return core.WANConfig(), "wan", nil
	case "large":
		return core.LargeClusterConfig(), "lan", nil
	case "default":
		return core.DefaultConfig(), "lan", nil
	}
	return core.Config{}, "", fmt.Errorf("unknown preset %q (want local, lan, wan, large or default)", name)
}

// Start builds and starts a node: it binds the port, starts membership (which
// joins the seeds in the background) and returns at once.
func Start(ctx context.Context, c Config) (*Stack, error) {
	if c.Name == "" {
		return nil, errors.New("stack: a node needs a name")
	}
	if c.BindAddr == "" {
		c.BindAddr = "127.0.0.1:0"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	pcfg, mlPreset, err := Preset(c.Preset)
	if err != nil {
		return nil, err
	}
	if c.Protocol.EagerFanout != 0 {
		pcfg = c.Protocol
	}
	if c.Standalone {
		pcfg.Health.Standalone = true
	}
	if pcfg.Seed == 0 {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s/%d", c.Name, time.Now().UnixNano())
		pcfg.Seed = int64(h.Sum64() >> 1)
	}
	self := core.PeerID(c.Name)
	log := c.Logger.With("node", c.Name)

	mopts := []membership.Option{
		membership.WithLogger(log),
		membership.WithBindAddr(c.BindAddr),
		membership.WithPreset(mlPreset),
		membership.WithSeeds(c.Seeds...),
	}
	if c.AdvertiseAddr != "" {
		mopts = append(mopts, membership.WithAdvertiseAddr(c.AdvertiseAddr))
	}
	// One keyring encrypts memberlist's gossip and authenticates the
	// Plumtree connections and frames.
	var keyring *memberlist.Keyring
	if c.SecretKey != nil {
		if keyring, err = memberlist.NewKeyring(nil, c.SecretKey); err != nil {
			return nil, fmt.Errorf("stack: secret key: %w", err)
		}
		mopts = append(mopts, membership.WithKeyring(keyring))
	}
	if c.PeerFile != "" {
		mopts = append(mopts, membership.WithPeerFile(c.PeerFile, 0))
	}
	mopts = append(mopts, c.MembershipOptions...)
	m, err := membership.New(self, mopts...)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Stack, error) {
		_ = m.Shutdown(context.Background())
		return nil, err
	}

	topts := []tcp.Option{
		tcp.WithListener(m.Listener()),
		tcp.WithStreamHandler(m.HandleStream),
		tcp.WithLogger(log),
		tcp.WithMaxFrameSize(tcp.MaxFrameSizeFor(pcfg)),
	}
	if c.ServerTLS != nil || c.ClientTLS != nil {
		topts = append(topts, tcp.WithTLS(c.ServerTLS, c.ClientTLS))
	}
	if keyring != nil {
		topts = append(topts, tcp.WithKeyring(keyring))
	}
	topts = append(topts, c.TCPOptions...)
	tr, err := tcp.New(self, topts...)
	if err != nil {
		return fail(err)
	}

	store, tun, err := newStore(pcfg, log)
	if err != nil {
		_ = tr.Close()
		return fail(err)
	}
	if err := store.Start(); err != nil {
		_ = tr.Close()
		return fail(err)
	}

	// The runtime feeds the node tuner its samples and applies its timings
	// (graft timeout from the measured delays, IHave batching from the
	// message rate and the Grafts), within bounds around the preset.
	ntun, err := tuner.NewNodeTuner(tuner.NodeConfigFor(pcfg.GraftTimeout, pcfg.IHaveInterval, pcfg.IHaveBatchSize))
	if err != nil {
		store.Stop()
		_ = tr.Close()
		return fail(err)
	}
	nopts := []node.Option{
		node.WithTuner(ntun),
		node.WithLogger(log),
		node.WithStore(store),
		node.WithAdmission(store.Admit),
		node.WithObserver(m),
	}
	nopts = append(nopts, c.NodeOptions...)
	var ntr node.Transport = tr
	if c.WrapTransport != nil {
		ntr = c.WrapTransport(tr)
	}
	n, err := node.New(pcfg, self, ntr, c.Delegate, nopts...)
	if err != nil {
		store.Stop()
		_ = tr.Close()
		return fail(err)
	}
	s := &Stack{Name: self, Node: n, Membership: m, Transport: tr, Cache: store, Tuner: tun, NodeTuner: ntun, Protocol: n.Config(), log: log}
	if err := m.Start(ctx, n, tr); err != nil {
		s.Kill()
		return nil, err
	}
	return s, nil
}

// newStore is the node's message store: the cache module sized by the
// protocol's configuration, swept and given its backpressure level by a
// CleanupTuner with the default configuration. It is not started.
func newStore(pcfg core.Config, log *slog.Logger, opts ...cache.Option) (*cache.Cache, *tuner.CleanupTuner, error) {
	tun, err := tuner.NewCleanupTuner(tuner.DefaultCleanupConfig())
	if err != nil {
		return nil, nil, err
	}
	store, err := cache.New(cache.ConfigFromCore(pcfg), append([]cache.Option{cache.WithScheduler(tun), cache.WithLogger(log)}, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	return store, tun, nil
}

// Addr returns the node's advertised address (memberlist and Plumtree).
func (s *Stack) Addr() string { return s.Membership.AdvertiseAddr() }

// Stop leaves the cluster (waiting up to leaveTimeout for the announcement),
// then stops membership, the runtime (which closes the transport) and the
// cache sweeper. ctx bounds the shutdown. A leave announcement that nobody
// acknowledged in time (the last node of a cluster) is logged, not an error.
func (s *Stack) Stop(ctx context.Context, leaveTimeout time.Duration) error {
	var errs []error
	if leaveTimeout > 0 {
		if err := s.Membership.Leave(leaveTimeout); err != nil && !errors.Is(err, membership.ErrShutdown) {
			s.log.Warn("leave announcement not confirmed", "err", err)
		}
	}
	if err := s.Membership.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.Node.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	s.Cache.Stop()
	return errors.Join(errs...)
}

// Kill stops the node at once, without a leave announcement: the other nodes
// find out through failure detection, as after a crash.
func (s *Stack) Kill() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.Stop(ctx, 0)
}
