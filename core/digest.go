package core

import "time"

// StreamDigest summarises what a node delivered of one origin's stream.
type StreamDigest struct {
	// Origin names the stream.
	Origin PeerID
	// Floor: every sequence at or below it was delivered (or given up).
	Floor uint64
	// Runs lists delivered sequences above Floor as sorted, disjoint,
	// non-adjacent ranges, the lowest first.
	Runs []SeqRange
	// Complete reports that Runs lists every delivered run above Floor.
	// Otherwise the entry says nothing about sequences above the last
	// listed run.
	Complete bool
	// Newest is the newest origin time the sender delivered in the stream.
	Newest time.Time
}

// Digest is the body of a MsgDigest: a bounded summary of the streams the
// sender delivered.
type Digest struct {
	// Streams holds one entry per stream listed, at most
	// AntiEntropyDigestBytes of them in encoded size (and at most
	// MaxDigestStreams).
	Streams []StreamDigest
	// AllStreams reports that Streams lists every stream the sender
	// tracks: a stream it does not list is unknown to it.
	AllStreams bool
	// Reply marks a digest sent in answer to a digest: it is not answered
	// with another digest.
	Reply bool
}

// Hard limits of a digest, enforced on decode and by Receive.
const (
	// MaxDigestStreams is the largest number of streams one digest lists.
	MaxDigestStreams = 4096
	// MaxDigestRuns is the largest number of runs one stream entry lists.
	MaxDigestRuns = 4096
	// MaxDigestBytes bounds the encoded body of one digest (64 KiB).
	MaxDigestBytes = 64 << 10
)

// digestEntrySize is an upper bound of the encoded size of a stream entry
// with origin o and n runs (used to fill a digest up to its byte budget).
func digestEntrySize(o PeerID, n int) int {
	// origin length + origin, floor (varint ≤ 10), newest (≤ 10), flags,
	// run count (≤ 3), runs of two varints (≤ 20).
	return 1 + len(o) + 10 + 10 + 1 + 3 + 20*n
}
