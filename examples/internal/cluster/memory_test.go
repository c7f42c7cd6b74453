package cluster

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

const mb = 1 << 20

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []uint64
		want uint64
	}{
		{nil, 0},
		{[]uint64{7}, 7},
		{[]uint64{3, 1, 2}, 2},
		{[]uint64{4, 1, 3, 2}, 2}, // (2+3)/2 rounded down
		{[]uint64{5, 7}, 6},
		{[]uint64{math.MaxUint64, math.MaxUint64}, math.MaxUint64},
	} {
		in := slices.Clone(tt.in)
		if got := median(in); got != tt.want {
			t.Errorf("median(%v) = %d, want %d", tt.in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("median modified its input: %v", in)
		}
	}
}

func TestHeapGrowth(t *testing.T) {
	ramp := func(n int, from, to uint64) []uint64 {
		s := make([]uint64, n)
		for i := range s {
			s[i] = from + (to-from)*uint64(i)/uint64(n-1)
		}
		return s
	}
	flat := make([]uint64, 100)
	for i := range flat {
		flat[i] = 40 * mb
	}
	// A flat heap with single GC cycles that marked much more, at the
	// start and at the end: the medians ignore them.
	spiky := slices.Clone(flat)
	spiky[0], spiky[3], spiky[97], spiky[99] = 90*mb, 85*mb, 95*mb, 99*mb
	// A sawtooth (caches filling and expiring) around a flat mean.
	saw := make([]uint64, 100)
	for i := range saw {
		saw[i] = uint64(30+i%10) * mb
	}

	for _, tt := range []struct {
		name        string
		in          []uint64
		first, last uint64
		growth      float64
		ok          bool
	}{
		{"empty", nil, 0, 0, 0, false},
		{"too few", []uint64{1, 2, 3, 4}, 1, 4, 0, false},
		{"five: one per fifth", []uint64{10, 11, 12, 13, 15}, 10, 15, 0.5, true},
		{"flat", flat, 40 * mb, 40 * mb, 0, true},
		{"spikes ignored", spiky, 40 * mb, 40 * mb, 0, true},
		{"sawtooth", saw, 34*mb + mb/2, 34*mb + mb/2, 0, true},
		{"leak", ramp(100, 40*mb, 80*mb), 0, 0, 0, true},
		{"shrinks", []uint64{20, 20, 20, 20, 20, 10, 10, 10, 10, 10}, 20, 10, -0.5, true},
		{"zero first", []uint64{0, 0, 1, 2, 3}, 0, 3, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			first, last, growth, ok := HeapGrowth(tt.in)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if tt.name == "leak" {
				// 100 samples from 40 to 80 MiB: fifths of 20, medians
				// at samples 9.5 and 89.5: 43.8 and 76.2 MiB.
				if growth < 0.73 || growth > 0.75 || last <= first {
					t.Fatalf("leak: first %d last %d growth %v", first, last, growth)
				}
				return
			}
			if first != tt.first || last != tt.last || math.Abs(growth-tt.growth) > 1e-9 {
				t.Fatalf("got (%d, %d, %v), want (%d, %d, %v)", first, last, growth, tt.first, tt.last, tt.growth)
			}
		})
	}
}

func samplesOf(live ...uint64) []HeapSample {
	s := make([]HeapSample, len(live))
	for i, l := range live {
		s[i] = HeapSample{At: time.Duration(i) * time.Second, Live: l * mb, InUse: 2 * l * mb}
	}
	return s
}

func TestSummarizeHeap(t *testing.T) {
	// Warm-up (t < 3 s): 5, 50, 60 are ignored.
	s := samplesOf(5, 50, 60, 40, 42, 38, 41, 39, 40, 43, 41)
	h := SummarizeHeap(s, 3*time.Second, 0.25)
	if h.Samples != 8 || h.Min != 38*mb || h.Max != 43*mb || h.Last != 41*mb || h.PeakInUse != 86*mb {
		t.Fatalf("summary %+v", h)
	}
	// Fifths of 1 sample: the first is 40, the last 41.
	if !h.Judged || h.First != 40*mb || h.End != 41*mb || math.Abs(h.Growth-0.025) > 1e-9 || h.Exceeded {
		t.Fatalf("growth %+v", h)
	}
	if v := h.Verdict(); v != "" {
		t.Fatalf("verdict %q for a passing check", v)
	}

	grow := SummarizeHeap(samplesOf(40, 40, 41, 45, 50, 55, 60), 0, 0.25)
	if !grow.Judged || !grow.Exceeded || grow.Growth != 0.5 {
		t.Fatalf("growth of 50%% not caught: %+v", grow)
	}
	if v := grow.Verdict(); !strings.Contains(v, "+50.0%") || !strings.Contains(v, "-max-heap-growth 25%") || !strings.Contains(v, "60.0 MiB") {
		t.Fatalf("verdict %q", v)
	}
	// Without a limit nothing fails.
	if h := SummarizeHeap(samplesOf(40, 40, 41, 45, 50, 55, 60), 0, 0); h.Exceeded || h.Verdict() != "" {
		t.Fatalf("no limit: %+v", h)
	}
	// Too few samples after the warm-up: fails when checked, with a reason.
	few := SummarizeHeap(samplesOf(40, 40, 41, 45), time.Second, 0.25)
	if few.Judged || !few.Exceeded || !strings.Contains(few.Verdict(), "only 3 heap samples") {
		t.Fatalf("few samples: %+v %q", few, few.Verdict())
	}
	none := SummarizeHeap(nil, time.Second, 0)
	if none.Samples != 0 || none.Exceeded {
		t.Fatalf("no samples: %+v", none)
	}
}

func TestCacheMean(t *testing.T) {
	h := HeapSummary{Caches: []CacheRow{{"a", 100, 1000}, {"b", 300, 3000}}}
	if e, b := h.CacheMean(); e != 200 || b != 2000 {
		t.Fatalf("mean %v %v", e, b)
	}
	if e, b := (HeapSummary{}).CacheMean(); e != 0 || b != 0 {
		t.Fatalf("empty mean %v %v", e, b)
	}
}

func TestSummaryPrintsHeap(t *testing.T) {
	o := &RunOptions{Size: 1024, Rate: 500, Duration: time.Minute}
	base := Summary{Nodes: 2, Survivors: 2, Sent: 10, Complete: 10, DeliveryPct: 100}
	base.Heap = SummarizeHeap(samplesOf(40, 40, 41, 40, 41, 40), 0, 0.25)
	base.Heap.Caches = []CacheRow{{"node-01", 1000, 3 * mb / 2}, {"node-02", 1000, 3 * mb / 2}}

	var b bytes.Buffer
	printSummary(&b, o, base)
	out := b.String()
	for _, want := range []string{
		"heap (live)       40.0–41.0 MiB after the 0s warm-up, last 40.0, growth +0.0%; cache 1000 entries, 1.5 MiB per node\n",
		"OK: every message reached every live node exactly once; live heap flat after the warm-up (+0.0%, limit 25%)\n",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("summary lacks %q:\n%s", want, out)
		}
	}
	if !base.OK() {
		t.Fatal("flat run not OK")
	}

	bad := base
	bad.Heap = SummarizeHeap(samplesOf(40, 40, 50, 60, 70, 80), 0, 0.25)
	b.Reset()
	printSummary(&b, o, bad)
	if out := b.String(); !strings.Contains(out, "FAIL: live heap grew +100.0% after the warm-up") || strings.Contains(out, "OK:") {
		t.Fatalf("growth not reported:\n%s", out)
	}
	if bad.OK() || !bad.Delivered() {
		t.Fatalf("OK %v Delivered %v for a run that delivered and grew", bad.OK(), bad.Delivered())
	}
	// Without a limit the OK line is unchanged.
	plain := base
	plain.Heap.MaxGrowth, plain.Heap.Exceeded = 0, false
	b.Reset()
	printSummary(&b, o, plain)
	if !strings.Contains(b.String(), "OK: every message reached every live node exactly once\n") {
		t.Fatalf("plain OK line:\n%s", b.String())
	}
}

func TestHistogram(t *testing.T) {
	// Every value lands in a bucket whose middle is within 1/64 of it, and
	// indices are monotone.
	rng := rand.New(rand.NewPCG(1, 2))
	prev := -1
	for v := uint64(0); v < 5000; v++ {
		i := histIndex(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("index %d of %d after %d", i, v, prev)
		}
		prev = i
	}
	for range 100000 {
		v := rng.Uint64N(1 << 62)
		i := histIndex(v)
		if i >= histBuckets {
			t.Fatalf("index %d of %d", i, v)
		}
		if mid := histValue(i); math.Abs(float64(mid)-float64(v)) > float64(v)/64 {
			t.Fatalf("%d in bucket %d (middle %d)", v, i, mid)
		}
	}
	if histIndex(math.MaxInt64) >= histBuckets {
		t.Fatal("max duration out of range")
	}
	var h latencyHist
	if h.quantile(50) != 0 {
		t.Fatal("empty quantile")
	}
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for p, want := range map[int]time.Duration{50: 500 * time.Microsecond, 99: 990 * time.Microsecond} {
		got := h.quantile(p)
		if math.Abs(float64(got-want)) > float64(want)/64 {
			t.Fatalf("p%d = %v, want %v ± 1/64", p, got, want)
		}
	}
}

func TestTrackerFold(t *testing.T) {
	const slots = 3
	tr := NewTracker(slots)
	t0 := time.Unix(1000, 0)
	deliver := func(id core.MessageID, sent time.Time, origin int, lat time.Duration, to ...int) {
		for _, s := range to {
			d := core.Delivery{ID: id, Payload: MakePayload(64, sent, origin), Hops: 1}
			tr.Delivered(s, 1, d, sent.Add(lat))
		}
	}
	// 100 messages 10 ms apart, reaching every slot after i*10 µs; the
	// 50th misses slot 2.
	for i := range 100 {
		id := core.MessageID{Origin: "n", Seq: uint64(i)}
		sent := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		tr.Sent(id, sent, 0)
		to := []int{0, 1, 2}
		if i == 50 {
			to = to[:2]
		}
		deliver(id, sent, 0, time.Duration(i+1)*10*time.Microsecond, to...)
	}
	all := []int{0, 1, 2}
	before := tr.Report(nil, all, nil)

	// Fold the first 80 (sent before t0+800ms): 79 fold, the incomplete one
	// stays.
	if n := tr.Fold(t0.Add(800 * time.Millisecond)); n != 79 {
		t.Fatalf("folded %d, want 79", n)
	}
	if tr.Folded() != 79 || len(tr.order) != 21 || len(tr.msgs) != 21 {
		t.Fatalf("after fold: %d folded, %d kept, %d in map", tr.Folded(), len(tr.order), len(tr.msgs))
	}
	after := tr.Report(nil, all, nil)
	if after.Messages != before.Messages || after.Complete != before.Complete || after.Expected != before.Expected || after.Delivered != before.Delivered {
		t.Fatalf("counts changed by folding:\nbefore %+v\nafter  %+v", before, after)
	}
	if after.Incomplete[0] != (core.MessageID{Origin: "n", Seq: 50}) || len(after.Latencies) != 20 {
		t.Fatalf("kept details: incomplete %v, %d latencies", after.Incomplete, len(after.Latencies))
	}
	if after.Max != before.Max {
		t.Fatalf("max %v, want %v", after.Max, before.Max)
	}
	for _, q := range []struct{ got, want time.Duration }{{after.P50, before.P50}, {after.P99, before.P99}} {
		if math.Abs(float64(q.got-q.want)) > float64(q.want)/64 {
			t.Fatalf("percentile %v, want %v within 1/64", q.got, q.want)
		}
	}
	// The missing delivery arrives: the message completes and folds later.
	deliver(core.MessageID{Origin: "n", Seq: 50}, t0.Add(500*time.Millisecond), 0, time.Second, 2)
	if n := tr.Fold(t0.Add(time.Hour)); n != 21 {
		t.Fatalf("second fold: %d", n)
	}
	final := tr.Report(nil, all, nil)
	if final.Messages != 100 || final.Complete != 100 || final.DeliveryPct() != 100 || final.Max != time.Second || len(tr.order) != 0 {
		t.Fatalf("final %+v", final)
	}
	if _, _, dups := tr.Counts(); dups != 0 {
		t.Fatalf("%d duplicates", dups)
	}
}
