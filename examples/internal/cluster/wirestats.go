package cluster

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// wireTypes bounds the frame types counted (the type byte of a frame;
// larger ones are counted as type 0).
const wireTypes = 16

// WireStats counts the Plumtree frames and bytes all nodes sent, by frame
// type, and the frames dropped by the injected loss.
type WireStats struct {
	frames  [wireTypes]atomic.Uint64
	bytes   [wireTypes]atomic.Uint64
	dropped atomic.Uint64
}

// WireSnapshot is a copy of WireStats at one moment.
type WireSnapshot struct {
	Frames, Bytes [wireTypes]uint64
	Dropped       uint64
}

// Snapshot copies the counters.
func (w *WireStats) Snapshot() WireSnapshot {
	var s WireSnapshot
	for i := range w.frames {
		s.Frames[i] = w.frames[i].Load()
		s.Bytes[i] = w.bytes[i].Load()
	}
	s.Dropped = w.dropped.Load()
	return s
}

// Sub returns s - o.
func (s WireSnapshot) Sub(o WireSnapshot) WireSnapshot {
	for i := range s.Frames {
		s.Frames[i] -= o.Frames[i]
		s.Bytes[i] -= o.Bytes[i]
	}
	s.Dropped -= o.Dropped
	return s
}

// gossipType is the frame type byte of a payload (core.MsgGossip).
const gossipType = 1

// Control returns the frames and bytes of every type but the payload's.
func (s WireSnapshot) Control() (frames, bytes uint64) {
	for i := range s.Frames {
		if i != gossipType {
			frames += s.Frames[i]
			bytes += s.Bytes[i]
		}
	}
	return frames, bytes
}

// Total returns all frames and bytes.
func (s WireSnapshot) Total() (frames, bytes uint64) {
	for i := range s.Frames {
		frames += s.Frames[i]
		bytes += s.Bytes[i]
	}
	return frames, bytes
}

// countingTransport counts what a node sends and drops each frame with
// probability loss (before it reaches the connection: the frame is lost as
// on a lossy link; TCP itself never loses).
type countingTransport struct {
	node.Transport
	stats *WireStats
	loss  float64
	mu    sync.Mutex
	rng   *rand.Rand
}

func (t *countingTransport) Send(to core.PeerID, frame []byte) error {
	typ := 0
	if len(frame) > 2 && int(frame[2]) < wireTypes {
		typ = int(frame[2])
	}
	t.stats.frames[typ].Add(1)
	t.stats.bytes[typ].Add(uint64(len(frame)))
	if t.loss > 0 {
		t.mu.Lock()
		drop := t.rng.Float64() < t.loss
		t.mu.Unlock()
		if drop {
			t.stats.dropped.Add(1)
			return nil
		}
	}
	return t.Transport.Send(to, frame)
}
