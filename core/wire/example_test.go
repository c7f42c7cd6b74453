package wire_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/wire"
)

// Encode a Gossip into a reused buffer.
func ExampleAppendFrame() {
	m := core.Message{
		Type:       core.MsgGossip,
		ID:         core.MessageID{Origin: "a", Seq: 300},
		OriginTime: time.UnixMilli(1_700_000_000_000),
		Hops:       1,
		Payload:    []byte("hi"),
	}
	buf := make([]byte, 0, 64) // keep and reuse: AppendFrame(buf[:0], ...)
	buf, err := wire.AppendFrame(buf[:0], &m)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("% x\n", buf)
	// Output:
	// b7 03 01 01 61 00 00 00 00 00 00 01 2c 80 d0 95 ff bc 31 01 00 00 02 68 69
}

// Decode frames with one Decoder and one reused Message.
func ExampleDecoder_Decode() {
	cfg := core.DefaultConfig()
	d := wire.NewDecoder(wire.LimitsFor(cfg))

	frame, _ := wire.AppendFrame(nil, &core.Message{
		Type: core.MsgIHave,
		IHaves: []core.Announcement{
			{ID: core.MessageID{Origin: "node-1", Seq: 7}, Hops: 2},
			{ID: core.MessageID{Origin: "node-2", Seq: 9}, Hops: 1},
		},
	})
	var m core.Message
	if err := d.Decode(frame, &m); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Type, len(frame), "bytes")
	for _, a := range m.IHaves {
		fmt.Println(a.ID, "hops", a.Hops)
	}
	// Output:
	// ihave 38 bytes
	// node-1/7 hops 2
	// node-2/9 hops 1
}

// Every violation is a typed error with its detail.
func ExampleDecoder_Decode_limits() {
	d := wire.NewDecoder(wire.Limits{MaxPayload: 4})
	frame, _ := wire.AppendFrame(nil, &core.Message{
		Type: core.MsgGossip, ID: core.MessageID{Origin: "a", Seq: 1}, Hops: 1, Payload: []byte("too long"),
	})
	var m core.Message
	err := d.Decode(frame, &m)
	fmt.Println(errors.Is(err, wire.ErrTooLarge))
	fmt.Println(err)
	// Output:
	// true
	// wire: too large: gossip payload is 8 bytes, max 4
}

// A transport that shares one port tells frames from memberlist streams and
// TLS by the first byte.
func ExampleCheckHeader() {
	for _, first := range [][]byte{
		{wire.Magic, wire.Version, byte(core.MsgPrune)},
		{0x16, 0x03, 0x01}, // TLS handshake record
		{6},                // memberlist pushPullMsg
		{wire.Magic, 4, 1}, // a future version
	} {
		fmt.Println(wire.CheckHeader(first))
	}
	// Output:
	// <nil>
	// wire: bad magic byte: first byte is 0x16, want 0xb7
	// wire: bad magic byte: first byte is 0x06, want 0xb7
	// wire: unsupported version: version is 4, want 3
}
