package tcp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/wire"
)

// The hello opens every Plumtree connection, inside TLS when TLS is on. The
// dialer sends its hello first; the acceptor checks it and answers with its
// own, and only then do frames flow (in both directions):
//
//	Magic (0xB7) | wire.Version | type (1) | incarnation (8 bytes, big endian) | id length (1) | id
//
// type is 0 (helloPlain). A dialer that opens a bulk connection (see
// WithBulkConnection) sets the bit helloBulk in it: that connection carries
// frames from the dialer only, the acceptor writes nothing on it after its
// hello, and it is never the peer's connection (the one frames are sent
// back on). A node that does not know the bit refuses the hello; the
// dialer then sends its bulk frames over the peer's connection. With a keyring (WithKeyring) it is 1 (helloKeyed)
// and the hello goes on with a random nonce (32 bytes); the acceptor's hello
// is followed by its proof, and the dialer then sends its own proof:
//
//	proof = HMAC-SHA256(key, role label | SHA-256(dialer's hello | acceptor's hello))
//
// with the prover's primary key; the verifier accepts any key of its
// keyring. A peer id is trusted (a connection attached to it) only once its
// proof checks.
//
// The incarnation is random per Transport: a hello with a new incarnation
// tells the other side that the peer restarted and that any connection it
// still holds to the peer's previous life is dead. It is acted on only when
// the hello is proven (keyring or certificate binding) or was dialed by this
// node.
//
// After the hellos every frame is a 4-byte big-endian length followed by the
// frame itself (which starts with wire.Magic and wire.Version); with a
// keyring, by the frame sealed with AES-256-GCM (see sealer).
const (
	helloPlain  byte = 0
	helloKeyed  byte = 1
	helloBulk   byte = 0x10 // flag: a bulk connection (dialer's hello only)
	helloFixed       = 3 + 8 + 1
	maxHelloLen      = helloFixed + core.MaxPeerIDLen + nonceLen + macLen
)

// tlsHandshakeRecord is the first byte of a TLS ClientHello record.
const tlsHandshakeRecord byte = 0x16

// hello is a parsed hello.
type hello struct {
	id    core.PeerID
	inc   uint64
	keyed bool
	bulk  bool           // the dialer opens a bulk connection
	nonce [nonceLen]byte // keyed only
	raw   []byte         // the hello as received (for the transcript)
}

// appendHello appends the plain hello of id with incarnation inc.
func appendHello(dst []byte, inc uint64, id core.PeerID) []byte {
	dst = append(dst, wire.Magic, wire.Version, helloPlain)
	dst = binary.BigEndian.AppendUint64(dst, inc)
	dst = append(dst, byte(len(id)))
	return append(dst, id...)
}

// appendKeyedHello appends the keyed hello of id with incarnation inc.
func appendKeyedHello(dst []byte, inc uint64, id core.PeerID, nonce *[nonceLen]byte) []byte {
	dst = append(dst, wire.Magic, wire.Version, helloKeyed)
	dst = binary.BigEndian.AppendUint64(dst, inc)
	dst = append(dst, byte(len(id)))
	dst = append(dst, id...)
	return append(dst, nonce[:]...)
}

// markBulk sets the bulk flag in hello, made by appendHello or
// appendKeyedHello.
func markBulk(hello []byte) { hello[2] |= helloBulk }

// readHello reads and checks one hello, plain or keyed.
func readHello(br *bufio.Reader) (hello, error) {
	var h hello
	var fixed [helloFixed]byte
	if _, err := io.ReadFull(br, fixed[:]); err != nil {
		return h, helloReadError(err)
	}
	if err := checkHelloHeader(fixed[:3]); err != nil {
		return h, err
	}
	h.keyed = fixed[2]&^helloBulk == helloKeyed
	h.bulk = fixed[2]&helloBulk != 0
	h.inc = binary.BigEndian.Uint64(fixed[3:11])
	n := int(fixed[11])
	if n == 0 {
		return h, errors.New("hello: empty peer id")
	}
	rest := n
	if h.keyed {
		rest += nonceLen
	}
	h.raw = make([]byte, helloFixed+rest)
	copy(h.raw, fixed[:])
	if _, err := io.ReadFull(br, h.raw[helloFixed:]); err != nil {
		return h, helloReadError(err)
	}
	h.id = core.PeerID(h.raw[helloFixed : helloFixed+n])
	if h.keyed {
		copy(h.nonce[:], h.raw[helloFixed+n:])
	}
	return h, nil
}

// checkHelloHeader checks the first three bytes of a hello.
func checkHelloHeader(h []byte) error {
	switch {
	case h[0] != wire.Magic:
		return fmt.Errorf("hello: first byte 0x%02x is not the plumtree magic 0x%02x", h[0], wire.Magic)
	case h[1] != wire.Version:
		return fmt.Errorf("hello: unsupported version %d (want %d)", h[1], wire.Version)
	case h[2]&^helloBulk != helloPlain && h[2]&^helloBulk != helloKeyed:
		return fmt.Errorf("hello: type byte %d, want %d (hello) or %d (keyed hello), with or without the bulk flag %d", h[2], helloPlain, helloKeyed, helloBulk)
	}
	return nil
}

func helloReadError(err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("hello: not received within the handshake timeout")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("hello: connection closed before a complete hello")
	}
	return fmt.Errorf("hello: %w", err)
}

// prefixConn gives back the first byte read from a connection (to tell
// Plumtree, TLS and other stream protocols apart) before reading on.
type prefixConn struct {
	net.Conn
	first    byte
	hasFirst bool
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if c.hasFirst {
		if len(b) == 0 {
			return 0, nil
		}
		b[0] = c.first
		c.hasFirst = false
		return 1, nil
	}
	return c.Conn.Read(b)
}

// CloseWrite half-closes the underlying connection if it can.
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
