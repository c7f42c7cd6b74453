package tcp

import (
	"sync/atomic"

	"github.com/plumtree-go/plumtree/core"
)

// Stats is a snapshot of a Transport's counters (cumulative since New) and
// gauges. Byte counts include the 4-byte length prefixes (and, with a
// keyring, the 16-byte tags of sealed frames) but not TLS records or hellos.
type Stats struct {
	BytesIn   uint64 `json:"bytes_in"`
	BytesOut  uint64 `json:"bytes_out"`
	FramesIn  uint64 `json:"frames_in"`
	FramesOut uint64 `json:"frames_out"`
	// Drops counts frames that were not written: refused by Send (queue
	// full, too large, unknown peer), lost with a connection that broke
	// while they were being written, or still queued when their peer was
	// removed or the Transport closed.
	Drops uint64 `json:"drops"`
	// ReceiveDrops counts frames read from a connection and dropped because
	// that connection's receive queue was full: the node did not read its
	// Receive channel fast enough (see WithConnReceiveQueue).
	ReceiveDrops uint64 `json:"receive_drops"`
	// QueueFull counts Sends and SendBulks refused with ErrQueueFull (part
	// of Drops); BulkQueueFull the SendBulks among them (bulk lane full).
	QueueFull     uint64 `json:"queue_full"`
	BulkQueueFull uint64 `json:"bulk_queue_full"`
	// BulkFramesOut counts the frames written from bulk lanes (part of
	// FramesOut).
	BulkFramesOut uint64 `json:"bulk_frames_out"`
	// TooLarge counts Sends refused with ErrFrameTooLarge (part of Drops).
	TooLarge uint64 `json:"too_large"`
	// Dials and DialFailures count outbound connection attempts and those
	// that failed (connect errors and failed handshakes).
	Dials        uint64 `json:"dials"`
	DialFailures uint64 `json:"dial_failures"`
	// BulkDials counts the dials of bulk connections (WithBulkConnection;
	// part of Dials). BulkFallbacks counts the peers whose bulk lane went
	// back to sharing the peer's connection because no bulk connection to
	// it could be opened while that connection was up (a peer that does
	// not know bulk connections).
	BulkDials     uint64 `json:"bulk_dials"`
	BulkFallbacks uint64 `json:"bulk_fallbacks"`
	// Reconnects counts connections re-established to a peer that had one
	// before: dialed again after the connection was lost, or accepted from
	// a restarted peer (a new incarnation) while the old one was open.
	// Resolving a duplicate connection (both peers dialed at once) is not a
	// reconnect.
	Reconnects uint64 `json:"reconnects"`
	// HandshakeFailures counts connections closed during set-up: no or a
	// bad hello, a failed TLS handshake (an untrusted certificate), a peer
	// id that does not match its certificate, a handshake timeout.
	HandshakeFailures uint64 `json:"handshake_failures"`
	// BadFrames counts established connections closed for a bad frame: an
	// oversized or undersized length prefix, a wrong magic, version or
	// type, a frame cut short.
	BadFrames uint64 `json:"bad_frames"`
	// AuthFailures counts, with a keyring, hellos whose key proof no key of
	// the keyring verifies (or plain hellos), and frames no key opens (part
	// of HandshakeFailures and BadFrames).
	AuthFailures uint64 `json:"auth_failures"`
	// Rejected counts accepted connections closed because MaxConns open
	// connections existed.
	Rejected uint64 `json:"rejected"`
	// StreamConns counts connections handed to the stream handler.
	StreamConns uint64 `json:"stream_conns"`
	// Evicted counts idle connections closed: after the idle timeout
	// (WithIdleTimeout), or to make room for a new one at the connection
	// bound (WithMaxConns, WithEvictIdle).
	Evicted uint64 `json:"evicted"`

	// Gauges.
	QueueDepth     int `json:"queue_depth"`      // frames queued over all peers, both lanes
	BulkQueueDepth int `json:"bulk_queue_depth"` // of which in bulk lanes
	// ReceiveQueueBytes is the bytes of received frames waiting in the
	// connections' queues for the Receive channel (WithReceiveBytes).
	ReceiveQueueBytes int64               `json:"receive_queue_bytes"`
	Peers             int                 `json:"peers"`            // known peers
	ConnectedPeers    int                 `json:"connected_peers"`  // peers with a connection
	Writers           int                 `json:"writers"`          // writer goroutines running, peers' and bulk lanes' (each ends idle without a connection)
	Conns             int                 `json:"conns"`            // established connections (draining duplicates and bulk connections included)
	Handshaking       int                 `json:"handshaking"`      // connections in set-up
	Streams           int                 `json:"streams"`          // stream handler connections not closed yet
	PeerQueueDepth    map[core.PeerID]int `json:"peer_queue_depth"` // frames queued per peer, both lanes
}

type counters struct {
	bytesIn, bytesOut   atomic.Uint64
	framesIn, framesOut atomic.Uint64
	drops, queueFull    atomic.Uint64
	bulkQueueFull       atomic.Uint64
	bulkFramesOut       atomic.Uint64
	tooLarge            atomic.Uint64
	dials, dialFailures atomic.Uint64
	bulkDials           atomic.Uint64
	bulkFallbacks       atomic.Uint64
	reconnects          atomic.Uint64
	handshakeFailures   atomic.Uint64
	badFrames           atomic.Uint64
	rejected            atomic.Uint64
	streamConns         atomic.Uint64
	evicted             atomic.Uint64
	receiveDrops        atomic.Uint64
	authFailures        atomic.Uint64
	forwarders          atomic.Uint64 // connection receive queues made (tests)
}

// Stats returns a snapshot of the counters and gauges. It is cheap enough to
// call at every metrics scrape.
func (t *Transport) Stats() Stats {
	s := Stats{
		BytesIn:           t.st.bytesIn.Load(),
		BytesOut:          t.st.bytesOut.Load(),
		FramesIn:          t.st.framesIn.Load(),
		FramesOut:         t.st.framesOut.Load(),
		Drops:             t.st.drops.Load(),
		QueueFull:         t.st.queueFull.Load(),
		BulkQueueFull:     t.st.bulkQueueFull.Load(),
		BulkFramesOut:     t.st.bulkFramesOut.Load(),
		TooLarge:          t.st.tooLarge.Load(),
		Dials:             t.st.dials.Load(),
		DialFailures:      t.st.dialFailures.Load(),
		BulkDials:         t.st.bulkDials.Load(),
		BulkFallbacks:     t.st.bulkFallbacks.Load(),
		Reconnects:        t.st.reconnects.Load(),
		HandshakeFailures: t.st.handshakeFailures.Load(),
		BadFrames:         t.st.badFrames.Load(),
		Rejected:          t.st.rejected.Load(),
		StreamConns:       t.st.streamConns.Load(),
		Evicted:           t.st.evicted.Load(),
		ReceiveDrops:      t.st.receiveDrops.Load(),
		AuthFailures:      t.st.authFailures.Load(),
		ReceiveQueueBytes: t.inBytes.Load(),
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s.Peers = len(t.peers)
	s.PeerQueueDepth = make(map[core.PeerID]int, len(t.peers))
	for id, p := range t.peers {
		b := p.bulk.len()
		d := p.queue.len() + b
		s.QueueDepth += d
		s.BulkQueueDepth += b
		s.PeerQueueDepth[id] = d
		if p.conn != nil {
			s.ConnectedPeers++
		}
		if p.running.Load() {
			s.Writers++
		}
		if p.bulkRunning.Load() {
			s.Writers++
		}
	}
	s.Streams = t.streams
	for _, c := range t.conns {
		if c != nil {
			s.Conns++
		} else {
			s.Handshaking++
		}
	}
	return s
}
