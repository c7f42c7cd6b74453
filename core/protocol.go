package core

import "errors"

// Errors returned by the Protocol's inputs.
var (
	ErrMessageTooLarge = errors.New("core: message too large")
	ErrInvalidHeaders  = errors.New("core: invalid headers")
	ErrClosed          = errors.New("core: protocol closed")
	ErrInvalidPeer     = errors.New("core: invalid peer id")
)

// Output is what the Protocol produced since the previous Drain. The caller
// acts on it in this order:
//
//  1. Messages: encode and send each to its peer (order within a peer matters
//     only for efficiency; the protocol tolerates loss and reordering).
//  2. Deliveries: hand each payload to the application, in order.
//  3. Events: feed observers, metrics and logs.
//
// Then it arms a timer for NextDeadline and calls Tick when it fires.
//
// The slices are owned by the Protocol and stay valid until the next call
// to Drain; copy what must outlive that.
type Output struct {
	Messages   []Outbound
	Deliveries []Delivery
	Events     []Event
}

// Empty reports whether o holds nothing.
func (o *Output) Empty() bool {
	return len(o.Messages) == 0 && len(o.Deliveries) == 0 && len(o.Events) == 0
}
