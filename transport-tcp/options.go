package tcp

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/wire"
)

// Defaults of the options.
const (
	DefaultSendQueue        = 1024             // frames queued per peer (urgent lane)
	DefaultBulkQueue        = 1024             // frames queued per peer in the bulk lane (SendBulk)
	DefaultReceiveQueue     = 1024             // frames buffered in the Receive channel
	DefaultConnReceiveQueue = 256              // frames waiting per connection for the Receive channel
	DefaultConnReceiveBytes = 1 << 20          // bytes of those frames per connection
	DefaultReceiveBytes     = 64 << 20         // bytes of those frames over all connections
	DefaultReceiveWait      = 5 * time.Second  // a full connection queue waits this long before dropping
	DefaultMaxConns         = 1024             // open connections (handshaking, live, draining)
	DefaultDialTimeout      = 5 * time.Second  // TCP connect
	DefaultHandshakeTimeout = 5 * time.Second  // first byte + TLS + hello exchange
	DefaultReadTimeout      = 10 * time.Second // rest of a frame once it has started
	DefaultWriteTimeout     = 10 * time.Second // one write batch
	DefaultKeepAlive        = 15 * time.Second // TCP keepalive idle time and probe interval
	DefaultBackoffMin       = 100 * time.Millisecond
	DefaultBackoffMax       = 10 * time.Second
	DefaultEvictIdle        = 30 * time.Second // idle time after which a connection may make room for a new one
	DefaultIdleTimeout      = time.Minute      // idle time after which a connection of a peer not kept is closed
	// DefaultBulkPriority is the socket priority of bulk connections
	// (SO_PRIORITY on Linux): TC_PRIO_BULK, the class Linux gives traffic
	// marked "maximize throughput", which the kernel's default queueing
	// discipline (pfifo_fast) sends after every other packet waiting at the
	// same interface.
	DefaultBulkPriority = 2
)

// bufSize is the size of each connection's read buffer and of each peer's
// write buffer while it writes to a connection (both pooled: buffers.go).
const bufSize = 32 << 10

// maxBatchBytes bounds one coalesced write batch, so that the write deadline
// of a batch is not spent on an endless stream of frames.
const maxBatchBytes = 256 << 10

// maxBulkBatchBytes ends a batch once its bulk frames (large messages'
// chunks) reach it. An urgent frame queued while a batch is being written
// waits for the rest of that batch, which on a slow link is what a small
// message waits for behind a large one: at 4 MB/s, 16 ms for 64 KiB against
// 64 ms for a full batch. Urgent frames alone still batch up to
// maxBatchBytes.
const maxBulkBatchBytes = 64 << 10

// DefaultMaxFrameSize is the largest frame accepted by default: the largest
// frame a core/wire Decoder with wire.DefaultLimits accepts (a 64 KiB
// payload plus headers and id, or an IHave or Graft with the protocol's
// maximum number of ids of maximal length: 281,605 bytes). A length prefix
// above it closes the connection before anything is allocated.
var DefaultMaxFrameSize = wire.DefaultLimits().MaxFrameSize()

// MaxFrameSizeFor returns the largest frame a node running cfg can send or
// must accept: use it with WithMaxFrameSize when cfg.MaxMessageSize is not
// the default 64 KiB.
func MaxFrameSizeFor(cfg core.Config) int { return wire.LimitsFor(cfg).MaxFrameSize() }

// Option configures a Transport.
type Option func(*options)

type options struct {
	listenAddr       string
	sourceIP         net.IP
	listener         net.Listener
	logger           *slog.Logger
	sendQueue        int
	bulkQueue        int
	socketBuffer     int
	receiveQueue     int
	connReceiveQueue int
	connReceiveBytes int
	receiveBytes     int
	receiveWait      time.Duration
	maxConns         int
	evictIdle        time.Duration
	idleTimeout      time.Duration
	maxFrameSize     int
	dialTimeout      time.Duration
	handshakeTimeout time.Duration
	readTimeout      time.Duration
	writeTimeout     time.Duration
	keepAlive        time.Duration
	backoffMin       time.Duration
	backoffMax       time.Duration
	streamHandler    func(net.Conn)
	serverTLS        *tls.Config
	clientTLS        *tls.Config
	peerIDFromCert   func(*x509.Certificate) core.PeerID
	keyring          Keyring
	// bulkConn gives each peer's bulk lane a connection of its own
	// (WithBulkConnection); bulkPriority is its socket priority, -1 to
	// leave it (WithBulkPriority).
	bulkConn     bool
	bulkPriority int
	bulkTOS      int // -1: leave it (WithBulkTOS)
	// flushEach writes every frame with its own flush (no coalescing): for
	// the benchmark that measures what batching gains.
	flushEach bool
	// benchBulk makes the throughput benchmark send with SendBulk.
	benchBulk bool
}

func defaultOptions() options {
	return options{
		logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		sendQueue:        DefaultSendQueue,
		bulkQueue:        DefaultBulkQueue,
		receiveQueue:     DefaultReceiveQueue,
		connReceiveQueue: DefaultConnReceiveQueue,
		connReceiveBytes: DefaultConnReceiveBytes,
		receiveBytes:     DefaultReceiveBytes,
		receiveWait:      DefaultReceiveWait,
		maxConns:         DefaultMaxConns,
		evictIdle:        DefaultEvictIdle,
		idleTimeout:      DefaultIdleTimeout,
		maxFrameSize:     DefaultMaxFrameSize,
		dialTimeout:      DefaultDialTimeout,
		handshakeTimeout: DefaultHandshakeTimeout,
		readTimeout:      DefaultReadTimeout,
		writeTimeout:     DefaultWriteTimeout,
		keepAlive:        DefaultKeepAlive,
		backoffMin:       DefaultBackoffMin,
		backoffMax:       DefaultBackoffMax,
		bulkConn:         true,
		bulkPriority:     DefaultBulkPriority,
		bulkTOS:          -1,
	}
}

func (o *options) validate() error {
	type check struct {
		name string
		ok   bool
		want string
	}
	for _, c := range []check{
		{"send queue", o.sendQueue >= 1, ">= 1"},
		{"bulk queue", o.bulkQueue >= 1, ">= 1"},
		{"socket buffer", o.socketBuffer >= 0, ">= 0"},
		{"receive queue", o.receiveQueue >= 0, ">= 0"},
		{"connection receive queue", o.connReceiveQueue >= 1, ">= 1"},
		{"connection receive bytes", o.connReceiveBytes >= 1, ">= 1"},
		{"receive bytes", o.receiveBytes >= 1, ">= 1"},
		{"receive wait", o.receiveWait > 0, "> 0"},
		{"max conns", o.maxConns >= 1, ">= 1"},
		{"max frame size", o.maxFrameSize >= wire.HeaderLen && o.maxFrameSize <= 1<<30, "in [3, 1 GiB]"},
		{"dial timeout", o.dialTimeout > 0, "> 0"},
		{"handshake timeout", o.handshakeTimeout > 0, "> 0"},
		{"read timeout", o.readTimeout > 0, "> 0"},
		{"write timeout", o.writeTimeout > 0, "> 0"},
		{"backoff", o.backoffMin > 0 && o.backoffMax >= o.backoffMin, "0 < min <= max"},
		{"listener", o.listener == nil || o.listenAddr == "", "WithListener or WithListenAddr, not both"},
		{"tls", (o.serverTLS == nil) == (o.clientTLS == nil), "both a server and a client config"},
		{"peer id from cert", o.peerIDFromCert == nil || o.serverTLS != nil, "WithTLS"},
		{"bulk priority", o.bulkPriority >= -1 && o.bulkPriority <= 6, "-1 (leave it) or in [0, 6]"},
		{"bulk TOS", o.bulkTOS >= -1 && o.bulkTOS <= 255, "-1 (leave it) or in [0, 255]"},
		{"keyring", o.keyring == nil || validKeyLen(len(o.keyring.GetPrimaryKey())), "nil or hold a primary key of 16, 24 or 32 bytes"},
	} {
		if !c.ok {
			return fmt.Errorf("%w: %s must be %s", ErrInvalidOption, c.name, c.want)
		}
	}
	return nil
}

// WithListenAddr makes the Transport listen on addr (for example
// "127.0.0.1:0" or ":7946"). Without WithListenAddr or WithListener the
// Transport only dials.
func WithListenAddr(addr string) Option { return func(o *options) { o.listenAddr = addr } }

// WithSourceIP makes the Transport dial its peers from ip (the kernel
// picks the port), so that they, firewalls and traffic shaping see the
// node's own address. Without it the kernel picks the source address by
// its routing table (on loopback, 127.0.0.1 whatever the listen address).
// For a host with several addresses, or several nodes on distinct loopback
// addresses (127.0.0.11, .12, …) whose links are shaped per pair.
func WithSourceIP(ip net.IP) Option { return func(o *options) { o.sourceIP = ip } }

// WithListener makes the Transport accept connections on l. The Transport
// owns l from then on and closes it in Close.
func WithListener(l net.Listener) Option { return func(o *options) { o.listener = l } }

// WithLogger sets the logger (default: discard). Each connection closed for
// bad input is logged at Warn with the message "tcp: closing bad connection"
// and the keys peer, remote and reason; connection set-up and loss are
// logged at Debug.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithSendQueue bounds each peer's send queue, the urgent lane that Send
// fills (frames; default 1024). Send returns ErrQueueFull when it is full.
func WithSendQueue(n int) Option { return func(o *options) { o.sendQueue = n } }

// WithSocketBuffer sets the kernel's send and receive buffer of every
// Plumtree connection (SO_SNDBUF and SO_RCVBUF, bytes; Linux doubles the
// value). 0 leaves them to the operating system (autotuned up to
// net.ipv4.tcp_wmem and tcp_rmem).
func WithSocketBuffer(n int) Option { return func(o *options) { o.socketBuffer = n } }

// WithBulkQueue bounds each peer's bulk lane, the low-priority queue that
// SendBulk fills (frames; default 1024). SendBulk returns ErrQueueFull when
// it is full; a full bulk lane never spills into the urgent one.
func WithBulkQueue(n int) Option { return func(o *options) { o.bulkQueue = n } }

// WithBulkConnection sets whether each peer's bulk lane (SendBulk: large
// messages' parts) gets a TCP connection of its own (default true). The
// node dials it to the peer's address with the first bulk frame and closes
// it after the idle timeout; frames go one way on it, from the dialer.
// Why: a frame of the urgent lane sent over the same connection waits, in
// the kernel and on the network, for every byte of bulk frames written
// before it (seconds on a slow link), while on a connection of its own it
// is a flow of its own: a queue that serves flows fairly (fq_codel, the
// default of most Linux distributions) or by priority (pfifo_fast, the
// kernel's own default, with WithBulkPriority) sends it first. Order is
// kept within each lane, as before; across lanes there never was any.
// A peer without an address (it only dialed in) and a peer that refuses
// the bulk connection (a version without it; counted in
// Stats.BulkFallbacks) get their bulk frames over their connection as
// with false.
func WithBulkConnection(on bool) Option { return func(o *options) { o.bulkConn = on } }

// WithBulkPriority sets the socket priority (SO_PRIORITY, Linux only; 0 to
// 6) of bulk connections (WithBulkConnection); -1 leaves the system's.
// Default DefaultBulkPriority (2, TC_PRIO_BULK): at a queue that serves
// priorities (pfifo_fast, prio), the packets of bulk connections wait for
// every other packet of this host, this node's small messages included.
// The mark stays in the host (it is not DSCP): it matters where this
// host's own interface is the bottleneck.
func WithBulkPriority(p int) Option { return func(o *options) { o.bulkPriority = p } }

// WithBulkTOS sets the IP type-of-service byte of bulk connections
// (WithBulkConnection): IP_TOS over IPv4, IPV6_TCLASS over IPv6, where the
// system has them; -1 (the default) leaves the system's. The DSCP is its
// upper six bits: 0x20 (CS1) or 0x04 (LE, RFC 8622) asks the routers and
// switches that honour it to carry large messages' chunks after everything
// else. Unlike WithBulkPriority it travels with the packets; on Linux it
// also sets the socket priority, which WithBulkPriority then overrides.
func WithBulkTOS(tos int) Option { return func(o *options) { o.bulkTOS = tos } }

// WithReceiveQueue sets the capacity of the Receive channel shared by all
// connections (frames; default 1024). When it is full (the node does not
// read, for example because its intake is paused) frames wait in their
// connection's own queue (WithConnReceiveQueue).
func WithReceiveQueue(n int) Option { return func(o *options) { o.receiveQueue = n } }

// WithConnReceiveQueue bounds the frames each connection holds while the
// Receive channel is full (default 256). Each connection has its own queue,
// so no connection waits for another. When a connection's queue is full its
// reader waits up to the receive wait (WithReceiveWait) for room, which
// slows the peer down through TCP flow control; after that it keeps reading
// and drops the frames that do not fit, counted in Stats.ReceiveDrops
// (Plumtree repairs such losses with IHave/Graft), until the queue is half
// empty again. So a node that stops reading never makes its peers' writes
// time out.
func WithConnReceiveQueue(n int) Option { return func(o *options) { o.connReceiveQueue = n } }

// WithConnReceiveBytes bounds the bytes of the frames each connection
// holds while the Receive channel is full (default 1 MiB), as
// WithConnReceiveQueue bounds their number: a frame that would take a
// connection's queue past it waits, then is dropped, as at a full queue. A
// connection whose queue is empty may always queue one frame, whatever its
// size. Without it a connection held up to 256 frames of the largest size
// (70 MiB with the default frame size), and a node that could not keep up
// with 128 connections sending it 60 KiB frames reached 5.1 GB.
func WithConnReceiveBytes(n int) Option { return func(o *options) { o.connReceiveBytes = n } }

// WithReceiveBytes bounds the bytes of the frames all connections'
// queues hold together while the Receive channel is full (default 64 MiB):
// a frame that would take them past it waits for room, then is dropped,
// as at a full connection queue. A connection whose queue is empty may
// still queue one frame, so that every connection goes on being read.
// Without it the queues' bound was one of WithConnReceiveBytes per
// connection: 1 GiB at the connection limit (WithMaxConns), which anyone
// who can open connections to the port could fill.
func WithReceiveBytes(n int) Option { return func(o *options) { o.receiveBytes = n } }

// WithReceiveWait sets how long a connection's reader waits for room in its
// full queue before it drops frames (default 5 s: half the default write
// timeout, so that a paused node never makes a peer's write time out, while
// a node that only lags behind for a moment, as on a loaded machine, loses
// nothing). Keep it well below the peers' write timeout (WithWriteTimeout,
// default 10 s).
func WithReceiveWait(d time.Duration) Option { return func(o *options) { o.receiveWait = d } }

// WithMaxConns bounds the open connections, handshaking ones and those
// handed to the stream handler (until it closes them) included (default
// 1024). At the bound a new connection, dialed or accepted, makes room by
// closing the established connection that has been idle longest, if it has
// been idle (no frame read or written) for the evict-idle time
// (WithEvictIdle); otherwise an accepted connection is closed at once and
// counted in Stats.Rejected, and a dial fails (the writer retries with
// backoff).
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// WithEvictIdle sets how long a connection must have been idle (no frame
// read or written) before it may be closed to make room at the connection
// bound (WithMaxConns; default 30 s; 0 or less: never). The connection ends
// as a duplicate one does: this side stops writing to it and reads what the
// peer had sent until the peer closes it, so no frame in flight is lost; the
// next frame for that peer dials again. Every pair of members eventually
// exchanges an anti-entropy digest, so a node of a cluster larger than the
// bound would otherwise stop accepting connections — links included — once
// it had talked to that many members.
func WithEvictIdle(d time.Duration) Option { return func(o *options) { o.evictIdle = d } }

// WithIdleTimeout closes a peer's connection once no frame has been read
// from it or written to it for d, unless the peer is kept (KeepPeers: the
// node keeps its overlay links, so that a broadcast after a quiet spell
// does not wait for a dial at every hop). Default 1 minute; 0 or less:
// never. The connection ends as at the connection bound (WithEvictIdle):
// this side stops writing and reads what the peer had sent until the peer
// closes it, so no frame in flight is lost, and the next frame for that
// peer dials again. Why: each anti-entropy round sends a digest to a random
// member, so without it a node ends up holding a connection (two 32 KiB
// buffers and a goroutine or two) to every member it ever talked to; with
// it, to the members it talked to within d and its links. A peer known only
// through its connection (it dialed in, no address to dial) is closed the
// same way and forgotten once its connection has ended; it dials in again
// when it has a frame to send, and a frame for it sent before that waits
// for it or is dropped (Stats.Drops) when the connection ends first.
func WithIdleTimeout(d time.Duration) Option { return func(o *options) { o.idleTimeout = d } }

// WithMaxFrameSize bounds a frame in bytes, without its 4-byte length prefix
// (default DefaultMaxFrameSize; see MaxFrameSizeFor). Send refuses larger
// frames with ErrFrameTooLarge; a reader that sees a larger length prefix
// closes the connection before allocating anything.
func WithMaxFrameSize(n int) Option { return func(o *options) { o.maxFrameSize = n } }

// WithDialTimeout bounds a TCP connect (default 5 s).
func WithDialTimeout(d time.Duration) Option { return func(o *options) { o.dialTimeout = d } }

// WithHandshakeTimeout bounds the connection set-up after connect: the first
// byte, the TLS handshake and the hello exchange (default 5 s). An accepted
// connection that sends nothing for this long is closed and counted in
// Stats.HandshakeFailures.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(o *options) { o.handshakeTimeout = d }
}

// WithReadTimeout bounds how long the rest of a frame may take once its
// first byte has arrived (default 10 s). Idle connections have no read
// deadline (TCP keepalive finds dead ones).
func WithReadTimeout(d time.Duration) Option { return func(o *options) { o.readTimeout = d } }

// WithWriteTimeout bounds one coalesced write batch (default 10 s): a batch
// that has not gone into the kernel after between this long and one and a
// half times it fails (the deadline moves only when less than the timeout
// is left). A peer that stops reading makes its connection time out and be
// re-dialed; the other peers are not affected in the meantime.
func WithWriteTimeout(d time.Duration) Option { return func(o *options) { o.writeTimeout = d } }

// WithKeepAlive sets the TCP keepalive idle time and probe interval (default
// 15 s; a dead peer is detected after about 4 of them); zero or a negative
// value disables keepalive.
func WithKeepAlive(d time.Duration) Option { return func(o *options) { o.keepAlive = d } }

// WithBackoff sets the reconnect backoff: after the n-th failed dial in a row
// the writer waits a random duration in [d/2, d] with d = minDelay·2^(n-1)
// capped at maxDelay (defaults 100 ms and 10 s).
func WithBackoff(minDelay, maxDelay time.Duration) Option {
	return func(o *options) { o.backoffMin, o.backoffMax = minDelay, maxDelay }
}

// WithStreamHandler shares the listener with another stream protocol (for
// example memberlist's TCP streams): an accepted connection whose first byte
// is neither wire.Magic nor, with TLS, a TLS handshake record (0x16) is
// handed to h, first byte included. h owns the connection and must close it:
// it counts against WithMaxConns until then. h runs on the accepting
// goroutine, so it should hand the connection off and return. Close does
// not wait for h nor close its connections.
func WithStreamHandler(h func(conn net.Conn)) Option {
	return func(o *options) { o.streamHandler = h }
}

// WithTLS makes every Plumtree connection use TLS: server for accepted
// connections, client for dialed ones. Both are cloned and raised to TLS 1.3
// at least. A server config with ClientCAs and ClientAuth left at
// tls.NoClientCert gets tls.RequireAndVerifyClientCert, so peers must present
// a certificate from that CA (mutual authentication). A client config
// without ServerName verifies the host of the dialed address.
func WithTLS(server, client *tls.Config) Option {
	return func(o *options) { o.serverTLS, o.clientTLS = server, client }
}

// WithPeerIDFromCert binds peer ids to certificates (requires WithTLS): the
// id a peer states in its hello must equal f applied to its leaf
// certificate, on both the accepting and the dialing side; otherwise the
// connection is closed and counted in Stats.HandshakeFailures. A peer that
// presents no certificate fails too.
func WithPeerIDFromCert(f func(*x509.Certificate) core.PeerID) Option {
	return func(o *options) { o.peerIDFromCert = f }
}

// WithKeyring authenticates every Plumtree connection and frame with the
// keys of kr (a *memberlist.Keyring, for example the gossip keyring, fits),
// without TLS or in addition to it. Both ends of a connection prove in the
// hello that they hold a key of the keyring (an HMAC over both hellos, with
// both random nonces, ids and incarnations); a peer id is trusted only then.
// Every frame is then sealed with AES-256-GCM under a key derived from the
// sender's primary key and the handshake, and its nonce is a counter, so a
// frame cannot be forged, altered, replayed, reordered or moved to another
// connection. The receiver accepts any key of its keyring, so keys can be
// rotated without downtime: install the new key everywhere, make it the
// primary everywhere, then remove the old one. A frame no key opens closes
// its connection (Stats.AuthFailures, Stats.BadFrames); a peer without a key
// of the keyring cannot complete a hello (Stats.AuthFailures,
// Stats.HandshakeFailures). Every node of the cluster needs a keyring: a
// node with one and a node without one cannot connect.
func WithKeyring(kr Keyring) Option { return func(o *options) { o.keyring = kr } }
