package tuner

import (
	"testing"
	"time"
)

func BenchmarkCleanupTunerNext(b *testing.B) {
	tu, _ := NewCleanupTuner(DefaultCleanupConfig())
	now := t0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now = now.Add(time.Second)
		tu.Next(now, float64(i%100)/100, time.Minute, uint64(i)*100)
		tu.Observe(now, time.Millisecond, 50)
	}
}

func BenchmarkIHaveTunerUpdate(b *testing.B) {
	tu, _ := NewIHaveTuner(DefaultIHaveConfig())
	now := t0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now = now.Add(100 * time.Millisecond)
		tu.Update(now, uint64(i)*50, uint64(i), 0)
	}
}

func BenchmarkRTTEstimatorObserve(b *testing.B) {
	e, _ := NewRTTEstimator[string](DefaultRTTConfig())
	peers := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e.Observe(t0, peers[i%len(peers)], time.Duration(1+i%50)*time.Millisecond)
	}
}
