package node

import (
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// Stats is a snapshot of a node: the protocol's state and counters plus the
// runtime's own. It encodes to JSON with the protocol's fields at the top
// level and the runtime's under "runtime".
type Stats struct {
	core.Stats
	Runtime RuntimeStats `json:"runtime"`
	// Tuning is what the protocol runs with now: the configured values, or
	// what SetTuning or the WithTuner controller last applied.
	Tuning TuningStats `json:"tuning"`
	// Large are the large-message counters (BroadcastLarge, assembly).
	Large LargeStats `json:"large"`
}

// TuningStats is core.Tuning in units that read well in JSON.
type TuningStats struct {
	GraftTimeoutMS  float64 `json:"graft_timeout_ms"`
	IHaveIntervalMS float64 `json:"ihave_interval_ms"`
	IHaveBatchSize  int     `json:"ihave_batch_size"`
}

func tuningStats(t core.Tuning) TuningStats {
	return TuningStats{
		GraftTimeoutMS:  float64(t.GraftTimeout) / float64(time.Millisecond),
		IHaveIntervalMS: float64(t.IHaveInterval) / float64(time.Millisecond),
		IHaveBatchSize:  t.IHaveBatchSize,
	}
}

// RuntimeStats are the counters and gauges of the runtime around the
// protocol. Counters are cumulative since New.
type RuntimeStats struct {
	// DeliveryQueueLen is the number of deliveries and hooks waiting for
	// the delegate: the bounded queue plus the overflow.
	DeliveryQueueLen int `json:"delivery_queue_len"`
	// DeliveryQueueCap is the capacity of the bounded queue
	// (WithDeliveryQueue).
	DeliveryQueueCap int `json:"delivery_queue_cap"`
	// DeliveryHighWater is the queue length from which Broadcast is
	// refused with ErrBackpressure.
	DeliveryHighWater int `json:"delivery_high_water"`
	// DeliveryOverflow is the number of items held in the overflow buffer
	// because the bounded queue was full.
	DeliveryOverflow int `json:"delivery_overflow"`
	// DeliveryOverflowLimit is the overflow length at which the node stops
	// reading its transport.
	DeliveryOverflowLimit int `json:"delivery_overflow_limit"`
	// DeliveryOverflowBytes is the payload bytes of the deliveries in the
	// overflow; at DeliveryOverflowBytesLimit (WithDeliveryOverflowBytes;
	// 0: none) the node stops reading its transport too.
	DeliveryOverflowBytes      int64 `json:"delivery_overflow_bytes"`
	DeliveryOverflowBytesLimit int64 `json:"delivery_overflow_bytes_limit"`
	// DeliveryQueueBytes is the payload bytes of the deliveries in the
	// bounded queue; beyond DeliveryQueueBytesLimit (WithDeliveryQueueBytes;
	// 0: none) deliveries wait in the overflow.
	DeliveryQueueBytes      int64 `json:"delivery_queue_bytes"`
	DeliveryQueueBytesLimit int64 `json:"delivery_queue_bytes_limit"`
	// IntakePaused reports whether the node is currently not reading its
	// transport because the overflow is full.
	IntakePaused bool `json:"intake_paused"`
	// ObserverQueueLen is the number of event batches waiting for the
	// observers.
	ObserverQueueLen int `json:"observer_queue_len"`

	// Delivered counts Deliver calls that returned.
	Delivered uint64 `json:"delivered"`
	// Backpressure counts broadcasts refused with ErrBackpressure, by the
	// delivery queue or by an admission function.
	Backpressure uint64 `json:"backpressure"`
	// AdmissionRefused counts broadcasts refused by an admission function
	// (whatever the error).
	AdmissionRefused uint64 `json:"admission_refused"`
	// IntakePauses counts the times the node stopped reading its transport.
	IntakePauses uint64 `json:"intake_pauses"`
	// HookDrops counts delegate hooks (never deliveries) dropped because
	// the overflow held twice its limit.
	HookDrops uint64 `json:"hook_drops"`
	// DeliveriesDiscarded counts deliveries and hooks discarded by a
	// Shutdown whose context expired before the delegate caught up.
	DeliveriesDiscarded uint64 `json:"deliveries_discarded"`
	// FramesIn and FramesOut count frames received from and handed to the
	// transport.
	FramesIn  uint64 `json:"frames_in"`
	FramesOut uint64 `json:"frames_out"`
	// DecodeErrors counts inbound frames the codec rejected.
	DecodeErrors uint64 `json:"decode_errors"`
	// EncodeErrors counts outbound messages the codec refused.
	EncodeErrors uint64 `json:"encode_errors"`
	// SendErrors counts frames the transport refused.
	SendErrors uint64 `json:"send_errors"`
	// ObserverDrops counts events dropped because the observer queue was
	// full.
	ObserverDrops uint64 `json:"observer_drops"`
	// TransportClosed reports that the transport closed its Receive channel
	// while the node was running.
	TransportClosed bool `json:"transport_closed"`
	// StateSaves and StateSaveErrors count the writes of the state file
	// (WithStateFile) that succeeded and failed.
	StateSaves      uint64 `json:"state_saves"`
	StateSaveErrors uint64 `json:"state_save_errors"`
	// Wakeups counts the times the protocol goroutine woke up: for a
	// frame (or a batch of frames), a call (Broadcast, AddPeer, Stats...),
	// its timer, or room in the delivery queue. TimerFires counts those of
	// its timer, which is armed only at the protocol's next deadline
	// (core.Protocol.NextDeadline): a node with nothing to do wakes once
	// per maintenance interval. Their rates tell what an idle node costs.
	Wakeups    uint64 `json:"wakeups"`
	TimerFires uint64 `json:"timer_fires"`
}
