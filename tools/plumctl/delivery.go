package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// deliveryRecord is one delivery as the admin API of examples/node shows it
// in GET /deliveries/recent and GET /deliveries.
type deliveryRecord struct {
	MsgID         string      `json:"msg_id"`
	Origin        core.PeerID `json:"origin"`
	Seq           uint64      `json:"seq"`
	From          core.PeerID `json:"from"`
	Hops          uint16      `json:"hops"`
	Size          int         `json:"size"`
	Text          string      `json:"text,omitempty"`
	PayloadBase64 string      `json:"payload_base64,omitempty"`
	Time          time.Time   `json:"time"`
}

// payload returns the record's payload.
func (r deliveryRecord) payload() ([]byte, error) {
	if r.PayloadBase64 != "" {
		return base64.StdEncoding.DecodeString(r.PayloadBase64)
	}
	return []byte(r.Text), nil
}

// recentDeliveries is the JSON of GET /deliveries/recent.
type recentDeliveries struct {
	Total      uint64           `json:"total"`
	Deliveries []deliveryRecord `json:"deliveries"`
}

// Results of one node in test-delivery.
const (
	resDelivered   = "delivered"
	resLate        = "late"        // delivered, later than -wait after the origin
	resMissed      = "missed"      // not delivered within -wait
	resCorrupt     = "corrupt"     // delivered with another payload
	resUnreachable = "unreachable" // the node could not be asked
	resError       = "error"       // the node answered the preflight with an error
	resUnsupported = "unsupported" // the node serves neither /deliveries nor /deliveries/recent
	resUnchecked   = "unchecked"   // a member whose admin address is unknown (not advertised)
)

// recentLimit is how many deliveries a poll asks for (examples/node keeps
// 1000).
const recentLimit = 1000

// pollInterval is the time between two polls of GET /deliveries/recent.
const pollInterval = 100 * time.Millisecond

// nodeResult is one node's line of the test-delivery report.
type nodeResult struct {
	Addr    string `json:"addr"`
	Name    string `json:"name,omitempty"`
	Result  string `json:"result"`
	Hops    *int   `json:"hops,omitempty"`
	From    string `json:"from,omitempty"`
	After   string `json:"after,omitempty"` // delivery time minus the origin's, by the nodes' clocks
	AfterNS *int64 `json:"after_ns,omitempty"`
	Via     string `json:"via,omitempty"` // "stream" or "poll"
	Error   string `json:"error,omitempty"`
}

// deliveryReport is the JSON of test-delivery -json.
type deliveryReport struct {
	MsgID     string       `json:"msg_id"`
	Origin    string       `json:"origin"` // the admin address that broadcast
	Payload   string       `json:"payload"`
	Wait      string       `json:"wait"`
	Delivered int          `json:"delivered"` // nodes with result "delivered"
	Nodes     []nodeResult `json:"nodes"`
}

// probe follows one node through test-delivery.
type probe struct {
	addr   string
	cl     *client
	name   string
	err    error         // preflight failure: the node could not be asked
	stream io.ReadCloser // GET /deliveries, opened before the broadcast; nil: poll
	rec    *deliveryRecord
	via    string
	missed error // why rec is nil, when known
	unsup  bool
	// unchecked: a member found in the cluster whose admin address is not
	// advertised; it cannot be asked.
	unchecked bool
}

func (c *cli) testDelivery(ctx context.Context, args []string) int {
	const cmd = "test-delivery"
	fs := c.flagSet(cmd)
	addrsFlag := fs.String("addrs", "", "comma-separated admin addresses of the nodes to check; the first one broadcasts (default: the -addr node and every member that advertises its admin address, from the -addr node's GET /topology)")
	wait := fs.Duration("wait", 5*time.Second, "how long after the broadcast every node has to deliver the message")
	if ok, code := c.parse(fs, args, cmd); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.usageErr(cmd, "unexpected arguments %q", fs.Args())
	}
	if *wait <= 0 {
		return c.usageErr(cmd, "-wait must be positive, got %v", *wait)
	}
	var addrs []string
	for _, a := range strings.Split(*addrsFlag, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	var unchecked []string
	if len(addrs) == 0 {
		var err error
		if addrs, unchecked, err = c.discover(ctx); err != nil {
			return c.fail(cmd, err)
		}
	}
	probes := make([]*probe, len(addrs))
	for i, a := range addrs {
		cl, err := c.client(a)
		if err != nil {
			return c.usageErr(cmd, "%v", err)
		}
		probes[i] = &probe{addr: a, cl: cl}
	}
	for _, name := range unchecked {
		probes = append(probes, &probe{addr: "-", name: name, unchecked: true})
	}

	// Before the broadcast: ask every node its name (and so whether it
	// answers at all) and subscribe to its delivery stream.
	streamCtx, cancelStreams := context.WithCancel(ctx)
	defer cancelStreams()
	var wg sync.WaitGroup
	for _, p := range probes {
		if !p.unchecked {
			wg.Go(func() { p.preflight(ctx, streamCtx) })
		}
	}
	wg.Wait()
	defer func() {
		for _, p := range probes {
			if p.stream != nil {
				p.stream.Close()
			}
		}
	}()
	origin := probes[0]
	if origin.err != nil {
		return c.fail(cmd, fmt.Errorf("the first node broadcasts: %w", origin.err))
	}

	payload := "diagnostic_test_message plumctl " + nonce()
	rep, _, err := postBroadcast(ctx, origin.cl, []byte(payload))
	if err != nil {
		return c.fail(cmd, err)
	}
	sent := time.Now()
	if !c.json {
		fmt.Fprintf(c.stdout, "Sent test message %s on %s (%s); waiting up to %v for %d %s\n",
			rep.MsgID, origin.name, origin.addr, *wait, len(probes), plural(len(probes), "node", "nodes"))
	}

	waitCtx, cancelWait := context.WithDeadline(ctx, sent.Add(*wait))
	defer cancelWait()
	for _, p := range probes {
		if p.err == nil && !p.unchecked {
			wg.Go(func() { p.await(ctx, waitCtx, rep.MsgID) })
		}
	}
	wg.Wait()
	interrupted := ctx.Err() != nil

	report := buildReport(probes, rep.MsgID, payload, *wait)
	if c.json {
		b, _ := json.MarshalIndent(report, "", "  ")
		fmt.Fprintf(c.stdout, "%s\n", b)
	} else {
		printDeliveryReport(c.stdout, report, *wait)
	}
	if interrupted {
		fmt.Fprintf(c.stderr, "plumctl %s: interrupted\n", cmd)
		return exitFail
	}
	if report.Delivered != len(probes) {
		return exitFail
	}
	return exitOK
}

// preflight reads the node's name and opens its delivery stream.
func (p *probe) preflight(ctx, streamCtx context.Context) {
	var peers node.PeersReport
	a, err := p.cl.call(ctx, http.MethodGet, "/peers", nil, &peers, hintAdmin)
	if err == nil {
		err = requireKeys(a, "self")
	}
	if err != nil {
		p.err = err
		return
	}
	p.name = string(peers.Self)
	// Without a stream (no route, too many streams), await polls.
	p.stream, _ = p.cl.openStream(streamCtx, "/deliveries")
}

// openStream opens a JSON-lines stream. The stream lasts until ctx is done
// or the body is closed.
func (c *client) openStream(ctx context.Context, path string) (io.ReadCloser, error) {
	u := c.base + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &unreachableError{url: u, timeout: c.timeout, err: err}
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, &apiError{method: http.MethodGet, url: u, status: resp.StatusCode, msg: strings.TrimSpace(string(b))}
	}
	return resp.Body, nil
}

// await waits until the node delivered id or waitCtx is done: from the
// stream when there is one, else by polling GET /deliveries/recent. A last
// look at /deliveries/recent catches a record the stream dropped.
func (p *probe) await(ctx, waitCtx context.Context, id string) {
	if p.stream != nil {
		p.via = "stream"
		stop := context.AfterFunc(waitCtx, func() { p.stream.Close() })
		rec, err := scanStream(p.stream, id)
		stop()
		p.stream.Close()
		if rec != nil {
			p.rec = rec
			return
		}
		if err != nil && waitCtx.Err() == nil {
			p.missed = err
		}
	} else {
		p.via = "poll"
		t := time.NewTicker(pollInterval)
		defer t.Stop()
	poll:
		for {
			rec, err := p.recent(waitCtx, id)
			if rec != nil {
				p.rec = rec
				return
			}
			if err != nil {
				var ae *apiError
				if errors.As(err, &ae) && ae.status == http.StatusNotFound {
					p.unsup = true
					p.missed = errors.New("the node serves neither GET /deliveries nor GET /deliveries/recent (examples/node does)")
					return
				}
				if waitCtx.Err() == nil {
					p.missed = err
				}
			}
			select {
			case <-waitCtx.Done():
				break poll
			case <-t.C:
			}
		}
	}
	if ctx.Err() != nil {
		return
	}
	rec, err := p.recent(ctx, id)
	switch {
	case rec != nil:
		p.rec = rec
		if p.via == "stream" {
			p.via = "stream+recent"
		}
	case err != nil && p.missed == nil && p.via == "poll":
		p.missed = err
	}
}

// recent looks for id in GET /deliveries/recent.
func (p *probe) recent(ctx context.Context, id string) (*deliveryRecord, error) {
	var r recentDeliveries
	a, err := p.cl.call(ctx, http.MethodGet, fmt.Sprintf("/deliveries/recent?limit=%d", recentLimit), nil, &r, "")
	if err == nil {
		err = requireKeys(a, "deliveries")
	}
	if err != nil {
		return nil, err
	}
	for i := len(r.Deliveries) - 1; i >= 0; i-- {
		if r.Deliveries[i].MsgID == id {
			return &r.Deliveries[i], nil
		}
	}
	return nil, nil
}

// scanStream reads JSON lines (or Server-Sent Events) until a record of id.
// It returns nil, nil when the stream ends first (closed at the deadline).
func scanStream(r io.Reader, id string) (*deliveryRecord, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if after, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			line = bytes.TrimSpace(after)
		}
		if len(line) == 0 || line[0] == ':' || bytes.HasPrefix(line, []byte("event:")) ||
			bytes.HasPrefix(line, []byte("id:")) || bytes.HasPrefix(line, []byte("retry:")) {
			continue
		}
		var rec deliveryRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, fmt.Errorf("delivery stream is not JSON lines: %s", snippet(line))
		}
		if rec.MsgID == id {
			return &rec, nil
		}
	}
	return nil, nil // ended: closed at the deadline, or by the node
}

func buildReport(probes []*probe, id, payload string, wait time.Duration) deliveryReport {
	rep := deliveryReport{MsgID: id, Origin: probes[0].addr, Payload: payload, Wait: wait.String()}
	var t0 time.Time // the origin's delivery time, by its clock
	if r := probes[0].rec; r != nil {
		t0 = r.Time
	}
	for _, p := range probes {
		nr := nodeResult{Addr: p.addr, Name: p.name, Via: p.via}
		switch {
		case p.unchecked:
			nr.Result, nr.Error = resUnchecked, "advertises no admin address (examples/node -advertise-admin); name it with -addrs"
		case p.err != nil && isUnreachable(p.err):
			nr.Result, nr.Error = resUnreachable, p.err.Error()
		case p.err != nil:
			nr.Result, nr.Error = resError, p.err.Error()
		case p.unsup:
			nr.Result, nr.Error = resUnsupported, p.missed.Error()
		case p.rec == nil:
			nr.Result = resMissed
			if p.missed != nil {
				nr.Error = p.missed.Error()
			} else {
				nr.Error = "not delivered within " + wait.String()
			}
		default:
			hops := int(p.rec.Hops)
			nr.Hops, nr.From = &hops, string(p.rec.From)
			nr.Result = resDelivered
			if !t0.IsZero() {
				d := p.rec.Time.Sub(t0)
				ns := int64(d)
				nr.After, nr.AfterNS = d.Round(time.Microsecond).String(), &ns
				if d > wait {
					nr.Result, nr.Error = resLate, "delivered after "+wait.String()
				}
			}
			switch got, err := p.rec.payload(); {
			case err != nil:
				nr.Result, nr.Error = resCorrupt, "payload_base64 of the delivery is not base64"
			case string(got) != payload:
				nr.Result, nr.Error = resCorrupt, fmt.Sprintf("delivered payload %s differs from the one sent", snippet(got))
			}
		}
		if nr.Result == resDelivered {
			rep.Delivered++
		}
		rep.Nodes = append(rep.Nodes, nr)
	}
	return rep
}

func printDeliveryReport(w io.Writer, rep deliveryReport, wait time.Duration) {
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tNAME\tRESULT\tHOPS\tFROM\tAFTER\tNOTE")
	maxHops, slowest := 0, time.Duration(0)
	var failed []string
	for _, n := range rep.Nodes {
		hops, after := "-", "-"
		if n.Hops != nil {
			hops = fmt.Sprint(*n.Hops)
			maxHops = max(maxHops, *n.Hops)
		}
		if n.After != "" {
			after = n.After
			slowest = max(slowest, time.Duration(*n.AfterNS))
		}
		result := n.Result
		if result != resDelivered {
			result = strings.ToUpper(result)
			if n.Addr == "-" {
				failed = append(failed, n.Name)
			} else {
				failed = append(failed, n.Addr)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Addr, dash(n.Name), result, hops, dash(n.From), after, n.Error)
	}
	tw.Flush()
	for line := range strings.Lines(table.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
	if len(failed) == 0 {
		fmt.Fprintf(w, "OK: delivered on all %d %s within %v (max %d %s, slowest %v after the origin)\n",
			len(rep.Nodes), plural(len(rep.Nodes), "node", "nodes"), wait, maxHops, plural(maxHops, "hop", "hops"), slowest.Round(time.Microsecond))
		return
	}
	fmt.Fprintf(w, "FAIL: delivered on %d of %d nodes within %v; not on %s\n",
		rep.Delivered, len(rep.Nodes), wait, strings.Join(failed, ", "))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func nonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// discover finds the nodes test-delivery checks when -addrs is not given:
// the -addr node and every live member of its cluster, from its GET
// /topology. A member's admin address comes from its metadata (examples/node
// -advertise-admin); members without one are returned by name, to be
// reported unchecked. It fails when it could check only the -addr node of
// several, or when the node has peers but no GET /topology to find them.
func (c *cli) discover(ctx context.Context) (addrs, unchecked []string, err error) {
	cl, err := c.client(c.addr)
	if err != nil {
		return nil, nil, err
	}
	t, _, err := getTopology(ctx, cl)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) || ae.status != http.StatusNotFound {
			return nil, nil, err
		}
		// No topology route: only the node itself can be checked, which
		// is the whole cluster only if it has no peers.
		var p node.PeersReport
		a, err := cl.call(ctx, http.MethodGet, "/peers", nil, &p, hintAdmin)
		if err == nil {
			err = requireKeys(a, "self", "count")
		}
		if err != nil {
			return nil, nil, err
		}
		if p.Count > 0 {
			return nil, nil, fmt.Errorf("%s has %d %s but serves no GET /topology to find their admin addresses: name every node with -addrs",
				c.addr, p.Count, plural(p.Count, "peer", "peers"))
		}
		return []string{c.addr}, nil, nil
	}
	addrs = []string{c.addr}
	for _, m := range sortedMembers(t.Members) {
		if m.Self || core.PeerID(m.Name) == t.Self || !m.Plumtree || m.Leaving {
			continue
		}
		if m.AdminAddr == "" {
			unchecked = append(unchecked, m.Name)
			continue
		}
		addrs = append(addrs, m.AdminAddr)
	}
	if len(addrs) == 1 && len(unchecked) > 0 {
		return nil, nil, fmt.Errorf("can check only 1 of %d nodes: %s %s no admin address (start the nodes with -advertise-admin, or name them with -addrs)",
			1+len(unchecked), strings.Join(unchecked, ", "), plural(len(unchecked), "advertises", "advertise"))
	}
	return addrs, unchecked, nil
}
