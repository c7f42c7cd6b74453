package wire

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// Decoder decodes frames into core.Messages under a set of Limits.
//
// A Decoder keeps a bounded table of the origin PeerIDs it has decoded, so
// that decoding a frame from a known origin allocates no string. The zero
// Decoder is ready to use with DefaultLimits.
//
// A Decoder is not safe for concurrent use: one goroutine owns it (the
// core/node runtime keeps one per node, on its receive path). Decoders are
// cheap; give each goroutine its own.
type Decoder struct {
	limits Limits
	init   bool
	peers  map[string]core.PeerID
	// recent is a direct-mapped cache in front of peers: a hit costs a
	// cheap hash of three 8-byte windows and one comparison instead of a
	// map lookup. Every entry is also in peers; both are emptied together.
	recent [recentSize]core.PeerID
}

const recentBits = 6
const recentSize = 1 << recentBits

// NewDecoder returns a Decoder enforcing l (normalized as documented on
// Limits).
func NewDecoder(l Limits) *Decoder {
	d := &Decoder{}
	d.setup(l)
	return d
}

func (d *Decoder) setup(l Limits) {
	d.limits = l.normalized()
	d.init = true
	if d.limits.MaxInterned > 0 {
		d.peers = make(map[string]core.PeerID)
	}
}

// Limits returns the limits the Decoder enforces, after normalization.
func (d *Decoder) Limits() Limits {
	if !d.init {
		d.setup(Limits{})
	}
	return d.limits
}

// Decode decodes frame into m, overwriting every field of m.
//
// Ownership and reuse: m's Headers, IHaves and IDs are truncated and reused
// (their capacity is kept), so decoding into the same Message again
// allocates nothing once they are large enough; do not pass a Message whose
// slices someone still uses (core.Protocol.Receive takes ownership of them).
// m.Payload aliases frame (its capacity is capped at its length, so an
// append copies): the frame must not be modified while the Message is in
// use. Header keys and values are copied into one string per frame. Origin
// PeerIDs come from the Decoder's interned table.
//
// Every count and length is checked against the Decoder's Limits before
// anything is allocated for it, and a count is also checked against the
// bytes left in the frame, so the memory Decode allocates is bounded by a
// small multiple of len(frame). Every accepted frame is canonical:
// AppendFrame of the decoded message reproduces frame byte for byte.
//
// On error m holds an unspecified partial message; the error wraps one of
// the package's sentinels and names the field, the value and the bound.
func (d *Decoder) Decode(frame []byte, m *core.Message) error {
	if m == nil {
		return ErrNilMessage
	}
	if err := CheckHeader(frame); err != nil {
		return err
	}
	if !d.init {
		d.setup(Limits{})
	}
	*m = core.Message{
		Type:    core.MessageType(frame[2]),
		Headers: m.Headers[:0],
		IHaves:  m.IHaves[:0],
		IDs:     m.IDs[:0],
	}
	r := reader{b: frame, i: HeaderLen}
	var err error
	switch m.Type {
	case core.MsgGossip, core.MsgRepair:
		err = d.decodeGossip(&r, m)
	case core.MsgIHave:
		err = d.decodeIHave(&r, m)
	case core.MsgGraft:
		err = d.decodeGraft(&r, m)
	case core.MsgJoin, core.MsgJoinReply:
		err = decodeLinkFlags(&r, m)
	case core.MsgPrune, core.MsgDisconnect:
	case core.MsgDigest:
		err = d.decodeDigest(&r, m)
	}
	if err != nil {
		return err
	}
	if r.i != len(frame) {
		return fmt.Errorf("%w: %d bytes after the %s message (offset %d of %d)", ErrTrailing, len(frame)-r.i, m.Type, r.i, len(frame))
	}
	return nil
}

func (d *Decoder) decodeGossip(r *reader, m *core.Message) error {
	var err error
	if m.ID, err = d.readID(r, fld(fGossipOrigin)); err != nil {
		return err
	}
	if m.OriginTime, err = r.time(fld(fGossipTime)); err != nil {
		return err
	}
	if m.Hops, err = r.hops(fld(fGossipHops)); err != nil {
		return err
	}
	if r.i >= len(r.b) {
		return r.short(1, fld(fGossipFlags))
	}
	f := r.b[r.i]
	r.i++
	if f&^gossipMask != 0 {
		return fmt.Errorf("%w: %s flags 0x%02x, only 0x%02x defined", ErrBadFlags, m.Type, f, gossipMask)
	}
	m.Repaired = f&flagRepaired != 0
	if err = d.readHeaders(r, m); err != nil {
		return err
	}
	n, err := r.uvarint(fld(fGossipPayloadLen))
	if err != nil {
		return err
	}
	if n > uint64(d.limits.MaxPayload) {
		return fmt.Errorf("%w: gossip payload is %d bytes, max %d", ErrTooLarge, n, d.limits.MaxPayload)
	}
	p, err := r.bytes(int(n), fld(fGossipPayload))
	if err != nil {
		return err
	}
	if len(p) > 0 {
		m.Payload = p
	}
	return nil
}

// readHeaders reads the header count and the headers. It validates every
// length first, then copies the whole header region into one string and
// slices the keys and values from it: one allocation per frame with headers.
func (d *Decoder) readHeaders(r *reader, m *core.Message) error {
	n, err := r.uvarint(fld(fGossipHeaderCount))
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if n > uint64(d.limits.MaxHeaders) {
		return fmt.Errorf("%w: gossip has %d headers, max %d", ErrTooMany, n, d.limits.MaxHeaders)
	}
	count := int(n)
	if rest := len(r.b) - r.i; count*minHeaderLen > rest {
		return fmt.Errorf("%w: %d headers need at least %d bytes, %d left", ErrTruncated, count, count*minHeaderLen, rest)
	}
	start := r.i
	total := 0
	for i := range count {
		for _, f := range [2]field{fldAt(fGossipHeaderKey, i), fldAt(fGossipHeaderValue, i)} {
			l, err := r.uvarint(f)
			if err != nil {
				return err
			}
			if l > uint64(d.limits.MaxHeaderBytes-total) {
				return fmt.Errorf("%w: gossip headers are at least %d bytes at %s, max %d", ErrTooLarge, uint64(total)+l, f, d.limits.MaxHeaderBytes)
			}
			if _, err := r.bytes(int(l), f); err != nil {
				return err
			}
			total += int(l)
		}
	}
	// Second pass over the validated region: no checks can fail.
	s := string(r.b[start:r.i])
	hs := slices.Grow(m.Headers[:0], count)
	for len(s) > 0 {
		var k, v string
		k, s = cutString(s)
		v, s = cutString(s)
		hs = append(hs, core.Header{Key: k, Value: v})
	}
	m.Headers = hs
	return nil
}

// cutString splits a validated length-prefixed string from the front of s.
func cutString(s string) (string, string) {
	var l, shift uint
	i := 0
	for {
		c := s[i]
		i++
		l |= uint(c&0x7f) << shift
		if c < 0x80 {
			break
		}
		shift += 7
	}
	return s[i : i+int(l)], s[i+int(l):]
}

func (d *Decoder) decodeIHave(r *reader, m *core.Message) error {
	count, err := r.count(fld(fIHaveCount), d.limits.MaxIHaves, minAnnouncementLen, "ihave", "announcements")
	if err != nil {
		return err
	}
	as := slices.Grow(m.IHaves[:0], count)
	for i := range count {
		var a core.Announcement
		if a.ID, err = d.readID(r, fldAt(fIHaveOrigin, i)); err != nil {
			return err
		}
		if a.Hops, err = r.hops(fldAt(fIHaveHops, i)); err != nil {
			return err
		}
		if a.OriginTime, err = r.time(fldAt(fIHaveTime, i)); err != nil {
			return err
		}
		as = append(as, a)
	}
	m.IHaves = as
	return nil
}

func (d *Decoder) decodeGraft(r *reader, m *core.Message) error {
	count, err := r.count(fld(fGraftCount), d.limits.MaxIDs, minIDLen, "graft", "ids")
	if err != nil {
		return err
	}
	ids := slices.Grow(m.IDs[:0], count)
	for i := range count {
		id, err := d.readID(r, fldAt(fGraftOrigin, i))
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	m.IDs = ids
	return nil
}

// decodeDigest reads a digest body. Its size is bounded by
// core.MaxDigestBytes (so its runs by the bytes they take), and every run is
// checked to lie above the previous one.
func (d *Decoder) decodeDigest(r *reader, m *core.Message) error {
	if rest := len(r.b) - r.i; rest > core.MaxDigestBytes {
		return fmt.Errorf("%w: digest is %d bytes, max %d", ErrTooLarge, rest, core.MaxDigestBytes)
	}
	if len(r.b)-r.i < 1 {
		return r.short(1, fld(fDigestFlags))
	}
	flags := r.b[r.i]
	r.i++
	if flags&^(digestAllStreams|digestReply) != 0 {
		return fmt.Errorf("%w: digest flags 0x%02x", ErrBadFlags, flags)
	}
	// An entry takes at least: origin (2), floor, newest, flags, run count.
	count, err := r.count(fld(fDigestCount), core.MaxDigestStreams, 6, "digest", "streams")
	if err != nil {
		return err
	}
	dg := &core.Digest{AllStreams: flags&digestAllStreams != 0, Reply: flags&digestReply != 0}
	if count > 0 {
		dg.Streams = make([]core.StreamDigest, 0, count)
	}
	for i := range count {
		var e core.StreamDigest
		n, err := r.uvarint(fldAt(fDigestOrigin, i))
		if err != nil {
			return err
		}
		if n == 0 || n > core.MaxPeerIDLen {
			return fmt.Errorf("%w: %s is %d bytes, want 1..%d", ErrBadPeerID, fldAt(fDigestOrigin, i), n, core.MaxPeerIDLen)
		}
		b, err := r.bytes(int(n), fldAt(fDigestOrigin, i))
		if err != nil {
			return err
		}
		e.Origin = d.intern(b)
		if e.Floor, err = r.uvarint(fldAt(fDigestFloor, i)); err != nil {
			return err
		}
		if e.Newest, err = r.time(fldAt(fDigestNewest, i)); err != nil {
			return err
		}
		if len(r.b)-r.i < 1 {
			return r.short(1, fldAt(fDigestStreamFlags, i))
		}
		f := r.b[r.i]
		r.i++
		if f&^streamComplete != 0 {
			return fmt.Errorf("%w: digest stream %d flags 0x%02x", ErrBadFlags, i, f)
		}
		e.Complete = f&streamComplete != 0
		runs, err := r.count(fldAt(fDigestRunCount, i), core.MaxDigestRuns, 2, "digest stream", "runs")
		if err != nil {
			return err
		}
		if runs > 0 {
			e.Runs = make([]core.SeqRange, 0, runs)
		}
		prev := e.Floor
		for range runs {
			gap, err := r.uvarint(fldAt(fDigestRun, i))
			if err != nil {
				return err
			}
			length, err := r.uvarint(fldAt(fDigestRun, i))
			if err != nil {
				return err
			}
			first := prev + 1 + gap
			last := first + length
			if first <= prev || last < first {
				return fmt.Errorf("%w: digest stream %d: run after %d overflows 64 bits", ErrBadRun, i, prev)
			}
			e.Runs = append(e.Runs, core.SeqRange{First: first, Last: last})
			prev = last
		}
		dg.Streams = append(dg.Streams, e)
	}
	m.Digest = dg
	return nil
}

// readID reads an origin (length-prefixed, interned) and a sequence number
// (8 bytes, big-endian). f names the origin field.
func (d *Decoder) readID(r *reader, f field) (core.MessageID, error) {
	// Fast path: a one-byte origin length and every byte present.
	b, i := r.b, r.i
	if i < len(b) {
		if n := int(b[i]); n > 0 && n < 0x80 && n+seqLen < len(b)-i {
			i++
			origin := d.intern(b[i : i+n])
			i += n
			r.i = i + seqLen
			return core.MessageID{Origin: origin, Seq: binary.BigEndian.Uint64(b[i:])}, nil
		}
	}
	return d.readIDSlow(r, f)
}

// readIDSlow is readID for long origins and for every error.
func (d *Decoder) readIDSlow(r *reader, f field) (core.MessageID, error) {
	n, err := r.uvarint(f)
	if err != nil {
		return core.MessageID{}, err
	}
	if n == 0 || n > core.MaxPeerIDLen {
		return core.MessageID{}, fmt.Errorf("%w: %s is %d bytes, want 1..%d", ErrBadPeerID, f, n, core.MaxPeerIDLen)
	}
	b, err := r.bytes(int(n), f)
	if err != nil {
		return core.MessageID{}, err
	}
	origin := d.intern(b)
	if len(r.b)-r.i < seqLen {
		return core.MessageID{}, r.short(seqLen, f.next())
	}
	seq := binary.BigEndian.Uint64(r.b[r.i:])
	r.i += seqLen
	return core.MessageID{Origin: origin, Seq: seq}, nil
}

// intern returns b as a PeerID, from the table when it is there.
func (d *Decoder) intern(b []byte) core.PeerID {
	if d.peers == nil { // interning disabled
		return core.PeerID(b)
	}
	slot := &d.recent[recentSlot(b)]
	if string(b) == string(*slot) {
		return *slot
	}
	p, ok := d.peers[string(b)]
	if !ok {
		if len(d.peers) >= d.limits.MaxInterned {
			clear(d.peers)
			clear(d.recent[:])
		}
		p = core.PeerID(b)
		d.peers[string(p)] = p
	}
	*slot = p
	return p
}

// recentSlot hashes the first, middle and last 8 bytes of b (all of b when
// shorter) and its length. Names that differ only elsewhere share a slot,
// which costs a map lookup, never a wrong answer.
func recentSlot(b []byte) uint {
	n := len(b)
	var h uint64
	if n >= 8 {
		h = binary.LittleEndian.Uint64(b) ^
			bits.RotateLeft64(binary.LittleEndian.Uint64(b[(n-8)/2:]), 21) ^
			bits.RotateLeft64(binary.LittleEndian.Uint64(b[n-8:]), 42)
	} else {
		for _, c := range b {
			h = h<<8 | uint64(c)
		}
	}
	h ^= uint64(n)
	return uint((h * 0x9E3779B97F4A7C15) >> (64 - recentBits))
}

// reader walks a frame. Its methods check every read against the end.
type reader struct {
	b []byte
	i int
}

// uvarint reads a shortest-form uvarint. The one-byte case is inlined.
// count reads the element count of an IHave or Graft body and checks it
// against max and against the bytes left (each element takes at least
// minLen bytes), before anything is allocated for the elements.
func (r *reader) count(f field, max, minLen int, msg, unit string) (int, error) {
	n, err := r.uvarint(f)
	if err != nil {
		return 0, err
	}
	if n > uint64(max) {
		return 0, fmt.Errorf("%w: %s has %d %s, max %d", ErrTooMany, msg, n, unit, max)
	}
	count := int(n)
	if rest := len(r.b) - r.i; count*minLen > rest {
		return 0, fmt.Errorf("%w: %d %s need at least %d bytes, %d left", ErrTruncated, count, unit, count*minLen, rest)
	}
	return count, nil
}

func (r *reader) uvarint(f field) (uint64, error) {
	if r.i < len(r.b) && r.b[r.i] < 0x80 {
		v := r.b[r.i]
		r.i++
		return uint64(v), nil
	}
	return r.uvarintSlow(f)
}

func (r *reader) uvarintSlow(f field) (uint64, error) {
	var v uint64
	var shift uint
	for j := r.i; j < len(r.b); j++ {
		c := r.b[j]
		if j-r.i == 9 && c > 1 {
			return 0, fmt.Errorf("%w: %s at offset %d overflows 64 bits", ErrBadVarint, f, r.i)
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			if c == 0 && j > r.i {
				return 0, fmt.Errorf("%w: %s at offset %d is not in shortest form", ErrBadVarint, f, r.i)
			}
			r.i = j + 1
			return v, nil
		}
		shift += 7
	}
	return 0, fmt.Errorf("%w: %s at offset %d: frame ends inside the varint (%d bytes)", ErrTruncated, f, r.i, len(r.b))
}

// time reads an origin time (uvarint milliseconds since the Unix epoch; 0
// is the zero time).
func (r *reader) time(f field) (time.Time, error) {
	v, err := r.uvarint(f)
	if err != nil || v == 0 {
		return time.Time{}, err
	}
	if v > maxTimeMillis {
		return time.Time{}, fmt.Errorf("%w: %s is %d ms, max %d", ErrBadTime, f, v, uint64(maxTimeMillis))
	}
	return time.UnixMilli(int64(v)), nil
}

// maxTimeMillis bounds an origin time (year 10000).
const maxTimeMillis = 253402300800000

// hops reads a hop count (a uvarint at most 65535).
func (r *reader) hops(f field) (uint16, error) {
	v, err := r.uvarint(f)
	if err == nil && v > 0xFFFF {
		err = fmt.Errorf("%w: %s is %d, max 65535", ErrBadHops, f, v)
	}
	return uint16(v), err
}

// bytes returns the next n bytes, capped so an append copies.
func (r *reader) bytes(n int, f field) ([]byte, error) {
	if n > len(r.b)-r.i {
		return nil, r.short(n, f)
	}
	b := r.b[r.i : r.i+n : r.i+n]
	r.i += n
	return b, nil
}

// short is the error of a field of n bytes that the frame cuts.
func (r *reader) short(n int, f field) error {
	return fmt.Errorf("%w: %s needs %d bytes at offset %d, %d left", ErrTruncated, f, n, r.i, len(r.b)-r.i)
}

// field names a field in error messages, packed in one word so that the
// hot paths stay inlinable: the low 8 bits are a fieldName, the rest an
// entry index plus one (0: not in a list). It is formatted only when an
// error is built: "ihave[3].origin", "gossip.payload_len".
type field uint32

type fieldName uint8

// Each origin is followed by its seq: readID names the seq origin+1.
const (
	fGossipOrigin fieldName = iota
	fGossipSeq
	fGossipHops
	fGossipHeaderCount
	fGossipHeaderKey
	fGossipHeaderValue
	fGossipPayloadLen
	fGossipPayload
	fIHaveCount
	fIHaveOrigin
	fIHaveSeq
	fIHaveHops
	fGraftCount
	fGraftOrigin
	fGraftSeq
	fGossipTime
	fIHaveTime
	fDigestFlags
	fDigestCount
	fDigestOrigin
	fDigestFloor
	fDigestNewest
	fDigestStreamFlags
	fDigestRunCount
	fDigestRun
	fGossipFlags
)

var fieldNames = [...]struct{ kind, sub string }{
	fGossipOrigin:      {"gossip", "origin"},
	fGossipSeq:         {"gossip", "seq"},
	fGossipHops:        {"gossip", "hops"},
	fGossipHeaderCount: {"gossip", "header_count"},
	fGossipHeaderKey:   {"gossip.header", "key"},
	fGossipHeaderValue: {"gossip.header", "value"},
	fGossipPayloadLen:  {"gossip", "payload_len"},
	fGossipPayload:     {"gossip", "payload"},
	fIHaveCount:        {"ihave", "count"},
	fIHaveOrigin:       {"ihave", "origin"},
	fIHaveSeq:          {"ihave", "seq"},
	fIHaveHops:         {"ihave", "hops"},
	fGraftCount:        {"graft", "count"},
	fGraftOrigin:       {"graft", "origin"},
	fGraftSeq:          {"graft", "seq"},
	fGossipTime:        {"gossip", "origin_time"},
	fIHaveTime:         {"ihave", "origin_time"},
	fDigestFlags:       {"digest", "flags"},
	fDigestCount:       {"digest", "count"},
	fDigestOrigin:      {"digest", "origin"},
	fDigestFloor:       {"digest", "floor"},
	fDigestNewest:      {"digest", "newest"},
	fDigestStreamFlags: {"digest", "flags"},
	fDigestRunCount:    {"digest", "run_count"},
	fDigestRun:         {"digest", "run"},
	fGossipFlags:       {"gossip", "flags"},
}

// fld names a field outside a list; fldAt names one in entry i.
func fld(n fieldName) field          { return field(n) }
func fldAt(n fieldName, i int) field { return field(n) | field(i+1)<<8 }

// next names the field after f in the same entry.
func (f field) next() field { return f + 1 }

func (f field) String() string {
	n := fieldNames[uint8(f)]
	if f>>8 == 0 {
		return n.kind + "." + n.sub
	}
	return n.kind + "[" + strconv.Itoa(int(f>>8)-1) + "]." + n.sub
}

// decodeLinkFlags reads the flag byte of a Join or a JoinReply. Unknown bits
// are an error (every accepted frame is canonical).
func decodeLinkFlags(r *reader, m *core.Message) error {
	if r.i >= len(r.b) {
		return fmt.Errorf("%w: %s flags missing at offset %d", ErrTruncated, m.Type, r.i)
	}
	f := r.b[r.i]
	r.i++
	mask := byte(joinMask)
	if m.Type == core.MsgJoinReply {
		mask = replyMask
	}
	if f&^mask != 0 {
		return fmt.Errorf("%w: %s flags 0x%02x, only 0x%02x defined", ErrBadFlags, m.Type, f, mask)
	}
	m.Eager = f&flagEager != 0
	if m.Type == core.MsgJoin {
		m.Urgent = f&flagUrgent != 0
	} else {
		m.Accepted = f&flagAccepted != 0
	}
	return nil
}
