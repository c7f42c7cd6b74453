// Package sim simulates Plumtree at scale by driving the real core.Protocol
// of every simulated node: the simulator moves the protocol's Outbound
// messages, calls Tick at its NextDeadline and calls AddPeer / RemovePeer as
// a membership layer would. Nothing of the protocol is copied.
//
// # Engines
//
// The cycle engine is the paper's (PeerSim): per cycle, failures, one
// broadcast run until nothing is in flight, then a membership step. Messages
// travel in FIFO rounds (everything sent in round r arrives in round r+1,
// one RoundLength of virtual time per round); when nothing is in flight the
// clock jumps to the next protocol deadline, so graft timers and IHave
// flushes fire exactly as the core schedules them. The event engine gives
// every link a latency (uniform in [LatencyMin, LatencyMax], the same both
// ways) plus per-message jitter, keeps all arrivals and deadlines in one
// time-ordered queue and runs the core's real timers; it also measures the
// time from a broadcast to its last delivery.
//
// # Overlays
//
// The paper's overlay is a random symmetric graph of degree 5 (HyParView's
// active view, fanout 4) maintained by a HyParView model (see hyparview).
// Ours is full membership: every node AddPeer's every other node (in its own
// random order) and the core keeps its own bounded active view and passive
// candidates; failed members are RemovePeer'd after a detection delay.
//
// # Protocols
//
// flood is the paper's eager baseline: the same core with the lazy path
// off (nothing is ever pruned, no lazy peers, no anti-entropy), so every
// overlay link carries the payload. plumtree has one fixed sender;
// plumtree-many picks a random live sender per broadcast (shared trees);
// the -optN variants enable Algorithm 4 with HopOptimizationThreshold N.
// Plumtree prunes on the first duplicate, as the paper's does.
//
// Algorithm 4 and IHave timing: the core applies Algorithm 4 when an IHave
// arrives for a message it already delivered. The paper checks when the
// payload arrives, against the IHaves received before it. In the cycle
// engine IHaves therefore leave on the core's flush timer (200 ms = 200
// rounds, after the eager push is over); with one broadcast per cycle each
// still carries a single id, as without batching. With IHaveBatchSize 1
// (-ihave-batch 1) a shorter path's IHave always arrives before the payload
// and Algorithm 4 never fires.
//
// # Metrics
//
// Exactly the paper's: reliability (% of live nodes that deliver), RMR
// (payload receipts including duplicates / (delivering nodes − 1) − 1), LDH
// (hop count of the last delivered copy), payload and control messages per
// broadcast; plus the time to the last delivery in the event engine.
// Deliveries after a broadcast's cycle are counted apart as late. Every run
// also checks that no node delivers a message twice.
//
// Runs are deterministic: every random choice comes from a seed derived
// from the run seed and the run's name, so a run does not depend on the
// other runs or on how many run at once.
package sim
