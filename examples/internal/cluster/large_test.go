package cluster

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core/large"
)

// The job's -size above max_message_size sends large messages
// (node.BroadcastLarge): each reaches every node exactly once.
func TestBroadcastLargeSize(t *testing.T) {
	c, err := Start(within(t, 5*time.Minute), testOptions(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(within(t, time.Minute))
	waitFormed(t, c, nil)
	size := c.Stack(0).Node.Config().MaxMessageSize*8 + 5
	for i := range 3 {
		if _, err := c.Broadcast(within(t, 5*time.Minute), i, size); err != nil {
			t.Fatal(err)
		}
	}
	r := waitDelivered(t, c, "large deliveries", nil)
	if r.Expected != 9 || r.Delivered != 9 {
		t.Fatalf("delivered %d of %d", r.Delivered, r.Expected)
	}
	checkExactlyOnce(t, c)
	// The RMR counts in core messages: every chunk and manifest is one
	// first copy per remote node, so a large message does not look like
	// parts-per-message redundant copies.
	g := large.Geometry{Size: int64(size), ChunkSize: c.Stack(0).Node.Config().MaxMessageSize - large.ChunkOverhead}
	if want := uint64(3 * 2 * (g.Chunks() + 1)); c.FirstCopies() != want {
		t.Errorf("first copies over the network: %d, want %d (3 messages x 2 remote nodes x %d chunks + manifest)", c.FirstCopies(), want, g.Chunks())
	}
	if rmr := c.RMR(); rmr != float64(c.RedundantCopies())/float64(c.FirstCopies()) {
		t.Errorf("RMR %v, want redundant %d / first copies %d", rmr, c.RedundantCopies(), c.FirstCopies())
	}
	for i := range 3 {
		if s := c.Stack(i).Node.Stats().Large; s.Delivered != 3 || s.DeliveredBytes != 3*uint64(size) {
			t.Errorf("slot %d: large stats %+v", i, s)
		}
	}
}

func TestSummaryPrintsThroughput(t *testing.T) {
	o := &RunOptions{Size: 1 << 20, Rate: 1, Duration: 10 * time.Second}
	var b bytes.Buffer
	printSummary(&b, o, Summary{Nodes: 3, Survivors: 3, Sent: 10, Complete: 10, DeliveryPct: 100, RemoteDeliveries: 20})
	want := "throughput        2.00 MiB/s delivered over the network (20 deliveries of 1048576 B in 10s of broadcasting); large messages: payload sends and RMR count chunks and manifests\n"
	if !strings.Contains(b.String(), want) {
		t.Fatalf("summary lacks %q:\n%s", want, b.String())
	}
}
