package core

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// State is what a node saves to survive a restart without delivering again
// what it delivered before: the next sequence number of its own stream and
// the summary of every stream it tracks (floor, delivered runs with the
// origin time of their first message, newest origin time). Its size is
// bounded by MaxStreams × MaxStreamGaps (a few hundred bytes per origin in
// practice); it does not grow with the message rate.
//
// Protocol.State returns it, Protocol.Restore applies it to a new Protocol,
// MarshalBinary/UnmarshalBinary give it a compact, checksummed encoding.
// Saving and loading files is the runtime's job (core/node, examples/node
// -state-dir).
type State struct {
	// NextSeq is the next sequence number the saved incarnation would have
	// used: a restored node continues above it.
	NextSeq uint64
	// Streams holds one summary per origin.
	Streams []StreamState
}

// StreamState is the saved summary of one origin's stream.
type StreamState struct {
	Origin PeerID
	// Floor: every sequence at or below it was delivered or given up.
	Floor uint64
	// Runs are the delivered sequences above Floor, sorted, disjoint and
	// non-adjacent, each with the origin time of its first message.
	Runs []StateRun
	// Newest is the newest origin time delivered.
	Newest time.Time
}

// StateRun is a run of delivered sequences [First, Last]; FirstTime is the
// origin time of First.
type StateRun struct {
	First, Last uint64
	FirstTime   time.Time
}

// MaxStateStreams is the most streams a State holds: max_streams' own
// limit, so a node saves and loads every stream it can track (a digest
// lists at most MaxDigestStreams of them at a time; a State is not a
// digest).
const MaxStateStreams = 1 << 20

// MaxStateSize is the most bytes MarshalBinary writes for the State of a
// node configured with cfg: MaxStreams streams, each with the longest
// origin and MaxStreamGaps runs. Readers of state files bound them by it
// (with a floor of their own), so a node can read what it writes.
func MaxStateSize(cfg Config) int64 {
	const (
		perStream = binary.MaxVarintLen16 + MaxPeerIDLen + 3*binary.MaxVarintLen64 // origin, floor, newest, run count
		perRun    = 3 * binary.MaxVarintLen64                                      // gap, length, first time
	)
	head := int64(len(stateMagic)) + 2*binary.MaxVarintLen64 + 4 // magic, next sequence, stream count; checksum
	return head + int64(max(cfg.MaxStreams, 0))*(perStream+int64(max(cfg.MaxStreamGaps, 0))*perRun)
}

// ErrInvalidState is wrapped by every error Restore and UnmarshalBinary
// return.
var ErrInvalidState = errors.New("core: invalid state")

// State returns the node's current State (a copy).
func (p *Protocol) State() State {
	st := State{NextSeq: p.seq, Streams: make([]StreamState, 0, len(p.streams.order))}
	for _, s := range p.streams.order {
		ss := StreamState{Origin: s.origin, Floor: s.floor, Newest: s.newest}
		if len(s.runs) > 0 {
			ss.Runs = make([]StateRun, len(s.runs))
			for i, r := range s.runs {
				ss.Runs[i] = StateRun{First: r.first, Last: r.last, FirstTime: r.firstTime}
			}
		}
		st.Streams = append(st.Streams, ss)
	}
	return st
}

// Restore applies a saved State to a Protocol that has not delivered
// anything yet (call it right after New, before any other input). The
// node's sequence continues above both the saved NextSeq and its own start
// (the incarnation is max(saved + 1, now)), every saved stream summary
// becomes the node's, so nothing delivered in the saved life is delivered
// again, and what was missed is repaired by anti-entropy within the
// retention. Streams beyond MaxStreams and runs beyond MaxStreamGaps are
// folded as the live bounds would (the lowest gaps given up). An invalid
// state (runs out of order, bad origins) is refused with ErrInvalidState
// and changes nothing.
func (p *Protocol) Restore(st State) error {
	if err := st.validate(); err != nil {
		return err
	}
	if p.counters.MessagesDelivered > 0 || p.streams.len() > 0 {
		return fmt.Errorf("%w: Restore after the protocol delivered messages", ErrInvalidState)
	}
	if st.NextSeq > p.seq {
		p.seq = st.NextSeq
		p.seqStart = st.NextSeq
	}
	for _, ss := range st.Streams {
		// Our own stream too: the sequences of earlier lives lie below
		// seqStart (not ours any more, see ownID) but stay delivered.
		s := p.streams.stream(ss.Origin)
		s.floor, s.newest = ss.Floor, ss.Newest
		for _, r := range ss.Runs {
			s.insertRun(len(s.runs), deliveredRun{first: r.First, last: r.Last, firstTime: r.FirstTime})
		}
		for len(s.runs) > p.streams.maxRuns {
			s.floor = s.runs[0].last
			s.dropRun()
			p.streams.gapsLost++
		}
	}
	p.streams.touch()
	return nil
}

func (st *State) validate() error {
	if err := checkStateStreams(len(st.Streams)); err != nil {
		return err
	}
	origins := make(map[PeerID]bool, len(st.Streams))
	for i, ss := range st.Streams {
		if !validPeerID(ss.Origin) {
			return fmt.Errorf("%w: stream %d: bad origin %q", ErrInvalidState, i, truncID(ss.Origin))
		}
		if origins[ss.Origin] {
			return fmt.Errorf("%w: stream %d: origin %q listed twice", ErrInvalidState, i, truncID(ss.Origin))
		}
		origins[ss.Origin] = true
		if err := checkStateRuns(ss.Origin, len(ss.Runs)); err != nil {
			return err
		}
		prev := ss.Floor
		for _, r := range ss.Runs {
			if err := checkStateRun(ss.Origin, prev, r.First, r.Last); err != nil {
				return err
			}
			prev = r.Last
		}
	}
	return nil
}

// checkStateStreams, checkStateRuns and checkStateRun are what
// UnmarshalBinary requires of a State, checked before encoding one (State
// validate, Protocol.AppendState).
func checkStateStreams(n int) error {
	if n > MaxStateStreams {
		return fmt.Errorf("%w: %d streams, max %d", ErrInvalidState, n, MaxStateStreams)
	}
	return nil
}

func checkStateRuns(origin PeerID, n int) error {
	if n > MaxDigestRuns {
		return fmt.Errorf("%w: stream %q: %d runs, max %d", ErrInvalidState, truncID(origin), n, MaxDigestRuns)
	}
	return nil
}

// checkStateRun checks a run first..last that follows prev (the stream's
// floor or the previous run's last): runs are in order and not adjacent.
func checkStateRun(origin PeerID, prev, first, last uint64) error {
	if first <= prev+1 || last < first {
		return fmt.Errorf("%w: stream %q: run %d..%d after %d", ErrInvalidState, truncID(origin), first, last, prev)
	}
	return nil
}

// stateMagic starts an encoded State ("PTS" and format version 1).
var stateMagic = [4]byte{'P', 'T', 'S', 1}

// MarshalBinary encodes st: a 4-byte header, uvarints, and a CRC-32C of
// everything before it. Times are milliseconds since the Unix epoch (0 for
// the zero time).
func (st State) MarshalBinary() ([]byte, error) {
	if err := st.validate(); err != nil {
		return nil, err
	}
	b := appendStateHead(nil, st.NextSeq, len(st.Streams))
	for _, ss := range st.Streams {
		b = appendStreamHead(b, ss.Origin, ss.Floor, ss.Newest, len(ss.Runs))
		prev := ss.Floor
		for _, r := range ss.Runs {
			b = appendStateRun(b, prev, r.First, r.Last, r.FirstTime)
			prev = r.Last
		}
	}
	return appendStateSum(b, 0), nil
}

// AppendState appends to b what p.State().MarshalBinary() returns, without
// building the State: no allocation beyond b's growth, and a fraction of
// the time at large stream tables (BenchmarkStateSave). The runtime saves
// the state with it on the protocol goroutine. It checks, as MarshalBinary
// does, what UnmarshalBinary will require (runs in order, their bounds), so
// a summary broken by a bug is an error wrapping ErrInvalidState, never a
// state file that cannot be read back; b is then returned unchanged.
func (p *Protocol) AppendState(b []byte) ([]byte, error) {
	start := len(b)
	if err := checkStateStreams(len(p.streams.order)); err != nil {
		return b, err
	}
	b = appendStateHead(b, p.seq, len(p.streams.order))
	for _, s := range p.streams.order {
		if err := checkStateRuns(s.origin, len(s.runs)); err != nil {
			return b[:start], err
		}
		b = appendStreamHead(b, s.origin, s.floor, s.newest, len(s.runs))
		prev := s.floor
		for _, r := range s.runs {
			if err := checkStateRun(s.origin, prev, r.first, r.last); err != nil {
				return b[:start], err
			}
			b = appendStateRun(b, prev, r.first, r.last, r.firstTime)
			prev = r.last
		}
	}
	return appendStateSum(b, start), nil
}

func appendStateHead(b []byte, nextSeq uint64, streams int) []byte {
	b = append(b, stateMagic[:]...)
	b = binary.AppendUvarint(b, nextSeq)
	return binary.AppendUvarint(b, uint64(streams))
}

func appendStreamHead(b []byte, origin PeerID, floor uint64, newest time.Time, runs int) []byte {
	b = binary.AppendUvarint(b, uint64(len(origin)))
	b = append(b, origin...)
	b = binary.AppendUvarint(b, floor)
	b = binary.AppendUvarint(b, stateMillis(newest))
	return binary.AppendUvarint(b, uint64(runs))
}

// appendStateRun encodes the run [first, last] after prev (the floor or
// the previous run's last): the gap above prev + 2, the length, the time.
func appendStateRun(b []byte, prev, first, last uint64, firstTime time.Time) []byte {
	b = binary.AppendUvarint(b, first-prev-2)
	b = binary.AppendUvarint(b, last-first)
	return binary.AppendUvarint(b, stateMillis(firstTime))
}

// appendStateSum appends the CRC-32C of b[start:].
func appendStateSum(b []byte, start int) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], crcTable))
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func stateMillis(t time.Time) uint64 {
	if t.IsZero() || t.UnixMilli() < 0 {
		return 0
	}
	return uint64(t.UnixMilli())
}

func stateTime(ms uint64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(min(ms, 1<<62)))
}

// UnmarshalBinary decodes data into st. Corrupt, truncated or oversized
// input (a bad header or checksum, counts above the limits, runs out of
// order) is refused with an error wrapping ErrInvalidState; it never panics
// and allocates in proportion to len(data).
func (st *State) UnmarshalBinary(data []byte) error {
	if len(data) < len(stateMagic)+4 || [4]byte(data[:4]) != stateMagic {
		return fmt.Errorf("%w: not a state (bad header)", ErrInvalidState)
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return fmt.Errorf("%w: checksum mismatch", ErrInvalidState)
	}
	r := stateReader{b: body, i: len(stateMagic)}
	var out State
	out.NextSeq = r.uvarint()
	n := r.count(MaxStateStreams, 5)
	for range n {
		if r.err != nil {
			break
		}
		var ss StreamState
		l := r.count(MaxPeerIDLen, 1)
		ss.Origin = PeerID(r.bytes(l))
		ss.Floor = r.uvarint()
		ss.Newest = stateTime(r.uvarint())
		runs := r.count(MaxDigestRuns, 3)
		prev := ss.Floor
		for range runs {
			gap, length, ft := r.uvarint(), r.uvarint(), r.uvarint()
			first := prev + 2 + gap
			last := first + length
			if first < prev || last < first {
				r.fail("run overflows 64 bits")
				break
			}
			ss.Runs = append(ss.Runs, StateRun{First: first, Last: last, FirstTime: stateTime(ft)})
			prev = last
		}
		out.Streams = append(out.Streams, ss)
	}
	if r.err == nil && r.i != len(body) {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return r.err
	}
	if err := out.validate(); err != nil {
		return err
	}
	*st = out
	return nil
}

type stateReader struct {
	b   []byte
	i   int
	err error
}

func (r *stateReader) fail(msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at offset %d", ErrInvalidState, msg, r.i)
	}
}

func (r *stateReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.i += n
	return v
}

// count reads a count bounded by max and by the bytes left (each element
// needs at least minLen bytes).
func (r *stateReader) count(max, minLen int) int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if v > uint64(max) || int(v)*minLen > len(r.b)-r.i {
		r.fail(fmt.Sprintf("count %d above its bound", v))
		return 0
	}
	return int(v)
}

func (r *stateReader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.i {
		r.fail("truncated")
		return nil
	}
	b := r.b[r.i : r.i+n]
	r.i += n
	return b
}
