package node

import (
	"context"
	"io"
	"log/slog"

	"github.com/plumtree-go/plumtree/core"
)

// DefaultDeliveryQueue is the default capacity of the delivery queue.
const DefaultDeliveryQueue = 4096

// DefaultObserverQueue is the default number of event batches queued for the
// observers.
const DefaultObserverQueue = 1024

// Option configures a Node (see New).
type Option func(*options)

type options struct {
	logger        *slog.Logger
	observers     []Observer
	store         core.Store
	clock         Clock
	deliveryQueue int
	overflowBytes int64
	queueBytes    int64
	observerQueue int
	injectors     []func(ctx context.Context) []core.Header
	forwardHook   core.ForwardHook
	admission     []func() error
	tuner         Tuner
	stateFile     string
	largeWindow   int
}

func defaultOptions() options {
	return options{
		logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		clock:         SystemClock{},
		deliveryQueue: DefaultDeliveryQueue,
		overflowBytes: DefaultDeliveryOverflowBytes,
		queueBytes:    DefaultDeliveryQueueBytes,
		observerQueue: DefaultObserverQueue,
		largeWindow:   DefaultLargeWindow,
	}
}

// WithLogger sets the logger. The default discards everything. The node logs
// the operations guide's lines with exactly its text and levels:
//
//	WARN  Graft failed for message {msg_id} after {retries} retries   (keys msg_id, retries)
//	DEBUG Demoting peer {peer} to lazy (optimization threshold reached)  (key peer)
//
// Log records are emitted from the protocol goroutine: use a handler that
// does not block for long.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithObserver adds an observer of the protocol's events. Repeatable: the
// observers are called in the order they were added, from one goroutine.
func WithObserver(ob Observer) Option {
	return func(o *options) {
		if ob != nil {
			o.observers = append(o.observers, ob)
		}
	}
}

// WithObserverQueue sets how many event batches (one per protocol step) may
// wait for the observers; beyond it batches are dropped and counted.
// Default DefaultObserverQueue.
func WithObserverQueue(n int) Option { return func(o *options) { o.observerQueue = n } }

// WithStore sets the payload store handed to core.New. The default is a
// core.MemStore sized from the config, in messages (message_cache_max_size)
// and in bytes (core.DefaultMemStoreBytes). The store is used from the
// protocol goroutine only.
func WithStore(s core.Store) Option { return func(o *options) { o.store = s } }

// WithClock sets the clock (default SystemClock).
func WithClock(c Clock) Option {
	return func(o *options) {
		if c != nil {
			o.clock = c
		}
	}
}

// WithDeliveryQueue sets the capacity of the delivery queue between the
// protocol and the delegate (default DefaultDeliveryQueue, at least 1). See
// Node for the backpressure it drives.
func WithDeliveryQueue(n int) Option { return func(o *options) { o.deliveryQueue = n } }

// DefaultDeliveryOverflowBytes is the default byte bound of the delivery
// overflow (WithDeliveryOverflowBytes).
const DefaultDeliveryOverflowBytes = 64 << 20

// DefaultDeliveryQueueBytes is the default byte bound of the delivery queue
// (WithDeliveryQueueBytes).
const DefaultDeliveryQueueBytes = 64 << 20

// WithDeliveryQueueBytes bounds the payload bytes of the deliveries in the
// delivery queue, as WithDeliveryQueue bounds their number: a delivery that
// would take the queue past it goes to the overflow, as at a full queue (a
// queue holding no payload takes any one). Default
// DefaultDeliveryQueueBytes; 0 or less: the count alone. Without it the
// queue held up to its capacity whatever the sizes: 4,096 deliveries of
// 64 KiB are 256 MiB.
func WithDeliveryQueueBytes(n int64) Option { return func(o *options) { o.queueBytes = n } }

// WithDeliveryOverflowBytes bounds the payload bytes of the deliveries held
// in the overflow behind a full delivery queue: at n bytes the node stops
// reading its transport, as it does at the overflow's length bound (see
// Node). Default DefaultDeliveryOverflowBytes; 0 or less: the length bound
// alone. Without it the overflow held up to the store's capacity of
// deliveries whatever their size: 65,536 of 64 KiB is 4 GiB.
func WithDeliveryOverflowBytes(n int64) Option { return func(o *options) { o.overflowBytes = n } }

// WithHeaderInjector adds a function that returns headers to attach to every
// Broadcast, taken from its context (for example the W3C trace context of the
// caller's span). Repeatable: headers are appended in the order the
// injectors were added, after the caller's own headers.
func WithHeaderInjector(f func(ctx context.Context) []core.Header) Option {
	return func(o *options) {
		if f != nil {
			o.injectors = append(o.injectors, f)
		}
	}
}

// WithForwardHook installs h with Protocol.SetForwardHook: it is called on
// the protocol goroutine with the first copy of every received message, and
// its result replaces the headers that are forwarded, stored and delivered.
// It must be fast and must not call the Node.
func WithForwardHook(h core.ForwardHook) Option { return func(o *options) { o.forwardHook = h } }

// WithAdmission adds a function called by Broadcast, on the caller's
// goroutine, before anything else: a non-nil error refuses the broadcast and
// is returned as is (return core.ErrBackpressure, or an error wrapping it,
// to shed load; such refusals are counted in Stats().Runtime.Backpressure).
// Repeatable: all must admit.
func WithAdmission(f func() error) Option {
	return func(o *options) {
		if f != nil {
			o.admission = append(o.admission, f)
		}
	}
}

// WithLargeWindow sets BroadcastLarge's send window: it waits while an
// eager peer has more than w frames queued in the transport (default
// DefaultLargeWindow; only with a transport that implements
// SendQueueLener). Values below 1 are ignored.
func WithLargeWindow(w int) Option {
	return func(o *options) {
		if w >= 1 {
			o.largeWindow = w
		}
	}
}
