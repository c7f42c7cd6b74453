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
//	Magic (0xB7) | wire.Version | 0x00 (hello) | incarnation (8 bytes, big endian) | id length (1) | id
//
// The incarnation is random per Transport: a hello with a new incarnation
// tells the other side that the peer restarted and that any connection it
// still holds to the peer's previous life is dead.
//
// After the hellos every frame is a 4-byte big-endian length followed by the
// frame itself (which starts with wire.Magic and wire.Version).
const (
	helloType   byte = 0
	helloFixed       = 3 + 8 + 1
	maxHelloLen      = helloFixed + core.MaxPeerIDLen
)

// tlsHandshakeRecord is the first byte of a TLS ClientHello record.
const tlsHandshakeRecord byte = 0x16

// appendHello appends the hello of id with incarnation inc.
func appendHello(dst []byte, inc uint64, id core.PeerID) []byte {
	dst = append(dst, wire.Magic, wire.Version, helloType)
	dst = binary.BigEndian.AppendUint64(dst, inc)
	dst = append(dst, byte(len(id)))
	return append(dst, id...)
}

// readHello reads and checks one hello.
func readHello(br *bufio.Reader) (id core.PeerID, inc uint64, err error) {
	var fixed [helloFixed]byte
	if _, err := io.ReadFull(br, fixed[:]); err != nil {
		return "", 0, helloReadError(err)
	}
	if err := checkHelloHeader(fixed[:3]); err != nil {
		return "", 0, err
	}
	inc = binary.BigEndian.Uint64(fixed[3:11])
	n := int(fixed[11])
	if n == 0 {
		return "", 0, errors.New("hello: empty peer id")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return "", 0, helloReadError(err)
	}
	return core.PeerID(b), inc, nil
}

// checkHelloHeader checks the first three bytes of a hello.
func checkHelloHeader(h []byte) error {
	switch {
	case h[0] != wire.Magic:
		return fmt.Errorf("hello: first byte 0x%02x is not the plumtree magic 0x%02x", h[0], wire.Magic)
	case h[1] != wire.Version:
		return fmt.Errorf("hello: unsupported version %d (want %d)", h[1], wire.Version)
	case h[2] != helloType:
		return fmt.Errorf("hello: type byte %d, want %d (hello)", h[2], helloType)
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
