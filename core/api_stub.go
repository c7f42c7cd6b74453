package core

import "time"

// TEMPORARY: the signatures of the Protocol. The engine replaces this file.

// Protocol is the Plumtree state machine of one node. It is not safe for
// concurrent use: one goroutine owns it (core/node does this).
type Protocol struct{}

// New returns a Protocol for the node self. store keeps payloads for Grafts;
// nil means a MemStore sized from cfg. now is the creation time: it seeds the
// message sequence (see MessageID) and the first deadlines.
func New(cfg Config, self PeerID, store Store, now time.Time) (*Protocol, error) {
	panic("unimplemented")
}

func (p *Protocol) Self() PeerID   { panic("x") }
func (p *Protocol) Config() Config { panic("x") }
func (p *Protocol) Broadcast(now time.Time, payload []byte, headers []Header) (MessageID, error) {
	panic("x")
}
func (p *Protocol) Receive(now time.Time, from PeerID, msg Message)         { panic("x") }
func (p *Protocol) AddPeer(now time.Time, peer PeerID)                      { panic("x") }
func (p *Protocol) RemovePeer(now time.Time, peer PeerID)                   { panic("x") }
func (p *Protocol) RecordRTT(now time.Time, peer PeerID, rtt time.Duration) { panic("x") }
func (p *Protocol) Tick(now time.Time)                                      { panic("x") }
func (p *Protocol) Close(now time.Time)                                     { panic("x") }
func (p *Protocol) Drain() Output                                           { panic("x") }
func (p *Protocol) NextDeadline() time.Time                                 { panic("x") }
func (p *Protocol) EagerPeers() []PeerID                                    { panic("x") }
func (p *Protocol) LazyPeers() []PeerID                                     { panic("x") }
func (p *Protocol) PassivePeers() []PeerID                                  { panic("x") }
func (p *Protocol) ProtectedNeighbors() []PeerID                            { panic("x") }
func (p *Protocol) PeerCount() int                                          { panic("x") }
func (p *Protocol) HasSeen(id MessageID) bool                               { panic("x") }
func (p *Protocol) Stats() Stats                                            { panic("x") }
func (p *Protocol) Health(now time.Time) Health                             { panic("x") }
