package wire

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"

	"github.com/plumtree-go/plumtree/core"
)

// AppendFrame appends the frame of m to dst and returns the extended slice.
// It grows dst at most once, so encoding into a reused buffer
// (buf, err = AppendFrame(buf[:0], m)) does not allocate.
//
// Only the fields meaningful for m.Type are encoded (see core.Message); the
// others are ignored. A message that breaks the hard limits (the core.Max*
// constants: payload size, announcement, id and header counts, header bytes,
// PeerID length, and no empty origin) is not encoded: AppendFrame returns
// dst unchanged and an error wrapping ErrTooLarge, ErrTooMany, ErrBadPeerID,
// ErrUnknownType or ErrNilMessage.
//
// AppendFrame is safe for concurrent use; it does not modify m.
func AppendFrame(dst []byte, m *core.Message) ([]byte, error) {
	n, err := frameSize(m)
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, n)
	dst = append(dst, Magic, Version, byte(m.Type))
	switch m.Type {
	case core.MsgGossip:
		dst = appendID(dst, m.ID)
		dst = appendUvarint(dst, uint64(m.Hops))
		dst = appendUvarint(dst, uint64(len(m.Headers)))
		for _, h := range m.Headers {
			dst = appendString(dst, h.Key)
			dst = appendString(dst, h.Value)
		}
		dst = appendUvarint(dst, uint64(len(m.Payload)))
		dst = append(dst, m.Payload...)
	case core.MsgIHave:
		dst = appendUvarint(dst, uint64(len(m.IHaves)))
		for _, a := range m.IHaves {
			dst = appendID(dst, a.ID)
			dst = appendUvarint(dst, uint64(a.Hops))
		}
	case core.MsgGraft:
		dst = appendUvarint(dst, uint64(len(m.IDs)))
		for _, id := range m.IDs {
			dst = appendID(dst, id)
		}
	case core.MsgJoin:
		dst = append(dst, joinFlags(m))
	case core.MsgJoinReply:
		dst = append(dst, replyFlags(m))
	case core.MsgPrune, core.MsgDisconnect:
	}
	return dst, nil
}

// frameSize validates m against the hard limits and returns the exact size
// of its frame.
func frameSize(m *core.Message) (int, error) {
	if m == nil {
		return 0, ErrNilMessage
	}
	n := HeaderLen
	switch m.Type {
	case core.MsgGossip:
		l, err := idSize(m.ID, fld(fGossipOrigin))
		if err != nil {
			return 0, err
		}
		n += l + uvarintLen(uint64(m.Hops))
		if len(m.Headers) > core.MaxHeaders {
			return 0, fmt.Errorf("%w: gossip has %d headers, max %d", ErrTooMany, len(m.Headers), core.MaxHeaders)
		}
		n += uvarintLen(uint64(len(m.Headers)))
		hb := 0
		for _, h := range m.Headers {
			hb += len(h.Key) + len(h.Value)
			n += uvarintLen(uint64(len(h.Key))) + uvarintLen(uint64(len(h.Value)))
		}
		if hb > core.MaxHeaderBytes {
			return 0, fmt.Errorf("%w: gossip headers are %d bytes, max %d", ErrTooLarge, hb, core.MaxHeaderBytes)
		}
		n += hb
		if len(m.Payload) > core.MaxMessageSizeLimit {
			return 0, fmt.Errorf("%w: gossip payload is %d bytes, max %d", ErrTooLarge, len(m.Payload), core.MaxMessageSizeLimit)
		}
		n += uvarintLen(uint64(len(m.Payload))) + len(m.Payload)
	case core.MsgIHave:
		if len(m.IHaves) > core.MaxIHaveBatch {
			return 0, fmt.Errorf("%w: ihave has %d announcements, max %d", ErrTooMany, len(m.IHaves), core.MaxIHaveBatch)
		}
		n += uvarintLen(uint64(len(m.IHaves)))
		for i, a := range m.IHaves {
			l, err := idSize(a.ID, fldAt(fIHaveOrigin, i))
			if err != nil {
				return 0, err
			}
			n += l + uvarintLen(uint64(a.Hops))
		}
	case core.MsgGraft:
		if len(m.IDs) > core.MaxGraftIDs {
			return 0, fmt.Errorf("%w: graft has %d ids, max %d", ErrTooMany, len(m.IDs), core.MaxGraftIDs)
		}
		n += uvarintLen(uint64(len(m.IDs)))
		for i, id := range m.IDs {
			l, err := idSize(id, fldAt(fGraftOrigin, i))
			if err != nil {
				return 0, err
			}
			n += l
		}
	case core.MsgJoin, core.MsgJoinReply:
		n++ // flags
	case core.MsgPrune, core.MsgDisconnect:
	default:
		return 0, fmt.Errorf("%w: message type is %d, want %d..%d", ErrUnknownType, uint8(m.Type), core.MsgGossip, core.MsgDisconnect)
	}
	return n, nil
}

func idSize(id core.MessageID, f field) (int, error) {
	if len(id.Origin) == 0 || len(id.Origin) > core.MaxPeerIDLen {
		return 0, fmt.Errorf("%w: %s is %d bytes, want 1..%d", ErrBadPeerID, f, len(id.Origin), core.MaxPeerIDLen)
	}
	return uvarintLen(uint64(len(id.Origin))) + len(id.Origin) + seqLen, nil
}

func appendID(dst []byte, id core.MessageID) []byte {
	dst = appendString(dst, string(id.Origin))
	return binary.BigEndian.AppendUint64(dst, id.Seq)
}

func appendString(dst []byte, s string) []byte {
	dst = appendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendUvarint appends v in the shortest LEB128 form (as
// encoding/binary.AppendUvarint does).
func appendUvarint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// uvarintLen is the length of the shortest uvarint encoding of v.
func uvarintLen(v uint64) int {
	return (bits.Len64(v|1) + 6) / 7
}

// Link protocol flag bits (one byte after the header of a Join or a
// JoinReply; the other bits must be zero).
const (
	flagEager    = 1 << 0 // Join: an eager link; JoinReply: accepted as eager
	flagUrgent   = 1 << 1 // Join: the requester has no link
	flagAccepted = 1 << 1 // JoinReply: accepted
	joinMask     = flagEager | flagUrgent
	replyMask    = flagEager | flagAccepted
)

func joinFlags(m *core.Message) byte {
	var f byte
	if m.Eager {
		f |= flagEager
	}
	if m.Urgent {
		f |= flagUrgent
	}
	return f
}

func replyFlags(m *core.Message) byte {
	var f byte
	if m.Eager {
		f |= flagEager
	}
	if m.Accepted {
		f |= flagAccepted
	}
	return f
}
