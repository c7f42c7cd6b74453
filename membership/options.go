package membership

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// DefaultPort is the port a node listens on when none is given: memberlist's
// default, shared by memberlist (UDP and TCP) and Plumtree frames (TCP).
const DefaultPort = 7946

// Defaults of the options.
const (
	DefaultJoinRetries         = 5
	DefaultJoinRetryInterval   = time.Second
	DefaultRejoinInterval      = 30 * time.Second
	DefaultPersistInterval     = time.Minute
	DefaultPartitionWindow     = 10 * time.Second
	DefaultPartitionFraction   = 0.5
	DefaultPartitionMinPeers   = 2
	DefaultLeaveTimeout        = 5 * time.Second
	DefaultMaxPersistedMembers = 1024
)

// Option configures a Membership.
type Option func(*options) error

type options struct {
	logger         *slog.Logger
	preset         string
	bindAddr       string
	bindPort       int
	advertiseAddr  string
	advertisePort  int
	transportAddr  string
	adminAddr      string
	seeds          []string
	joinRetries    int
	joinInterval   time.Duration
	rejoinSeeds    bool
	rejoinInterval time.Duration
	peerFile       string
	persistEvery   time.Duration
	maxPersisted   int
	secretKey      []byte
	keyring        *memberlist.Keyring
	tweak          []func(*memberlist.Config)
	partWindow     time.Duration
	partFraction   float64
	partMinPeers   int
	streamLimits   StreamLimits
}

func defaultOptions() options {
	return options{
		logger:         slog.New(slog.DiscardHandler),
		preset:         "lan",
		bindAddr:       "0.0.0.0",
		bindPort:       DefaultPort,
		joinRetries:    DefaultJoinRetries,
		joinInterval:   DefaultJoinRetryInterval,
		rejoinSeeds:    true,
		rejoinInterval: DefaultRejoinInterval,
		persistEvery:   DefaultPersistInterval,
		maxPersisted:   DefaultMaxPersistedMembers,
		partWindow:     DefaultPartitionWindow,
		partFraction:   DefaultPartitionFraction,
		partMinPeers:   DefaultPartitionMinPeers,
	}
}

// WithLogger sets the logger (default: discard). memberlist's own log lines
// are forwarded to it at their level with the key component=memberlist,
// except the errors of sends on the node's own closed sockets once Shutdown
// has closed them (memberlist's timers can fire after its transport closed),
// which go to DEBUG.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l != nil {
			o.logger = l
		}
		return nil
	}
}

// WithPreset selects memberlist's timing preset: "lan" (default; memberlist
// DefaultLANConfig), "wan" (DefaultWANConfig) or "local" (one host or
// loopback: DefaultLocalConfig's fast failure detection, with LAN's gossip
// interval, retransmissions and push/pull interval and without
// compression; see LocalConfig).
func WithPreset(name string) Option {
	return func(o *options) error {
		if _, err := presetConfig(name); err != nil {
			return err
		}
		o.preset = name
		return nil
	}
}

// WithBindAddr sets the address ("host:port", "host" or ":port") the node
// listens on, for memberlist's UDP packets and for the shared TCP listener.
// Default "0.0.0.0:7946"; port 0 lets the OS choose.
func WithBindAddr(addr string) Option {
	return func(o *options) error {
		host, port, err := splitHostPortDefault(addr, DefaultPort)
		if err != nil {
			return fmt.Errorf("membership: bind address %q: %w", addr, err)
		}
		if host == "" {
			host = "0.0.0.0"
		}
		o.bindAddr, o.bindPort = host, port
		return nil
	}
}

// WithAdvertiseAddr sets the address other nodes use to reach this one
// ("host:port" or "host"; the port defaults to the bound port). Needed when
// binding 0.0.0.0 behind NAT or in containers; by default the bound address
// (or a private IP when bound to 0.0.0.0) is advertised.
func WithAdvertiseAddr(addr string) Option {
	return func(o *options) error {
		host, port, err := splitHostPortDefault(addr, 0)
		if err != nil {
			return fmt.Errorf("membership: advertise address %q: %w", addr, err)
		}
		if ip := net.ParseIP(host); ip == nil {
			return fmt.Errorf("membership: advertise address %q: host must be an IP address", addr)
		}
		o.advertiseAddr, o.advertisePort = host, port
		return nil
	}
}

// WithTransportAddr advertises a Plumtree transport address different from
// the memberlist address (two-port mode: Plumtree frames on their own
// listener). An empty or unspecified host is replaced by the advertised IP.
// By default the memberlist address itself is advertised: one port per node.
func WithTransportAddr(addr string) Option {
	return func(o *options) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("membership: transport address %q: %w", addr, err)
		}
		o.transportAddr = addr
		return nil
	}
}

// WithAdminAddr advertises the node's admin API address in its metadata, so
// that operator tools (plumctl) can find every node's admin API from any one
// of them. Opt-in: the admin API can broadcast, so advertise it only where
// every member may reach it. An empty or unspecified host is replaced by the
// advertised IP.
func WithAdminAddr(addr string) Option {
	return func(o *options) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("membership: admin address %q: %w", addr, err)
		}
		o.adminAddr = addr
		return nil
	}
}

// WithSeeds sets the static seed addresses ("host:port" or "host" for port
// 7946) joined at Start. Static seeds that drop out of the alive set are
// re-joined periodically (see WithSeedRejoin).
func WithSeeds(seeds ...string) Option {
	return func(o *options) error {
		for _, s := range seeds {
			if s == "" {
				continue
			}
			host, port, err := splitHostPortDefault(s, DefaultPort)
			if err != nil || host == "" {
				return fmt.Errorf("membership: seed %q: invalid address", s)
			}
			o.seeds = append(o.seeds, net.JoinHostPort(host, strconv.Itoa(port)))
		}
		return nil
	}
}

// WithJoinRetries sets how many times the initial join is retried after a
// failure, and the first pause between attempts (doubling, capped at 30 s).
// Defaults 5 and 1 s.
func WithJoinRetries(retries int, interval time.Duration) Option {
	return func(o *options) error {
		if retries < 0 || interval <= 0 {
			return fmt.Errorf("membership: join retries %d / interval %v: want retries >= 0 and interval > 0", retries, interval)
		}
		o.joinRetries, o.joinInterval = retries, interval
		return nil
	}
}

// WithSeedRejoin turns the rejoin of static seeds on or off (default on) and
// sets how often the alive set is checked for missing seeds (default 30 s).
// A seed that restarted alone is thereby pulled back into the cluster.
func WithSeedRejoin(enabled bool, interval time.Duration) Option {
	return func(o *options) error {
		if enabled && interval <= 0 {
			return fmt.Errorf("membership: seed rejoin interval %v: must be > 0", interval)
		}
		o.rejoinSeeds = enabled
		if interval > 0 {
			o.rejoinInterval = interval
		}
		return nil
	}
}

// WithPeerFile persists the addresses of known members to path: written
// atomically (temp file, fsync, rename) every interval (default 1 min; 0
// keeps the default) and on Leave and Shutdown, and read at Start to
// bootstrap the join. A missing or corrupt file is a logged warning.
func WithPeerFile(path string, interval time.Duration) Option {
	return func(o *options) error {
		if interval < 0 {
			return fmt.Errorf("membership: persist interval %v: must be >= 0", interval)
		}
		o.peerFile = path
		if interval > 0 {
			o.persistEvery = interval
		}
		return nil
	}
}

// WithMaxPersistedMembers bounds the members written to and read from the
// peer file (default 1024).
func WithMaxPersistedMembers(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("membership: max persisted members %d: must be >= 1", n)
		}
		o.maxPersisted = n
		return nil
	}
}

// WithSecretKey enables memberlist's gossip encryption (AES-GCM) with a 16,
// 24 or 32 byte key. Nodes with another key cannot join.
func WithSecretKey(key []byte) Option {
	return func(o *options) error {
		switch len(key) {
		case 16, 24, 32:
		default:
			return fmt.Errorf("membership: secret key is %d bytes, must be 16, 24 or 32", len(key))
		}
		o.secretKey = append([]byte(nil), key...)
		return nil
	}
}

// WithKeyring uses a memberlist keyring (key rotation) for gossip encryption.
func WithKeyring(k *memberlist.Keyring) Option {
	return func(o *options) error {
		o.keyring = k
		return nil
	}
}

// WithMemberlistConfig lets the caller adjust memberlist's configuration
// after the preset and the options were applied (timings, DeadNodeReclaimTime,
// labels...). The transport, delegates, name and logger are owned by the
// Membership and are restored after f returns.
func WithMemberlistConfig(f func(*memberlist.Config)) Option {
	return func(o *options) error {
		if f != nil {
			o.tweak = append(o.tweak, f)
		}
		return nil
	}
}

// WithPartitionDetection tunes partition suspicion: when at least minPeers
// peers and at least fraction of all peers fail (memberlist declares them
// dead) within window, the node logs
// "Possible partition detected - cannot reach peers: ..." and counts it.
// Defaults 10 s, 0.5, 2.
func WithPartitionDetection(window time.Duration, fraction float64, minPeers int) Option {
	return func(o *options) error {
		if window <= 0 || !(fraction > 0 && fraction <= 1) || minPeers < 1 {
			return fmt.Errorf("membership: partition detection window %v fraction %v min peers %d: want window > 0, fraction in (0,1], min peers >= 1", window, fraction, minPeers)
		}
		o.partWindow, o.partFraction, o.partMinPeers = window, fraction, minPeers
		return nil
	}
}

// WithStreamLimits bounds the inbound memberlist streams checked in front of
// memberlist: how many are open at once, how large one message may be, the
// bytes held for all of them together and the nodes a push/pull may
// announce (see StreamLimits; zero fields keep the defaults 32, 4 MiB,
// 32 MiB and 16384). Refused streams are closed, counted in Stats and
// logged.
func WithStreamLimits(l StreamLimits) Option {
	return func(o *options) error {
		if l.MaxStreams < 0 || l.MaxStreamBytes < 0 || l.MaxBufferedBytes < 0 || l.MaxPushPullNodes < 0 {
			return fmt.Errorf("membership: stream limits %+v: must be >= 0", l)
		}
		o.streamLimits = l
		return nil
	}
}

func presetConfig(name string) (*memberlist.Config, error) {
	switch name {
	case "", "lan", "default":
		return memberlist.DefaultLANConfig(), nil
	case "wan":
		return memberlist.DefaultWANConfig(), nil
	case "local":
		return LocalConfig(), nil
	}
	return nil, fmt.Errorf("membership: unknown preset %q (want lan, wan or local)", name)
}

// LocalConfig is memberlist's configuration of the "local" preset, for
// nodes on one host or on loopback: memberlist's DefaultLocalConfig, whose
// fast failure detection it keeps (1 s probes, 200 ms probe timeout, short
// suspicion, one indirect check), with LAN's dissemination and no
// compression:
//
//   - GossipInterval 200 ms (DefaultLocalConfig: 100 ms). Plumtree does not
//     ride on memberlist's gossip, which carries only membership changes;
//     those take about twice as long to spread (a few rounds: under a
//     second for tens of nodes), next to the seconds that detecting a
//     failure takes. Each node's gossip timer, which memberlist runs even
//     with nothing to send, wakes half as often.
//   - RetransmitMult 4 (DefaultLocalConfig: 2), LAN's. How many times each
//     node passes on a membership change. With 2, nodes joining one seed in
//     quick succession missed each other's joins: a member or two stayed
//     unknown to a node until the next push/pull, and a 32-node cluster
//     started at once took 35–50 s to form instead of about a second. More
//     retransmissions cost bytes only when membership changes.
//   - PushPullInterval 30 s (DefaultLocalConfig: 15 s). Push/pull is
//     memberlist's full-state exchange that repairs missed gossip (what
//     the retransmissions did not reach), and LAN's period does. Joins still
//     exchange state at once.
//   - EnableCompression false. memberlist tries to compress every packet,
//     each ping and ack included, and keeps the result only when smaller,
//     which it never is for a ping; each attempt allocates 64 KiB of LZW
//     tables. Push/pull state then goes uncompressed (a few kB more per
//     exchange, half as many exchanges).
//
// Nodes with and without compression interoperate: memberlist reads both.
func LocalConfig() *memberlist.Config {
	c := memberlist.DefaultLocalConfig()
	c.GossipInterval = 200 * time.Millisecond
	c.RetransmitMult = 4
	c.PushPullInterval = 30 * time.Second
	c.EnableCompression = false
	return c
}

// splitHostPortDefault accepts "host:port", "host", ":port" and "[v6]:port".
func splitHostPortDefault(addr string, def int) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: the whole string is the host.
		if ip := net.ParseIP(addr); ip != nil || !containsColon(addr) {
			return addr, def, nil
		}
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("invalid port %q", portStr)
	}
	return host, port, nil
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}
