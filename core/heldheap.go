package core

// heldFronts finds the stream whose oldest held message is oldest, for the
// held bound (streamTable.hold), without scanning every stream at every
// eviction: a min-heap of the streams' fronts (held[0]) by origin time, then
// by stream age, which is the order a scan of streamTable.order would give.
//
// Entries are not removed when a front changes: every change pushes the new
// front, and an entry that no longer matches its stream's front (or whose
// stream was forgotten) is dropped when it reaches the top. When stale
// entries outnumber the streams, the heap is rebuilt from the streams, so it
// holds at most about twice as many entries as there are streams.
// (The heap functions are in minheap.go.)
type heldFronts []heldFront

type heldFront struct {
	s    *streamSummary
	at   int64  // s.held[0].originTime when pushed
	seq  uint64 // s.held[0].seq when pushed
	born uint64 // s.born: ties go to the older stream
}

func (e heldFront) before(o heldFront) bool {
	return e.at < o.at || (e.at == o.at && e.born < o.born)
}

// valid reports whether e is still s's front in table t.
func (e heldFront) valid(t *streamTable) bool {
	s := e.s
	return t.byOrigin[s.origin] == s && len(s.held) > 0 && s.held[0].seq == e.seq && s.held[0].originTime == e.at
}

// push records s's current front (s holds at least one message).
func (h *heldFronts) push(s *streamSummary) {
	*h = heapPush(*h, heldFront{s: s, at: s.held[0].originTime, seq: s.held[0].seq, born: s.born})
}

// pop removes the top entry.
func (h *heldFronts) pop() { *h = heapPop(*h) }

// note records s's new front (s holds at least one message) in table t,
// rebuilding the heap when stale entries outnumber the streams.
func (h *heldFronts) note(t *streamTable, s *streamSummary) {
	if heapNeedsRebuild(len(*h), len(t.order)) {
		h.rebuild(t) // s's front included
		return
	}
	h.push(s)
}

// oldest returns the stream whose front is oldest, dropping stale entries
// on the way; nil when no stream holds anything.
func (h *heldFronts) oldest(t *streamTable) *streamSummary {
	for len(*h) > 0 {
		if e := (*h)[0]; e.valid(t) {
			return e.s
		}
		h.pop()
	}
	return nil
}

// rebuild replaces the entries with one per stream that holds messages.
func (h *heldFronts) rebuild(t *streamTable) {
	clear(*h)
	q := (*h)[:0]
	for _, s := range t.order {
		if len(s.held) > 0 {
			q = append(q, heldFront{s: s, at: s.held[0].originTime, seq: s.held[0].seq, born: s.born})
		}
	}
	heapInit(q)
	*h = q
}
