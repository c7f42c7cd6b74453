package membership

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/hashicorp/memberlist"
	"github.com/plumtree-go/plumtree/core/wire"
)

// ProtocolVersion is the Plumtree wire protocol version a node advertises in
// its metadata. It equals the version byte of the core/wire frame header:
// members advertising another version are ignored (they could not decode our
// frames nor we theirs).
const ProtocolVersion = wire.Version

// metaMagic opens Plumtree node metadata; metaFormat is the layout version of
// the metadata itself.
const (
	metaMagic  byte = 'P'
	metaFormat byte = 1
)

// Metadata errors. Members whose metadata fails to decode are ignored and
// counted, never a crash.
var (
	ErrNoMeta         = errors.New("membership: no plumtree metadata")
	ErrBadMeta        = errors.New("membership: malformed plumtree metadata")
	ErrVersionMeta    = errors.New("membership: unsupported plumtree protocol version")
	errMetaTooLarge   = errors.New("membership: metadata larger than memberlist.MetaMaxSize")
	maxMetaAddressLen = 255
)

// Meta is what a node advertises in memberlist's node metadata.
//
// Encoding (at most memberlist.MetaMaxSize = 512 bytes):
//
//	'P' | format (1) | protocol version | uvarint len | transport address | flags
//	    [ | uvarint len | admin address ]
//
// The flags byte is optional (absent = 0). The admin address after it is
// optional too, and only sent when the node opted in (WithAdminAddr); a
// decoder that predates it ignores it, as it ignores any bytes after the
// flags, and this one ignores an admin address it cannot read.
type Meta struct {
	// Version is the Plumtree wire protocol version (ProtocolVersion).
	Version byte
	// Addr is the Plumtree transport address, "host:port".
	Addr string
	// Leaving is set by Leave just before the leave announcement, so that
	// other nodes tell a graceful departure from a failure (memberlist's
	// leave callback does not say which it is).
	Leaving bool
	// AdminAddr is the node's admin API address, "host:port", advertised
	// only when the node opted in (WithAdminAddr), so that operator tools
	// can reach every node from one. Empty otherwise.
	AdminAddr string
}

const flagLeaving byte = 1

// MarshalBinary encodes m.
func (m Meta) MarshalBinary() ([]byte, error) {
	if len(m.Addr) == 0 || len(m.Addr) > maxMetaAddressLen {
		return nil, fmt.Errorf("%w: address length %d", ErrBadMeta, len(m.Addr))
	}
	b := make([]byte, 0, 4+binary.MaxVarintLen16+len(m.Addr))
	b = append(b, metaMagic, metaFormat, m.Version)
	b = binary.AppendUvarint(b, uint64(len(m.Addr)))
	b = append(b, m.Addr...)
	var flags byte
	if m.Leaving {
		flags |= flagLeaving
	}
	b = append(b, flags)
	if m.AdminAddr != "" {
		if len(m.AdminAddr) > maxMetaAddressLen {
			return nil, fmt.Errorf("%w: admin address length %d", ErrBadMeta, len(m.AdminAddr))
		}
		b = binary.AppendUvarint(b, uint64(len(m.AdminAddr)))
		b = append(b, m.AdminAddr...)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, errMetaTooLarge
	}
	return b, nil
}

// ParseMeta decodes node metadata. It returns ErrNoMeta for empty or foreign
// metadata, ErrVersionMeta for another protocol version (the Meta is still
// filled in) and ErrBadMeta for anything malformed. It never panics.
func ParseMeta(b []byte) (Meta, error) {
	if len(b) == 0 || b[0] != metaMagic {
		return Meta{}, ErrNoMeta
	}
	if len(b) < 3 {
		return Meta{}, fmt.Errorf("%w: %d bytes", ErrBadMeta, len(b))
	}
	if b[1] != metaFormat {
		return Meta{}, fmt.Errorf("%w: format %d", ErrVersionMeta, b[1])
	}
	m := Meta{Version: b[2]}
	n, k := binary.Uvarint(b[3:])
	if k <= 0 || n == 0 || n > uint64(maxMetaAddressLen) || uint64(len(b)-3-k) < n {
		return Meta{}, fmt.Errorf("%w: address length", ErrBadMeta)
	}
	m.Addr = string(b[3+k : 3+k+int(n)])
	if rest := b[3+k+int(n):]; len(rest) > 0 {
		m.Leaving = rest[0]&flagLeaving != 0
		m.AdminAddr = parseAdminAddr(rest[1:])
	}
	if _, _, err := net.SplitHostPort(m.Addr); err != nil {
		return Meta{}, fmt.Errorf("%w: address %q", ErrBadMeta, m.Addr)
	}
	if m.Version != ProtocolVersion {
		return m, fmt.Errorf("%w: %d (want %d)", ErrVersionMeta, m.Version, ProtocolVersion)
	}
	return m, nil
}

// parseAdminAddr reads the optional admin address after the flags byte; it
// returns "" when there is none or it is malformed (the field is optional:
// a bad one costs the operator tools this node, never the membership).
func parseAdminAddr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n == 0 || n > uint64(maxMetaAddressLen) || uint64(len(b)-k) < n {
		return ""
	}
	addr := string(b[k : k+int(n)])
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return ""
	}
	return addr
}
