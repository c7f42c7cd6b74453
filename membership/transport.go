package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/memberlist"
)

// udpBufSize is the receive buffer of one UDP packet (memberlist's own size).
const udpBufSize = 65536

// udpSocketBuffer is the kernel receive buffer asked for (best effort).
const udpSocketBuffer = 2 << 20

// sharedTransport is the memberlist.Transport of one port: memberlist packets
// over UDP on the port, memberlist streams over the TCP listener of the same
// port. Streams arrive either from its own accept loop (memberlist-only
// mode) or from whoever owns the listener (transport-tcp) through
// handleStream.
type sharedTransport struct {
	log      *slog.Logger
	udp      *net.UDPConn
	ln       *net.TCPListener
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
	closed   atomic.Bool
	once     sync.Once
	wg       sync.WaitGroup

	lnShared atomic.Bool // the listener was handed out: do not accept on it

	guard *streamGuard // checks every inbound stream before memberlist sees it

	// cut, when set (tests only), simulates a network cut: packets to and
	// from an address it returns true for are dropped and dials to it fail.
	cut atomic.Pointer[func(addr string) bool]
}

func (t *sharedTransport) isCut(addr string) bool {
	f := t.cut.Load()
	return f != nil && (*f)(addr)
}

var _ memberlist.NodeAwareTransport = (*sharedTransport)(nil)

// listenShared binds a TCP listener and a UDP socket on the same host:port.
// With port 0 the OS picks the TCP port and UDP is bound to the same number,
// retried a few times if that UDP port is taken.
func listenShared(host string, port int, log *slog.Logger, guard *streamGuard) (*sharedTransport, error) {
	ip := net.ParseIP(host)
	if host != "" && ip == nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("membership: resolve bind host %q: %v", host, err)
		}
		ip = ips[0]
	}
	attempts := 1
	if port == 0 {
		attempts = 10
	}
	var lastErr error
	for range attempts {
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
		if err != nil {
			lastErr = err
			continue
		}
		p := ln.Addr().(*net.TCPAddr).Port
		udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: p})
		if err != nil {
			_ = ln.Close()
			lastErr = err
			continue
		}
		for size := udpSocketBuffer; size > 0; size /= 2 {
			if udp.SetReadBuffer(size) == nil {
				break
			}
		}
		t := &sharedTransport{
			log:      log,
			udp:      udp,
			ln:       ln,
			packetCh: make(chan *memberlist.Packet),
			streamCh: make(chan net.Conn),
			done:     make(chan struct{}),
			guard:    guard,
		}
		return t, nil
	}
	return nil, fmt.Errorf("membership: listen on %s: %w", net.JoinHostPort(host, strconv.Itoa(port)), lastErr)
}

// start launches the UDP reader and, unless the listener was handed out, the
// TCP accept loop.
func (t *sharedTransport) start() {
	t.wg.Add(1)
	go t.readUDP()
	if !t.lnShared.Load() {
		t.wg.Add(1)
		go t.accept()
	}
}

func (t *sharedTransport) port() int { return t.ln.Addr().(*net.TCPAddr).Port }

// FinalAdvertiseAddr implements memberlist.Transport.
func (t *sharedTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if port == 0 {
		port = t.port()
	}
	if ip != "" {
		addr := net.ParseIP(ip)
		if addr == nil {
			return nil, 0, fmt.Errorf("membership: failed to parse advertise address %q", ip)
		}
		if v4 := addr.To4(); v4 != nil {
			addr = v4
		}
		return addr, port, nil
	}
	bound := t.ln.Addr().(*net.TCPAddr).IP
	if bound.IsUnspecified() {
		priv, err := sockaddr.GetPrivateIP()
		if err != nil {
			return nil, 0, fmt.Errorf("membership: get interface addresses: %w", err)
		}
		if priv == "" {
			// No private address: fall back to loopback so a lone node
			// still starts (it cannot be reached from other hosts; set an
			// advertise address for that).
			return net.IPv4(127, 0, 0, 1).To4(), port, nil
		}
		addr := net.ParseIP(priv)
		if addr == nil {
			return nil, 0, fmt.Errorf("membership: failed to parse private address %q", priv)
		}
		if v4 := addr.To4(); v4 != nil {
			addr = v4
		}
		return addr, port, nil
	}
	if v4 := bound.To4(); v4 != nil {
		bound = v4
	}
	return bound, port, nil
}

// WriteTo implements memberlist.Transport. Members' addresses are IP:port
// (memberlist's, from each node's advertised address): they are parsed
// without the resolver and written without an allocation, where resolving
// them cost five allocations per packet: a sixth of a 32-node cluster's
// allocations under traffic (tools/bench -memprofile). Anything else (a
// host name given as a seed) is resolved.
func (t *sharedTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if t.cut.Load() != nil && t.isCut(ap.String()) {
			return time.Now(), nil
		}
		_, err = t.udp.WriteToUDPAddrPort(b, ap)
		return time.Now(), err
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return time.Time{}, err
	}
	if t.cut.Load() != nil && t.isCut(ua.String()) {
		return time.Now(), nil
	}
	_, err = t.udp.WriteTo(b, ua)
	return time.Now(), err
}

// WriteToAddress implements memberlist.NodeAwareTransport.
func (t *sharedTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

// PacketCh implements memberlist.Transport.
func (t *sharedTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout implements memberlist.Transport: a plain TCP connection; the
// receiving side tells it from Plumtree frames by its first byte.
func (t *sharedTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.isCut(addr) {
		return nil, fmt.Errorf("membership: dial %s: network cut", addr)
	}
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", addr)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *sharedTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// StreamCh implements memberlist.Transport.
func (t *sharedTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// handleStream checks an accepted connection's memberlist message (see
// streamGuard) and hands it to memberlist. It blocks until memberlist takes
// it (memberlist reads its stream channel continuously), the stream is
// refused, or the transport shuts down; the connection is then closed.
func (t *sharedTransport) handleStream(c net.Conn) {
	if t.closed.Load() {
		_ = c.Close()
		return
	}
	gc := t.guard.check(c)
	if gc == nil {
		return
	}
	select {
	case t.streamCh <- gc:
	case <-t.done:
		_ = gc.Close()
	}
}

// Shutdown implements memberlist.Transport. It closes the UDP socket and, if
// this transport owns it, the TCP listener, and waits for its goroutines.
func (t *sharedTransport) Shutdown() error {
	t.once.Do(func() {
		t.closed.Store(true)
		close(t.done)
		t.guard.shutdown()
		_ = t.udp.Close()
		if !t.lnShared.Load() {
			_ = t.ln.Close()
		}
	})
	t.wg.Wait()
	return nil
}

// closeListener closes the TCP listener (for the error paths before the
// listener was handed out or when it was never used).
func (t *sharedTransport) closeListener() { _ = t.ln.Close() }

func (t *sharedTransport) readUDP() {
	defer t.wg.Done()
	// One receive buffer for the life of the reader; each packet is copied
	// out at its own size, because memberlist keeps the packet after it is
	// handed over. (A fresh 64 KiB buffer per packet, as memberlist's own
	// transport allocates, is 64 KiB of garbage for every small ping, ack
	// and gossip packet.)
	scratch := make([]byte, udpBufSize)
	for {
		n, from, err := t.udp.ReadFrom(scratch)
		ts := time.Now()
		if err != nil {
			if t.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.Debug("membership: udp read failed", "err", err)
			continue
		}
		if n < 1 || (t.cut.Load() != nil && t.isCut(from.String())) {
			continue
		}
		buf := make([]byte, n)
		copy(buf, scratch[:n])
		select {
		case t.packetCh <- &memberlist.Packet{Buf: buf, From: from, Timestamp: ts}:
		case <-t.done:
			return
		}
	}
}

func (t *sharedTransport) accept() {
	defer t.wg.Done()
	delay := 5 * time.Millisecond
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.Debug("membership: accept failed", "err", err)
			select {
			case <-time.After(delay):
			case <-t.done:
				return
			}
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		// Checking a stream reads from it: never on the accept loop. The
		// guard bounds how many are open at once.
		go t.handleStream(c)
	}
}
