package wire

import (
	"errors"
	"fmt"

	"github.com/plumtree-go/plumtree/core"
)

// Magic is the first byte of every frame. 0xB7 is not the first byte of any
// hashicorp/memberlist message (message types 0–13, the label header 244,
// encryption versions 0–1), of a TLS record (content types 20–24, 0x16 for
// the ClientHello) or of any ASCII or UTF-8 text protocol (it is a UTF-8
// continuation byte), so a listener can tell these apart by one byte.
const Magic byte = 0xB7

// Version is the wire format version written in the second byte of every
// frame. A Decoder rejects every other version with ErrBadVersion.
//
// Version 2 added the origin time to Gossip and IHave entries and the
// anti-entropy messages Digest (8) and Repair (9); version 3 the flags byte
// of Gossip and Repair (core.Message.Repaired).
const Version byte = 3

// HeaderLen is the length of the fixed frame header: Magic, Version, Type.
const HeaderLen = 3

// DefaultMaxInterned is the default bound of a Decoder's table of interned
// origin PeerIDs.
const DefaultMaxInterned = 1 << 16

// Errors. Every error AppendFrame, Decode and CheckHeader return wraps exactly
// one of these sentinels (test with errors.Is) and adds the detail: the field,
// the value found and the bound or the offset in the frame.
var (
	// ErrBadMagic: the first byte is not Magic (not a plumtree frame).
	ErrBadMagic = errors.New("wire: bad magic byte")
	// ErrBadVersion: the second byte is not Version.
	ErrBadVersion = errors.New("wire: unsupported version")
	// ErrUnknownType: the type byte is not one of core.MsgGossip..MsgDisconnect.
	ErrUnknownType = errors.New("wire: unknown message type")
	// ErrTruncated: the frame ends inside a field, or a count promises more
	// entries than the bytes left can hold.
	ErrTruncated = errors.New("wire: truncated frame")
	// ErrBadVarint: a varint is longer than 10 bytes, overflows 64 bits or
	// is not in its shortest form (every accepted frame is canonical).
	ErrBadVarint = errors.New("wire: malformed varint")
	// ErrTooLarge: a byte length above its bound: the payload (MaxPayload)
	// or the headers' total size (MaxHeaderBytes).
	ErrTooLarge = errors.New("wire: too large")
	// ErrTooMany: a count above its bound: announcements (MaxIHaves), graft
	// ids (MaxIDs) or headers (MaxHeaders).
	ErrTooMany = errors.New("wire: too many entries")
	// ErrBadPeerID: an origin PeerID that is empty or longer than
	// core.MaxPeerIDLen bytes.
	ErrBadPeerID = errors.New("wire: bad peer id")
	// ErrBadHops: a hop count above 65535.
	ErrBadHops = errors.New("wire: hop count out of range")
	// ErrTrailing: bytes left after the last field of the message.
	ErrTrailing = errors.New("wire: trailing bytes")
	// ErrNilMessage: a nil *core.Message was passed to AppendFrame or Decode
	// (or a Digest message without its Digest to AppendFrame).
	ErrNilMessage = errors.New("wire: nil message")
	// ErrBadTime: an origin time beyond year 10000.
	ErrBadTime = errors.New("wire: origin time out of range")
	// ErrBadFlags: a flags byte with bits the format does not define (a
	// Gossip's or Repair's, a digest's, a Join's or a JoinReply's).
	ErrBadFlags = errors.New("wire: unknown flags")
	// ErrBadRun: a digest run that is not above the previous one (or the
	// floor), or overflows 64 bits.
	ErrBadRun = errors.New("wire: bad digest run")
)

// knownTypes lists the message types this version encodes, for errors.
const knownTypes = "gossip 1, ihave 2, graft 3, prune 4, join 5, join_reply 6, disconnect 7, digest 8, repair 9"

// knownType reports whether t is a message type this version encodes.
func knownType(t core.MessageType) bool {
	switch t {
	case core.MsgGossip, core.MsgIHave, core.MsgGraft, core.MsgPrune,
		core.MsgJoin, core.MsgJoinReply, core.MsgDisconnect,
		core.MsgDigest, core.MsgRepair:
		return true
	}
	return false
}

// Limits bounds what a Decoder accepts. Every count and length is checked
// against its bound before anything is allocated for it.
//
// A field that is zero or negative takes its DefaultLimits value; a field
// above the protocol's hard limit (the core.Max* constants) is lowered to
// it. AppendFrame always checks against the hard limits.
type Limits struct {
	// MaxPayload bounds a Gossip payload in bytes (a node's
	// max_message_size). Hard limit core.MaxMessageSizeLimit.
	MaxPayload int
	// MaxIHaves bounds the announcements of one IHave. Hard limit
	// core.MaxIHaveBatch.
	MaxIHaves int
	// MaxIDs bounds the ids of one Graft. Hard limit core.MaxGraftIDs.
	MaxIDs int
	// MaxHeaders bounds the headers of one Gossip. Hard limit
	// core.MaxHeaders.
	MaxHeaders int
	// MaxHeaderBytes bounds the total length of a Gossip's header keys and
	// values. Hard limit core.MaxHeaderBytes.
	MaxHeaderBytes int
	// MaxInterned bounds the Decoder's table of interned origin PeerIDs
	// (entries; each holds one PeerID of at most core.MaxPeerIDLen bytes).
	// When the table is full it is emptied and refills with the origins
	// seen next, so departed nodes do not pin it forever. Zero means
	// DefaultMaxInterned; a negative value disables interning (every
	// origin is allocated).
	MaxInterned int
}

// DefaultLimits returns the limits of a node running core.DefaultConfig:
// payloads up to its MaxMessageSize (64 KiB) and the hard limits for
// everything else.
func DefaultLimits() Limits {
	return Limits{
		MaxPayload:     core.DefaultConfig().MaxMessageSize,
		MaxIHaves:      core.MaxIHaveBatch,
		MaxIDs:         core.MaxGraftIDs,
		MaxHeaders:     core.MaxHeaders,
		MaxHeaderBytes: core.MaxHeaderBytes,
		MaxInterned:    DefaultMaxInterned,
	}
}

// LimitsFor returns the limits for a node running cfg: payloads up to
// cfg.MaxMessageSize. Announcement and id counts stay at the hard limits
// rather than cfg.IHaveBatchSize, so that peers running a different batch
// size (during a rolling configuration change, say) are still understood.
func LimitsFor(cfg core.Config) Limits {
	l := DefaultLimits()
	l.MaxPayload = cfg.MaxMessageSize
	return l.normalized()
}

// normalized applies the defaults and the hard limits.
func (l Limits) normalized() Limits {
	def := DefaultLimits()
	fix := func(v *int, d, hard int) {
		if *v <= 0 {
			*v = d
		}
		if *v > hard {
			*v = hard
		}
	}
	fix(&l.MaxPayload, def.MaxPayload, core.MaxMessageSizeLimit)
	fix(&l.MaxIHaves, def.MaxIHaves, core.MaxIHaveBatch)
	fix(&l.MaxIDs, def.MaxIDs, core.MaxGraftIDs)
	fix(&l.MaxHeaders, def.MaxHeaders, core.MaxHeaders)
	fix(&l.MaxHeaderBytes, def.MaxHeaderBytes, core.MaxHeaderBytes)
	if l.MaxInterned == 0 {
		l.MaxInterned = def.MaxInterned
	}
	return l
}

// Encoded sizes used to bound frames.
const (
	seqLen     = 8 // big-endian uint64
	maxHopsLen = 3 // uvarint of a uint16
	maxTimeLen = 7 // uvarint of an origin time (at most maxTimeMillis)
	// An id needs at least: origin length (1), one origin byte, seq (8).
	// An announcement adds hops and the origin time (at least 1 each).
	minIDLen           = 1 + 1 + seqLen
	minAnnouncementLen = minIDLen + 2
	// A header needs at least its two length bytes.
	minHeaderLen = 2
)

// MaxFrameSize returns the size of the largest frame a Decoder with these
// limits accepts. Stream transports use it to bound a frame before reading
// it.
func (l Limits) MaxFrameSize() int {
	l = l.normalized()
	maxID := uvarintLen(core.MaxPeerIDLen) + core.MaxPeerIDLen + seqLen
	gossip := maxID + maxTimeLen + maxHopsLen +
		uvarintLen(uint64(l.MaxHeaders)) +
		l.MaxHeaders*2*uvarintLen(uint64(l.MaxHeaderBytes)) + l.MaxHeaderBytes +
		uvarintLen(uint64(l.MaxPayload)) + l.MaxPayload
	ihave := uvarintLen(uint64(l.MaxIHaves)) + l.MaxIHaves*(maxID+maxHopsLen+maxTimeLen)
	graft := uvarintLen(uint64(l.MaxIDs)) + l.MaxIDs*maxID
	return HeaderLen + max(gossip, ihave, graft, core.MaxDigestBytes)
}

// CheckHeader checks the fixed header of a frame: its length, the magic
// byte, the version and the message type. Transports call it before
// anything else; Decode calls it too.
func CheckHeader(frame []byte) error {
	switch {
	case len(frame) == 0:
		return fmt.Errorf("%w: empty frame, the header needs %d bytes", ErrTruncated, HeaderLen)
	case frame[0] != Magic:
		return fmt.Errorf("%w: first byte is 0x%02x, want 0x%02x", ErrBadMagic, frame[0], Magic)
	case len(frame) < 2:
		return fmt.Errorf("%w: frame is %d bytes, the header needs %d", ErrTruncated, len(frame), HeaderLen)
	case frame[1] != Version:
		return fmt.Errorf("%w: version is %d, want %d", ErrBadVersion, frame[1], Version)
	case len(frame) < HeaderLen:
		return fmt.Errorf("%w: frame is %d bytes, the header needs %d", ErrTruncated, len(frame), HeaderLen)
	}
	if t := core.MessageType(frame[2]); !knownType(t) {
		return fmt.Errorf("%w: type byte is %d, want one of %s", ErrUnknownType, frame[2], knownTypes)
	}
	return nil
}
