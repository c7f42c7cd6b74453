package wire

import (
	"testing"

	"github.com/plumtree-go/plumtree/core"
)

// benchGossip is a 1 KiB Gossip as the runtime sends it: a realistic origin
// name, a UnixNano-based sequence, hop 3, no headers.
func benchGossip() core.Message {
	return core.Message{
		Type:    core.MsgGossip,
		ID:      core.MessageID{Origin: "node-0042.dc1.example", Seq: 1_763_000_000_123_456_789},
		Hops:    3,
		Payload: make([]byte, 1024),
	}
}

// benchIHave is an IHave of 16 announcements (the default ihave_batch_size)
// from 7 origins.
func benchIHave() core.Message {
	return core.Message{Type: core.MsgIHave, IHaves: announcements(16)}
}

func benchEncode(b *testing.B, m core.Message) {
	buf, err := AppendFrame(nil, &m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendFrame(buf[:0], &m)
	}
}

func benchDecode(b *testing.B, m core.Message) {
	frame, err := AppendFrame(nil, &m)
	if err != nil {
		b.Fatal(err)
	}
	d := NewDecoder(DefaultLimits())
	var out core.Message
	if err := d.Decode(frame, &out); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(frame, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeGossip1KiB(b *testing.B) { benchEncode(b, benchGossip()) }
func BenchmarkDecodeGossip1KiB(b *testing.B) { benchDecode(b, benchGossip()) }

// With a W3C traceparent header, as tracing-otel sends it: decoding costs
// one string for the headers.
func BenchmarkDecodeGossip1KiBTraceparent(b *testing.B) {
	m := benchGossip()
	m.Headers = []core.Header{{Key: "traceparent", Value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	benchDecode(b, m)
}

func BenchmarkEncodeIHave16(b *testing.B) { benchEncode(b, benchIHave()) }
func BenchmarkDecodeIHave16(b *testing.B) { benchDecode(b, benchIHave()) }
