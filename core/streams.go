package core

import (
	"slices"
	"time"
)

// streamTable holds the stream summaries of every origin the node tracks,
// bounded by maxStreams (the stream whose newest message is oldest is
// forgotten first), with at most maxRuns delivered runs per stream and at
// most maxHeld held messages over all streams.
type streamTable struct {
	byOrigin map[PeerID]*streamSummary
	order    []*streamSummary // digest rotation order
	cursor   int              // next stream a digest starts with
	held     int              // held messages over all streams
	fronts   heldFronts       // the streams' oldest held messages, for the held bound
	stale    staleHeap        // the streams by newest message, for the stream bound
	born     uint64           // streams created (streamSummary.born)

	maxStreams, maxRuns, maxHeld int

	gapsLost   uint64 // gaps given up (too old or over maxRuns)
	gapsOpened uint64 // deliveries that left a gap below them (a run more)
	forgotten  uint64 // streams forgotten because the table was full

	// learnt counts the streams learnt from a peer's digest (learn) that
	// nothing has been delivered or held on yet; notLearnt the origins a
	// digest listed that were not tracked (the table full, or at
	// maxLearnt).
	learnt, notLearnt uint64

	// Expiry is driven by the earliest deadline: expire does nothing
	// before expireAt, the earliest time at which it could change a
	// stream under the bounds of its last scan (expRet, expHor). Every
	// change that can bring a stream's deadline forward lowers expireAt
	// (note); a new stream, restored state or other bounds force a scan
	// (expKnown false).
	expireAt       time.Time
	expKnown       bool
	expRet, expHor time.Duration
}

func (t *streamTable) init(maxStreams, maxRuns, maxHeld int) {
	t.byOrigin = make(map[PeerID]*streamSummary)
	t.maxStreams, t.maxRuns, t.maxHeld = maxStreams, maxRuns, maxHeld
}

func (t *streamTable) len() int { return len(t.order) }

// delivered reports whether id was delivered (or given up).
func (t *streamTable) delivered(id MessageID) bool {
	s := t.byOrigin[id.Origin]
	return s != nil && s.delivered(id.Seq)
}

// maxLearnt bounds the streams learnt from digests that hold nothing yet
// (claimShare of the table).
func (t *streamTable) maxLearnt() uint64 { return uint64(claimShare(t.maxStreams)) }

// learn tracks origin, which a peer's digest listed with newest as its
// newest origin time, as an empty stream, so that this node's digests ask
// for its messages. It returns nil, tracking nothing, when the table is
// full or already holds maxLearnt such streams: a digest is a claim of
// whoever sent it, and origins made up in digests must not make the table
// forget the streams of messages this node delivered (a copy of those
// could then be delivered again). Learning is an early start only: the
// messages of an untracked origin are repaired all the same when a digest
// lists all of this node's streams, and arrive by gossip.
func (t *streamTable) learn(origin PeerID, newest time.Time) *streamSummary {
	if len(t.order) >= t.maxStreams || t.learnt >= t.maxLearnt() {
		t.notLearnt++
		return nil
	}
	s := t.stream(origin)
	s.newest = newest
	s.learnt = true
	t.learnt++
	return s
}

// settle marks s as holding something, no longer only learnt.
func (t *streamTable) settle(s *streamSummary) {
	if s.learnt {
		s.learnt = false
		t.learnt--
	}
}

// stream returns origin's summary, creating it (and forgetting the stalest
// stream if the table is full).
func (t *streamTable) stream(origin PeerID) *streamSummary {
	if s := t.byOrigin[origin]; s != nil {
		return s
	}
	if len(t.order) >= t.maxStreams {
		s := t.stale.stalest(t)
		if s == nil {
			// Cannot happen while every stream has an entry; rebuild
			// rather than forget another stream.
			t.stale.rebuild(t)
			s = t.stale.stalest(t)
		}
		// The index: a scan of pointers (no stream is read), and the
		// removal keeps the digest rotation order.
		t.remove(slices.Index(t.order, s))
		t.forgotten++
	}
	t.born++
	s := &streamSummary{origin: origin, born: t.born}
	t.expKnown = false // its deadline depends on fields set by the caller
	t.byOrigin[origin] = s
	t.order = append(t.order, s)
	t.stale.push(t, s)
	return s
}

func (t *streamTable) remove(i int) {
	s := t.order[i]
	t.settle(s)
	t.held -= len(s.held)
	// The heap of fronts may point to s until a stale entry surfaces:
	// release its lists now.
	s.held, s.heldArr, s.runs, s.runArr = nil, nil, nil, nil
	delete(t.byOrigin, s.origin)
	t.order = slices.Delete(t.order, i, i+1)
	if t.cursor > i {
		t.cursor--
	}
}

// add records id (origin time ot) as delivered; false if it already was.
func (t *streamTable) add(id MessageID, ot time.Time) bool {
	s := t.stream(id.Origin)
	t.settle(s)
	runs := len(s.runs)
	ok, lost := s.add(id.Seq, ot, t.maxRuns)
	t.gapsLost += uint64(lost)
	if len(s.runs)+lost > runs { // at the gap bound a run is dropped for the new one
		t.gapsOpened++
	}
	t.note(s)
	return ok
}

// hold records that id (origin time ot) was stored. Over maxHeld, the
// oldest held message is forgotten.
func (t *streamTable) hold(id MessageID, ot time.Time) {
	s := t.stream(id.Origin)
	t.settle(s)
	n := len(s.held)
	var front uint64
	if n > 0 {
		front = s.held[0].seq
	}
	s.hold(id.Seq, ot)
	t.held += len(s.held) - n
	if n == 0 || s.held[0].seq != front {
		t.fronts.note(t, s)
	}
	t.note(s)
	for t.held > t.maxHeld {
		oldest := t.fronts.oldest(t)
		if oldest == nil {
			// Cannot happen while every front change is pushed; rebuild
			// rather than loop (and, if the count is wrong, stop).
			t.fronts.rebuild(t)
			if oldest = t.fronts.oldest(t); oldest == nil {
				break
			}
		}
		oldest.dropHeld(1)
		t.held--
		if len(oldest.held) > 0 {
			t.fronts.note(t, oldest)
		}
		t.note(oldest)
	}
}

// note lowers the expiry deadline to s's, after a change of s.
func (t *streamTable) note(s *streamSummary) {
	if !t.expKnown {
		return
	}
	if d := s.expireDeadline(t.expRet, t.expHor); d.Before(t.expireAt) {
		t.expireAt = d
	}
}

// touch forces the next expire to scan every stream (after a change made
// to the summaries from outside the table).
func (t *streamTable) touch() { t.expKnown = false }

// expire applies the age bound at now: gaps older than horizon are given
// up, held messages older than retention released, and a stream with
// nothing held whose newest message is older than horizon forgotten (any
// copy of it would be refused by age).
func (t *streamTable) expire(now time.Time, retention, horizon time.Duration) {
	if t.expKnown && retention == t.expRet && horizon == t.expHor && now.Before(t.expireAt) {
		return // nothing can expire yet
	}
	gapCut, heldCut := now.Add(-horizon), now.Add(-retention)
	next, known := time.Time{}, false
	// The streams to forget are marked, then taken out of order in one
	// pass: removing each at once (t.remove) moved the rest of order every
	// time, 0.9 ms for 4,096 streams that went quiet together
	// (BenchmarkStreamTableExpireAll). Forgotten streams hold nothing, so
	// the held heap never pushes them (fronts.note may rebuild it from
	// order meanwhile).
	forget := 0
	for _, s := range t.order {
		t.gapsLost += uint64(s.giveUpBefore(gapCut))
		if k := s.releaseBefore(heldCut); k > 0 {
			t.held -= k
			if len(s.held) > 0 {
				t.fronts.note(t, s)
			}
		}
		if len(s.held) == 0 && len(s.runs) == 0 && s.newest.Before(gapCut) {
			t.settle(s)
			s.expired = true
			delete(t.byOrigin, s.origin)
			forget++
			continue
		}
		if d := s.expireDeadline(retention, horizon); !known || d.Before(next) {
			next, known = d, true
		}
	}
	if forget > 0 {
		w, cursor := 0, t.cursor
		for i, s := range t.order {
			if s.expired {
				if i < cursor {
					t.cursor-- // as remove does
				}
				continue
			}
			t.order[w] = s
			w++
		}
		clear(t.order[w:])
		t.order = t.order[:w]
	}
	if !known {
		next = now.Add(horizon) // no stream: only a new one (a forced scan) changes that
	}
	t.expireAt, t.expKnown, t.expRet, t.expHor = next, true, retention, horizon
}

// digest builds a digest of at most maxBytes (estimated encoded size; at
// least one stream), starting where the previous one stopped.
func (t *streamTable) digest(maxBytes int) Digest {
	var d Digest
	n := len(t.order)
	if n == 0 {
		d.AllStreams = true
		return d
	}
	if t.cursor >= n {
		t.cursor = 0
	}
	size := 0
	for k := 0; k < n && len(d.Streams) < MaxDigestStreams; k++ {
		s := t.order[(t.cursor+k)%n]
		runs := min(len(s.runs), t.maxRuns, MaxDigestRuns)
		sz := digestEntrySize(s.origin, runs)
		if len(d.Streams) > 0 && size+sz > maxBytes {
			break
		}
		size += sz
		d.Streams = append(d.Streams, s.digest(runs))
	}
	d.AllStreams = len(d.Streams) == n
	t.cursor = (t.cursor + len(d.Streams)) % n
	return d
}
