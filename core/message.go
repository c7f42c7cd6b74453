package core

import (
	"strconv"
	"time"
)

// PeerID names a peer. With the membership module it is the memberlist node
// name, which memberlist keeps unique among live members.
type PeerID string

// MessageID identifies one broadcast. It is the origin's PeerID plus a
// per-origin sequence number. Each incarnation of a node (one Protocol, from
// New to Close) starts its sequence at its incarnation number, the UnixNano
// of its start (or, restored from a saved State, above every sequence the
// saved life used, see Protocol.Restore), and adds one per broadcast. So the
// incarnations of one origin form one increasing sequence: an incarnation's
// ids lie above every id of the incarnations before it (without a saved
// State, as long as the previous life broadcast fewer than one message per
// nanosecond and the clock did not go back). The origin's stream — its
// incarnations one after another — is what the stream summaries track (see
// docs/design.md, "Stream summaries"). Two live nodes never share a name, so
// two ids are equal only if they name the same broadcast: no coordination
// is needed.
//
// MessageID is comparable and is used directly as a map key.
type MessageID struct {
	Origin PeerID
	Seq    uint64
}

// IsZero reports whether id is the zero MessageID (no message).
func (id MessageID) IsZero() bool { return id.Origin == "" && id.Seq == 0 }

// String formats id as "origin/seq", the form used in logs and the admin API.
func (id MessageID) String() string {
	return string(id.Origin) + "/" + strconv.FormatUint(id.Seq, 10)
}

// Header is one key/value pair carried with a broadcast (for example the W3C
// trace context). Headers travel with the payload on every hop.
type Header struct {
	Key   string
	Value string
}

// MessageType is the kind of a protocol Message.
type MessageType uint8

// The four Plumtree messages, then the three of the link protocol that keep
// the active view bounded and symmetric (codes 5-7; see docs/design.md,
// "Overlay").
const (
	// MsgGossip carries a payload (eager push, or the answer to a Graft).
	MsgGossip MessageType = 1
	// MsgIHave announces message ids to a lazy peer.
	MsgIHave MessageType = 2
	// MsgGraft asks the receiver to make the link eager and, for each id it
	// carries, to send that payload. A Graft with no ids only makes the
	// link eager (the paper's GRAFT(null) of Algorithm 4, and how a node asks
	// a new neighbour for a symmetric eager link).
	MsgGraft MessageType = 3
	// MsgPrune asks the receiver to make the link lazy.
	MsgPrune MessageType = 4
	// MsgJoin asks the receiver to open a link: eager when Eager is set,
	// else lazy. Urgent marks a requester whose active view is nearly
	// empty: the receiver makes room for it (HyParView's high-priority
	// neighbour request) instead of refusing.
	MsgJoin MessageType = 5
	// MsgJoinReply answers a Join: Accepted, or refused (the receiver's
	// active view is full).
	MsgJoinReply MessageType = 6
	// MsgDisconnect tells the receiver that the sender dropped the link;
	// the receiver drops it too (both sides then hold it as passive).
	MsgDisconnect MessageType = 7

	// MsgDigest carries a bounded summary of the streams the sender has
	// delivered (anti-entropy). The receiver sends, as MsgRepair, the
	// stored messages the digest says the sender lacks and, unless the
	// digest is itself a reply, answers with its own digest.
	MsgDigest MessageType = 8
	// MsgRepair carries a payload sent by anti-entropy: like MsgGossip, but
	// it changes no link (a repair copy neither promotes its sender nor
	// counts towards a prune).
	MsgRepair MessageType = 9
)

// String returns the message type's name.
func (t MessageType) String() string {
	switch t {
	case MsgGossip:
		return "gossip"
	case MsgIHave:
		return "ihave"
	case MsgGraft:
		return "graft"
	case MsgPrune:
		return "prune"
	case MsgJoin:
		return "join"
	case MsgJoinReply:
		return "join_reply"
	case MsgDisconnect:
		return "disconnect"
	case MsgDigest:
		return "digest"
	case MsgRepair:
		return "repair"
	}
	return "unknown(" + strconv.Itoa(int(t)) + ")"
}

// Announcement is one entry of an IHave: a message id and the hop count with
// which the announcing peer received it (its "round" in the paper; 0 for the
// origin's own broadcast).
//
// OriginTime is the origin's clock when it broadcast the message (see
// Message.OriginTime): a node never grafts a message whose origin time is
// outside the age window.
type Announcement struct {
	ID         MessageID
	Hops       uint16
	OriginTime time.Time
}

// Message is one protocol message. Which fields are meaningful depends on
// Type:
//
//	MsgGossip: ID, OriginTime, Hops, Payload, Headers, Repaired
//	MsgIHave:  IHaves
//	MsgGraft:  IDs (may be empty)
//	MsgPrune:  nothing
//	MsgJoin:       Eager, Urgent
//	MsgJoinReply:  Accepted
//	MsgDisconnect: nothing
//	MsgDigest: Digest
//	MsgRepair: ID, OriginTime, Hops, Payload, Headers, Repaired
//
// OriginTime is the origin's clock when it broadcast the message, carried
// unchanged on every hop with millisecond precision. A message's age is
// measured from it, never from when a node received it: a node refuses to
// deliver, store, announce, graft or send anything older than
// MessageCacheTTL + ClockSkew or more than ClockSkew in the future.
//
// Hops counts transmissions: the origin sends hop 1 and every relay adds one,
// so the hop count of a delivered copy is the paper's LDH quantity.
//
// Ownership: a Message handed to Protocol.Receive belongs to the Protocol from
// then on (it may keep Payload in the store). Messages returned in an Output
// share their Payload with the store and other Outbound entries: treat them as
// read-only.
type Message struct {
	Type       MessageType
	ID         MessageID
	OriginTime time.Time
	Hops       uint16
	Payload    []byte
	Headers    []Header
	IHaves     []Announcement
	IDs        []MessageID
	Digest     *Digest
	// Repaired (MsgGossip, MsgRepair) marks a copy that left the tree on
	// its way: the sender, or a node before it, pulled the message (a
	// Graft) or got it by anti-entropy repair, and every copy pushed on
	// from there carries the mark. Its timing is a repair's, not the
	// tree's: receivers do not measure the tree by it (its lag, an
	// origin's usual age, whether the tree is busy with the origin, the
	// tuner's samples) while they are not under load (see docs/design.md,
	// "Pulls, not promotions").
	Repaired bool
	// Link protocol flags (MsgJoin: Eager, Urgent; MsgJoinReply: Eager,
	// Accepted).
	Eager    bool
	Urgent   bool
	Accepted bool
}

// Outbound is a message to send to one peer.
type Outbound struct {
	To  PeerID
	Msg Message
}

// Delivery is a payload handed to the application exactly once.
type Delivery struct {
	ID         MessageID
	OriginTime time.Time // the origin's clock at broadcast (millisecond precision)
	From       PeerID    // the peer that sent the copy; the local node for its own broadcasts
	Hops       uint16    // 0 for the local node's own broadcasts
	Payload    []byte
	Headers    []Header
	// Repaired is set when the copy was not pushed by the tree: it came
	// after this node had pulled it (a Graft) or by anti-entropy repair.
	Repaired bool
}
