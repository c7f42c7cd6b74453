package core

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkStreamTableExpireAll: one expiry that forgets every stream of a
// full table at once (1,024 or 4,096 streams that went quiet together, as
// the empty streams one digest names do).
func BenchmarkStreamTableExpireAll(b *testing.B) {
	for _, n := range []int{1024, 4096} {
		b.Run(fmt.Sprintf("streams-%d", n), func(b *testing.B) {
			origins := make([]PeerID, n)
			for i := range origins {
				origins[i] = PeerID(fmt.Sprintf("origin-%05d", i))
			}
			var t streamTable
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				t.init(n, 256, 65536)
				for _, o := range origins {
					t.stream(o).newest = streamT0
				}
				b.StartTimer()
				t.expire(streamT0.Add(time.Hour), time.Minute, time.Minute)
				if len(t.order) != 0 {
					b.Fatalf("%d streams left", len(t.order))
				}
			}
		})
	}
}

// BenchmarkStreamTableExpireScan: one expiry scan that changes nothing, of
// a full table (1,024 or 4,096 streams, each with a gap and 16 held
// messages): what a maintenance round or a digest received costs whenever
// the earliest deadline has passed (streamTable.expire scans every stream
// then, not only the one that is due).
func BenchmarkStreamTableExpireScan(b *testing.B) {
	for _, n := range []int{1024, 4096} {
		b.Run(fmt.Sprintf("streams-%d", n), func(b *testing.B) {
			var t streamTable
			t.init(n, 256, 65536)
			for i := range n {
				o := PeerID(fmt.Sprintf("origin-%05d", i))
				for seq := uint64(2); seq < 18; seq++ {
					id := MessageID{Origin: o, Seq: seq}
					t.add(id, streamT0)
					t.hold(id, streamT0)
				}
			}
			now := streamT0.Add(time.Second)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t.touch()
				t.expire(now, time.Minute, time.Minute)
			}
			if len(t.order) != n || t.held != 16*n {
				b.Fatalf("%d streams, %d held", len(t.order), t.held)
			}
		})
	}
}
