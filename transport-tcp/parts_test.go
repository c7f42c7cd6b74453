package tcp

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// sendMixed sends n frames from a to b, alternating Send, SendParts,
// SendBulk and SendBulkParts, and returns the frames as they must arrive
// (each lane in order; the two lanes may interleave).
func sendMixed(t *testing.T, a *Transport, to core.PeerID, n int) (urgent, bulk [][]byte) {
	t.Helper()
	for i := range n {
		f := testFrame(uint64(i), 100+i*997%(70<<10))
		split := wireHeadLen(i, len(f))
		var err error
		switch i % 4 {
		case 0:
			err = a.Send(to, f)
			urgent = append(urgent, f)
		case 1:
			err = a.SendParts(to, f[:split], f[split:])
			urgent = append(urgent, f)
		case 2:
			err = a.SendBulk(to, f)
			bulk = append(bulk, f)
		case 3:
			err = a.SendBulkParts(to, f[:split], f[split:])
			bulk = append(bulk, f)
		}
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	return urgent, bulk
}

// wireHeadLen is where frame i of length n is split into head and body:
// anywhere after the frame header, the whole frame as head included.
func wireHeadLen(i, n int) int { return min(11+i%37, n) }

// checkLanes checks that got holds exactly the frames of urgent and bulk,
// each lane in its order.
func checkLanes(t *testing.T, got [][]byte, urgent, bulk [][]byte) {
	t.Helper()
	var u, b int
	for k, f := range got {
		switch {
		case u < len(urgent) && bytes.Equal(f, urgent[u]):
			u++
		case b < len(bulk) && bytes.Equal(f, bulk[b]):
			b++
		default:
			t.Fatalf("frame %d (seq %d, %d bytes) is not the next of either lane", k, frameSeq(f), len(f))
		}
	}
	if u != len(urgent) || b != len(bulk) {
		t.Fatalf("got %d of %d urgent and %d of %d bulk frames", u, len(urgent), b, len(bulk))
	}
}

// A frame sent in two parts arrives as one frame, head then body, in its
// lane's order among whole frames: on a plain connection and on sealed ones
// (keyring, keyring over TLS), where the parts are joined before sealing.
func TestSendPartsArriveAsOneFrame(t *testing.T) {
	k := newKeyring(testKey(1, 32))
	ca := newCA(t, "ca")
	cases := []struct {
		name       string
		optA, optB []Option
	}{
		{"plain", nil, nil},
		{"keyring", []Option{WithKeyring(k)}, []Option{WithKeyring(k)}},
		{"keyring and TLS", []Option{WithKeyring(k), mtls(ca, ca.issue(t, "a"))}, []Option{WithKeyring(k), mtls(ca, ca.issue(t, "b"))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newTransport(t, "a", tc.optA...)
			b := newTransport(t, "b", tc.optB...)
			a.SetPeerAddr("b", b.Addr().String())
			const n = 200
			urgent, bulk := sendMixed(t, a, "b", n)
			var got [][]byte
			for _, f := range recvN(t, b, n, 30*time.Second) {
				got = append(got, f.Data)
			}
			checkLanes(t, got, urgent, bulk)
			eventually(t, 30*time.Second, "the writer's counts", func() bool { return a.Stats().FramesOut == n })
			if sa, sb := a.Stats(), b.Stats(); sa.BytesOut != sb.BytesIn || sa.Drops != 0 {
				t.Errorf("a wrote %d bytes, b read %d; a dropped %d", sa.BytesOut, sb.BytesIn, sa.Drops)
			}
		})
	}
}

// The frame size limit applies to head and body together.
func TestSendPartsSizeLimit(t *testing.T) {
	a := newTransport(t, "a", WithMaxFrameSize(1000))
	b := newTransport(t, "b")
	a.SetPeerAddr("b", b.Addr().String())
	f := testFrame(1, 1001)
	if err := a.SendParts("b", f[:500], f[500:]); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("SendParts of 1001 bytes: %v", err)
	}
	if err := a.SendBulkParts("b", f[:500], f[500:]); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("SendBulkParts of 1001 bytes: %v", err)
	}
	f = testFrame(2, 1000)
	if err := a.SendParts("b", f[:500], f[500:]); err != nil {
		t.Errorf("SendParts of 1000 bytes: %v", err)
	}
	if got := recvN(t, b, 1, 30*time.Second)[0].Data; !bytes.Equal(got, f) {
		t.Errorf("received %d bytes, seq %d", len(got), frameSeq(got))
	}
	if s := a.Stats(); s.TooLarge != 2 || s.Drops != 2 {
		t.Errorf("too large %d, drops %d", s.TooLarge, s.Drops)
	}
}
