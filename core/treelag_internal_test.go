package core

import (
	"fmt"
	"testing"
	"time"
)

// Recording tree copies of known origins, which every received first copy
// does, allocates nothing: the per-origin traces are updated in place.
func TestOriginTracesAllocateNothing(t *testing.T) {
	var l pullPolicy
	now := time.Unix(1000, 0)
	origins := make([]PeerID, 32)
	for i := range origins {
		origins[i] = PeerID(fmt.Sprint("node-", i))
	}
	seq, i := uint64(1), 0
	note := func() {
		now = now.Add(time.Millisecond)
		o := origins[i%len(origins)]
		i++
		l.noteEagerCopy(now, o, now.Add(-2*time.Millisecond))
		l.noteOrigin(now, MessageID{Origin: o, Seq: seq}, now.Add(-2*time.Millisecond))
		seq++
	}
	for range 2 * len(origins) { // every origin's first copy makes its entry
		note()
	}
	if allocs := testing.AllocsPerRun(100, note); allocs != 0 {
		t.Errorf("%.1f allocations per tree copy of a known origin, want 0", allocs)
	}
	if o := l.origins[origins[0]]; o.n == 0 || o.seq == 0 {
		t.Errorf("origin trace not kept: seq %d, %d ages", o.seq, o.n)
	}
}
