package wire

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"time"

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
	return appendFrame(dst, m, true)
}

// AppendFrameHead appends the frame of m without its payload bytes and
// returns them apart: the frame is head followed by body. For a Gossip or
// Repair body is m.Payload (the last field, not copied); the other types
// carry no payload (their Payload field is ignored, as by AppendFrame), so
// body is nil and head is the whole frame. A transport that writes the two
// one after the other (transport-tcp's SendParts) then sends a payload
// without copying it into a new frame. Errors and limits are AppendFrame's
// (the payload is checked though not appended); it grows dst at most once,
// by the head's size.
func AppendFrameHead(dst []byte, m *core.Message) (head, body []byte, err error) {
	head, err = appendFrame(dst, m, false)
	if err == nil && carriesPayload(m.Type) {
		body = m.Payload
	}
	return head, body, err
}

// carriesPayload reports whether frames of type t end with the payload.
func carriesPayload(t core.MessageType) bool { return t == core.MsgGossip || t == core.MsgRepair }

func appendFrame(dst []byte, m *core.Message, payload bool) ([]byte, error) {
	n, err := frameSize(m)
	if err != nil {
		return dst, err
	}
	if !payload && carriesPayload(m.Type) {
		n -= len(m.Payload) // the other types ignore Payload: frameSize did not count it
	}
	dst = slices.Grow(dst, n)
	dst = append(dst, Magic, Version, byte(m.Type))
	switch m.Type {
	case core.MsgGossip, core.MsgRepair:
		dst = appendID(dst, m.ID)
		dst = appendUvarint(dst, timeMillis(m.OriginTime))
		dst = appendUvarint(dst, uint64(m.Hops))
		dst = append(dst, gossipFlags(m))
		dst = appendUvarint(dst, uint64(len(m.Headers)))
		for _, h := range m.Headers {
			dst = appendString(dst, h.Key)
			dst = appendString(dst, h.Value)
		}
		dst = appendUvarint(dst, uint64(len(m.Payload)))
		if payload {
			dst = append(dst, m.Payload...)
		}
	case core.MsgIHave:
		dst = appendUvarint(dst, uint64(len(m.IHaves)))
		for _, a := range m.IHaves {
			dst = appendID(dst, a.ID)
			dst = appendUvarint(dst, uint64(a.Hops))
			dst = appendUvarint(dst, timeMillis(a.OriginTime))
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
	case core.MsgDigest:
		dst = appendDigest(dst, m.Digest)
	}
	return dst, nil
}

// Digest flags.
const (
	digestAllStreams byte = 1 << 0
	digestReply      byte = 1 << 1
	streamComplete   byte = 1 << 0
)

func appendDigest(dst []byte, d *core.Digest) []byte {
	var flags byte
	if d.AllStreams {
		flags |= digestAllStreams
	}
	if d.Reply {
		flags |= digestReply
	}
	dst = append(dst, flags)
	dst = appendUvarint(dst, uint64(len(d.Streams)))
	for i := range d.Streams {
		e := &d.Streams[i]
		dst = appendString(dst, string(e.Origin))
		dst = appendUvarint(dst, e.Floor)
		dst = appendUvarint(dst, timeMillis(e.Newest))
		var f byte
		if e.Complete {
			f = streamComplete
		}
		dst = append(dst, f)
		dst = appendUvarint(dst, uint64(len(e.Runs)))
		prev := e.Floor
		for _, r := range e.Runs {
			dst = appendUvarint(dst, r.First-prev-1)
			dst = appendUvarint(dst, r.Last-r.First)
			prev = r.Last
		}
	}
	return dst
}

// digestSize validates d and returns the size of its body.
func digestSize(d *core.Digest) (int, error) {
	if d == nil {
		return 0, fmt.Errorf("%w: digest message without a digest", ErrNilMessage)
	}
	if len(d.Streams) > core.MaxDigestStreams {
		return 0, fmt.Errorf("%w: digest has %d streams, max %d", ErrTooMany, len(d.Streams), core.MaxDigestStreams)
	}
	n := 1 + uvarintLen(uint64(len(d.Streams)))
	for i := range d.Streams {
		e := &d.Streams[i]
		if len(e.Origin) == 0 || len(e.Origin) > core.MaxPeerIDLen {
			return 0, fmt.Errorf("%w: %s is %d bytes, want 1..%d", ErrBadPeerID, fldAt(fDigestOrigin, i), len(e.Origin), core.MaxPeerIDLen)
		}
		if len(e.Runs) > core.MaxDigestRuns {
			return 0, fmt.Errorf("%w: digest stream %d has %d runs, max %d", ErrTooMany, i, len(e.Runs), core.MaxDigestRuns)
		}
		n += uvarintLen(uint64(len(e.Origin))) + len(e.Origin) + uvarintLen(e.Floor) + uvarintLen(timeMillis(e.Newest)) + 1 + uvarintLen(uint64(len(e.Runs)))
		prev := e.Floor
		for _, r := range e.Runs {
			if r.First <= prev || r.Last < r.First {
				return 0, fmt.Errorf("%w: digest stream %d: run %d..%d after %d is out of order", ErrBadRun, i, r.First, r.Last, prev)
			}
			n += uvarintLen(r.First-prev-1) + uvarintLen(r.Last-r.First)
			prev = r.Last
		}
	}
	if n > core.MaxDigestBytes {
		return 0, fmt.Errorf("%w: digest is %d bytes, max %d", ErrTooLarge, n, core.MaxDigestBytes)
	}
	return n, nil
}

// timeMillis encodes an origin time as milliseconds since the Unix epoch;
// the zero time (and anything before the epoch) is 0, which decodes to the
// zero time.
func timeMillis(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	ms := t.UnixMilli()
	if ms < 0 {
		return 0
	}
	return uint64(ms)
}

// frameSize validates m against the hard limits and returns the exact size
// of its frame.
func frameSize(m *core.Message) (int, error) {
	if m == nil {
		return 0, ErrNilMessage
	}
	n := HeaderLen
	switch m.Type {
	case core.MsgGossip, core.MsgRepair:
		l, err := idSize(m.ID, fld(fGossipOrigin))
		if err != nil {
			return 0, err
		}
		n += l + uvarintLen(timeMillis(m.OriginTime)) + uvarintLen(uint64(m.Hops)) + 1 // flags
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
			n += l + uvarintLen(uint64(a.Hops)) + uvarintLen(timeMillis(a.OriginTime))
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
	case core.MsgDigest:
		l, err := digestSize(m.Digest)
		if err != nil {
			return 0, err
		}
		n += l
	default:
		return 0, fmt.Errorf("%w: message type is %d, want one of %s", ErrUnknownType, uint8(m.Type), knownTypes)
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

// Gossip flag bits (one byte after the hop count of a Gossip or a Repair;
// the other bits must be zero).
const (
	flagRepaired = 1 << 0 // the copy was pulled or repaired on its way
	gossipMask   = flagRepaired
)

func gossipFlags(m *core.Message) byte {
	if m.Repaired {
		return flagRepaired
	}
	return 0
}

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
