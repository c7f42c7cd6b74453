package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// AdminOption configures AdminHandler.
type AdminOption func(*adminOptions)

type adminOptions struct {
	routes   []route
	sections []section
	readOnly bool
}

type route struct {
	pattern string
	h       http.Handler
}

type section struct {
	name string
	fn   func() any
}

// WithExtraRoute registers h under pattern (a net/http.ServeMux pattern
// such as "GET /topology") next to the built-in routes.
func WithExtraRoute(pattern string, h http.Handler) AdminOption {
	return func(o *adminOptions) { o.routes = append(o.routes, route{pattern, h}) }
}

// WithSection adds a JSON section, fn's result under name, to GET /dump (for
// example the cluster topology from membership). fn is called on every
// request, from the request's goroutine.
func WithSection(name string, fn func() any) AdminOption {
	return func(o *adminOptions) { o.sections = append(o.sections, section{name, fn}) }
}

// WithReadOnly removes POST /broadcast.
func WithReadOnly() AdminOption { return func(o *adminOptions) { o.readOnly = true } }

// PeersReport is the JSON of GET /peers.
type PeersReport struct {
	Self      core.PeerID   `json:"self"`
	Eager     []core.PeerID `json:"eager"`
	Lazy      []core.PeerID `json:"lazy"`
	Protected []core.PeerID `json:"protected"`
	Count     int           `json:"count"` // eager + lazy
}

// BroadcastReport is the JSON answer of POST /broadcast.
type BroadcastReport struct {
	MsgID  string      `json:"msg_id"` // "origin/seq", as in the logs
	Origin core.PeerID `json:"origin"`
	Seq    uint64      `json:"seq"`
	Size   int         `json:"size"`
}

// AdminHandler returns an HTTP handler (standard library only) with the
// diagnostics of the operations guide:
//
//	GET  /health     HealthView as JSON (core.Health, and the large messages being assembled);
//	                 200 when Healthy or Degraded, 503 when Unhealthy (the readiness probe)
//	GET  /livez      200 while the node's protocol goroutine answers, 503 after Shutdown
//	                 (the liveness probe: it does not depend on peers)
//	GET  /peers      PeersReport: eager, lazy and protected peers, and their count
//	GET  /stats      Stats as JSON (protocol counters, runtime under "runtime")
//	GET  /config     the configuration, with the guide's field names; durations as "500ms"
//	GET  /dump       all of the above plus the WithSection sections, for escalations
//	POST /broadcast  a test broadcast: the body is the payload (400 when empty); answers BroadcastReport
//	                 (413 above max_message_size, 503 when closed or under backpressure). A body
//	                 with a Content-Length above max_message_size is streamed as a large message
//	                 (BroadcastLarge; 413 above max_large_message_size, nothing read); one of
//	                 unknown length (chunked) above max_message_size gets 413 with an error that
//	                 asks for the Content-Length
//
// Mount it under a prefix with http.StripPrefix. It exposes a broadcast
// endpoint: serve it on an operator-only address, or use WithReadOnly.
func AdminHandler(n *Node, opts ...AdminOption) http.Handler {
	var o adminOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		h := healthView(n)
		code := http.StatusOK
		if h.Status == core.Unhealthy {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, h)
	})
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		if !n.Alive() {
			writeError(w, http.StatusServiceUnavailable, ErrClosed)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /peers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, peersReport(n))
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, n.Stats())
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, ConfigView(n.Config()))
	})
	mux.HandleFunc("GET /dump", func(w http.ResponseWriter, r *http.Request) {
		dump := map[string]any{
			"self":   n.Self(),
			"health": healthView(n),
			"peers":  peersReport(n),
			"stats":  n.Stats(),
			"config": ConfigView(n.Config()),
			"time":   time.Now().UTC().Format(time.RFC3339Nano),
		}
		for _, s := range o.sections {
			dump[s.name] = s.fn()
		}
		writeJSON(w, http.StatusOK, dump)
	})
	if !o.readOnly {
		mux.HandleFunc("POST /broadcast", func(w http.ResponseWriter, r *http.Request) {
			limit := int64(n.Config().MaxMessageSize)
			if r.ContentLength > limit {
				broadcastLarge(n, w, r)
				return
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					writeError(w, http.StatusRequestEntityTooLarge, bodyTooLarge(n.Config()))
					return
				}
				writeError(w, http.StatusBadRequest, err)
				return
			}
			if len(body) == 0 {
				writeError(w, http.StatusBadRequest, errors.New("empty body: the request body is the payload to broadcast"))
				return
			}
			id, err := n.Broadcast(r.Context(), body)
			switch {
			case err == nil:
				writeJSON(w, http.StatusOK, BroadcastReport{MsgID: id.String(), Origin: id.Origin, Seq: id.Seq, Size: len(body)})
			case errors.Is(err, ErrMessageTooLarge):
				writeError(w, http.StatusRequestEntityTooLarge, err)
			case errors.Is(err, ErrBackpressure):
				w.Header().Set("Retry-After", "1")
				writeError(w, http.StatusServiceUnavailable, err)
			case errors.Is(err, ErrClosed):
				writeError(w, http.StatusServiceUnavailable, err)
			case errors.Is(err, core.ErrInvalidHeaders):
				writeError(w, http.StatusBadRequest, err)
			default:
				writeError(w, http.StatusInternalServerError, err)
			}
		})
	}
	for _, rt := range o.routes {
		mux.Handle(rt.pattern, rt.h)
	}
	return mux
}

func peersReport(n *Node) PeersReport {
	nonNil := func(p []core.PeerID) []core.PeerID {
		if p == nil {
			return []core.PeerID{}
		}
		return slices.Clip(p)
	}
	eager, lazy := nonNil(n.EagerPeers()), nonNil(n.LazyPeers())
	return PeersReport{
		Self:      n.Self(),
		Eager:     eager,
		Lazy:      lazy,
		Protected: nonNil(n.ProtectedNeighbors()),
		Count:     len(eager) + len(lazy),
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// Duration is a time.Duration that encodes to JSON as a readable string
// ("500ms", "1m0s") and decodes from one.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ConfigReport is the JSON of GET /config: the fields of core.Config under
// the operations guide's names (the names Config.Validate uses), durations
// readable. Bounds of 0 mean "no bound", as in core.Config; seen_ttl is the
// effective value when the config leaves it at 0.
type ConfigReport struct {
	MaxPeers                 int          `json:"max_peers"`
	EagerFanout              int          `json:"eager_fanout"`
	LazyFanout               int          `json:"lazy_fanout"`
	IHaveFanout              int          `json:"ihave_fanout"`
	MaxEagerPeers            int          `json:"max_eager_peers"`
	MaxPassivePeers          int          `json:"max_passive_peers"`
	IHaveInterval            Duration     `json:"ihave_interval"`
	IHaveBatchSize           int          `json:"ihave_batch_size"`
	MessageCacheTTL          Duration     `json:"message_cache_ttl"`
	MessageCacheMaxSize      int          `json:"message_cache_max_size"`
	SeenTTL                  Duration     `json:"seen_ttl"`
	SeenMaxSize              int          `json:"seen_max_size"`
	OptimizationThreshold    int          `json:"optimization_threshold"`
	HopOptimizationThreshold int          `json:"hop_optimization_threshold"`
	ShortcutSamples          int          `json:"shortcut_samples"`
	PruneDelay               Duration     `json:"prune_delay"`
	GraftTimeout             Duration     `json:"graft_timeout"`
	GraftMaxRetries          int          `json:"graft_max_retries"`
	GraftRateLimitPerSecond  float64      `json:"graft_rate_limit_per_second"`
	GraftRateLimitBurst      int          `json:"graft_rate_limit_burst"`
	MaxPendingGrafts         int          `json:"max_pending_grafts"`
	MaxAnnouncers            int          `json:"max_announcers"`
	MaxGraftsPerInterval     int          `json:"max_grafts_per_interval"`
	AntiEntropyBatch         int          `json:"anti_entropy_batch"`
	AntiEntropyBytes         int          `json:"anti_entropy_bytes"`
	AntiEntropyDigestBytes   int          `json:"anti_entropy_digest_bytes"`
	AntiEntropyMinAge        Duration     `json:"anti_entropy_min_age"`
	MaxStreams               int          `json:"max_streams"`
	MaxStreamGaps            int          `json:"max_stream_gaps"`
	ClockSkew                Duration     `json:"clock_skew"`
	MaxMessageSize           int          `json:"max_message_size"`
	MaxLargeMessageSize      int          `json:"max_large_message_size"`
	LargeAssemblyBytes       int          `json:"large_assembly_bytes"`
	LargeSendRate            int          `json:"large_send_rate"`
	MaintenanceInterval      Duration     `json:"maintenance_interval"`
	MaintenanceJitter        Duration     `json:"maintenance_jitter"`
	UseHashRing              bool         `json:"use_hash_ring"`
	ProtectRingNeighbors     bool         `json:"protect_ring_neighbors"`
	MaxProtectedNeighbors    int          `json:"max_protected_neighbors"`
	Health                   HealthReport `json:"health"`
	Seed                     int64        `json:"seed"`
}

// HealthView is what GET /health answers: the protocol's health report
// and, when large messages are enabled, what is being assembled. The large
// part informs; it does not change the status (a full assembly budget
// evicts the oldest transfer, counted, and ordinary messages flow on).
type HealthView struct {
	core.Health
	Large *LargeHealth `json:"large_health,omitempty"`
}

// LargeHealth is the large-message part of HealthView (docs/operations.md,
// "Health"). The counters are cumulative since New, as in Stats().Large.
type LargeHealth struct {
	InFlight       int     `json:"in_flight"`            // large messages partly received
	AssemblyBytes  int64   `json:"assembly_bytes"`       // budget they reserve
	AssemblyBudget int64   `json:"assembly_budget"`      // large_assembly_bytes
	Utilization    float64 `json:"assembly_utilization"` // AssemblyBytes / AssemblyBudget
	PartRepairs    uint64  `json:"part_repairs"`         // parts pulled or repaired, not pushed by the tree
	DigestFailures uint64  `json:"digest_failures"`
	Evicted        uint64  `json:"evicted"`
	Expired        uint64  `json:"expired"`
}

func healthView(n *Node) HealthView {
	v := HealthView{Health: n.Health()}
	if n.Config().MaxLargeMessageSize > 0 {
		s := n.large.stats()
		l := &LargeHealth{InFlight: s.InFlight, AssemblyBytes: s.Bytes, AssemblyBudget: s.Budget,
			PartRepairs: s.Repairs, DigestFailures: s.DigestFailures, Evicted: s.Evicted, Expired: s.Expired}
		if s.Budget > 0 {
			l.Utilization = float64(s.Bytes) / float64(s.Budget)
		}
		v.Large = l
	}
	return v
}

// HealthReport is the health part of ConfigReport.
type HealthReport struct {
	FailureRateUnhealthy     float64  `json:"failure_rate_unhealthy"`
	FailureRateDegraded      float64  `json:"failure_rate_degraded"`
	PendingGraftsDegraded    int      `json:"pending_grafts_degraded"`
	CacheUtilizationDegraded float64  `json:"cache_utilization_degraded"`
	CacheRetentionDegraded   Duration `json:"cache_retention_degraded"`
	MinPeersDegraded         int      `json:"min_peers_degraded"`
	Window                   Duration `json:"window"`
	MinGraftSamples          int      `json:"min_graft_samples"`
	Standalone               bool     `json:"standalone"`
}

// ConfigView returns c as a ConfigReport.
func ConfigView(c core.Config) ConfigReport {
	seen := c.SeenTTL
	if seen == 0 {
		seen = 2 * c.MessageCacheTTL
	}
	return ConfigReport{
		MaxPeers:                 c.MaxPeers,
		EagerFanout:              c.EagerFanout,
		LazyFanout:               c.LazyFanout,
		IHaveFanout:              c.IHaveFanout,
		MaxEagerPeers:            c.MaxEagerPeers,
		MaxPassivePeers:          c.MaxPassivePeers,
		IHaveInterval:            Duration(c.IHaveInterval),
		IHaveBatchSize:           c.IHaveBatchSize,
		MessageCacheTTL:          Duration(c.MessageCacheTTL),
		MessageCacheMaxSize:      c.MessageCacheMaxSize,
		SeenTTL:                  Duration(seen),
		SeenMaxSize:              c.SeenMaxSize,
		OptimizationThreshold:    c.OptimizationThreshold,
		HopOptimizationThreshold: c.HopOptimizationThreshold,
		ShortcutSamples:          c.ShortcutSamples,
		PruneDelay:               Duration(c.PruneDelay),
		GraftTimeout:             Duration(c.GraftTimeout),
		GraftMaxRetries:          c.GraftMaxRetries,
		GraftRateLimitPerSecond:  c.GraftRateLimitPerSecond,
		GraftRateLimitBurst:      c.GraftRateLimitBurst,
		MaxPendingGrafts:         c.MaxPendingGrafts,
		MaxAnnouncers:            c.MaxAnnouncers,
		MaxGraftsPerInterval:     c.MaxGraftsPerInterval,
		AntiEntropyBatch:         c.AntiEntropyBatch,
		AntiEntropyBytes:         c.AntiEntropyBytes,
		AntiEntropyDigestBytes:   c.AntiEntropyDigestBytes,
		AntiEntropyMinAge:        Duration(c.AntiEntropyMinAge),
		MaxStreams:               c.MaxStreams,
		MaxStreamGaps:            c.MaxStreamGaps,
		ClockSkew:                Duration(c.ClockSkew),
		MaxMessageSize:           c.MaxMessageSize,
		MaxLargeMessageSize:      c.MaxLargeMessageSize,
		LargeAssemblyBytes:       c.LargeAssemblyBytes,
		LargeSendRate:            c.LargeSendRate,
		MaintenanceInterval:      Duration(c.MaintenanceInterval),
		MaintenanceJitter:        Duration(c.MaintenanceJitter),
		UseHashRing:              c.UseHashRing,
		ProtectRingNeighbors:     c.ProtectRingNeighbors,
		MaxProtectedNeighbors:    c.MaxProtectedNeighbors,
		Health: HealthReport{
			FailureRateUnhealthy:     c.Health.FailureRateUnhealthy,
			FailureRateDegraded:      c.Health.FailureRateDegraded,
			PendingGraftsDegraded:    c.Health.PendingGraftsDegraded,
			CacheUtilizationDegraded: c.Health.CacheUtilizationDegraded,
			CacheRetentionDegraded:   Duration(c.Health.CacheRetentionDegraded),
			MinPeersDegraded:         c.Health.MinPeersDegraded,
			Window:                   Duration(c.Health.Window),
			MinGraftSamples:          c.Health.MinGraftSamples,
			Standalone:               c.Health.Standalone,
		},
		Seed: c.Seed,
	}
}

// bodyTooLarge is the error for a POST /broadcast body of unknown length
// (no Content-Length: chunked) above max_message_size. BroadcastLarge needs
// the size up front, so a large message needs a Content-Length; the error
// says so when large messages are enabled.
func bodyTooLarge(c core.Config) error {
	if c.MaxLargeMessageSize <= c.MaxMessageSize {
		return fmt.Errorf("%w: the body is above max_message_size (%d B)", ErrMessageTooLarge, c.MaxMessageSize)
	}
	return fmt.Errorf("%w: a body of unknown length is above max_message_size (%d B); send a Content-Length to broadcast it as a large message (up to max_large_message_size, %d B)",
		ErrMessageTooLarge, c.MaxMessageSize, c.MaxLargeMessageSize)
}

// broadcastLarge answers POST /broadcast for a body above max_message_size
// with a known length: it streams the body through BroadcastLarge.
func broadcastLarge(n *Node, w http.ResponseWriter, r *http.Request) {
	id, err := n.BroadcastLarge(r.Context(), r.Body, r.ContentLength)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, BroadcastReport{MsgID: id.String(), Origin: id.Origin, Seq: id.Seq, Size: int(r.ContentLength)})
	case errors.Is(err, ErrMessageTooLarge), errors.Is(err, errLargeDisabled):
		writeError(w, http.StatusRequestEntityTooLarge, err)
	case errors.Is(err, ErrBackpressure), errors.Is(err, ErrClosed):
		writeError(w, http.StatusServiceUnavailable, err)
	default:
		writeError(w, http.StatusBadRequest, err)
	}
}
