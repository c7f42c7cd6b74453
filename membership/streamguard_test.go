package membership

import (
	"bytes"
	"compress/lzw"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// guardFeed writes msg to a pipe checked by g and returns what g handed on
// (nil when refused) and, if accepted, the bytes memberlist would read.
func guardFeed(t *testing.T, g *streamGuard, msg []byte) (net.Conn, []byte) {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close() })
	go func() { _, _ = client.Write(msg) }()
	gc := g.check(server)
	if gc == nil {
		return nil, nil
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(gc, got); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return gc, got
}

// newTestGuard is a guard whose read deadline no test reaches on a slow,
// loaded machine (reading 17 MB through a net.Pipe took more than 5 s in
// a CI run): tests of the deadline set their own.
func newTestGuard(l StreamLimits) *streamGuard {
	g := newStreamGuard(l, slog.New(slog.DiscardHandler))
	g.readTimeout = func() time.Duration { return 2 * time.Minute }
	return g
}

// pushPull encodes a push/pull header with nodes nil entries.
func pushPull(nodes uint32) []byte {
	b := []byte{6, 0x83, 0xa5, 'N', 'o', 'd', 'e', 's', 0xce}
	b = binary.BigEndian.AppendUint32(b, nodes)
	b = append(b, 0xac, 'U', 's', 'e', 'r', 'S', 't', 'a', 't', 'e', 'L', 'e', 'n', 0x00, 0xa4, 'J', 'o', 'i', 'n', 0xc2)
	return b
}

func compressed(_ testing.TB, inner []byte) []byte {
	var buf bytes.Buffer
	w := lzw.NewWriter(&buf, lzw.LSB, 8)
	w.Write(inner)
	w.Close()
	// {"Algo": 0, "Buf": <bin32>}
	b := []byte{9, 0x82, 0xa4, 'A', 'l', 'g', 'o', 0x00, 0xa3, 'B', 'u', 'f', 0xc6}
	b = binary.BigEndian.AppendUint32(b, uint32(buf.Len()))
	return append(b, buf.Bytes()...)
}

func encrypted(_ testing.TB, key, inner, label []byte) []byte {
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	n := 1 + 12 + len(inner) + 16
	head := []byte{10}
	head = binary.BigEndian.AppendUint32(head, uint32(n))
	aad := append(append([]byte(nil), head...), label...)
	nonce := make([]byte, 12)
	out := append(append([]byte(nil), head...), 1)
	out = append(out, nonce...)
	return gcm.Seal(out, nonce, inner, aad)
}

func TestStreamGuard(t *testing.T) {
	key := []byte("0123456789abcdef")
	ping := []byte{0, 0x81, 0xa5, 'S', 'e', 'q', 'N', 'o', 0x01}
	small := append(pushPull(2), 0xc0, 0xc0)
	label := append([]byte{244, 3}, "lab"...)
	for _, tc := range []struct {
		name string
		msg  []byte
		want error // nil: accepted
	}{
		{"ping", ping, nil},
		{"small push/pull", small, nil},
		{"labelled", append(append([]byte(nil), label...), small...), nil},
		{"compressed", compressed(t, small), nil},
		{"encrypted", encrypted(t, key, small, nil), nil},
		{"encrypted compressed labelled", append(append([]byte(nil), label...), encrypted(t, key, compressed(t, small), []byte("lab"))...), nil},
		{"2^20 nodes", pushPull(1 << 20), errGuardNodes},
		{"2^20 nodes compressed", compressed(t, pushPull(1<<20)), errGuardNodes},
		{"2^20 nodes encrypted", encrypted(t, key, compressed(t, pushPull(1<<20)), nil), errGuardNodes},
		{"wrong key", encrypted(t, []byte("fedcba9876543210"), small, nil), errGuardDecrypt},
		{"label not authenticated", append(append([]byte(nil), label...), encrypted(t, key, small, nil)...), errGuardDecrypt},
		{"4 GiB string in a ping", []byte{0, 0x81, 0xa4, 'N', 'o', 'd', 'e', 0xdb, 0xff, 0xff, 0xff, 0xff}, errGuardSize},
		{"user message 20 MiB", []byte{8, 0x81, 0xaa, 'U', 's', 'e', 'r', 'M', 's', 'g', 'L', 'e', 'n', 0xce, 0x01, 0x40, 0, 0}, errGuardSize},
		{"huge array in a node", append(pushPull(1), 0xdd, 0xff, 0xff, 0xff, 0xff), errGuardSize},
		{"unknown type", []byte{42, 1, 2, 3}, errGuardFormat},
		{"nodes as a float", []byte{6, 0x81, 0xa5, 'N', 'o', 'd', 'e', 's', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0}, errGuardFormat},
		{"repeated key hides nothing", []byte{6, 0x82, 0xa5, 'N', 'o', 'd', 'e', 's', 0x00, 0xa5, 'N', 'o', 'd', 'e', 's', 0xce, 0, 0x10, 0, 0}, errGuardNodes},
		{"header as an array", []byte{6, 0x93, 0xce, 0, 0x10, 0, 0, 0x00, 0xc2}, errGuardNodes},
		{"truncated", pushPull(3), errGuardFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newTestGuard(StreamLimits{})
			g.keys = func() [][]byte { return [][]byte{key} }
			if tc.name == "truncated" {
				// The rest never comes: refused at the read deadline.
				g.readTimeout = func() time.Duration { return 200 * time.Millisecond }
			}
			gc, got := guardFeed(t, g, tc.msg)
			if tc.want == nil {
				if gc == nil {
					t.Fatalf("refused (refused %d, format %d, size %d, nodes %d, decrypt %d)", g.refused.Load(),
						g.refusedFormat.Load(), g.refusedSize.Load(), g.refusedNodes.Load(), g.refusedDecrypt.Load())
				}
				if !bytes.Equal(got, tc.msg) {
					t.Fatal("memberlist would not read the bytes sent")
				}
				if g.streams.Load() != 1 || g.buffered.Load() <= 0 {
					t.Fatalf("open %d, bytes %d while memberlist holds the stream", g.streams.Load(), g.buffered.Load())
				}
				gc.Close()
				gc.Close()
			} else {
				if gc != nil {
					t.Fatal("accepted")
				}
				var c *uint64
				switch {
				case errors.Is(tc.want, errGuardNodes):
					c = ptr(g.refusedNodes.Load())
				case errors.Is(tc.want, errGuardSize):
					c = ptr(g.refusedSize.Load())
				case errors.Is(tc.want, errGuardDecrypt):
					c = ptr(g.refusedDecrypt.Load())
				default:
					c = ptr(g.refusedFormat.Load())
				}
				if *c != 1 || g.refused.Load() != 1 {
					t.Fatalf("refusal counted %d (total %d), want 1 as %v", *c, g.refused.Load(), tc.want)
				}
			}
			if g.streams.Load() != 0 || g.buffered.Load() != 0 {
				t.Fatalf("after close: open %d, bytes %d", g.streams.Load(), g.buffered.Load())
			}
		})
	}
}

func ptr(v uint64) *uint64 { return &v }

func TestStreamGuardLimits(t *testing.T) {
	small := append(pushPull(2), 0xc0, 0xc0)
	// One stream at a time: the second is refused while the first is open.
	g := newTestGuard(StreamLimits{MaxStreams: 1})
	first, _ := guardFeed(t, g, small)
	if first == nil {
		t.Fatal("first refused")
	}
	if gc, _ := guardFeed(t, g, small); gc != nil || g.refusedBusy.Load() != 1 {
		t.Fatalf("second stream: accepted=%v busy=%d", gc != nil, g.refusedBusy.Load())
	}
	first.Close()
	if gc, _ := guardFeed(t, g, small); gc == nil {
		t.Fatal("refused after the first closed")
	} else {
		gc.Close()
	}

	// The byte budget: 100 nodes cost 12,800 bytes of the 10,000 allowed.
	g = newTestGuard(StreamLimits{MaxBufferedBytes: 10000})
	msg := pushPull(100)
	for range 100 {
		msg = append(msg, 0xc0)
	}
	if gc, _ := guardFeed(t, g, msg); gc != nil || g.refusedBusy.Load() != 1 || g.buffered.Load() != 0 {
		t.Fatalf("over budget: accepted=%v busy=%d held=%d", gc != nil, g.refusedBusy.Load(), g.buffered.Load())
	}

	// The node bound follows the member count.
	g = newTestGuard(StreamLimits{MaxPushPullNodes: 1000})
	g.known = func() int { return 10 }
	msg = pushPull(277) // 2*10+256 = 276
	for range 277 {
		msg = append(msg, 0xc0)
	}
	if gc, _ := guardFeed(t, g, msg); gc != nil || g.refusedNodes.Load() != 1 {
		t.Fatalf("277 nodes with 10 members: accepted=%v", gc != nil)
	}
	g.known = func() int { return 400 }
	if gc, _ := guardFeed(t, g, msg); gc == nil {
		t.Fatal("277 nodes with 400 members refused")
	} else {
		gc.Close()
	}

	// Shutdown closes the streams being read.
	g = newTestGuard(StreamLimits{})
	client, server := net.Pipe()
	defer client.Close()
	done := make(chan net.Conn)
	go func() { done <- g.check(server) }()
	client.Write([]byte{6}) // then nothing: the guard waits for the header
	g.shutdown()
	if gc := <-done; gc != nil {
		t.Fatal("accepted during shutdown")
	}
}

// FuzzStreamGuard: any bytes are accepted and replayed unchanged, or
// refused and counted; never a panic, never more held than the limits.
func FuzzStreamGuard(f *testing.F) {
	key := []byte("0123456789abcdef")
	f.Add(append(pushPull(2), 0xc0, 0xc0))
	f.Add(compressed(nil, append(pushPull(1), 0xc0)))
	f.Add(encrypted(nil, key, append(pushPull(1), 0xc0), nil))
	f.Add([]byte{0, 0x81, 0xa4, 'N', 'o', 'd', 'e', 0xa1, 'x'})
	f.Add(pushPull(1 << 20))
	f.Fuzz(func(t *testing.T, msg []byte) {
		g := newTestGuard(StreamLimits{MaxStreamBytes: 1 << 16, MaxBufferedBytes: 1 << 20})
		g.keys = func() [][]byte { return [][]byte{key} }
		client, server := net.Pipe()
		go func() {
			_, _ = client.Write(msg)
			_ = client.Close() // EOF: a message cut short is refused at once
		}()
		gc := g.check(server)
		if gc != nil {
			if g.buffered.Load() > 1<<20 {
				t.Fatalf("holds %d bytes", g.buffered.Load())
			}
			got, _ := io.ReadAll(gc)
			if !bytes.Equal(got, msg) {
				t.Fatalf("replayed %x, sent %x", got, msg)
			}
			gc.Close()
		} else if g.refused.Load() != 1 {
			t.Fatalf("refused %d", g.refused.Load())
		}
		if g.streams.Load() != 0 || g.buffered.Load() != 0 {
			t.Fatalf("after close: open %d, bytes %d", g.streams.Load(), g.buffered.Load())
		}
	})
}

// memberEntry encodes a push/pull node entry the size memberlist gives a
// member with a name of nameLen bytes and metaLen bytes of metadata: about
// 120 bytes of fields besides them.
func memberEntry(nameLen, metaLen int) []byte {
	b := []byte{0x87, 0xa4, 'N', 'a', 'm', 'e', 0xd9, byte(nameLen)}
	b = append(b, bytes.Repeat([]byte{'n'}, nameLen)...)
	b = append(b, 0xa4, 'A', 'd', 'd', 'r', 0xc4, 16)
	b = append(b, make([]byte, 16)...)
	b = append(b, 0xa4, 'P', 'o', 'r', 't', 0xcd, 0x1e, 0xd2)
	b = append(b, 0xa4, 'M', 'e', 't', 'a', 0xc5)
	b = binary.BigEndian.AppendUint16(b, uint16(metaLen))
	b = append(b, make([]byte, metaLen)...)
	b = append(b, 0xab, 'I', 'n', 'c', 'a', 'r', 'n', 'a', 't', 'i', 'o', 'n', 0xce, 0, 0, 0, 7)
	b = append(b, 0xa5, 'S', 't', 'a', 't', 'e', 0x00)
	// Vsn (6 bytes in memberlist) pads the fields to 120 bytes.
	vsn := 120 - (len(b) - nameLen - metaLen) - 6
	b = append(b, 0xa3, 'V', 's', 'n', 0xc4, byte(vsn))
	return append(b, make([]byte, vsn)...)
}

// A large cluster's full-state exchange is larger than MaxStreamBytes: the
// stream bound grows with the nodes a push/pull may announce, the user
// message bound does not, and a small cluster keeps MaxStreamBytes.
func TestStreamGuardLargeClusterPushPull(t *testing.T) {
	entry := memberEntry(255, 40)
	if len(entry) < 370 || len(entry) > 420 {
		t.Fatalf("entry of %d bytes, want about 120 + 255 + 40", len(entry))
	}
	msg := func(nodes int, e []byte) []byte {
		b := pushPull(uint32(nodes))
		for range nodes {
			b = append(b, e...)
		}
		return b
	}
	big := msg(12000, entry) // about 4.6 MB
	if len(big) <= DefaultMaxStreamBytes {
		t.Fatalf("push/pull of %d bytes fits the default limit: the test shows nothing", len(big))
	}

	g := newTestGuard(StreamLimits{})
	g.known = func() int { return 11000 }
	gc, got := guardFeed(t, g, big)
	if gc == nil {
		t.Fatalf("12,000 members with 255-byte names refused in a cluster of 11,000 (size %d, nodes %d)", g.refusedSize.Load(), g.refusedNodes.Load())
	}
	if !bytes.Equal(got, big) {
		t.Fatal("memberlist would not read the bytes sent")
	}
	if held := g.buffered.Load(); held < int64(len(big)) {
		t.Fatalf("%d bytes held for a push/pull of %d: the guard did not check it whole", held, len(big))
	}
	gc.Close()

	// The same cluster still bounds a stream by 1 KiB per node it may
	// announce (16,384 at most: 16 MiB) ...
	over := msg(16000, memberEntry(255, 700))
	if gc, _ := guardFeed(t, g, over); gc != nil || g.refusedSize.Load() != 1 {
		t.Fatalf("push/pull of %d bytes: accepted=%v size refusals %d", len(over), gc != nil, g.refusedSize.Load())
	}
	// ... and a user message by MaxStreamBytes.
	user := []byte{8, 0x81, 0xaa, 'U', 's', 'e', 'r', 'M', 's', 'g', 'L', 'e', 'n', 0xce, 0x00, 0x50, 0, 0} // 5 MiB
	user = append(user, make([]byte, 5<<20)...)
	if gc, _ := guardFeed(t, g, user); gc != nil || g.refusedSize.Load() != 2 {
		t.Fatalf("5 MiB user message: accepted=%v size refusals %d", gc != nil, g.refusedSize.Load())
	}
	if g.buffered.Load() != 0 || g.streams.Load() != 0 {
		t.Fatalf("after the streams: %d bytes, %d streams held", g.buffered.Load(), g.streams.Load())
	}

	// A cluster of 1,000 may announce 2,256 nodes: MaxStreamBytes holds.
	g = newTestGuard(StreamLimits{})
	g.known = func() int { return 1000 }
	if gc, _ := guardFeed(t, g, msg(2200, memberEntry(255, 1800))); gc != nil || g.refusedSize.Load() != 1 {
		t.Fatalf("small cluster, push/pull over 4 MiB: accepted=%v", gc != nil)
	}
}
