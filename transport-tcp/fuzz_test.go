package tcp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core/wire"
)

// bytesConn is a net.Conn that reads from a byte slice.
type bytesConn struct{ r *bytes.Reader }

func (c bytesConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c bytesConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c bytesConn) Close() error                     { return nil }
func (c bytesConn) LocalAddr() net.Addr              { return nil }
func (c bytesConn) RemoteAddr() net.Addr             { return nil }
func (c bytesConn) SetDeadline(time.Time) error      { return nil }
func (c bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c bytesConn) SetWriteDeadline(time.Time) error { return nil }
func newBytesConn(b []byte) bytesConn                { return bytesConn{bytes.NewReader(b)} }

// The frame reader on arbitrary bytes: it never panics, never hands over a
// frame that is too large or has a bad header, and ends every stream with
// EOF or a reason.
func FuzzReadFrames(f *testing.F) {
	f.Add(lengthPrefixed(testFrame(1, 20)))
	f.Add(append(lengthPrefixed(testFrame(1, 20)), lengthPrefixed(testFrame(2, 30))...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, wire.Magic})
	f.Add([]byte{0, 0, 0, 3, wire.Magic, wire.Version, 1})
	f.Add([]byte{0, 0, 0, 9, wire.Magic, wire.Version, 1, 0})
	f.Add([]byte{0, 0})
	const maxFrame = 1 << 12
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := defaultOptions()
		opts.maxFrameSize = maxFrame
		tr := &Transport{opts: opts, ctx: context.Background()}
		nc := newBytesConn(data)
		c := &conn{t: tr, raw: nc, nc: nc, br: bufio.NewReaderSize(nc, bufSize), peer: &peer{id: "p"},
			in: make(chan []byte, len(data)/7+1)}
		err := tr.readFrames(c)
		var bad *badInput
		if !errors.Is(err, io.EOF) && !errors.As(err, &bad) {
			t.Fatalf("readFrames ended with %v", err)
		}
		close(c.in)
		total := 0
		for fr := range c.in {
			if len(fr) > maxFrame || wire.CheckHeader(fr) != nil {
				t.Fatalf("handed over a bad frame of %d bytes", len(fr))
			}
			total += 4 + len(fr)
		}
		if errors.Is(err, io.EOF) && total != len(data) {
			t.Fatalf("clean end after %d of %d bytes", total, len(data))
		}
	})
}

// The keyed frame reader on arbitrary bytes: it never panics and never
// hands over a frame (nobody without the key can make one that opens).
func FuzzReadSealedFrames(f *testing.F) {
	var th [32]byte
	good := &sealer{kr: newKeyring(testKey(1, 32)), label: labelD2A, th: th}
	sealed, _ := good.seal(nil, testFrame(1, 20))
	f.Add(lengthPrefixed(sealed)[:len(sealed)+3])
	f.Add(lengthPrefixed(testFrame(1, 40)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := defaultOptions()
		opts.maxFrameSize = 1 << 12
		tr := &Transport{opts: opts, ctx: context.Background()}
		nc := newBytesConn(data)
		c := &conn{t: tr, raw: nc, nc: nc, br: bufio.NewReaderSize(nc, bufSize), peer: &peer{id: "p"},
			in: make(chan []byte, len(data)/7+1),
			rx: &opener{kr: newKeyring(testKey(2, 32), testKey(3, 16)), label: labelD2A, th: th}}
		err := tr.readFrames(c)
		var bad *badInput
		if !errors.Is(err, io.EOF) && !errors.As(err, &bad) {
			t.Fatalf("readFrames ended with %v", err)
		}
		if len(c.in) != 0 {
			t.Fatalf("handed over %d frames nobody could seal", len(c.in))
		}
	})
}

// The hello parser on arbitrary bytes: a hello it accepts is one
// appendHello or appendKeyedHello would write, marked bulk or not.
func FuzzReadHello(f *testing.F) {
	f.Add(appendHello(nil, 1, "node-1"))
	f.Add(appendHello(nil, 0, ""))
	f.Add([]byte{wire.Magic, 2, 0})
	f.Add(appendKeyedHello(nil, 3, "node-2", &[nonceLen]byte{1, 2, 3}))
	bulk := appendHello(nil, 4, "node-3")
	markBulk(bulk)
	f.Add(bulk)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := readHello(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		want := appendHello(nil, h.inc, h.id)
		if h.keyed {
			want = appendKeyedHello(nil, h.inc, h.id, &h.nonce)
		}
		if h.bulk {
			markBulk(want)
		}
		if len(data) < len(want) || !bytes.Equal(data[:len(want)], want) || !bytes.Equal(h.raw, want) {
			t.Fatalf("accepted %x as hello of %q/%d", data, h.id, h.inc)
		}
	})
}
