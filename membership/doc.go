// Package membership turns hashicorp/memberlist (SWIM) membership into
// Plumtree peers.
//
// A Membership owns the node's single port: memberlist's packets use UDP on
// it, memberlist's streams and Plumtree's frames share its TCP listener
// (Listener, handed to transport-tcp, which passes every connection that is
// not a Plumtree connection to HandleStream). Each node advertises its
// Plumtree transport address and protocol version in memberlist's node
// metadata (Meta, a few dozen bytes, far below memberlist.MetaMaxSize);
// members without valid metadata — a plain memberlist node, another protocol
// version — are ignored and counted, never added as peers.
//
// Membership changes reach the runtime without ever blocking memberlist:
// memberlist's join, update and leave callbacks only record the latest state
// of the member in a queue that holds one entry per member name (so it is
// bounded by the member count and nothing is ever dropped), and one
// goroutine applies the queue in order: AddressBook.SetPeerAddr then
// Peers.AddPeer for a member that joined, Peers.RemovePeer then
// AddressBook.RemovePeer for one that left or failed. A member that left and
// came back before the queue was drained is removed and added again.
//
// Around that core: joining through seed addresses with retries (and one
// full-state exchange with a random member shortly after, so that nodes
// joining at the same time do not miss each other), a graceful
// Leave (the metadata is flagged first, so the other nodes tell a leave from
// a failure), periodic rejoin of static seeds missing from the alive set,
// persistence of known members (written atomically, read at start), ping
// round trips fed to the runtime as RTT samples, partition suspicion (the
// operations guide's "Possible partition detected - cannot reach peers:
// {peers}" warning when a large share of peers fails within a short window,
// or when messages become unobtainable because every announcer is gone), and
// gossip encryption with memberlist's keyring.
//
// Concurrency: all methods of Membership are safe for concurrent use. Peers
// and AddressBook are called from one goroutine of the Membership; Observe
// (node.Observer) only updates counters.
package membership
