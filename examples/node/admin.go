package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/examples/internal/stack"
	"github.com/plumtree-go/plumtree/membership"
)

// deliveryRecord is one delivery as the admin API shows it.
type deliveryRecord struct {
	MsgID         string      `json:"msg_id"`
	Origin        core.PeerID `json:"origin"`
	Seq           uint64      `json:"seq"`
	From          core.PeerID `json:"from"`
	Hops          uint16      `json:"hops"`
	Size          int         `json:"size"`
	Text          string      `json:"text,omitempty"`           // the payload, when it is UTF-8 text
	PayloadBase64 string      `json:"payload_base64,omitempty"` // otherwise
	Time          time.Time   `json:"time"`
}

// Bounds of the delivery hub.
const (
	recentDeliveries = 1000 // kept for GET /deliveries/recent
	subscriberBuffer = 256  // per stream; a stream that falls behind loses records (counted)
	maxSubscribers   = 64
	maxTextPayload   = 64 << 10
)

// hub keeps the recent deliveries and fans them out to the streams. Deliver
// is called from the node's delegate goroutine and never blocks.
type hub struct {
	mu      sync.Mutex
	ring    []deliveryRecord
	next    int
	total   uint64
	dropped uint64
	subs    map[chan deliveryRecord]struct{}
	closed  bool
}

func newHub() *hub {
	return &hub{ring: make([]deliveryRecord, 0, recentDeliveries), subs: make(map[chan deliveryRecord]struct{})}
}

// Deliver implements node.DeliverFunc's signature.
func (h *hub) Deliver(d core.Delivery) {
	r := deliveryRecord{MsgID: d.ID.String(), Origin: d.ID.Origin, Seq: d.ID.Seq, From: d.From, Hops: d.Hops, Size: len(d.Payload), Time: time.Now().UTC()}
	if utf8.Valid(d.Payload) && len(d.Payload) <= maxTextPayload {
		r.Text = string(d.Payload)
	} else {
		r.PayloadBase64 = base64.StdEncoding.EncodeToString(d.Payload)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.total++
	if len(h.ring) < recentDeliveries {
		h.ring = append(h.ring, r)
	} else {
		h.ring[h.next] = r
	}
	h.next = (h.next + 1) % recentDeliveries
	for ch := range h.subs {
		select {
		case ch <- r:
		default:
			h.dropped++
		}
	}
}

// recent returns up to limit of the latest deliveries, oldest first.
func (h *hub) recent(limit int) ([]deliveryRecord, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.ring)
	limit = min(limit, n)
	out := make([]deliveryRecord, 0, limit)
	start := (h.next - limit + n) % max(n, 1)
	if n < recentDeliveries {
		start = n - limit
	}
	for i := range limit {
		out = append(out, h.ring[(start+i)%n])
	}
	return out, h.total
}

func (h *hub) subscribe() (chan deliveryRecord, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.subs) >= maxSubscribers {
		return nil, false
	}
	ch := make(chan deliveryRecord, subscriberBuffer)
	h.subs[ch] = struct{}{}
	return ch, true
}

func (h *hub) unsubscribe(ch chan deliveryRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// close ends every stream.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

// topology is the JSON of GET /topology.
type topology struct {
	Self          core.PeerID         `json:"self"`
	Addr          string              `json:"addr"`           // memberlist and Plumtree (one port)
	TransportAddr string              `json:"transport_addr"` // advertised Plumtree address
	Eager         []core.PeerID       `json:"eager"`
	Lazy          []core.PeerID       `json:"lazy"`
	Protected     []core.PeerID       `json:"protected"`
	Members       []membership.Member `json:"members"`
	Membership    membership.Stats    `json:"membership"`
	Deliveries    uint64              `json:"deliveries"`
	StreamDrops   uint64              `json:"stream_drops"`
}

func (h *hub) counts() (total, dropped uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total, h.dropped
}

// adminHandler is node.AdminHandler plus the routes of this example:
//
//	GET /topology           this node's tree links and memberlist's view
//	GET /members            memberlist members (with Plumtree metadata)
//	GET /membership         membership statistics
//	GET /deliveries         a stream of deliveries: Server-Sent Events when the
//	                        request accepts text/event-stream, JSON lines otherwise
//	GET /deliveries/recent  the latest deliveries (?limit=, default 100, at most 1000)
func adminHandler(s *stack.Stack, h *hub) http.Handler {
	topo := func() topology {
		total, dropped := h.counts()
		return topology{
			Self: s.Name, Addr: s.Membership.AdvertiseAddr(), TransportAddr: s.Membership.TransportAddr(),
			Eager: s.Node.EagerPeers(), Lazy: s.Node.LazyPeers(), Protected: s.Node.ProtectedNeighbors(),
			Members: s.Membership.Members(), Membership: s.Membership.Stats(),
			Deliveries: total, StreamDrops: dropped,
		}
	}
	return node.AdminHandler(s.Node,
		node.WithSection("topology", func() any { return topo() }),
		node.WithExtraRoute("GET /topology", jsonHandler(func(*http.Request) any { return topo() })),
		node.WithExtraRoute("GET /members", jsonHandler(func(*http.Request) any { return s.Membership.Members() })),
		node.WithExtraRoute("GET /membership", jsonHandler(func(*http.Request) any { return s.Membership.Stats() })),
		node.WithExtraRoute("GET /deliveries/recent", recentHandler(h)),
		node.WithExtraRoute("GET /deliveries", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			streamDeliveries(w, r, h)
		})),
	)
}

func jsonHandler(f func(*http.Request) any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(f(r))
	})
}

func streamDeliveries(w http.ResponseWriter, r *http.Request, h *hub) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, ok := h.subscribe()
	if !ok {
		http.Error(w, "too many streams", http.StatusServiceUnavailable)
		return
	}
	defer h.unsubscribe(ch)
	sse := false
	for _, a := range r.Header.Values("Accept") {
		if a == "text/event-stream" {
			sse = true
		}
	}
	if sse {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			if sse {
				fmt.Fprint(w, ": keepalive\n\n")
				flusher.Flush()
			}
		case rec, ok := <-ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(rec)
			if sse {
				fmt.Fprintf(w, "event: delivery\ndata: %s\n\n", b)
			} else {
				w.Write(append(b, '\n'))
			}
			flusher.Flush()
		}
	}
}

// recentHandler serves GET /deliveries/recent?limit=N: the latest N
// deliveries (default 100, at most the recentDeliveries kept). A limit that
// is not a positive integer is a 400, not silently the default.
func recentHandler(h *hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := 100
		if q := r.URL.Query(); q.Has("limit") {
			v, err := strconv.Atoi(q.Get("limit"))
			if err != nil || v <= 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]string{
					"error": fmt.Sprintf("limit %q: want a positive integer (at most %d are kept)", q.Get("limit"), recentDeliveries)})
				return
			}
			limit = min(v, recentDeliveries)
		}
		recs, total := h.recent(limit)
		jsonHandler(func(*http.Request) any { return map[string]any{"total": total, "deliveries": recs} }).ServeHTTP(w, r)
	})
}
