package core

import (
	"slices"
	"sort"
	"time"
)

// SeqRange is the inclusive range of sequence numbers [First, Last] of one
// origin.
type SeqRange struct {
	First, Last uint64
}

// deliveredRun is a run of consecutive delivered sequence numbers above a
// stream's floor, with the origin time of its first message: every missing
// sequence just below the run was broadcast no later than that.
type deliveredRun struct {
	first, last uint64
	firstTime   time.Time
}

// heldMsg is a message of the stream this node stored (and may still hold in
// its Store): what anti-entropy can send to a peer that lacks it.
type heldMsg struct {
	seq        uint64
	originTime int64 // UnixMilli
}

// streamSummary is what the node knows of one origin's stream: which
// sequence numbers it delivered, as a floor plus a bounded list of delivered
// runs above it, and which messages it stored.
//
//   - Every sequence at or below floor was delivered, or given up (its gap
//     aged past the age bound or overflowed the gap bound): none of them is
//     ever delivered again.
//   - runs are sorted, disjoint and separated by at least one missing
//     sequence; the first starts above floor+1 (a run touching the floor is
//     folded into it). The missing sequences between the floor and the runs
//     and between runs are the gaps anti-entropy repairs.
//   - held lists the stored messages by sequence (bounded by the store's
//     capacity over all streams), so a digest is answered without scanning
//     sequence space.
type streamSummary struct {
	origin PeerID
	floor  uint64
	runs   []deliveredRun
	runArr []deliveredRun // the array runs lives in, to its capacity (insertRun)
	newest time.Time      // newest origin time delivered (zero if none)
	held   []heldMsg
	// heldArr is the array held lives in, to its capacity: held is its
	// tail, after the front dropHeld leaves unused (hold).
	heldArr []heldMsg
	born    uint64 // creation order in the table (ties of the held bound)
	listed  uint64 // the last digest received that listed it (Protocol.aeListed)
	// expired: streamTable.expire forgets it (set on the way out only).
	expired bool
	// learnt: created from a peer's digest (streamTable.learn), nothing
	// delivered or held on it since.
	learnt bool
}

// delivered reports whether seq was delivered (or given up).
func (s *streamSummary) delivered(seq uint64) bool {
	if seq <= s.floor {
		return true
	}
	i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].last >= seq })
	return i < len(s.runs) && s.runs[i].first <= seq
}

// covers reports whether every sequence of [first, last] was delivered (or
// given up).
func (s *streamSummary) covers(first, last uint64) bool {
	if last <= s.floor {
		return true
	}
	first = max(first, s.floor+1)
	i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].last >= first })
	return i < len(s.runs) && s.runs[i].first <= first && s.runs[i].last >= last
}

// add records seq (origin time t) as delivered. It returns false if seq was
// already delivered. maxRuns bounds the runs: when adding opens one run too
// many, the lowest gap is given up (folded into the floor) and gapsLost
// counts it.
func (s *streamSummary) add(seq uint64, t time.Time, maxRuns int) (added bool, gapsLost int) {
	if s.delivered(seq) {
		return false, 0
	}
	if t.After(s.newest) {
		s.newest = t
	}
	i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].last >= seq })
	// s.runs[i] (if any) is the first run ending at or above seq; it does
	// not contain seq, so it starts above it.
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
		s.insertRun(i, deliveredRun{first: seq, last: seq, firstTime: t})
	}
	s.foldFloor()
	for len(s.runs) > maxRuns {
		s.floor = s.runs[0].last
		s.dropRun()
		gapsLost++
		s.foldFloor()
	}
	return true, gapsLost
}

// foldFloor folds a run that touches the floor into it.
func (s *streamSummary) foldFloor() {
	if len(s.runs) > 0 && s.runs[0].first == s.floor+1 {
		s.floor = s.runs[0].last
		s.dropRun()
	}
}

// dropRun forgets the lowest run (the caller moved the floor over it). It
// reslices instead of moving the other runs forward: at the gap bound
// every message that opens a gap gives up the lowest one, and moving up to
// MaxStreamGaps runs each time cost 0.4 µs per message at 256 gaps and
// 2 µs at 4,096 (BenchmarkReceiveGossipNewAtGapBound).
func (s *streamSummary) dropRun() {
	s.runs[0] = deliveredRun{}
	s.runs = s.runs[1:]
}

// insertRun inserts r at index i of runs. When the array is full and the
// front dropRun left unused is at least as long as the runs, they move back
// to its start (one move per that many drops); otherwise the array is
// replaced by one twice as long. So a stream that stays at its gap bound
// allocates nothing, and the array stays within about four times the
// longest run list.
func (s *streamSummary) insertRun(i int, r deliveredRun) {
	n := len(s.runs)
	if n == cap(s.runs) {
		if dead := cap(s.runArr) - cap(s.runs); dead > 0 && dead >= n {
			copy(s.runArr, s.runs)
			clear(s.runArr[n:])
			s.runs = s.runArr[:n]
		} else {
			s.runArr = make([]deliveredRun, max(2*n, 4))
			copy(s.runArr, s.runs)
			s.runs = s.runArr[:n]
		}
	}
	s.runs = slices.Insert(s.runs, i, r)
}

// giveUpBefore gives up every gap whose messages were all broadcast before
// cutoff (origin time): the gap below a run is older than the run's first
// message. It returns how many gaps it gave up.
func (s *streamSummary) giveUpBefore(cutoff time.Time) int {
	n := 0
	for len(s.runs) > 0 && s.runs[0].firstTime.Before(cutoff) {
		s.floor = s.runs[0].last
		s.dropRun()
		n++
	}
	return n
}

// expireDeadline returns the earliest time at which streamTable.expire with
// these bounds could change s (give up a gap, release a held message, or
// forget the stream); expire at an earlier time leaves s as it is.
func (s *streamSummary) expireDeadline(retention, horizon time.Duration) time.Time {
	var d time.Time
	switch {
	case len(s.runs) > 0:
		d = s.runs[0].firstTime.Add(horizon)
	case len(s.held) == 0:
		d = s.newest.Add(horizon)
	}
	if len(s.held) > 0 {
		// releaseBefore compares milliseconds: a message held at ot goes
		// when ot < (now - retention) in ms, so never before ot + retention.
		if h := time.UnixMilli(s.held[0].originTime).Add(retention); d.IsZero() || h.Before(d) {
			d = h
		}
	}
	return d
}

// hold records that seq (origin time t) was stored.
//
// A message older than most held ones (a repair, a late copy) goes in by
// moving the messages before it one step into the front of the array that
// dropHeld left unused, when there is such room and they are fewer than
// those after it; otherwise the ones after it move back. Moving every
// later message cost up to the store's capacity per message: 14 µs for
// each repaired message below the 65,536 a full store held of its origin
// (BenchmarkReceiveRepairOldAtCapacity), the catch-up of a node that
// missed a stretch of a busy stream.
func (s *streamSummary) hold(seq uint64, t time.Time) {
	m := heldMsg{seq: seq, originTime: t.UnixMilli()}
	n := len(s.held)
	if n == 0 || s.held[n-1].seq < seq {
		if n == cap(s.held) {
			s.held = append(s.held, m)
			s.heldArr = s.held[:cap(s.held)] // a new array
			return
		}
		s.held = append(s.held, m)
		return
	}
	i := sort.Search(n, func(i int) bool { return s.held[i].seq >= seq })
	if i < n && s.held[i].seq == seq {
		return
	}
	if dead := cap(s.heldArr) - cap(s.held); dead > 0 && i < n/2 {
		h := s.heldArr[dead-1 : dead+n]
		copy(h[:i], s.held[:i])
		h[i] = m
		s.held = h
		return
	}
	if n == cap(s.held) {
		s.held = slices.Insert(s.held, i, m)
		s.heldArr = s.held[:cap(s.held)] // a new array
		return
	}
	s.held = slices.Insert(s.held, i, m)
}

// releaseBefore forgets the held messages at the front of the list whose
// origin time is before cutoff (the store no longer serves them) and returns
// how many it forgot.
func (s *streamSummary) releaseBefore(cutoff time.Time) int {
	c := cutoff.UnixMilli()
	i := 0
	for i < len(s.held) && s.held[i].originTime < c {
		i++
	}
	s.dropHeld(i)
	return i
}

// dropHeld forgets the k oldest held messages. It reslices instead of
// moving the rest forward: held is a queue that loses its front once the
// store is full, at every message (streamTable.hold), and moving up to the
// store's capacity of entries each time cost tens of microseconds per
// message (BenchmarkReceiveGossipNew). The dead front of the array is
// released when append outgrows it, so the array stays within about twice
// the longest list.
func (s *streamSummary) dropHeld(k int) {
	s.held = s.held[k:]
}

// missingFor returns, in sequence order, up to max held messages that a peer
// whose summary of this stream is d lacks. d == nil means the peer knows
// nothing of the stream.
//
// The held messages a run of d covers are skipped by a binary search, not
// one by one: a peer that lacks one old message has a run over everything
// after it, and walking the held list under that run cost a pass over up
// to the store's capacity per digest received (65,536 entries, about
// 0.1 ms) to send nothing (BenchmarkReceiveDigestAtCapacity, behind-by-one).
func (s *streamSummary) missingFor(d *StreamDigest, max int, out []heldMsg) []heldMsg {
	i := 0
	var runs []SeqRange
	limit := ^uint64(0)
	if d != nil {
		i = sort.Search(len(s.held), func(i int) bool { return s.held[i].seq > d.Floor })
		runs = d.Runs
		if !d.Complete && len(runs) > 0 {
			limit = runs[len(runs)-1].Last
		}
	}
	r := 0
	for i < len(s.held) {
		m := s.held[i]
		if max <= 0 || m.seq > limit {
			break
		}
		for r < len(runs) && runs[r].Last < m.seq {
			r++
		}
		if r < len(runs) && runs[r].First <= m.seq {
			// The peer has it, and every held message up to the run's end.
			last, rest := runs[r].Last, s.held[i+1:]
			i += 1 + sort.Search(len(rest), func(k int) bool { return rest[k].seq > last })
			continue
		}
		out = append(out, m)
		max--
		i++
	}
	return out
}

// digest returns the stream's entry of a digest with at most maxRuns runs.
func (s *streamSummary) digest(maxRuns int) StreamDigest {
	d := StreamDigest{Origin: s.origin, Floor: s.floor, Newest: s.newest, Complete: len(s.runs) <= maxRuns}
	n := min(len(s.runs), maxRuns)
	if n > 0 {
		d.Runs = make([]SeqRange, n)
		for i := range d.Runs {
			d.Runs[i] = SeqRange{First: s.runs[i].first, Last: s.runs[i].last}
		}
	}
	return d
}
