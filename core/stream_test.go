package core

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"
)

var streamT0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// The summary agrees with a plain set of delivered sequences while the run
// bound is not reached, whatever order the sequences arrive in, and keeps
// its invariants (sorted, disjoint, non-adjacent runs above floor+1).
func TestStreamSummaryMatchesSet(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		var s streamSummary
		set := map[uint64]bool{}
		for range 300 {
			seq := 1 + rng.Uint64N(120)
			added, lost := s.add(seq, streamT0, 1<<20)
			if added == set[seq] || lost != 0 {
				t.Fatalf("seed %d: add(%d) = %v, %d with set %v", seed, seq, added, lost, set[seq])
			}
			set[seq] = true
			checkSummary(t, seed, &s)
		}
		for seq := uint64(0); seq <= 121; seq++ {
			if want := seq == 0 || set[seq]; s.delivered(seq) != want {
				t.Fatalf("seed %d: delivered(%d) = %v, want %v", seed, seq, !want, want)
			}
		}
	}
}

func checkSummary(t *testing.T, seed uint64, s *streamSummary) {
	t.Helper()
	prev := s.floor
	for i, r := range s.runs {
		if r.first <= prev+1 || r.last < r.first {
			t.Fatalf("seed %d: run %d %d..%d after %d (floor %d): %+v", seed, i, r.first, r.last, prev, s.floor, s.runs)
		}
		prev = r.last
	}
}

// Over the run bound the lowest gap is given up: its sequences are never
// delivered, and the delivered ones stay delivered.
func TestStreamSummaryRunBound(t *testing.T) {
	var s streamSummary
	for _, seq := range []uint64{2, 4} {
		if _, lost := s.add(seq, streamT0, 2); lost != 0 {
			t.Fatalf("add(%d) lost %d", seq, lost)
		}
	}
	// 2, 4, 6 would be three runs above floor 0: one too many.
	if _, lost := s.add(6, streamT0, 2); lost != 1 || s.floor != 2 || len(s.runs) != 2 {
		t.Fatalf("lost %d floor %d runs %+v", lost, s.floor, s.runs)
	}
	if _, lost := s.add(8, streamT0, 2); lost != 1 || s.floor != 4 {
		t.Fatalf("lost %d floor %d", lost, s.floor)
	}
	if added, _ := s.add(1, streamT0, 2); added {
		t.Fatal("a given-up sequence was delivered")
	}
	for _, seq := range []uint64{2, 4, 6, 8} {
		if !s.delivered(seq) {
			t.Fatalf("%d forgotten", seq)
		}
	}
	if s.delivered(7) {
		t.Fatal("7 delivered")
	}
}

// A gap is given up once the message above it is older than the horizon:
// the gap's messages are older still.
func TestStreamSummaryGivesUpOldGaps(t *testing.T) {
	var s streamSummary
	s.add(5, streamT0, 16)
	s.add(9, streamT0.Add(time.Minute), 16)
	if n := s.giveUpBefore(streamT0.Add(time.Second)); n != 1 || s.floor != 5 || len(s.runs) != 1 {
		t.Fatalf("gave up %d, floor %d runs %+v", n, s.floor, s.runs)
	}
	if added, _ := s.add(3, streamT0, 16); added {
		t.Fatal("a sequence below the floor was delivered")
	}
	if !s.delivered(9) || s.delivered(8) {
		t.Fatal("run above the gap changed")
	}
}

// missingFor lists the held messages a peer's digest entry lacks, and
// nothing above the last listed run when the entry is truncated.
func TestStreamSummaryMissingFor(t *testing.T) {
	var s streamSummary
	for seq := uint64(1); seq <= 10; seq++ {
		s.hold(seq, streamT0.Add(time.Duration(seq)*time.Second))
	}
	seqs := func(hs []heldMsg) []uint64 {
		var r []uint64
		for _, h := range hs {
			r = append(r, h.seq)
		}
		return r
	}
	eq := func(a, b []uint64) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	d := &StreamDigest{Floor: 2, Runs: []SeqRange{{4, 5}, {8, 8}}, Complete: true}
	if got := seqs(s.missingFor(d, 100, nil)); !eq(got, []uint64{3, 6, 7, 9, 10}) {
		t.Fatalf("complete: %v", got)
	}
	d.Complete = false
	if got := seqs(s.missingFor(d, 100, nil)); !eq(got, []uint64{3, 6, 7}) {
		t.Fatalf("truncated: %v", got)
	}
	if got := seqs(s.missingFor(d, 2, nil)); !eq(got, []uint64{3, 6}) {
		t.Fatalf("bounded: %v", got)
	}
	if got := seqs(s.missingFor(nil, 100, nil)); len(got) != 10 {
		t.Fatalf("unknown stream: %v", got)
	}
	if n := s.releaseBefore(streamT0.Add(5500 * time.Millisecond)); n != 5 || s.held[0].seq != 6 {
		t.Fatalf("released %d, first held %d", n, s.held[0].seq)
	}
}

// gapsOpened counts the deliveries that leave a gap below them (what stirs
// a quiet node's anti-entropy): not in-order ones, not a delivery that
// fills a gap, and also one at the gap bound, where the new gap takes the
// place of the lowest.
func TestStreamTableCountsGapsOpened(t *testing.T) {
	var tb streamTable
	tb.init(4, 2, 16)
	id := func(seq uint64) MessageID { return MessageID{Origin: "o", Seq: seq} }
	steps := []struct {
		seq  uint64
		want uint64
	}{
		{1, 0}, {2, 0}, // in order
		{4, 1},  // 3 missing
		{3, 1},  // fills it
		{6, 2},  // 5 missing
		{9, 3},  // 7-8 missing: two gaps, the bound
		{12, 4}, // a third: the gap of 5 is given up
		{13, 4}, // extends a run
	}
	for _, st := range steps {
		tb.add(id(st.seq), streamT0)
		if tb.gapsOpened != st.want {
			t.Fatalf("after %d: gapsOpened %d, want %d", st.seq, tb.gapsOpened, st.want)
		}
	}
	if tb.gapsLost != 1 {
		t.Fatalf("gapsLost %d, want 1", tb.gapsLost)
	}
}

// The table bounds held messages over all streams (oldest first) and the
// number of streams (stalest first), and rotates digests over the streams
// within the byte budget.
func TestStreamTableBoundsAndRotation(t *testing.T) {
	var tb streamTable
	tb.init(3, 8, 4)
	for i, o := range []PeerID{"a", "b", "c"} {
		for seq := uint64(1); seq <= 2; seq++ {
			at := streamT0.Add(time.Duration(i*10+int(seq)) * time.Second)
			tb.add(MessageID{Origin: o, Seq: seq}, at)
			tb.hold(MessageID{Origin: o, Seq: seq}, at)
		}
	}
	if tb.held != 4 || len(tb.byOrigin["a"].held) != 0 || len(tb.byOrigin["c"].held) != 2 {
		t.Fatalf("held %d: a %d c %d", tb.held, len(tb.byOrigin["a"].held), len(tb.byOrigin["c"].held))
	}
	tb.add(MessageID{Origin: "d", Seq: 1}, streamT0.Add(time.Hour))
	if tb.len() != 3 || tb.byOrigin["a"] != nil || tb.forgotten != 1 {
		t.Fatalf("streams %d, a kept %v", tb.len(), tb.byOrigin["a"] != nil)
	}
	one := digestEntrySize("b", 0)
	seen := map[PeerID]int{}
	for range 3 {
		d := tb.digest(one) // room for one stream each
		if len(d.Streams) != 1 || d.AllStreams {
			t.Fatalf("digest %+v", d)
		}
		seen[d.Streams[0].Origin]++
	}
	if len(seen) != 3 {
		t.Fatalf("rotation covered %v", seen)
	}
	if d := tb.digest(1 << 20); len(d.Streams) != 3 || !d.AllStreams {
		t.Fatalf("full digest %+v", d)
	}
	// Expiry: gaps past the horizon are given up, streams with nothing left
	// forgotten.
	tb.expire(streamT0.Add(2*time.Hour), time.Minute, 2*time.Minute)
	if tb.len() != 0 || tb.held != 0 {
		t.Fatalf("after expiry: %d streams, %d held", tb.len(), tb.held)
	}
}

// checkInvariants verifies the table's bounds and every summary's shape.
func (t *streamTable) checkInvariants() error {
	if len(t.order) != len(t.byOrigin) || len(t.order) > t.maxStreams {
		return fmt.Errorf("streams: %d listed, %d mapped, max %d", len(t.order), len(t.byOrigin), t.maxStreams)
	}
	held, learnt := 0, uint64(0)
	for _, s := range t.order {
		if s.learnt {
			if len(s.runs) > 0 || len(s.held) > 0 || s.floor > 0 {
				return fmt.Errorf("stream %s: learnt but holds something", s.origin)
			}
			learnt++
		}
		if t.byOrigin[s.origin] != s {
			return fmt.Errorf("stream %s listed but not mapped", s.origin)
		}
		if len(s.runs) > t.maxRuns {
			return fmt.Errorf("stream %s: %d runs, max %d", s.origin, len(s.runs), t.maxRuns)
		}
		prev := s.floor
		for _, r := range s.runs {
			if r.first <= prev+1 || r.last < r.first {
				return fmt.Errorf("stream %s: run %d..%d after %d", s.origin, r.first, r.last, prev)
			}
			prev = r.last
		}
		for i := 1; i < len(s.held); i++ {
			if s.held[i-1].seq >= s.held[i].seq {
				return fmt.Errorf("stream %s: held not sorted at %d", s.origin, i)
			}
		}
		held += len(s.held)
	}
	if held != t.held || held > t.maxHeld {
		return fmt.Errorf("held %d, counted %d, max %d", t.held, held, t.maxHeld)
	}
	if learnt != t.learnt || learnt > t.maxLearnt() {
		return fmt.Errorf("learnt %d, counted %d, max %d", t.learnt, learnt, t.maxLearnt())
	}
	return nil
}

// Expiry driven by the earliest deadline changes nothing: a table whose
// expire skips the scans it finds unnecessary stays identical to one that
// scans every stream at every call, over random deliveries, holds (over
// the held bound too), expiries and bound changes.
func TestStreamTableExpiryDeadlineMatchesFullScan(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var lazy, full streamTable
		lazy.init(6, 4, 20)
		full.init(6, 4, 20)
		now := streamT0
		ret, hor := 3*time.Second, 5*time.Second
		scans := 0
		for step := range 400 {
			switch r := rng.IntN(10); {
			case r < 5:
				id := MessageID{Origin: PeerID(fmt.Sprintf("o%d", rng.IntN(8))), Seq: 1 + rng.Uint64N(40)}
				ot := now.Add(-time.Duration(rng.Int64N(int64(6 * time.Second))))
				if lazy.add(id, ot) != full.add(id, ot) {
					t.Fatalf("seed %d step %d: add(%v) differs", seed, step, id)
				}
				if rng.IntN(2) == 0 {
					lazy.hold(id, ot)
					full.hold(id, ot)
				}
			case r < 6:
				if rng.IntN(2) == 0 {
					ret = time.Duration(1+rng.IntN(5)) * time.Second
				} else {
					hor = time.Duration(1+rng.IntN(8)) * time.Second
				}
			default:
				now = now.Add(time.Duration(rng.Int64N(int64(1500 * time.Millisecond))))
				before := lazy.expKnown && now.Before(lazy.expireAt)
				lazy.expire(now, ret, hor)
				full.touch()
				full.expire(now, ret, hor)
				if !before {
					scans++
				}
			}
			if err := sameTables(&lazy, &full); err != nil {
				t.Fatalf("seed %d step %d (now +%v, ret %v, hor %v): %v", seed, step, now.Sub(streamT0), ret, hor, err)
			}
		}
		if scans == 0 {
			t.Fatalf("seed %d: expire never scanned", seed)
		}
	}
}

func sameTables(a, b *streamTable) error {
	if a.held != b.held || a.gapsLost != b.gapsLost || a.forgotten != b.forgotten || len(a.order) != len(b.order) {
		return fmt.Errorf("held %d/%d, gaps lost %d/%d, forgotten %d/%d, streams %d/%d",
			a.held, b.held, a.gapsLost, b.gapsLost, a.forgotten, b.forgotten, len(a.order), len(b.order))
	}
	for i, s := range a.order {
		o := b.order[i]
		if s.origin != o.origin || s.floor != o.floor || !s.newest.Equal(o.newest) ||
			fmt.Sprint(s.runs) != fmt.Sprint(o.runs) || fmt.Sprint(s.held) != fmt.Sprint(o.held) {
			return fmt.Errorf("stream %d: %+v vs %+v", i, *s, *o)
		}
	}
	return nil
}

// With the held bound reached, every new message forgets the oldest: the
// held lists stay in sequence order, the table's count matches them, and
// the memory behind a list stays within a small multiple of its length
// however many messages pass (dropHeld reslices the front away).
func TestStreamTableHeldAtCapacity(t *testing.T) {
	var tb streamTable
	const maxHeld = 1000
	tb.init(16, 256, maxHeld)
	origins := []PeerID{"a", "b", "c"}
	seq := map[PeerID]uint64{}
	now := streamT0
	for i := range 200_000 {
		o := origins[i%len(origins)]
		if i%7 == 0 {
			o = "a" // a busier origin
		}
		seq[o]++
		now = now.Add(time.Millisecond)
		id := MessageID{Origin: o, Seq: seq[o]}
		tb.add(id, now)
		tb.hold(id, now)
	}
	total := 0
	for _, s := range tb.order {
		total += len(s.held)
		for i := 1; i < len(s.held); i++ {
			if s.held[i-1].seq >= s.held[i].seq {
				t.Fatalf("%s: held out of order at %d", s.origin, i)
			}
		}
		if len(s.held) > 0 && s.held[len(s.held)-1].seq != seq[s.origin] {
			t.Fatalf("%s: newest held %d, want %d", s.origin, s.held[len(s.held)-1].seq, seq[s.origin])
		}
		if c := cap(s.held); c > 4*maxHeld {
			t.Fatalf("%s: %d held in an array of %d", s.origin, len(s.held), c)
		}
	}
	if total != maxHeld || tb.held != maxHeld {
		t.Fatalf("held %d (table says %d), want %d", total, tb.held, maxHeld)
	}
}

// holdByScan is streamTable.hold as it was before heldFronts: a scan of
// every stream for the oldest front at each eviction. The reference for
// TestHeldFrontsMatchScan.
func (t *streamTable) holdByScan(id MessageID, ot time.Time) {
	s := t.stream(id.Origin)
	n := len(s.held)
	s.hold(id.Seq, ot)
	t.held += len(s.held) - n
	t.note(s)
	for t.held > t.maxHeld {
		var oldest *streamSummary
		for _, s := range t.order {
			if len(s.held) > 0 && (oldest == nil || s.held[0].originTime < oldest.held[0].originTime) {
				oldest = s
			}
		}
		oldest.dropHeld(1)
		t.held--
		t.note(oldest)
	}
}

// The heap of fronts forgets exactly what a scan of every stream would:
// random holds (out of order, equal origin times, old messages), expiry and
// streams forgotten for room, compared after every step.
func TestHeldFrontsMatchScan(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var got, want streamTable
		maxStreams := 2 + rng.IntN(5)
		got.init(maxStreams, 8, 1+rng.IntN(40))
		want.init(maxStreams, 8, got.maxHeld)
		next := map[PeerID]uint64{}
		now := streamT0
		for step := range 600 {
			now = now.Add(time.Duration(rng.IntN(3)) * time.Millisecond) // equal times too
			switch r := rng.IntN(20); {
			case r == 0:
				cut := now.Add(-time.Duration(rng.IntN(400)) * time.Millisecond)
				got.expire(now, now.Sub(cut), time.Hour)
				want.expire(now, now.Sub(cut), time.Hour)
			default:
				o := PeerID(fmt.Sprintf("o%d", rng.IntN(maxStreams+2)))
				next[o]++
				seq, ot := next[o], now
				if r < 4 && seq > 3 { // an older message, repaired late
					seq = 1 + uint64(rng.IntN(int(seq)-1))
					ot = now.Add(-time.Duration(rng.IntN(300)) * time.Millisecond)
				}
				id := MessageID{Origin: o, Seq: seq}
				got.add(id, ot)
				want.add(id, ot)
				got.hold(id, ot)
				want.holdByScan(id, ot)
			}
			if got.held != want.held || len(got.order) != len(want.order) {
				t.Fatalf("seed %d step %d: held %d / %d, streams %d / %d", seed, step, got.held, want.held, len(got.order), len(want.order))
			}
			for i, s := range want.order {
				g := got.order[i]
				if g.origin != s.origin || fmt.Sprint(g.held) != fmt.Sprint(s.held) {
					t.Fatalf("seed %d step %d: stream %s holds %v, want %s %v", seed, step, g.origin, g.held, s.origin, s.held)
				}
			}
			if err := got.checkInvariants(); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			if len(got.fronts) > 2*got.maxStreams+64 {
				t.Fatalf("seed %d step %d: %d heap entries for %d streams", seed, step, len(got.fronts), len(got.order))
			}
		}
	}
}

// missingForByWalk is streamSummary.missingFor as it was before it skipped
// covered messages by binary search: one step per held message. The
// reference for TestMissingForMatchesWalk.
func (s *streamSummary) missingForByWalk(d *StreamDigest, max int, out []heldMsg) []heldMsg {
	start := 0
	var runs []SeqRange
	limit := ^uint64(0)
	if d != nil {
		start = sort.Search(len(s.held), func(i int) bool { return s.held[i].seq > d.Floor })
		runs = d.Runs
		if !d.Complete && len(runs) > 0 {
			limit = runs[len(runs)-1].Last
		}
	}
	r := 0
	for _, m := range s.held[start:] {
		if max <= 0 || m.seq > limit {
			break
		}
		for r < len(runs) && runs[r].Last < m.seq {
			r++
		}
		if r < len(runs) && runs[r].First <= m.seq {
			continue
		}
		out = append(out, m)
		max--
	}
	return out
}

// missingFor answers exactly what the walk over every held message did:
// random held lists (with holes), random digests (floor, runs that cover
// held messages, end between them or beyond them, complete or not), nil
// digests and small and large batches.
func TestMissingForMatchesWalk(t *testing.T) {
	for seed := uint64(0); seed < 2000; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		var s streamSummary
		span := 1 + rng.Uint64N(200)
		for seq := uint64(1); seq <= span; seq++ {
			if rng.IntN(4) != 0 {
				s.hold(seq, streamT0)
			}
		}
		var d *StreamDigest
		if rng.IntN(10) != 0 {
			d = &StreamDigest{Floor: rng.Uint64N(span/2 + 1), Complete: rng.IntN(2) == 0}
			prev := d.Floor
			for prev < span+10 && len(d.Runs) < 8 {
				first := prev + 2 + rng.Uint64N(20)
				last := first + rng.Uint64N(60)
				d.Runs = append(d.Runs, SeqRange{First: first, Last: last})
				prev = last
			}
		}
		max := 1 + rng.IntN(300)
		got := fmt.Sprint(s.missingFor(d, max, nil))
		want := fmt.Sprint(s.missingForByWalk(d, max, nil))
		if got != want {
			t.Fatalf("seed %d: held %v digest %+v max %d: got %s, want %s", seed, s.held, d, max, got, want)
		}
	}
}

// refRuns is streamSummary's delivered runs as they were kept before
// dropRun and insertRun: every change a slices.Insert or slices.Delete. The
// reference for TestStreamRunsMatchReference.
type refRuns struct {
	floor uint64
	runs  []deliveredRun
}

func (s *refRuns) delivered(seq uint64) bool {
	if seq <= s.floor {
		return true
	}
	i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].last >= seq })
	return i < len(s.runs) && s.runs[i].first <= seq
}

func (s *refRuns) add(seq uint64, t time.Time, maxRuns int) (bool, int) {
	if s.delivered(seq) {
		return false, 0
	}
	lost := 0
	i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].last >= seq })
	joinNext := i < len(s.runs) && s.runs[i].first == seq+1
	joinPrev := i > 0 && s.runs[i-1].last == seq-1
	switch {
	case joinPrev && joinNext:
		s.runs[i-1].last = s.runs[i].last
		s.runs = slices.Delete(s.runs, i, i+1)
	case joinPrev:
		s.runs[i-1].last = seq
	case joinNext:
		s.runs[i].first, s.runs[i].firstTime = seq, t
	default:
		s.runs = slices.Insert(s.runs, i, deliveredRun{first: seq, last: seq, firstTime: t})
	}
	s.fold()
	for len(s.runs) > maxRuns {
		s.floor = s.runs[0].last
		s.runs = slices.Delete(s.runs, 0, 1)
		lost++
		s.fold()
	}
	return true, lost
}

func (s *refRuns) fold() {
	if len(s.runs) > 0 && s.runs[0].first == s.floor+1 {
		s.floor = s.runs[0].last
		s.runs = slices.Delete(s.runs, 0, 1)
	}
}

func (s *refRuns) giveUpBefore(cutoff time.Time) int {
	n := 0
	for len(s.runs) > 0 && s.runs[0].firstTime.Before(cutoff) {
		s.floor = s.runs[0].last
		s.runs = slices.Delete(s.runs, 0, 1)
		n++
	}
	return n
}

// The runs kept by reslicing the front (dropRun) and compacting on insert
// (insertRun) are exactly those of the slices.Delete version, at and below
// the gap bound, with gaps given up by age too; the array stays within a
// small multiple of the bound. The seed is in every failure.
func TestStreamRunsMatchReference(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 13))
		maxRuns := 1 + rng.IntN(12)
		var got streamSummary
		var want refRuns
		now := streamT0
		top := uint64(0)
		for step := range 3000 {
			now = now.Add(time.Duration(rng.IntN(3)) * time.Millisecond)
			if rng.IntN(50) == 0 {
				cut := now.Add(-time.Duration(rng.IntN(200)) * time.Millisecond)
				if g, w := got.giveUpBefore(cut), want.giveUpBefore(cut); g != w {
					t.Fatalf("seed %d step %d: giveUpBefore gave up %d, want %d", seed, step, g, w)
				}
			} else {
				var seq uint64
				switch r := rng.IntN(10); {
				case r < 6: // ahead, often leaving a gap
					top += 1 + uint64(rng.IntN(3))
					seq = top
				default: // a late one, filling a gap or not
					seq = 1 + rng.Uint64N(top+1)
				}
				ga, gl := got.add(seq, now, maxRuns)
				wa, wl := want.add(seq, now, maxRuns)
				if ga != wa || gl != wl {
					t.Fatalf("seed %d step %d: add(%d) = %v, %d, want %v, %d", seed, step, seq, ga, gl, wa, wl)
				}
			}
			if got.floor != want.floor || !slices.Equal(got.runs, want.runs) {
				t.Fatalf("seed %d step %d: floor %d runs %v, want %d %v", seed, step, got.floor, got.runs, want.floor, want.runs)
			}
			if c := cap(got.runArr); c > 4*maxRuns+8 {
				t.Fatalf("seed %d step %d: %d runs in an array of %d (bound %d)", seed, step, len(got.runs), c, maxRuns)
			}
		}
	}
}

// At the gap bound, a message that opens a gap (giving up the lowest)
// allocates nothing once the array has grown.
func TestStreamRunsAtBoundAllocateNothing(t *testing.T) {
	var s streamSummary
	seq := uint64(0)
	step := func() {
		seq += 2
		s.add(seq, streamT0, 256)
	}
	for range 2000 {
		step()
	}
	// One run of 1,000 messages: AllocsPerRun rounds down per run.
	if a := testing.AllocsPerRun(1, func() {
		for range 1000 {
			step()
		}
	}); a != 0 {
		t.Fatalf("%v allocations in 1,000 messages at the gap bound", a)
	}
}

// streamByScan is streamTable.stream as it was before staleHeap: a scan of
// every stream for the stalest when the table is full. With addByScan, the
// reference for TestStaleHeapMatchesScan.
func (t *streamTable) streamByScan(origin PeerID) *streamSummary {
	if s := t.byOrigin[origin]; s != nil {
		return s
	}
	if len(t.order) >= t.maxStreams {
		stalest := 0
		for i, s := range t.order {
			if s.newest.Before(t.order[stalest].newest) {
				stalest = i
			}
		}
		t.remove(stalest)
		t.forgotten++
	}
	t.born++
	s := &streamSummary{origin: origin, born: t.born}
	t.expKnown = false
	t.byOrigin[origin] = s
	t.order = append(t.order, s)
	return s
}

func (t *streamTable) addByScan(id MessageID, ot time.Time) bool {
	s := t.streamByScan(id.Origin)
	ok, lost := s.add(id.Seq, ot, t.maxRuns)
	t.gapsLost += uint64(lost)
	t.note(s)
	return ok
}

// The heap of streams by newest message forgets exactly the streams the
// scan did, in a table that stays full: messages from more origins than it
// holds (late ones with old origin times, equal times), streams created
// with a newest time set afterwards (as a digest creates them), expiry
// that forgets streams, compared after every step. The seed is in every
// failure.
func TestStaleHeapMatchesScan(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 17))
		var got, want streamTable
		maxStreams := 1 + rng.IntN(12)
		got.init(maxStreams, 8, 1000)
		want.init(maxStreams, 8, 1000)
		next := map[PeerID]uint64{}
		now := streamT0
		for step := range 1500 {
			now = now.Add(time.Duration(rng.IntN(3)) * time.Millisecond) // equal times too
			o := PeerID(fmt.Sprintf("o%d", rng.IntN(3*maxStreams)))
			switch r := rng.IntN(40); {
			case r == 0:
				horizon := time.Duration(1+rng.IntN(200)) * time.Millisecond
				got.expire(now, horizon, horizon)
				want.expire(now, horizon, horizon)
			case r < 4: // a stream a digest names: created empty, newest set
				newest := now.Add(-time.Duration(rng.IntN(300)) * time.Millisecond)
				if got.byOrigin[o] == nil {
					got.stream(o).newest = newest
				}
				if want.byOrigin[o] == nil {
					want.streamByScan(o).newest = newest
				}
			default:
				next[o]++
				ot := now
				if r < 10 { // an old message, late
					ot = now.Add(-time.Duration(rng.IntN(300)) * time.Millisecond)
				}
				id := MessageID{Origin: o, Seq: next[o]}
				if g, w := got.add(id, ot), want.addByScan(id, ot); g != w {
					t.Fatalf("seed %d step %d: add(%v) = %v, want %v", seed, step, id, g, w)
				}
			}
			if len(got.order) != len(want.order) || got.forgotten != want.forgotten || got.cursor != want.cursor {
				t.Fatalf("seed %d step %d: %d streams (%d forgotten, cursor %d), want %d (%d, %d)", seed, step,
					len(got.order), got.forgotten, got.cursor, len(want.order), want.forgotten, want.cursor)
			}
			for i, s := range want.order {
				if g := got.order[i]; g.origin != s.origin || !g.newest.Equal(s.newest) || g.floor != s.floor {
					t.Fatalf("seed %d step %d: stream %d is %s (newest %v), want %s (%v)", seed, step, i, g.origin, g.newest, s.origin, s.newest)
				}
			}
			if err := got.checkInvariants(); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			if len(got.stale) > 2*maxStreams+64 {
				t.Fatalf("seed %d step %d: %d heap entries for %d streams", seed, step, len(got.stale), len(got.order))
			}
		}
	}
}

// expireByRemove is streamTable.expire as it was before it forgot streams
// in one pass: each removed at once (t.remove). The reference for
// TestExpireMatchesRemove.
func (t *streamTable) expireByRemove(now time.Time, retention, horizon time.Duration) {
	if t.expKnown && retention == t.expRet && horizon == t.expHor && now.Before(t.expireAt) {
		return
	}
	gapCut, heldCut := now.Add(-horizon), now.Add(-retention)
	next, known := time.Time{}, false
	for i := 0; i < len(t.order); {
		s := t.order[i]
		t.gapsLost += uint64(s.giveUpBefore(gapCut))
		if k := s.releaseBefore(heldCut); k > 0 {
			t.held -= k
			if len(s.held) > 0 {
				t.fronts.note(t, s)
			}
		}
		if len(s.held) == 0 && len(s.runs) == 0 && s.newest.Before(gapCut) {
			t.remove(i)
			continue
		}
		if d := s.expireDeadline(retention, horizon); !known || d.Before(next) {
			next, known = d, true
		}
		i++
	}
	if !known {
		next = now.Add(horizon)
	}
	t.expireAt, t.expKnown, t.expRet, t.expHor = next, true, retention, horizon
}

// Expiry that forgets streams in one pass leaves the table exactly as
// removing them one by one did: the same streams in the same order, the
// digest cursor where it was (digests rotate between expiries), the same
// counts and deadline, and then the same holds and digests. The seed is in
// every failure.
func TestExpireMatchesRemove(t *testing.T) {
	for seed := uint64(0); seed < 150; seed++ {
		rng := rand.New(rand.NewPCG(seed, 19))
		var got, want streamTable
		maxStreams := 1 + rng.IntN(16)
		maxHeld := 1 + rng.IntN(30)
		got.init(maxStreams, 4, maxHeld)
		want.init(maxStreams, 4, maxHeld)
		next := map[PeerID]uint64{}
		now := streamT0
		for step := range 800 {
			now = now.Add(time.Duration(rng.IntN(20)) * time.Millisecond)
			o := PeerID(fmt.Sprintf("o%d", rng.IntN(2*maxStreams)))
			switch r := rng.IntN(20); {
			case r < 3:
				ret := time.Duration(1+rng.IntN(300)) * time.Millisecond
				hor := ret + time.Duration(rng.IntN(300))*time.Millisecond
				got.expire(now, ret, hor)
				want.expireByRemove(now, ret, hor)
			case r < 6:
				budget := 40 + rng.IntN(200)
				if g, w := fmt.Sprint(got.digest(budget)), fmt.Sprint(want.digest(budget)); g != w {
					t.Fatalf("seed %d step %d: digest %s, want %s", seed, step, g, w)
				}
			case r < 8: // a stream a digest names: empty, newest set
				newest := now.Add(-time.Duration(rng.IntN(400)) * time.Millisecond)
				if got.byOrigin[o] == nil {
					got.stream(o).newest = newest
				}
				if want.byOrigin[o] == nil {
					want.stream(o).newest = newest
				}
			default:
				next[o] += 1 + uint64(rng.IntN(2)) // gaps too
				ot := now.Add(-time.Duration(rng.IntN(100)) * time.Millisecond)
				id := MessageID{Origin: o, Seq: next[o]}
				got.add(id, ot)
				want.add(id, ot)
				got.hold(id, ot)
				want.hold(id, ot)
			}
			if err := sameTables(&got, &want); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			if got.cursor != want.cursor || got.gapsLost != want.gapsLost || !got.expireAt.Equal(want.expireAt) || got.expKnown != want.expKnown {
				t.Fatalf("seed %d step %d: cursor %d gaps lost %d expiry %v %v, want %d %d %v %v", seed, step,
					got.cursor, got.gapsLost, got.expireAt, got.expKnown, want.cursor, want.gapsLost, want.expireAt, want.expKnown)
			}
			if err := got.checkInvariants(); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
		}
	}
}

// Held lists built by hold (which moves the shorter side, into the front
// dropHeld left unused when it can) and dropHeld are exactly a sorted set
// kept with slices.Insert: random new, late and duplicate messages, fronts
// dropped, compared after every step; held stays the tail of heldArr. The
// seed is in every failure.
func TestHeldMatchesSortedInsert(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 23))
		var s streamSummary
		var want []heldMsg
		top := uint64(0)
		for step := range 1000 {
			switch r := rng.IntN(10); {
			case r < 2 && len(want) > 0:
				k := rng.IntN(min(len(want), 4) + 1)
				s.dropHeld(k)
				want = slices.Delete(want, 0, k)
			default:
				var seq uint64
				if r < 6 || top == 0 {
					top += 1 + uint64(rng.IntN(3))
					seq = top
				} else {
					seq = 1 + rng.Uint64N(top) // late, duplicate or below everything
				}
				m := heldMsg{seq: seq, originTime: int64(step)}
				s.hold(seq, time.UnixMilli(int64(step)))
				i, found := slices.BinarySearchFunc(want, seq, func(h heldMsg, q uint64) int { return cmp.Compare(h.seq, q) })
				if !found {
					want = slices.Insert(want, i, m)
				}
			}
			if !slices.Equal(s.held, want) {
				t.Fatalf("seed %d step %d: held %v, want %v", seed, step, s.held, want)
			}
			dead := cap(s.heldArr) - cap(s.held)
			if dead < 0 || (len(s.held) > 0 && &s.heldArr[dead] != &s.held[0]) {
				t.Fatalf("seed %d step %d: held is not the tail of its array", seed, step)
			}
		}
	}
}
