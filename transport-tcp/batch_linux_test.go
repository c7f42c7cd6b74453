//go:build linux

package tcp

import (
	"bufio"
	"encoding/binary"
	"io"
	"testing"
	"time"
)

// An urgent frame sent while the writer is blocked on a slow peer waits for
// at most one batch's worth of bulk frames (maxBulkBatchBytes), not for a
// full batch of chunks: on a slow link that is what a small message waits
// for behind a large one.
func TestUrgentFrameWaitsForOneBulkBatch(t *testing.T) {
	// b is a raw peer that reads nothing until the urgent frame is sent,
	// with small kernel buffers at both ends (not below loopback's 64 KiB
	// segments, where the kernel's window handling stalls), so that a's
	// writer blocks.
	ln := listenRcvbuf(t, 64<<10)
	defer ln.Close()
	// One connection for both lanes: the lane order inside the writer is what
	// is measured here (bulk connections: bulkconn_test.go).
	a := newTransport(t, "a", WithSocketBuffer(64<<10), WithBulkConnection(false))
	a.SetPeerAddr("b", ln.Addr().String())

	const bulk, size = 128, 16 << 10
	for i := range bulk {
		if err := a.SendBulk("b", testFrame(uint64(100+i), size)); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	if _, err := readHello(br); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(appendHello(nil, 1, "b")); err != nil {
		t.Fatal(err)
	}
	// The writer has taken the first batch's frames: it is writing (and,
	// with nothing read, soon blocked).
	eventually(t, 30*time.Second, "the writer to take bulk frames", func() bool { return a.BulkQueueLen("b") <= bulk-4 })
	if err := a.Send("b", testFrame(1, 64)); err != nil {
		t.Fatal(err)
	}
	written := a.Stats().BytesOut // every batch flushed before the urgent frame's

	// Read the stream: where is the urgent frame?
	pos, seen := uint64(0), 0
	next := uint64(100)
	var hdr [4]byte
	urgentAt := int64(-1)
	for seen < bulk+1 {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			t.Fatal(err)
		}
		f := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(br, f); err != nil {
			t.Fatal(err)
		}
		switch seq := frameSeq(f); {
		case seq == 1:
			urgentAt = int64(pos)
		case seq != next:
			t.Fatalf("bulk frame %d after %d: the lane's order is lost", seq, next-1)
		default:
			next++
		}
		pos += uint64(len(hdr) + len(f))
		seen++
	}
	// Bytes ahead of the urgent frame: the batches flushed before it was
	// sent, and at most the one being written then.
	ahead := uint64(urgentAt) - min(written, uint64(urgentAt))
	if limit := uint64(maxBulkBatchBytes + 4 + size); ahead > limit {
		t.Errorf("the urgent frame came after %d bytes of bulk frames written after it was sent; want at most %d (one bulk batch)", ahead, limit)
	}
}
