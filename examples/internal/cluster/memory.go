package cluster

import (
	"fmt"
	"runtime/metrics"
	"slices"
	"time"
)

// HeapSample is one reading of the Go heap of the process (all nodes, the
// tracker and the job itself) during a run.
type HeapSample struct {
	At time.Duration // since broadcasting started
	// InUse is the bytes in heap objects, live or not yet collected
	// (runtime/metrics /memory/classes/heap/objects:bytes, the same as
	// MemStats.HeapAlloc): what the live progress shows. It saws between
	// the live heap and about twice it (GOGC=100).
	InUse uint64
	// Live is the bytes of heap objects marked live by the most recent GC
	// (/gc/heap/live:bytes). It is the statistic the growth check uses:
	// it is the live heap without forcing a collection, and at soak rates
	// the GC runs several times a second, so it is fresh.
	Live uint64
}

// heapReader reads HeapSamples with runtime/metrics (no stop-the-world, a
// few microseconds: cheap at 1 Hz).
type heapReader struct{ s []metrics.Sample }

func newHeapReader() *heapReader {
	return &heapReader{s: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}}
}

func (h *heapReader) read(at time.Duration) HeapSample {
	metrics.Read(h.s)
	out := HeapSample{At: at}
	if h.s[0].Value.Kind() == metrics.KindUint64 {
		out.InUse = h.s[0].Value.Uint64()
	}
	if h.s[1].Value.Kind() == metrics.KindUint64 {
		out.Live = h.s[1].Value.Uint64()
	}
	if out.Live == 0 { // no GC has completed yet
		out.Live = out.InUse
	}
	return out
}

// minHeapSamples is the fewest samples after warm-up that HeapGrowth judges
// (one per fifth).
const minHeapSamples = 5

// HeapGrowth compares the median of the first fifth of samples (at least
// one) with the median of the last fifth and returns both and the growth
// last/first - 1. ok is false with fewer than minHeapSamples samples (or a
// zero first median). Medians make it robust to single GC cycles that mark
// more (objects allocated during the mark count as live) and to bursts.
func HeapGrowth(samples []uint64) (first, last uint64, growth float64, ok bool) {
	n := len(samples)
	if n == 0 {
		return 0, 0, 0, false
	}
	k := max(1, n/5)
	first, last = median(samples[:k]), median(samples[n-k:])
	if n < minHeapSamples || first == 0 {
		return first, last, 0, false
	}
	return first, last, float64(last)/float64(first) - 1, true
}

// median returns the median of s (the mean of the two middle values for an
// even length); s is not modified.
func median(s []uint64) uint64 {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	m := len(c) / 2
	if len(c)%2 == 1 {
		return c[m]
	}
	return c[m-1]/2 + c[m]/2 + (c[m-1]%2+c[m]%2)/2
}

// HeapSummary is the memory part of a Summary: the live heap sampled
// during broadcasting after the warm-up, and the nodes' caches at the end
// of broadcasting.
type HeapSummary struct {
	Warmup  time.Duration // samples before this (since broadcasting began) are ignored
	Samples int           // samples after the warm-up
	// Live heap after the warm-up (see HeapSample.Live).
	Min, Max, Last uint64
	// First and End are the medians of the first and last fifth of the
	// samples after the warm-up; Growth = End/First - 1 (valid when Judged).
	First, End uint64
	Growth     float64
	Judged     bool
	// PeakInUse is the highest heap in use (live or not yet collected)
	// seen after the warm-up.
	PeakInUse uint64
	// MaxGrowth is the allowed growth (RunOptions.MaxHeapGrowth; 0: not
	// checked). Exceeded is set when it is checked and Growth is above it,
	// or when too few samples were taken to judge.
	MaxGrowth float64
	Exceeded  bool
	// Cache per live node at the end of broadcasting (cache.Stats).
	Caches []CacheRow
}

// CacheRow is one node's message cache.
type CacheRow struct {
	Name    string
	Entries int
	Bytes   int64
}

// SummarizeHeap builds a HeapSummary from the samples of a run: those taken
// at or after warmup count; growth is checked against maxGrowth when it is
// above 0.
func SummarizeHeap(samples []HeapSample, warmup time.Duration, maxGrowth float64) HeapSummary {
	h := HeapSummary{Warmup: warmup, MaxGrowth: maxGrowth}
	var live []uint64
	for _, s := range samples {
		if s.At < warmup {
			continue
		}
		live = append(live, s.Live)
		h.PeakInUse = max(h.PeakInUse, s.InUse)
	}
	h.Samples = len(live)
	if len(live) > 0 {
		h.Min, h.Max, h.Last = slices.Min(live), slices.Max(live), live[len(live)-1]
	}
	h.First, h.End, h.Growth, h.Judged = HeapGrowth(live)
	if maxGrowth > 0 {
		h.Exceeded = !h.Judged || h.Growth > maxGrowth
	}
	return h
}

// CacheMean returns the mean entries and bytes per node of h.Caches.
func (h HeapSummary) CacheMean() (entries, bytes float64) {
	if len(h.Caches) == 0 {
		return 0, 0
	}
	for _, c := range h.Caches {
		entries += float64(c.Entries)
		bytes += float64(c.Bytes)
	}
	n := float64(len(h.Caches))
	return entries / n, bytes / n
}

// Verdict explains a failed check ("" when it passed or was not made).
func (h HeapSummary) Verdict() string {
	switch {
	case !h.Exceeded:
		return ""
	case !h.Judged:
		return fmt.Sprintf("only %d heap samples after the %v warm-up (need %d) to judge growth: broadcast longer or shorten -warmup", h.Samples, h.Warmup, minHeapSamples)
	default:
		return fmt.Sprintf("live heap grew %+.1f%% after the warm-up (median of the last fifth %s vs the first fifth %s), more than -max-heap-growth %.0f%%",
			100*h.Growth, mib(h.End), mib(h.First), 100*h.MaxGrowth)
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
