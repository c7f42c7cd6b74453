package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// Hints added to a 404 or 405 answer.
const (
	hintAdmin     = "is this a plumtree admin API address, with the right path prefix?"
	hintBroadcast = "the node does not accept POST /broadcast: its admin API may be read-only"
	hintDump      = "the node has no GET /dump: is this a plumtree admin API address?"
)

// healthExit maps a status to the exit code of health.
func healthExit(s core.HealthStatus) int {
	switch s {
	case core.Healthy:
		return exitOK
	case core.Degraded:
		return exitFail
	}
	return exitUnhealthy
}

// getHealth reads GET /health (503 is the answer for Unhealthy).
func getHealth(ctx context.Context, cl *client) (node.HealthView, *answer, error) {
	var h node.HealthView
	a, err := cl.call(ctx, http.MethodGet, "/health", nil, &h, hintAdmin, http.StatusServiceUnavailable)
	if err == nil {
		err = requireKeys(a, "status", "message", "peer_health")
	}
	return h, a, err
}

func (c *cli) health(ctx context.Context, args []string) int {
	fs := c.flagSet("health")
	if ok, code := c.parse(fs, args, "health"); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.usageErr("health", "unexpected arguments %q", fs.Args())
	}
	cl, err := c.client(c.addr)
	if err != nil {
		return c.usageErr("health", "%v", err)
	}
	h, a, err := getHealth(ctx, cl)
	if err != nil {
		c.fail("health", err)
		return exitUnreachable // the health is unknown
	}
	if c.json {
		if err := indentJSON(c.stdout, a); err != nil {
			return c.fail("health", err)
		}
	} else {
		printHealth(c.stdout, h)
	}
	return healthExit(h.Status)
}

// printHealth prints the guide's "Dump Health Report", and the large
// messages being assembled when the node reports them.
func printHealth(w io.Writer, h node.HealthView) {
	p, d, ca := h.Peers, h.Delivery, h.Cache
	fmt.Fprintln(w, "=== Health Report ===")
	fmt.Fprintf(w, "Status:          %s\n", h.Status)
	fmt.Fprintf(w, "Message:         %s\n", h.Message)
	fmt.Fprintf(w, "Peer Health:     %d %s: %d eager (target %d), %d lazy\n",
		p.TotalCount, plural(p.TotalCount, "peer", "peers"), p.EagerCount, p.TargetEager, p.LazyCount)
	fmt.Fprintf(w, "Delivery Health: %d pending %s; graft failure rate %s (%d succeeded, %d failed in the health window)\n",
		d.PendingGrafts, plural(d.PendingGrafts, "graft", "grafts"), percent(d.GraftFailureRate), d.SuccessfulGrafts, d.FailedGrafts)
	// Retention: how far back the store holds messages, from a node whose
	// store reports it (a node before it omits the fields).
	ret := ""
	if ca.RetentionKnown {
		ret = fmt.Sprintf(", retention %v", ca.Retention.Round(100*time.Millisecond))
	}
	if ca.Capacity > 0 {
		fmt.Fprintf(w, "Cache Health:    %d of %d messages (%s used), TTL %v%s\n", ca.Size, ca.Capacity, percent(ca.Utilization), ca.TTL, ret)
	} else {
		fmt.Fprintf(w, "Cache Health:    %d messages (no capacity bound), TTL %v%s\n", ca.Size, ca.TTL, ret)
	}
	if l := h.Large; l != nil {
		fmt.Fprintf(w, "Large Messages:  %d in flight, %d of %d assembly bytes (%s used); %d part repairs, %d digest failures, %d evicted, %d expired\n",
			l.InFlight, l.AssemblyBytes, l.AssemblyBudget, percent(l.Utilization), l.PartRepairs, l.DigestFailures, l.Evicted, l.Expired)
	}
}

func (c *cli) peers(ctx context.Context, args []string) int {
	fs := c.flagSet("peers")
	if ok, code := c.parse(fs, args, "peers"); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.usageErr("peers", "unexpected arguments %q", fs.Args())
	}
	cl, err := c.client(c.addr)
	if err != nil {
		return c.usageErr("peers", "%v", err)
	}
	var p node.PeersReport
	a, err := cl.call(ctx, http.MethodGet, "/peers", nil, &p, hintAdmin)
	if err == nil {
		err = requireKeys(a, "self", "eager", "lazy")
	}
	if err != nil {
		return c.fail("peers", err)
	}
	if c.json {
		if err := indentJSON(c.stdout, a); err != nil {
			return c.fail("peers", err)
		}
		return exitOK
	}
	printPeers(c.stdout, p)
	return exitOK
}

// printPeers prints the guide's "Dump Peer State".
func printPeers(w io.Writer, p node.PeersReport) {
	list := func(ps []core.PeerID) string {
		if len(ps) == 0 {
			return "-"
		}
		s := make([]string, len(ps))
		for i, x := range ps {
			s[i] = string(x)
		}
		return strings.Join(s, ", ")
	}
	fmt.Fprintln(w, "=== Peer State ===")
	fmt.Fprintf(w, "Self:          %s\n", p.Self)
	fmt.Fprintf(w, "%-15s%s\n", fmt.Sprintf("Eager (%d):", len(p.Eager)), list(p.Eager))
	fmt.Fprintf(w, "%-15s%s\n", fmt.Sprintf("Lazy (%d):", len(p.Lazy)), list(p.Lazy))
	fmt.Fprintf(w, "%-15s%s\n", fmt.Sprintf("Protected (%d):", len(p.Protected)), list(p.Protected))
	fmt.Fprintf(w, "Total peers:   %d\n", p.Count)
}

func (c *cli) stats(ctx context.Context, args []string) int {
	fs := c.flagSet("stats")
	if ok, code := c.parse(fs, args, "stats"); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.usageErr("stats", "unexpected arguments %q", fs.Args())
	}
	cl, err := c.client(c.addr)
	if err != nil {
		return c.usageErr("stats", "%v", err)
	}
	var s node.Stats
	a, err := cl.call(ctx, http.MethodGet, "/stats", nil, &s, hintAdmin)
	if err == nil {
		err = requireKeys(a, "eager_peers", "messages_delivered")
	}
	if err != nil {
		return c.fail("stats", err)
	}
	if c.json {
		if err := indentJSON(c.stdout, a); err != nil {
			return c.fail("stats", err)
		}
		return exitOK
	}
	printStats(c.stdout, s)
	return exitOK
}

// bytesOf formats n bytes against a bound (0 or less: none), in KiB.
func bytesOf(n, limit int64) string {
	if limit <= 0 {
		return fmt.Sprintf("%.0f KiB (no bound)", float64(n)/1024)
	}
	return fmt.Sprintf("%.0f of %.0f KiB", float64(n)/1024, float64(limit)/1024)
}

// printStats prints the counters and gauges of GET /stats by topic, with
// the ratios the guide watches (duplicate rate, graft failure rate, cache
// utilization).
func printStats(w io.Writer, s node.Stats) {
	ratio := func(n, d uint64) string {
		if d == 0 {
			return "n/a"
		}
		return percent(float64(n) / float64(d))
	}
	used := func(n, c int) string {
		if c <= 0 {
			return fmt.Sprintf("%d (no bound)", n)
		}
		return fmt.Sprintf("%d of %d (%s)", n, c, percent(float64(n)/float64(c)))
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	r := s.Runtime
	fmt.Fprintln(w, "=== Stats ===")
	fmt.Fprintf(w, "Peers:      %d eager, %d lazy, %d total; %d passive, %d protected\n",
		s.EagerPeers, s.LazyPeers, s.TotalPeers, s.PassivePeers, s.ProtectedPeers)
	fmt.Fprintf(w, "Cache:      messages %s; seen ids %s\n", used(s.CacheSize, s.CacheCapacity), used(s.SeenSize, s.SeenCapacity))
	fmt.Fprintf(w, "Queues:     %d pending grafts, %d queued IHave announcements\n", s.PendingGrafts, s.IHaveQueueSize)
	fmt.Fprintf(w, "Messages:   %d broadcast, %d delivered, %d duplicate (%s of delivered)\n",
		s.MessagesBroadcast, s.MessagesDelivered, s.MessagesDuplicate, ratio(s.MessagesDuplicate, s.MessagesDelivered))
	fmt.Fprintf(w, "Sent:       gossip %d, ihave %d, graft %d, prune %d\n", s.GossipSent, s.IHaveSent, s.GraftSent, s.PruneSent)
	fmt.Fprintf(w, "Received:   gossip %d, ihave %d, graft %d, prune %d\n", s.GossipReceived, s.IHaveReceived, s.GraftReceived, s.PruneReceived)
	fmt.Fprintf(w, "Tree:       %d promotions, %d demotions; peers %d added, %d removed\n",
		s.PeerPromotions, s.PeerDemotions, s.PeerAdded, s.PeerRemoved)
	fmt.Fprintf(w, "Grafts:     %d succeeded, %d failed (%s), %d retries, %d rate-limited, %d unanswerable\n",
		s.GraftSuccess, s.GraftFailed, ratio(s.GraftFailed, s.GraftSuccess+s.GraftFailed), s.GraftRetries, s.GraftRateLimited, s.GraftUnanswerable)
	fmt.Fprintf(w, "Repair:     digests %d sent, %d received, %d rate-limited; repairs %d sent, %d received (%d duplicate)\n",
		s.DigestSent, s.DigestReceived, s.DigestRateLimited, s.RepairSent, s.RepairReceived, s.RepairDuplicate)
	fmt.Fprintf(w, "Streams:    %d origins tracked; %d gaps given up, %d forgotten at max_streams, %d origins of digests not learnt; %d copies refused by age\n",
		s.Streams, s.GapsLost, s.StreamsForgotten, s.StreamsNotLearnt, s.AgeRefused)
	fmt.Fprintf(w, "Anomalies:  %d partitioned, %d ihave dropped, %d seen-map evictions, %d invalid messages\n",
		s.MessagesPartitioned, s.IHaveDropped, s.SeenMapEvictions, s.InvalidMessages)
	fmt.Fprintln(w, "Runtime:")
	fmt.Fprintf(w, "  Delivery queue: %d of %d (backpressure at %d), overflow %d of %d, intake paused: %s\n",
		r.DeliveryQueueLen, r.DeliveryQueueCap, r.DeliveryHighWater, r.DeliveryOverflow, r.DeliveryOverflowLimit, yes(r.IntakePaused))
	fmt.Fprintf(w, "  Payload held:   queue %s, overflow %s\n",
		bytesOf(r.DeliveryQueueBytes, r.DeliveryQueueBytesLimit), bytesOf(r.DeliveryOverflowBytes, r.DeliveryOverflowBytesLimit))
	fmt.Fprintf(w, "  Deliveries:     %d delivered, %d refused for backpressure, %d refused by admission, %d intake pauses\n",
		r.Delivered, r.Backpressure, r.AdmissionRefused, r.IntakePauses)
	fmt.Fprintf(w, "  Frames:         %d in, %d out; errors: %d decode, %d encode, %d send\n",
		r.FramesIn, r.FramesOut, r.DecodeErrors, r.EncodeErrors, r.SendErrors)
	fmt.Fprintf(w, "  Drops:          %d hooks, %d observer batches, %d deliveries discarded at shutdown\n",
		r.HookDrops, r.ObserverDrops, r.DeliveriesDiscarded)
	fmt.Fprintf(w, "  Observers:      %d batches queued; transport closed: %s\n", r.ObserverQueueLen, yes(r.TransportClosed))
}

func (c *cli) config(ctx context.Context, args []string) int {
	fs := c.flagSet("config")
	if ok, code := c.parse(fs, args, "config"); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.usageErr("config", "unexpected arguments %q", fs.Args())
	}
	cl, err := c.client(c.addr)
	if err != nil {
		return c.usageErr("config", "%v", err)
	}
	var cfg node.ConfigReport
	a, err := cl.call(ctx, http.MethodGet, "/config", nil, &cfg, hintAdmin)
	if err == nil {
		err = requireKeys(a, "eager_fanout", "health")
	}
	if err != nil {
		return c.fail("config", err)
	}
	if c.json {
		if err := indentJSON(c.stdout, a); err != nil {
			return c.fail("config", err)
		}
		return exitOK
	}
	// Print the answer's own fields in its order, so that fields added by a
	// newer node show too.
	kvs, err := flattenJSON(a.body)
	if err != nil {
		return c.fail("config", &badAnswerError{url: a.url, status: a.status, ctype: a.ctype, body: a.body, err: err})
	}
	printKVs(c.stdout, "=== Configuration ===", kvs)
	return exitOK
}

func (c *cli) dump(ctx context.Context, args []string) int {
	fs := c.flagSet("dump")
	if ok, code := c.parse(fs, args, "dump"); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.usageErr("dump", "unexpected arguments %q", fs.Args())
	}
	cl, err := c.client(c.addr)
	if err != nil {
		return c.usageErr("dump", "%v", err)
	}
	var m map[string]json.RawMessage
	a, err := cl.call(ctx, http.MethodGet, "/dump", nil, &m, hintDump)
	if err == nil {
		err = requireKeys(a, "health", "peers", "stats", "config")
	}
	if err != nil {
		return c.fail("dump", err)
	}
	if err := indentJSON(c.stdout, a); err != nil {
		return c.fail("dump", err)
	}
	return exitOK
}

func (c *cli) broadcast(ctx context.Context, args []string) int {
	fs := c.flagSet("broadcast")
	file := fs.String("file", "", "read the payload from this file (- for standard input) instead of the arguments")
	if ok, code := c.parse(fs, args, "broadcast"); !ok {
		return code
	}
	var payload []byte
	switch {
	case *file != "" && fs.NArg() > 0:
		return c.usageErr("broadcast", "give the payload as arguments or with -file, not both")
	case *file == "-":
		b, err := io.ReadAll(c.stdin)
		if err != nil {
			return c.fail("broadcast", fmt.Errorf("reading standard input: %w", err))
		}
		payload = b
	case *file != "":
		b, err := os.ReadFile(*file)
		if err != nil {
			return c.fail("broadcast", err)
		}
		payload = b
	case fs.NArg() > 0:
		payload = []byte(strings.Join(fs.Args(), " "))
	default:
		return c.usageErr("broadcast", "no payload: give it as arguments, or with -file F (- for standard input)")
	}
	cl, err := c.client(c.addr)
	if err != nil {
		return c.usageErr("broadcast", "%v", err)
	}
	rep, a, err := postBroadcast(ctx, cl, payload)
	if err != nil {
		return c.fail("broadcast", err)
	}
	if c.json {
		if err := indentJSON(c.stdout, a); err != nil {
			return c.fail("broadcast", err)
		}
		return exitOK
	}
	fmt.Fprintln(c.stdout, rep.MsgID)
	return exitOK
}

func postBroadcast(ctx context.Context, cl *client, payload []byte) (node.BroadcastReport, *answer, error) {
	var rep node.BroadcastReport
	a, err := cl.call(ctx, http.MethodPost, "/broadcast", bytes.NewReader(payload), &rep, hintBroadcast)
	if err == nil {
		err = requireKeys(a, "msg_id")
	}
	if err == nil && rep.MsgID == "" {
		err = &badAnswerError{url: a.url, status: a.status, ctype: a.ctype, body: a.body, err: fmt.Errorf("empty msg_id")}
	}
	return rep, a, err
}

func (c *cli) watch(ctx context.Context, args []string) int {
	fs := c.flagSet("watch")
	interval := fs.Duration("interval", 2*time.Second, "time between two samples")
	count := fs.Int("count", 0, "stop after this many samples and exit with the last health's code (0: until interrupted)")
	if ok, code := c.parse(fs, args, "watch"); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.usageErr("watch", "unexpected arguments %q", fs.Args())
	}
	if *interval <= 0 {
		return c.usageErr("watch", "-interval must be positive, got %v", *interval)
	}
	if *count < 0 {
		return c.usageErr("watch", "-count must not be negative, got %d", *count)
	}
	cl, err := c.client(c.addr)
	if err != nil {
		return c.usageErr("watch", "%v", err)
	}
	if !c.json {
		fmt.Fprintf(c.stdout, "watching %s every %v (Ctrl-C to stop)\n", cl.base, *interval)
		fmt.Fprintf(c.stdout, "%-8s  %-9s  %5s  %5s  %4s  %7s  %6s  %9s  %s\n",
			"TIME", "STATUS", "PEERS", "EAGER", "LAZY", "PENDING", "CACHE", "DELIVERED", "MESSAGE")
	}
	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	var (
		last      = exitUnreachable
		prevDeliv uint64
		havePrev  bool
	)
	for n := 1; ; n++ {
		now := time.Now()
		h, _, herr := getHealth(ctx, cl)
		var s node.Stats
		var serr error
		if herr == nil {
			var a *answer
			a, serr = cl.call(ctx, http.MethodGet, "/stats", nil, &s, hintAdmin)
			if serr == nil {
				serr = requireKeys(a, "messages_delivered")
			}
		}
		if ctx.Err() != nil {
			return exitOK // interrupted
		}
		if herr != nil {
			last = exitUnreachable
		} else {
			last = healthExit(h.Status)
		}
		deliv := "-"
		if herr == nil && serr == nil {
			if havePrev && s.MessagesDelivered >= prevDeliv {
				deliv = fmt.Sprintf("+%d", s.MessagesDelivered-prevDeliv)
			} else {
				deliv = fmt.Sprint(s.MessagesDelivered)
			}
			prevDeliv, havePrev = s.MessagesDelivered, true
		}
		if c.json {
			writeWatchJSON(c.stdout, now, h.Health, herr, s, serr)
		} else if herr != nil {
			fmt.Fprintf(c.stdout, "%-8s  %-9s  %s\n", now.Format("15:04:05"), "ERROR", herr)
		} else {
			p := h.Peers
			fmt.Fprintf(c.stdout, "%-8s  %-9s  %5d  %5d  %4d  %7d  %6s  %9s  %s\n",
				now.Format("15:04:05"), h.Status, p.TotalCount, p.EagerCount, p.LazyCount,
				h.Delivery.PendingGrafts, percent(h.Cache.Utilization), deliv, h.Message)
		}
		if *count > 0 && n >= *count {
			return last
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-ticker.C:
		}
	}
}

// watchSample is one line of watch -json.
type watchSample struct {
	Time              time.Time    `json:"time"`
	Health            *core.Health `json:"health,omitempty"`
	MessagesDelivered *uint64      `json:"messages_delivered,omitempty"`
	Error             string       `json:"error,omitempty"`
}

func writeWatchJSON(w io.Writer, now time.Time, h core.Health, herr error, s node.Stats, serr error) {
	ws := watchSample{Time: now.UTC()}
	if herr != nil {
		ws.Error = herr.Error()
	} else {
		ws.Health = &h
		if serr == nil {
			ws.MessagesDelivered = &s.MessagesDelivered
		} else {
			ws.Error = serr.Error()
		}
	}
	b, _ := json.Marshal(ws)
	fmt.Fprintf(w, "%s\n", b)
}

func percent(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
