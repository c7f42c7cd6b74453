package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/plumtree-go/plumtree/core"
)

// sentinels lists every error the package returns.
var sentinels = []error{
	ErrBadMagic, ErrBadVersion, ErrUnknownType, ErrTruncated, ErrBadVarint,
	ErrTooLarge, ErrTooMany, ErrBadPeerID, ErrBadHops, ErrTrailing, ErrNilMessage,
	ErrBadTime, ErrBadFlags, ErrBadRun,
}

// equalMsg compares the fields meaningful for the type; nil and empty slices
// are equal.
func equalMsg(a, b *core.Message) bool {
	return a.Type == b.Type && a.ID == b.ID && a.Hops == b.Hops &&
		a.OriginTime.Equal(b.OriginTime) &&
		bytes.Equal(a.Payload, b.Payload) &&
		slices.Equal(a.Headers, b.Headers) &&
		slices.EqualFunc(a.IHaves, b.IHaves, func(x, y core.Announcement) bool {
			return x.ID == y.ID && x.Hops == y.Hops && x.OriginTime.Equal(y.OriginTime)
		}) &&
		slices.Equal(a.IDs, b.IDs) &&
		equalDigest(a.Digest, b.Digest) &&
		a.Eager == b.Eager && a.Urgent == b.Urgent && a.Accepted == b.Accepted
}

func equalDigest(a, b *core.Digest) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.AllStreams == b.AllStreams && a.Reply == b.Reply &&
		slices.EqualFunc(a.Streams, b.Streams, func(x, y core.StreamDigest) bool {
			return x.Origin == y.Origin && x.Floor == y.Floor && x.Complete == y.Complete &&
				x.Newest.Equal(y.Newest) && slices.Equal(x.Runs, y.Runs)
		})
}

// digest returns a digest of n streams with r runs each, spread over the
// whole sequence space.
func digest(n, r int) *core.Digest {
	d := &core.Digest{Reply: n%2 == 0}
	for i := range n {
		e := core.StreamDigest{Origin: peer(i), Floor: uint64(i) << 40, Newest: time.UnixMilli(int64(1_763_000_000_000 + i)), Complete: i%3 != 0}
		next := e.Floor + 2
		for j := range r {
			e.Runs = append(e.Runs, core.SeqRange{First: next, Last: next + uint64(j)})
			next += uint64(j) + 2
		}
		d.Streams = append(d.Streams, e)
	}
	return d
}

func peer(i int) core.PeerID { return core.PeerID(fmt.Sprintf("node-%04d.dc1.example", i)) }

func id(i int) core.MessageID {
	return core.MessageID{Origin: peer(i % 7), Seq: 1_763_000_000_000_000_000 + uint64(i)}
}

func announcements(n int) []core.Announcement {
	as := make([]core.Announcement, n)
	for i := range as {
		as[i] = core.Announcement{ID: id(i), Hops: uint16(i % 9), OriginTime: time.UnixMilli(int64(1_763_000_000_000 + i))}
	}
	return as
}

func ids(n int) []core.MessageID {
	out := make([]core.MessageID, n)
	for i := range out {
		out[i] = id(i)
	}
	return out
}

// maxHeaders returns core.MaxHeaders headers of core.MaxHeaderBytes in total.
func maxHeaders() []core.Header {
	hs := make([]core.Header, core.MaxHeaders)
	per := core.MaxHeaderBytes / core.MaxHeaders
	for i := range hs {
		k := fmt.Sprintf("k%02d", i)
		hs[i] = core.Header{Key: k, Value: strings.Repeat("v", per-len(k))}
	}
	return hs
}

func maxID() core.MessageID {
	return core.MessageID{Origin: core.PeerID(strings.Repeat("o", core.MaxPeerIDLen)), Seq: math.MaxUint64}
}

func maxAnnouncements() []core.Announcement {
	as := make([]core.Announcement, core.MaxIHaveBatch)
	for i := range as {
		o := []byte(strings.Repeat("p", core.MaxPeerIDLen))
		copy(o, fmt.Sprint(i))
		as[i] = core.Announcement{ID: core.MessageID{Origin: core.PeerID(o), Seq: math.MaxUint64 - uint64(i)}, Hops: math.MaxUint16, OriginTime: time.UnixMilli(253402300800000)}
	}
	return as
}

func roundTripCases() []struct {
	name   string
	limits Limits
	msg    core.Message
} {
	payload1K := bytes.Repeat([]byte{0xA5}, 1024)
	big := Limits{MaxPayload: core.MaxMessageSizeLimit}
	return []struct {
		name   string
		limits Limits
		msg    core.Message
	}{
		{"gossip empty payload", Limits{}, core.Message{Type: core.MsgGossip, ID: id(1), Hops: 1}},
		{"gossip 1KiB", Limits{}, core.Message{Type: core.MsgGossip, ID: id(2), Hops: 1, Payload: payload1K}},
		{"gossip seq 0 hops 0", Limits{}, core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "a"}, Payload: []byte("x")}},
		{"gossip trace headers", Limits{}, core.Message{Type: core.MsgGossip, ID: id(3), Hops: 7, Payload: []byte("hello"), Headers: []core.Header{
			{Key: "traceparent", Value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
			{Key: "tracestate", Value: "congo=t61rcWkgMzE"},
		}}},
		{"gossip empty header key and value", Limits{}, core.Message{Type: core.MsgGossip, ID: id(4), Hops: 2, Headers: []core.Header{{}, {Key: "k"}, {Value: "v"}}}},
		{"gossip max headers max id max hops", Limits{}, core.Message{Type: core.MsgGossip, ID: maxID(), Hops: math.MaxUint16, Headers: maxHeaders(), Payload: []byte{1}}},
		{"gossip default max payload", Limits{}, core.Message{Type: core.MsgGossip, ID: id(5), Hops: 3, Payload: make([]byte, DefaultLimits().MaxPayload)}},
		{"gossip 16MiB payload", big, core.Message{Type: core.MsgGossip, ID: maxID(), Hops: math.MaxUint16, Headers: maxHeaders(), Payload: make([]byte, core.MaxMessageSizeLimit)}},
		{"ihave empty", Limits{}, core.Message{Type: core.MsgIHave}},
		{"ihave one", Limits{}, core.Message{Type: core.MsgIHave, IHaves: announcements(1)}},
		{"ihave 16", Limits{}, core.Message{Type: core.MsgIHave, IHaves: announcements(16)}},
		{"ihave max", Limits{}, core.Message{Type: core.MsgIHave, IHaves: maxAnnouncements()}},
		{"graft empty (GRAFT(null))", Limits{}, core.Message{Type: core.MsgGraft}},
		{"graft one", Limits{}, core.Message{Type: core.MsgGraft, IDs: ids(1)}},
		{"graft max", Limits{}, core.Message{Type: core.MsgGraft, IDs: ids(core.MaxGraftIDs)}},
		{"graft max ids", Limits{}, core.Message{Type: core.MsgGraft, IDs: []core.MessageID{maxID(), maxID()}}},
		{"prune", Limits{}, core.Message{Type: core.MsgPrune}},
		{"join", Limits{}, core.Message{Type: core.MsgJoin}},
		{"join eager urgent", Limits{}, core.Message{Type: core.MsgJoin, Eager: true, Urgent: true}},
		{"join reply refused", Limits{}, core.Message{Type: core.MsgJoinReply}},
		{"join reply accepted eager", Limits{}, core.Message{Type: core.MsgJoinReply, Accepted: true, Eager: true}},
		{"disconnect", Limits{}, core.Message{Type: core.MsgDisconnect}},
		{"gossip origin time", Limits{}, core.Message{Type: core.MsgGossip, ID: id(6), OriginTime: time.UnixMilli(1_763_000_000_123), Hops: 1, Payload: []byte("x")}},
		{"gossip repaired", Limits{}, core.Message{Type: core.MsgGossip, ID: id(6), Hops: 3, Payload: []byte("x"), Repaired: true}},
		{"repair", Limits{}, core.Message{Type: core.MsgRepair, ID: id(7), OriginTime: time.UnixMilli(1_763_000_000_123), Hops: 4, Payload: payload1K, Headers: []core.Header{{Key: "k", Value: "v"}}}},
		{"digest empty", Limits{}, core.Message{Type: core.MsgDigest, Digest: &core.Digest{AllStreams: true}}},
		{"digest 64 streams of 8 runs", Limits{}, core.Message{Type: core.MsgDigest, Digest: digest(64, 8)}},
		{"digest one stream of max runs", Limits{}, core.Message{Type: core.MsgDigest, Digest: &core.Digest{Streams: []core.StreamDigest{{Origin: "o", Floor: math.MaxUint64 - 3*core.MaxDigestRuns, Runs: func() []core.SeqRange {
			var rs []core.SeqRange
			for i := range core.MaxDigestRuns {
				f := uint64(math.MaxUint64-3*core.MaxDigestRuns) + 2 + 3*uint64(i)
				rs = append(rs, core.SeqRange{First: f, Last: f + 1})
			}
			return rs
		}()}}}}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			frame, err := AppendFrame(nil, &tc.msg)
			if err != nil {
				t.Fatalf("AppendFrame: %v", err)
			}
			if n, _ := frameSize(&tc.msg); n != len(frame) {
				t.Fatalf("frameSize = %d, frame is %d bytes", n, len(frame))
			}
			if len(frame) > tc.limits.MaxFrameSize() {
				t.Fatalf("frame is %d bytes, MaxFrameSize %d", len(frame), tc.limits.MaxFrameSize())
			}
			if err := CheckHeader(frame); err != nil {
				t.Fatalf("CheckHeader: %v", err)
			}
			d := NewDecoder(tc.limits)
			var got core.Message
			if err := d.Decode(frame, &got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !equalMsg(&got, &tc.msg) {
				t.Fatalf("decoded %+v, want %+v", got, tc.msg)
			}
			again, err := AppendFrame(nil, &got)
			if err != nil || !bytes.Equal(again, frame) {
				t.Fatalf("re-encoding differs (err %v)", err)
			}
			// Appending after a prefix keeps the prefix.
			pre := []byte("prefix")
			out, err := AppendFrame(pre, &tc.msg)
			if err != nil || string(out[:6]) != "prefix" || !bytes.Equal(out[6:], frame) {
				t.Fatalf("AppendFrame after a prefix: err %v", err)
			}
			// The head followed by the body is the frame, and the body
			// is the payload itself (not a copy).
			head, body, err := AppendFrameHead([]byte("prefix"), &tc.msg)
			if err != nil || string(head[:6]) != "prefix" {
				t.Fatalf("AppendFrameHead after a prefix: err %v", err)
			}
			if joined := append(head[6:len(head):len(head)], body...); !bytes.Equal(joined, frame) {
				t.Fatalf("head ‖ body differs from the frame:\n%x\n%x", joined, frame)
			}
			if len(tc.msg.Payload) > 0 && (len(body) == 0 || &body[0] != &tc.msg.Payload[0]) {
				t.Fatal("the body is not the message's payload")
			}
		})
	}
}

func TestFrameLayout(t *testing.T) {
	t1 := time.UnixMilli(1_700_000_000_000) // uvarint 80 d0 95 ff bc 31
	tests := []struct {
		name string
		msg  core.Message
		want []byte
	}{
		{"gossip", core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "a", Seq: 300}, OriginTime: t1, Hops: 1, Payload: []byte("hi")},
			[]byte{0xb7, 3, 1, 1, 'a', 0, 0, 0, 0, 0, 0, 0x01, 0x2c, 0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, 1, 0, 0, 2, 'h', 'i'}},
		{"gossip header", core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "a", Seq: 1}, Hops: 200, Headers: []core.Header{{Key: "k", Value: "vv"}}},
			[]byte{0xb7, 3, 1, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0xc8, 0x01, 0, 1, 1, 'k', 2, 'v', 'v', 0}},
		{"ihave", core.Message{Type: core.MsgIHave, IHaves: []core.Announcement{{ID: core.MessageID{Origin: "bc", Seq: 5}, Hops: 2, OriginTime: time.UnixMilli(5)}}},
			[]byte{0xb7, 3, 2, 1, 2, 'b', 'c', 0, 0, 0, 0, 0, 0, 0, 5, 2, 5}},
		{"graft", core.Message{Type: core.MsgGraft, IDs: []core.MessageID{{Origin: "a", Seq: 0}, {Origin: "b", Seq: 1<<56 | 1}}},
			[]byte{0xb7, 3, 3, 2, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 1, 'b', 1, 0, 0, 0, 0, 0, 0, 1}},
		{"graft null", core.Message{Type: core.MsgGraft}, []byte{0xb7, 3, 3, 0}},
		{"prune", core.Message{Type: core.MsgPrune}, []byte{0xb7, 3, 4}},
		{"gossip repaired", core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: "a", Seq: 300}, Hops: 2, Repaired: true},
			[]byte{0xb7, 3, 1, 1, 'a', 0, 0, 0, 0, 0, 0, 0x01, 0x2c, 0, 2, 1, 0, 0}},
		{"repair", core.Message{Type: core.MsgRepair, ID: core.MessageID{Origin: "a", Seq: 300}, OriginTime: time.UnixMilli(2), Hops: 1, Payload: []byte("hi")},
			[]byte{0xb7, 3, 9, 1, 'a', 0, 0, 0, 0, 0, 0, 0x01, 0x2c, 2, 1, 0, 0, 2, 'h', 'i'}},
		// Flags (all streams, reply), 1 stream: origin "o", floor 10,
		// newest 7 ms, complete, 2 runs: 12..13 (gap 1 after the floor,
		// length 1), 20..20 (gap 6 after 13, length 0).
		{"digest", core.Message{Type: core.MsgDigest, Digest: &core.Digest{AllStreams: true, Reply: true, Streams: []core.StreamDigest{
			{Origin: "o", Floor: 10, Newest: time.UnixMilli(7), Complete: true, Runs: []core.SeqRange{{First: 12, Last: 13}, {First: 20, Last: 20}}},
		}}}, []byte{0xb7, 3, 8, 3, 1, 1, 'o', 10, 7, 1, 2, 1, 1, 6, 0}},
		{"digest empty", core.Message{Type: core.MsgDigest, Digest: &core.Digest{}}, []byte{0xb7, 3, 8, 0, 0}},
		{"join lazy", core.Message{Type: core.MsgJoin}, []byte{0xb7, 3, 5, 0}},
		{"join eager urgent", core.Message{Type: core.MsgJoin, Eager: true, Urgent: true}, []byte{0xb7, 3, 5, 3}},
		{"join reply accepted lazy", core.Message{Type: core.MsgJoinReply, Accepted: true}, []byte{0xb7, 3, 6, 2}},
		{"disconnect", core.Message{Type: core.MsgDisconnect}, []byte{0xb7, 3, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendFrame(nil, &tc.msg)
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("AppendFrame = % x, %v; want % x", got, err, tc.want)
			}
		})
	}
}

// seq is a sequence number in fb: 8 bytes, big-endian.
type seq uint64

// fb builds a frame from parts: bytes, strings, ints (as uvarints) and seqs.
func fb(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case byte:
			b = append(b, v)
		case []byte:
			b = append(b, v...)
		case string:
			b = append(b, v...)
		case int:
			b = appendUvarint(b, uint64(v))
		case uint64:
			b = appendUvarint(b, v)
		case seq:
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		default:
			panic(fmt.Sprintf("fb: %T", p))
		}
	}
	return b
}

var hdr = []byte{Magic, Version}

func gossipHdr() []byte { return append(slices.Clone(hdr), byte(core.MsgGossip)) }

func TestDecodeErrors(t *testing.T) {
	small := Limits{MaxPayload: 16, MaxIHaves: 2, MaxIDs: 2, MaxHeaders: 2, MaxHeaderBytes: 8}
	tests := []struct {
		name   string
		limits Limits
		frame  []byte
		want   error
		detail string // a substring of the message
	}{
		{"empty", Limits{}, nil, ErrTruncated, "empty frame"},
		{"tls record", Limits{}, []byte{0x16, 0x03, 0x01, 0x00}, ErrBadMagic, "first byte is 0x16, want 0xb7"},
		{"memberlist pushpull", Limits{}, []byte{6}, ErrBadMagic, "0x06"},
		{"magic only", Limits{}, []byte{Magic}, ErrTruncated, "frame is 1 bytes"},
		{"version 4", Limits{}, []byte{Magic, 4, 1}, ErrBadVersion, "version is 4, want 3"},
		{"version 2", Limits{}, []byte{Magic, 2, 1}, ErrBadVersion, "version is 2, want 3"},
		{"version 0 short", Limits{}, []byte{Magic, 0}, ErrBadVersion, "version is 0"},
		{"no type", Limits{}, []byte{Magic, Version}, ErrTruncated, "needs 3"},
		{"type 0", Limits{}, []byte{Magic, Version, 0}, ErrUnknownType, "type byte is 0, want one of gossip 1"},
		{"type 200", Limits{}, []byte{Magic, Version, 200}, ErrUnknownType, "type byte is 200"},
		{"join flags missing", Limits{}, []byte{Magic, Version, 5}, ErrTruncated, "join flags missing"},
		{"join undefined flag", Limits{}, []byte{Magic, Version, 5, 4}, ErrBadFlags, "join flags 0x04"},
		{"join reply undefined flag", Limits{}, []byte{Magic, Version, 6, 0x80}, ErrBadFlags, "join_reply flags 0x80"},
		{"disconnect trailing", Limits{}, []byte{Magic, Version, 7, 0}, ErrTrailing, "after the disconnect"},
		{"gossip no body", Limits{}, gossipHdr(), ErrTruncated, "gossip.origin at offset 3"},
		{"gossip origin cut", Limits{}, fb(gossipHdr(), 5, "ab"), ErrTruncated, "gossip.origin needs 5 bytes at offset 4, 2 left"},
		{"gossip origin empty", Limits{}, fb(gossipHdr(), 0, seq(1), 0, 1, 0, 0), ErrBadPeerID, "gossip.origin is 0 bytes, want 1..255"},
		{"gossip origin 256", Limits{}, fb(gossipHdr(), 256, strings.Repeat("a", 256), seq(1), 0, 1, 0, 0), ErrBadPeerID, "is 256 bytes"},
		{"gossip origin length overflow", Limits{}, fb(gossipHdr(), bytes.Repeat([]byte{0xff}, 9), byte(2)), ErrBadVarint, "gossip.origin at offset 3 overflows"},
		{"gossip seq cut", Limits{}, fb(gossipHdr(), 1, "a", []byte{0, 0, 0, 0, 0, 1}), ErrTruncated, "gossip.seq needs 8 bytes at offset 5, 6 left"},
		{"gossip hops 65536", Limits{}, fb(gossipHdr(), 1, "a", seq(1), 0, 65536, 0, 0), ErrBadHops, "gossip.hops is 65536, max 65535"},
		{"gossip hops not shortest", Limits{}, fb(gossipHdr(), 1, "a", seq(1), 0, []byte{0x81, 0x00}, 0, 0), ErrBadVarint, "gossip.hops at offset 14 is not in shortest form"},
		{"gossip hops cut", Limits{}, fb(gossipHdr(), 1, "a", seq(1), 0, []byte{0x81}), ErrTruncated, "gossip.hops at offset 14: frame ends inside the varint"},
		{"gossip flags missing", Limits{}, fb(gossipHdr(), 1, "a", seq(1), 0, 1), ErrTruncated, "gossip.flags needs 1 bytes at offset 15"},
		{"gossip undefined flag", Limits{}, fb(gossipHdr(), 1, "a", seq(1), 0, 1, byte(2), 0, 0), ErrBadFlags, "gossip flags 0x02, only 0x01 defined"},
		{"repair undefined flag", Limits{}, fb(hdr, byte(9), 1, "a", seq(1), 0, 1, byte(0x80), 0, 0), ErrBadFlags, "repair flags 0x80"},
		{"gossip payload length 11 bytes", Limits{}, fb(gossipHdr(), 1, "a", seq(1), 0, 1, byte(0), 0, bytes.Repeat([]byte{0x80}, 10), byte(0)), ErrBadVarint, "gossip.payload_len at offset 17 overflows"},
		{"gossip payload too large", small, fb(gossipHdr(), 1, "a", seq(1), 0, 1, byte(0), 0, 17, make([]byte, 17)), ErrTooLarge, "gossip payload is 17 bytes, max 16"},
		{"gossip payload huge length", Limits{}, fb(gossipHdr(), 1, "a", seq(1), 0, 1, byte(0), 0, uint64(math.MaxUint64)), ErrTooLarge, "max 65536"},
		{"gossip payload cut", Limits{}, fb(gossipHdr(), 1, "a", seq(1), 0, 1, byte(0), 0, 10, "abc"), ErrTruncated, "gossip.payload needs 10 bytes"},
		{"gossip too many headers", small, fb(gossipHdr(), 1, "a", seq(1), 0, 1, byte(0), 3, 0, 0, 0, 0, 0, 0, 0), ErrTooMany, "gossip has 3 headers, max 2"},
		{"gossip 33 headers", Limits{}, fb(gossipHdr(), 1, "a", seq(1), 0, 1, byte(0), 33), ErrTooMany, "max 32"},
		{"gossip header count past end", Limits{}, fb(gossipHdr(), 1, "a", seq(1), 0, 1, byte(0), 32, 0, 0), ErrTruncated, "32 headers need at least 64 bytes"},
		{"gossip header bytes", small, fb(gossipHdr(), 1, "a", seq(1), 0, 1, byte(0), 2, 1, "k", 3, "vvv", 2, "kk", 3, "vvv", 0), ErrTooLarge, "gossip headers are at least 9 bytes at gossip.header[1].value, max 8"},
		{"gossip header key cut", Limits{}, fb(gossipHdr(), 1, "a", seq(1), 0, 1, byte(0), 1, 4, "k", 0), ErrTruncated, "gossip.header[0].key needs 4 bytes"},
		{"gossip trailing", Limits{}, fb(gossipHdr(), 1, "a", seq(1), 0, 1, byte(0), 0, 1, "p", "x"), ErrTrailing, "1 bytes after the gossip message (offset 19 of 20)"},
		{"ihave too many", small, fb(hdr, byte(2), 3), ErrTooMany, "ihave has 3 announcements, max 2"},
		{"ihave 1025", Limits{}, fb(hdr, byte(2), 1025), ErrTooMany, "max 1024"},
		{"ihave count past end", Limits{}, fb(hdr, byte(2), 1024, 1, "a", seq(1), 1, 0), ErrTruncated, "1024 announcements need at least 12288 bytes, 12 left"},
		{"ihave hops", Limits{}, fb(hdr, byte(2), 1, 1, "a", seq(1), 70000), ErrBadHops, "ihave[0].hops is 70000"},
		{"ihave origin empty", Limits{}, fb(hdr, byte(2), 2, 1, "a", seq(1), 1, 300, 0, seq(1), 1, 1), ErrBadPeerID, "ihave[1].origin is 0 bytes"},
		{"ihave seq cut", Limits{}, fb(hdr, byte(2), 2, 1, "a", seq(1), 1, 300, 3, "bcd", make([]byte, 7)), ErrTruncated, "ihave[1].seq needs 8 bytes at offset 21, 7 left"},
		{"ihave trailing", Limits{}, fb(hdr, byte(2), 0, 0), ErrTrailing, "after the ihave message"},
		{"graft too many", small, fb(hdr, byte(3), 3), ErrTooMany, "graft has 3 ids, max 2"},
		{"graft count past end", Limits{}, fb(hdr, byte(3), 2, 1, "a", seq(1)), ErrTruncated, "2 ids need at least 20 bytes, 10 left"},
		{"graft origin too long", Limits{}, fb(hdr, byte(3), 1, 300, "a", seq(1)), ErrBadPeerID, "graft[0].origin is 300 bytes"},
		{"graft count not shortest", Limits{}, fb(hdr, byte(3), []byte{0x80, 0x00}), ErrBadVarint, "graft.count"},
		{"prune trailing", Limits{}, fb(hdr, byte(4), 0), ErrTrailing, "1 bytes after the prune message"},
		{"digest no flags", Limits{}, fb(hdr, byte(8)), ErrTruncated, "digest.flags needs 1 bytes"},
		{"digest unknown flags", Limits{}, fb(hdr, byte(8), byte(4), 0), ErrBadFlags, "digest flags 0x04"},
		{"digest too many streams", Limits{}, fb(hdr, byte(8), byte(0), core.MaxDigestStreams+1), ErrTooMany, "digest has 4097 streams, max 4096"},
		{"digest count past end", Limits{}, fb(hdr, byte(8), byte(0), 2, 1, "o", 0, 0, byte(0), 0), ErrTruncated, "2 streams need at least 12 bytes"},
		{"digest origin empty", Limits{}, fb(hdr, byte(8), byte(0), 1, 0, 0, 0, byte(0), 0, 0), ErrBadPeerID, "digest[0].origin is 0 bytes"},
		{"digest stream flags", Limits{}, fb(hdr, byte(8), byte(0), 1, 1, "o", 0, 0, byte(2), 0), ErrBadFlags, "digest stream 0 flags 0x02"},
		{"digest runs past end", Limits{}, fb(hdr, byte(8), byte(0), 1, 1, "o", 0, 0, byte(0), 3, 0, 0), ErrTruncated, "3 runs need at least 6 bytes"},
		{"digest run overflows", Limits{}, fb(hdr, byte(8), byte(0), 1, 1, "o", uint64(math.MaxUint64-1), 0, byte(0), 1, 5, 0), ErrBadRun, "overflows 64 bits"},
		{"digest run length overflows", Limits{}, fb(hdr, byte(8), byte(0), 1, 1, "o", 0, 0, byte(0), 1, 0, uint64(math.MaxUint64)), ErrBadRun, "overflows 64 bits"},
		{"digest newest too far", Limits{}, fb(hdr, byte(8), byte(0), 1, 1, "o", 0, uint64(1)<<60, byte(0), 0), ErrBadTime, "digest[0].newest"},
		{"digest too large", Limits{}, fb(hdr, byte(8), make([]byte, core.MaxDigestBytes+1)), ErrTooLarge, "digest is 65537 bytes"},
		{"gossip origin time too far", Limits{}, fb(gossipHdr(), 1, "a", seq(1), uint64(1)<<60, 1, 0, 0), ErrBadTime, "gossip.origin_time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m core.Message
			err := NewDecoder(tc.limits).Decode(tc.frame, &m)
			checkErr(t, err, tc.want, tc.detail)
		})
	}
	t.Run("nil message", func(t *testing.T) {
		checkErr(t, NewDecoder(Limits{}).Decode([]byte{Magic, Version, 4}, nil), ErrNilMessage, "nil message")
	})
}

func checkErr(t *testing.T, err, want error, detail string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Fatalf("error %v also wraps %v", err, s)
		}
	}
	if !strings.HasPrefix(err.Error(), "wire: ") || !strings.Contains(err.Error(), detail) {
		t.Fatalf("error %q, want the prefix \"wire: \" and %q", err, detail)
	}
}

func TestCheckHeader(t *testing.T) {
	tests := []struct {
		frame []byte
		want  error
	}{
		{nil, ErrTruncated},
		{[]byte{0x16}, ErrBadMagic},
		{[]byte{244, 1, 1}, ErrBadMagic}, // memberlist hasLabelMsg
		{[]byte{Magic}, ErrTruncated},
		{[]byte{Magic, 9}, ErrBadVersion},
		{[]byte{Magic, Version}, ErrTruncated},
		{[]byte{Magic, Version, 10}, ErrUnknownType},
		{[]byte{Magic, Version, 8, 0}, nil},
		{[]byte{Magic, Version, 9}, nil},
		{[]byte{Magic, Version, 1}, nil}, // the header is fine; the body is Decode's business
		{[]byte{Magic, Version, 4, 0xff}, nil},
	}
	for _, tc := range tests {
		if err := CheckHeader(tc.frame); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("CheckHeader(% x) = %v, want %v", tc.frame, err, tc.want)
		}
	}
}

// Every strict prefix of a valid frame is ErrTruncated.
func TestDecodePrefixesTruncated(t *testing.T) {
	d := NewDecoder(Limits{})
	var m core.Message
	for _, tc := range roundTripCases()[:6] {
		frame, err := AppendFrame(nil, &tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		for n := range len(frame) {
			if err := d.Decode(frame[:n], &m); !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s: prefix of %d/%d bytes: %v", tc.name, n, len(frame), err)
			}
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	long := core.PeerID(strings.Repeat("x", core.MaxPeerIDLen+1))
	ok := core.MessageID{Origin: "a", Seq: 1}
	tests := []struct {
		name   string
		msg    *core.Message
		want   error
		detail string
	}{
		{"nil", nil, ErrNilMessage, "nil"},
		{"type 0", &core.Message{}, ErrUnknownType, "message type is 0"},
		{"type 10", &core.Message{Type: 10}, ErrUnknownType, "message type is 10"},
		{"gossip empty origin", &core.Message{Type: core.MsgGossip}, ErrBadPeerID, "gossip.origin is 0 bytes"},
		{"gossip long origin", &core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: long}}, ErrBadPeerID, "is 256 bytes, want 1..255"},
		{"gossip 33 headers", &core.Message{Type: core.MsgGossip, ID: ok, Headers: make([]core.Header, 33)}, ErrTooMany, "gossip has 33 headers, max 32"},
		{"gossip header bytes", &core.Message{Type: core.MsgGossip, ID: ok, Headers: []core.Header{{Key: "k", Value: strings.Repeat("v", core.MaxHeaderBytes)}}}, ErrTooLarge, "gossip headers are 4097 bytes, max 4096"},
		{"gossip payload", &core.Message{Type: core.MsgGossip, ID: ok, Payload: make([]byte, core.MaxMessageSizeLimit+1)}, ErrTooLarge, "gossip payload is 16777217 bytes, max 16777216"},
		{"ihave 1025", &core.Message{Type: core.MsgIHave, IHaves: make([]core.Announcement, core.MaxIHaveBatch+1)}, ErrTooMany, "ihave has 1025 announcements, max 1024"},
		{"ihave empty origin", &core.Message{Type: core.MsgIHave, IHaves: []core.Announcement{{ID: ok}, {}}}, ErrBadPeerID, "ihave[1].origin is 0 bytes"},
		{"graft 1025", &core.Message{Type: core.MsgGraft, IDs: make([]core.MessageID, core.MaxGraftIDs+1)}, ErrTooMany, "graft has 1025 ids, max 1024"},
		{"graft long origin", &core.Message{Type: core.MsgGraft, IDs: []core.MessageID{{Origin: long}}}, ErrBadPeerID, "graft[0].origin is 256 bytes"},
		{"digest nil", &core.Message{Type: core.MsgDigest}, ErrNilMessage, "digest message without a digest"},
		{"digest run order", &core.Message{Type: core.MsgDigest, Digest: &core.Digest{Streams: []core.StreamDigest{{Origin: "o", Floor: 5, Runs: []core.SeqRange{{First: 5, Last: 6}}}}}}, ErrBadRun, "run 5..6 after 5"},
		{"digest empty origin", &core.Message{Type: core.MsgDigest, Digest: &core.Digest{Streams: []core.StreamDigest{{}}}}, ErrBadPeerID, "digest[0].origin is 0 bytes"},
		{"digest too large", &core.Message{Type: core.MsgDigest, Digest: digest(1000, 40)}, ErrTooLarge, "max 65536"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			out, err := AppendFrame(dst, tc.msg)
			checkErr(t, err, tc.want, tc.detail)
			if string(out) != "keep" {
				t.Fatalf("dst changed to %q", out)
			}
			out, _, err = AppendFrameHead(dst, tc.msg)
			checkErr(t, err, tc.want, tc.detail)
			if string(out) != "keep" {
				t.Fatalf("AppendFrameHead changed dst to %q", out)
			}
		})
	}
}

// Fields that do not belong to the type are not encoded.
func TestEncodeIgnoresOtherFields(t *testing.T) {
	m := core.Message{Type: core.MsgPrune, ID: id(1), Hops: 3, Payload: []byte("x"), IHaves: announcements(2), IDs: ids(2)}
	got, err := AppendFrame(nil, &m)
	if err != nil || !bytes.Equal(got, []byte{Magic, Version, 4}) {
		t.Fatalf("got % x, %v", got, err)
	}
	// The head of a type without payload is its whole frame, whatever
	// Payload holds (a longer one than the frame once made it panic).
	m.Payload = make([]byte, 100)
	if got, body, err := AppendFrameHead(nil, &m); err != nil || body != nil || !bytes.Equal(got, []byte{Magic, Version, 4}) {
		t.Fatalf("AppendFrameHead: got % x and a body of %d bytes, %v", got, len(body), err)
	}
}

func TestLimits(t *testing.T) {
	def := DefaultLimits()
	if def.MaxPayload != 64<<10 || def.MaxIHaves != core.MaxIHaveBatch || def.MaxIDs != core.MaxGraftIDs ||
		def.MaxHeaders != core.MaxHeaders || def.MaxHeaderBytes != core.MaxHeaderBytes || def.MaxInterned != DefaultMaxInterned {
		t.Fatalf("DefaultLimits = %+v", def)
	}
	if got := (Limits{}).normalized(); got != def {
		t.Fatalf("zero Limits normalize to %+v, want %+v", got, def)
	}
	over := Limits{MaxPayload: 1 << 30, MaxIHaves: 1 << 20, MaxIDs: 1 << 20, MaxHeaders: 100, MaxHeaderBytes: 1 << 20, MaxInterned: -1}
	want := Limits{MaxPayload: core.MaxMessageSizeLimit, MaxIHaves: core.MaxIHaveBatch, MaxIDs: core.MaxGraftIDs, MaxHeaders: core.MaxHeaders, MaxHeaderBytes: core.MaxHeaderBytes, MaxInterned: -1}
	if got := NewDecoder(over).Limits(); got != want {
		t.Fatalf("clamped %+v, want %+v", got, want)
	}
	cfg := core.WANConfig()
	cfg.MaxMessageSize = 1 << 20
	if got := LimitsFor(cfg); got.MaxPayload != 1<<20 || got.MaxIHaves != core.MaxIHaveBatch {
		t.Fatalf("LimitsFor = %+v", got)
	}
	var zero Decoder
	if zero.Limits() != def {
		t.Fatalf("zero Decoder limits %+v", zero.Limits())
	}
}

// MaxFrameSize is exact for the default limits: the largest frame is an
// IHave of 1024 announcements with 255-byte origins, maximal sequences and
// hop counts.
func TestMaxFrameSize(t *testing.T) {
	m := core.Message{Type: core.MsgIHave, IHaves: maxAnnouncements()}
	frame, err := AppendFrame(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	if got := DefaultLimits().MaxFrameSize(); got != len(frame) {
		t.Fatalf("MaxFrameSize = %d, largest IHave is %d bytes", got, len(frame))
	}
	if got := (Limits{MaxPayload: core.MaxMessageSizeLimit}).MaxFrameSize(); got < core.MaxMessageSizeLimit+4096 {
		t.Fatalf("MaxFrameSize with 16 MiB payloads = %d", got)
	}
}

func TestDecodeZeroDecoder(t *testing.T) {
	var d Decoder
	var m core.Message
	frame, _ := AppendFrame(nil, &core.Message{Type: core.MsgGossip, ID: id(1), Hops: 1, Payload: []byte("p")})
	if err := d.Decode(frame, &m); err != nil || string(m.Payload) != "p" {
		t.Fatalf("zero Decoder: %v, %+v", err, m)
	}
}

// Payload aliases the frame with its capacity capped, so appending to it
// never writes into the frame.
func TestPayloadAliasesFrame(t *testing.T) {
	frame, _ := AppendFrame(nil, &core.Message{Type: core.MsgGossip, ID: id(1), Hops: 1, Payload: []byte("abc")})
	frame = append(frame, "rest-of-buffer"...)[:len(frame)]
	var m core.Message
	if err := NewDecoder(Limits{}).Decode(frame, &m); err != nil {
		t.Fatal(err)
	}
	if &m.Payload[0] != &frame[len(frame)-3] {
		t.Fatal("payload does not alias the frame")
	}
	if cap(m.Payload) != len(m.Payload) {
		t.Fatalf("payload cap %d, len %d", cap(m.Payload), len(m.Payload))
	}
	_ = append(m.Payload, 'X')
	if frame[:len(frame)+1][len(frame)] != 'r' {
		t.Fatal("append to the payload wrote past it")
	}
}

// Decoding into a used Message overwrites every field and reuses slices.
func TestDecodeReusesMessage(t *testing.T) {
	d := NewDecoder(Limits{})
	big, _ := AppendFrame(nil, &core.Message{Type: core.MsgIHave, IHaves: announcements(64)})
	small := core.Message{Type: core.MsgIHave, IHaves: announcements(3)}
	smallFrame, _ := AppendFrame(nil, &small)
	gossip := core.Message{Type: core.MsgGossip, ID: id(9), Hops: 4, Payload: []byte("x"), Headers: []core.Header{{Key: "a", Value: "b"}}}
	gossipFrame, _ := AppendFrame(nil, &gossip)

	var m core.Message
	if err := d.Decode(big, &m); err != nil {
		t.Fatal(err)
	}
	backing := &m.IHaves[:1][0]
	if err := d.Decode(gossipFrame, &m); err != nil || !equalMsg(&m, &gossip) || len(m.IHaves) != 0 {
		t.Fatalf("gossip after ihave: %v %+v", err, m)
	}
	if err := d.Decode(smallFrame, &m); err != nil || !equalMsg(&m, &small) {
		t.Fatalf("ihave after gossip: %v %+v", err, m)
	}
	if &m.IHaves[0] != backing {
		t.Fatal("IHaves were reallocated")
	}
	if m.Payload != nil || len(m.Headers) != 0 || m.Hops != 0 || !m.ID.IsZero() {
		t.Fatalf("stale gossip fields: %+v", m)
	}
}

func TestIntern(t *testing.T) {
	d := NewDecoder(Limits{MaxInterned: 4})
	var m core.Message
	decodeOrigin := func(o core.PeerID) core.PeerID {
		t.Helper()
		f, err := AppendFrame(nil, &core.Message{Type: core.MsgGraft, IDs: []core.MessageID{{Origin: o, Seq: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Decode(f, &m); err != nil {
			t.Fatal(err)
		}
		return m.IDs[0].Origin
	}
	a1, _, a2 := decodeOrigin("alpha"), decodeOrigin("beta"), decodeOrigin("alpha")
	if a1 != "alpha" || unsafe.StringData(string(a1)) != unsafe.StringData(string(a2)) {
		t.Fatal("the same origin was not interned")
	}
	for i := range 10 {
		decodeOrigin(peer(i))
		if len(d.peers) > 4 {
			t.Fatalf("intern table has %d entries, bound 4", len(d.peers))
		}
	}
	// Disabled interning still decodes.
	d = NewDecoder(Limits{MaxInterned: -1})
	if decodeOrigin("gamma") != "gamma" || d.peers != nil {
		t.Fatal("interning disabled")
	}
}

func TestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	gossip := core.Message{Type: core.MsgGossip, ID: id(1), Hops: 2, Payload: make([]byte, 1024)}
	traced := gossip
	traced.Headers = []core.Header{{Key: "traceparent", Value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	tests := []struct {
		name       string
		msg        core.Message
		wantDecode float64
	}{
		{"gossip", gossip, 0},
		{"gossip with headers", traced, 1},
		{"ihave", core.Message{Type: core.MsgIHave, IHaves: announcements(16)}, 0},
		{"graft", core.Message{Type: core.MsgGraft, IDs: ids(16)}, 0},
		{"prune", core.Message{Type: core.MsgPrune}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, 0, 4096)
			if n := testing.AllocsPerRun(100, func() { buf, _ = AppendFrame(buf[:0], &tc.msg) }); n != 0 {
				t.Errorf("AppendFrame into a reused buffer: %v allocs", n)
			}
			d := NewDecoder(Limits{})
			var m core.Message
			if err := d.Decode(buf, &m); err != nil { // warm the intern table and m
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(100, func() { _ = d.Decode(buf, &m) }); n != tc.wantDecode {
				t.Errorf("Decode: %v allocs, want %v", n, tc.wantDecode)
			}
		})
	}
}

// Hostile frames (large counts, long lengths, no bytes behind them) cost at
// most a small multiple of their own size.
func TestDecodeHostileAllocBound(t *testing.T) {
	if testing.Short() {
		t.Skip("memory statistics")
	}
	frames := [][]byte{
		fb(hdr, byte(2), 1024, make([]byte, 1024*minAnnouncementLen)),
		fb(hdr, byte(3), 1024, make([]byte, 1024*minIDLen)),
		fb(hdr, byte(1), 1, "a", seq(1), 1, 32, make([]byte, 64)),
		fb(hdr, byte(1), 1, "a", seq(1), 1, 0, 1<<24),
		fb(hdr, byte(1), 1, "a", seq(1), 1, 0, uint64(math.MaxUint64)),
		fb(hdr, byte(2), uint64(math.MaxUint64)),
		fb(hdr, byte(1), 255, strings.Repeat("z", 255)),
	}
	for i, f := range frames {
		d := NewDecoder(Limits{MaxPayload: core.MaxMessageSizeLimit})
		const runs = 50
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			var m core.Message
			_ = d.Decode(f, &m)
		}
		runtime.ReadMemStats(&after)
		per := (after.TotalAlloc - before.TotalAlloc) / runs
		if bound := uint64(16*len(f) + 1024); per > bound {
			t.Errorf("frame %d (%d bytes): %d bytes allocated per decode, bound %d", i, len(f), per, bound)
		}
	}
}
