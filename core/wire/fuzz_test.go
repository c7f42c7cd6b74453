package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/plumtree-go/plumtree/core"
)

// seedFrames returns valid frames of every type plus a few broken ones.
func seedFrames(f *testing.F) [][]byte {
	msgs := []core.Message{
		{Type: core.MsgGossip, ID: id(1), Hops: 1, Payload: []byte("hello")},
		{Type: core.MsgGossip, ID: id(2), Hops: 300, Payload: bytes.Repeat([]byte{7}, 100), Headers: []core.Header{
			{Key: "traceparent", Value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, {Key: "", Value: "x"},
		}},
		{Type: core.MsgGossip, ID: maxID(), Hops: 65535},
		{Type: core.MsgIHave},
		{Type: core.MsgIHave, IHaves: announcements(5)},
		{Type: core.MsgGraft},
		{Type: core.MsgGraft, IDs: ids(4)},
		{Type: core.MsgGraft, IDs: []core.MessageID{maxID()}},
		{Type: core.MsgPrune},
		{Type: core.MsgJoin, Eager: true},
		{Type: core.MsgJoinReply, Accepted: true, Urgent: false},
		{Type: core.MsgDisconnect},
		{Type: core.MsgRepair, ID: id(3), OriginTime: time.UnixMilli(1_763_000_000_000), Hops: 2, Payload: []byte("r")},
		{Type: core.MsgDigest, Digest: &core.Digest{AllStreams: true}},
		{Type: core.MsgDigest, Digest: digest(3, 4)},
	}
	var frames [][]byte
	for _, m := range msgs {
		fr, err := AppendFrame(nil, &m)
		if err != nil {
			f.Fatal(err)
		}
		frames = append(frames, fr)
	}
	frames = append(frames,
		nil,
		[]byte{0x16, 3, 1},
		[]byte{Magic, Version, 2, 0x80, 0x08},
		[]byte{Magic, Version, 1, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0},
	)
	return frames
}

// sizes of the element types, for the allocation bound.
const (
	annSize    = int(unsafe.Sizeof(core.Announcement{}))
	msgIDSize  = int(unsafe.Sizeof(core.MessageID{}))
	headerSize = int(unsafe.Sizeof(core.Header{}))
	streamSize = int(unsafe.Sizeof(core.StreamDigest{}))
	runSize    = int(unsafe.Sizeof(core.SeqRange{}))
)

// FuzzDecode: Decode never panics; every error wraps one sentinel and
// starts with "wire: "; what it accepts passes CheckHeader, re-encodes to
// the same bytes (canonical form), decodes again to an equal message and
// decodes the same into a used Message; the slices it allocates are bounded
// by a multiple of the frame's size; tighter limits accept a subset.
func FuzzDecode(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr)
	}
	d := NewDecoder(Limits{})
	tight := NewDecoder(Limits{MaxPayload: 64, MaxIHaves: 3, MaxIDs: 3, MaxHeaders: 2, MaxHeaderBytes: 40, MaxInterned: 2})
	var reused core.Message
	f.Fuzz(func(t *testing.T, frame []byte) {
		var m core.Message
		err := d.Decode(frame, &m)
		var mt core.Message
		errTight := tight.Decode(frame, &mt)
		if errTight == nil && err != nil {
			t.Fatalf("tight limits accept what default limits reject: %v", err)
		}
		if err != nil {
			checkSentinel(t, err)
			if errTight != nil {
				checkSentinel(t, errTight)
			}
			return
		}
		if errTight == nil && !equalMsg(&m, &mt) {
			t.Fatalf("decoders disagree: %+v vs %+v", m, mt)
		}
		if err := CheckHeader(frame); err != nil {
			t.Fatalf("Decode accepted a frame CheckHeader rejects: %v", err)
		}
		// Allocation bound: the slices Decode made for a fresh Message and
		// the header string are proportional to the frame.
		alloc := cap(m.IHaves)*annSize + cap(m.IDs)*msgIDSize + cap(m.Headers)*headerSize
		if m.Digest != nil {
			alloc += cap(m.Digest.Streams) * streamSize
			for _, e := range m.Digest.Streams {
				alloc += cap(e.Runs) * runSize
			}
		}
		for _, h := range m.Headers {
			alloc += len(h.Key) + len(h.Value)
		}
		if alloc > 16*len(frame) {
			t.Fatalf("decoded %d bytes of slices from a %d-byte frame", alloc, len(frame))
		}
		enc, err := AppendFrame(nil, &m)
		if err != nil {
			t.Fatalf("re-encoding a decoded message: %v", err)
		}
		if !bytes.Equal(enc, frame) {
			t.Fatalf("not canonical:\n in % x\nout % x", frame, enc)
		}
		var m2 core.Message
		if err := d.Decode(enc, &m2); err != nil || !equalMsg(&m, &m2) {
			t.Fatalf("decode→encode→decode: %v, %+v vs %+v", err, m, m2)
		}
		if err := d.Decode(frame, &reused); err != nil || !equalMsg(&m, &reused) {
			t.Fatalf("decoding into a used Message: %v, %+v vs %+v", err, m, reused)
		}
	})
}

func checkSentinel(t *testing.T, err error) {
	t.Helper()
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 || !strings.HasPrefix(err.Error(), "wire: ") {
		t.Fatalf("error %q wraps %d sentinels", err, n)
	}
}

// FuzzCheckHeader: CheckHeader never panics and accepts exactly the frames
// whose first three bytes are Magic, Version and a known type.
func FuzzCheckHeader(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		err := CheckHeader(frame)
		ok := len(frame) >= 3 && frame[0] == Magic && frame[1] == Version && frame[2] >= 1 && frame[2] <= byte(core.MsgRepair)
		if ok != (err == nil) {
			t.Fatalf("CheckHeader(% x) = %v", frame, err)
		}
		if err != nil {
			checkSentinel(t, err)
		}
	})
}

// FuzzAppendFrame: the encoder side. A message built from fuzz input either
// encodes and decodes back equal under the widest limits, or is refused with
// one sentinel and dst untouched.
func FuzzAppendFrame(f *testing.F) {
	f.Add(uint8(1), "origin", uint64(1), uint16(1), "traceparent", "v", []byte("payload"), uint8(1))
	f.Add(uint8(2), "o", uint64(1<<63), uint16(65535), "", "", []byte{}, uint8(20))
	f.Add(uint8(3), "node-1", uint64(0), uint16(0), "", "", []byte(nil), uint8(0))
	f.Add(uint8(4), "", uint64(0), uint16(0), "", "", []byte(nil), uint8(0))
	f.Add(uint8(0), "", uint64(0), uint16(0), "", "", []byte(nil), uint8(0))
	f.Add(uint8(5), "", uint64(0), uint16(3), "", "", []byte(nil), uint8(0))
	f.Add(uint8(6), "", uint64(0), uint16(5), "", "", []byte(nil), uint8(0))
	f.Add(uint8(7), "", uint64(0), uint16(0), "", "", []byte(nil), uint8(0))
	f.Add(uint8(8), "o", uint64(1_763_000_000_000), uint16(3), "", "", []byte(nil), uint8(4))
	f.Add(uint8(9), "o", uint64(1_763_000_000_000), uint16(3), "", "", []byte("r"), uint8(1))
	d := NewDecoder(Limits{MaxPayload: core.MaxMessageSizeLimit})
	f.Fuzz(func(t *testing.T, typ uint8, origin string, seq uint64, hops uint16, key, value string, payload []byte, n uint8) {
		mid := core.MessageID{Origin: core.PeerID(origin), Seq: seq}
		// An origin time derived from seq: the zero time, or any millisecond
		// the wire carries.
		var ot time.Time
		if ms := int64(seq % (maxTimeMillis + 1)); ms > 0 {
			ot = time.UnixMilli(ms)
		}
		m := core.Message{Type: core.MessageType(typ), ID: mid, OriginTime: ot, Hops: hops, Payload: payload,
			Eager: hops&1 != 0, Urgent: hops&2 != 0, Accepted: hops&4 != 0}
		dg := &core.Digest{AllStreams: n%2 == 1, Reply: hops%2 == 1}
		for i := range int(n) {
			m.Headers = append(m.Headers, core.Header{Key: key, Value: value})
			m.IHaves = append(m.IHaves, core.Announcement{ID: core.MessageID{Origin: mid.Origin, Seq: seq + uint64(i)}, Hops: hops, OriginTime: ot})
			m.IDs = append(m.IDs, core.MessageID{Origin: mid.Origin, Seq: seq ^ uint64(i)})
			// Streams with i runs spaced by hops (a zero spacing or a
			// wrap-around makes an invalid digest, which must be refused).
			e := core.StreamDigest{Origin: mid.Origin, Floor: seq, Newest: ot, Complete: i%2 == 0}
			next := seq
			for range i {
				next += uint64(hops)
				e.Runs = append(e.Runs, core.SeqRange{First: next, Last: next})
			}
			dg.Streams = append(dg.Streams, e)
		}
		if m.Type == core.MsgDigest {
			m.Digest = dg
		}
		dst := []byte{1, 2}
		frame, err := AppendFrame(dst, &m)
		if err != nil {
			checkSentinel(t, err)
			if len(frame) != 2 {
				t.Fatalf("dst changed on error %v", err)
			}
			return
		}
		frame = frame[2:]
		head, body, err := AppendFrameHead(nil, &m)
		if err != nil {
			t.Fatalf("AppendFrameHead: %v", err)
		}
		if !bytes.Equal(append(head, body...), frame) {
			t.Fatal("head ‖ body differs from the frame")
		}
		var got core.Message
		if err := d.Decode(frame, &got); err != nil {
			t.Fatalf("decoding an encoded message: %v", err)
		}
		want := core.Message{Type: m.Type}
		switch m.Type {
		case core.MsgGossip, core.MsgRepair:
			want.ID, want.OriginTime, want.Hops, want.Payload, want.Headers = m.ID, m.OriginTime, m.Hops, m.Payload, m.Headers
		case core.MsgDigest:
			want.Digest = m.Digest
		case core.MsgIHave:
			want.IHaves = m.IHaves
		case core.MsgGraft:
			want.IDs = m.IDs
		case core.MsgJoin:
			want.Eager, want.Urgent = m.Eager, m.Urgent
		case core.MsgJoinReply:
			want.Eager, want.Accepted = m.Eager, m.Accepted
		}
		if !equalMsg(&got, &want) {
			t.Fatalf("round trip: %+v, want %+v", got, want)
		}
	})
}
