package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// fakeNode is the admin API of examples/node with scripted deliveries.
type fakeNode struct {
	name   string
	stream string // "jsonl", "sse" or "" (no GET /deliveries)
	recent bool   // serves GET /deliveries/recent
	// deliver scripts the node's delivery of a broadcast made at t0; nil:
	// the node never delivers it.
	deliver func(id, payload string, t0 time.Time) *deliveryRecord
	delay   time.Duration // the delivery happens this long after the broadcast
	quiet   bool          // the delivery is not sent to streams (a dropped stream record)

	mu   sync.Mutex
	recs []deliveryRecord
	subs map[chan deliveryRecord]struct{}
	done chan struct{} // closed at cleanup: ends the streams
	srv  *httptest.Server
}

// delivered scripts a delivery after hops hops from `from`, at t0+after.
func delivered(hops int, from string, after time.Duration) func(id, payload string, t0 time.Time) *deliveryRecord {
	return func(id, payload string, t0 time.Time) *deliveryRecord {
		origin, _, _ := strings.Cut(id, "/")
		return &deliveryRecord{MsgID: id, Origin: core.PeerID(origin), From: core.PeerID(from), Hops: uint16(hops),
			Size: len(payload), Text: payload, Time: t0.Add(after)}
	}
}

func (n *fakeNode) add(r deliveryRecord) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.recs = append(n.recs, r)
	if n.quiet {
		return
	}
	for ch := range n.subs {
		select {
		case ch <- r:
		default:
		}
	}
}

// fakeCluster starts the nodes; the first answers POST /broadcast and
// plays every node's script.
func fakeCluster(t *testing.T, nodes ...*fakeNode) (addrs string) {
	t.Helper()
	var pending sync.WaitGroup
	var seq uint64 = 1000
	var urls []string
	for i, n := range nodes {
		n.subs = make(map[chan deliveryRecord]struct{})
		n.done = make(chan struct{})
		mux := http.NewServeMux()
		mux.HandleFunc("GET /peers", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"self": %q, "eager": [], "lazy": [], "protected": [], "count": 0}`, n.name)
		})
		if n.recent {
			mux.HandleFunc("GET /deliveries/recent", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("limit") != "1000" {
					t.Errorf("limit %q, want 1000", r.URL.Query().Get("limit"))
				}
				n.mu.Lock()
				b, _ := json.Marshal(map[string]any{"total": len(n.recs), "deliveries": n.recs})
				n.mu.Unlock()
				w.Write(b)
			})
		}
		if n.stream != "" {
			mux.HandleFunc("GET /deliveries", func(w http.ResponseWriter, r *http.Request) {
				ch := make(chan deliveryRecord, 16)
				n.mu.Lock()
				n.subs[ch] = struct{}{}
				n.mu.Unlock()
				defer func() {
					n.mu.Lock()
					delete(n.subs, ch)
					n.mu.Unlock()
				}()
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				if n.stream == "sse" {
					fmt.Fprint(w, ": keepalive\n\n")
				}
				// Someone else's message first.
				other, _ := json.Marshal(deliveryRecord{MsgID: "zz/1", Text: "other"})
				writeRec(w, n.stream, other)
				for {
					select {
					case <-r.Context().Done():
						return
					case <-n.done:
						return
					case rec := <-ch:
						b, _ := json.Marshal(rec)
						writeRec(w, n.stream, b)
					}
				}
			})
		}
		if i == 0 {
			mux.HandleFunc("POST /broadcast", func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if !strings.HasPrefix(string(body), "diagnostic_test_message plumctl ") {
					t.Errorf("payload %q", body)
				}
				seq++
				id := fmt.Sprintf("%s/%d", n.name, seq)
				t0 := time.Now()
				for _, m := range nodes {
					if m.deliver == nil {
						continue
					}
					rec := m.deliver(id, string(body), t0)
					if m.delay == 0 {
						m.add(*rec)
						continue
					}
					pending.Add(1)
					time.AfterFunc(m.delay, func() { defer pending.Done(); m.add(*rec) })
				}
				fmt.Fprintf(w, `{"msg_id": %q, "origin": %q, "seq": %d, "size": %d}`, id, n.name, seq, len(body))
			})
		}
		n.srv = httptest.NewServer(mux)
		urls = append(urls, n.srv.URL)
	}
	t.Cleanup(func() {
		pending.Wait()
		for _, n := range nodes {
			close(n.done)
			n.srv.Close()
		}
	})
	return strings.Join(urls, ",")
}

func writeRec(w http.ResponseWriter, mode string, b []byte) {
	if mode == "sse" {
		fmt.Fprintf(w, "event: delivery\ndata: %s\n\n", b)
	} else {
		w.Write(append(b, '\n'))
	}
	w.(http.Flusher).Flush()
}

func TestTestDelivery(t *testing.T) {
	type row struct{ name, result, hops, from, after string }
	tests := []struct {
		name   string
		nodes  []*fakeNode
		args   []string
		code   int
		rows   []row
		footer string
		notes  []string
	}{
		{
			name: "every node delivers, streams",
			nodes: []*fakeNode{
				{name: "a", stream: "jsonl", recent: true, deliver: delivered(0, "a", 0)},
				{name: "b", stream: "jsonl", recent: true, deliver: delivered(1, "a", 1200*time.Microsecond)},
				{name: "c", stream: "jsonl", recent: true, deliver: delivered(2, "b", 3*time.Millisecond)},
			},
			code:   exitOK,
			rows:   []row{{"a", "delivered", "0", "a", "0s"}, {"b", "delivered", "1", "a", "1.2ms"}, {"c", "delivered", "2", "b", "3ms"}},
			footer: "OK: delivered on all 3 nodes within 2s (max 2 hops, slowest 3ms after the origin)",
		},
		{
			name: "server-sent events",
			nodes: []*fakeNode{
				{name: "a", stream: "sse", deliver: delivered(0, "a", 0)},
				{name: "b", stream: "sse", deliver: delivered(1, "a", time.Millisecond), delay: 50 * time.Millisecond},
			},
			code:   exitOK,
			rows:   []row{{"a", "delivered", "0", "a", "0s"}, {"b", "delivered", "1", "a", "1ms"}},
			footer: "OK: delivered on all 2 nodes",
		},
		{
			name: "polling when there is no stream",
			nodes: []*fakeNode{
				{name: "a", recent: true, deliver: delivered(0, "a", 0)},
				{name: "b", recent: true, deliver: delivered(1, "a", 2*time.Millisecond), delay: 250 * time.Millisecond},
			},
			code:   exitOK,
			rows:   []row{{"a", "delivered", "0", "a", "0s"}, {"b", "delivered", "1", "a", "2ms"}},
			footer: "OK: delivered on all 2 nodes within 2s (max 1 hop, slowest 2ms after the origin)",
		},
		{
			name: "a record the stream dropped is found in recent",
			nodes: []*fakeNode{
				{name: "a", stream: "jsonl", recent: true, deliver: delivered(0, "a", 0)},
				{name: "b", stream: "jsonl", recent: true, deliver: delivered(3, "c", 4*time.Millisecond), quiet: true},
			},
			args:   []string{"-wait", "200ms"},
			code:   exitOK,
			rows:   []row{{"a", "delivered", "0", "a", "0s"}, {"b", "delivered", "3", "c", "4ms"}},
			footer: "OK: delivered on all 2 nodes",
		},
		{
			name: "a node misses the message",
			nodes: []*fakeNode{
				{name: "a", stream: "jsonl", recent: true, deliver: delivered(0, "a", 0)},
				{name: "b", stream: "jsonl", recent: true},
				{name: "c", recent: true},
			},
			args:   []string{"-wait", "300ms"},
			code:   exitFail,
			rows:   []row{{"a", "delivered", "0", "a", "0s"}, {"b", "MISSED", "-", "-", "-"}, {"c", "MISSED", "-", "-", "-"}},
			notes:  []string{"not delivered within 300ms"},
			footer: "FAIL: delivered on 1 of 3 nodes within 300ms; not on http://",
		},
		{
			name: "late, corrupt and unsupported nodes",
			nodes: []*fakeNode{
				{name: "a", stream: "jsonl", deliver: delivered(0, "a", 0)},
				{name: "late", stream: "jsonl", deliver: delivered(1, "a", 3*time.Second)},
				{name: "bad", stream: "jsonl", deliver: func(id, payload string, t0 time.Time) *deliveryRecord {
					r := delivered(1, "a", time.Millisecond)(id, payload, t0)
					r.Text = "tampered"
					return r
				}},
				{name: "plain"},
			},
			args: []string{"-wait", "1s"},
			code: exitFail,
			rows: []row{{"a", "delivered", "0", "a", "0s"}, {"late", "LATE", "1", "a", "3s"}, {"bad", "CORRUPT", "1", "a", "1ms"}, {"plain", "UNSUPPORTED", "-", "-", "-"}},
			notes: []string{
				"delivered after 1s",
				`delivered payload "tampered" differs from the one sent`,
				"the node serves neither GET /deliveries nor GET /deliveries/recent (examples/node does)",
			},
			footer: "FAIL: delivered on 1 of 4 nodes within 1s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addrs := fakeCluster(t, tt.nodes...)
			args := append([]string{"test-delivery", "-addrs", addrs, "-wait", "2s"}, tt.args...)
			code, stdout, stderr := runCLI(t, nil, "", args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if len(lines) != len(tt.rows)+3 {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tt.rows)+3, stdout)
			}
			if !strings.HasPrefix(lines[0], "Sent test message a/1001 on a ("+tt.nodes[0].srv.URL+"); waiting up to ") {
				t.Errorf("first line %q", lines[0])
			}
			if got := strings.Fields(lines[1]); strings.Join(got, " ") != "NODE NAME RESULT HOPS FROM AFTER NOTE" {
				t.Errorf("header %q", lines[1])
			}
			for i, want := range tt.rows {
				f := strings.Fields(lines[2+i])
				if len(f) < 6 || f[0] != tt.nodes[i].srv.URL || f[1] != want.name || f[2] != want.result || f[3] != want.hops || f[4] != want.from || f[5] != want.after {
					t.Errorf("row %d: %q, want %+v", i, lines[2+i], want)
				}
				if strings.HasSuffix(lines[2+i], " ") {
					t.Errorf("row %d has trailing spaces: %q", i, lines[2+i])
				}
			}
			containsInOrder(t, "stdout", stdout, tt.notes)
			if !strings.HasPrefix(lines[len(lines)-1], tt.footer) {
				t.Errorf("footer %q, want prefix %q", lines[len(lines)-1], tt.footer)
			}
		})
	}
}

func TestTestDeliveryJSON(t *testing.T) {
	nodes := []*fakeNode{
		{name: "a", stream: "jsonl", recent: true, deliver: delivered(0, "a", 0)},
		{name: "b", recent: true, deliver: delivered(1, "a", 5*time.Millisecond)},
	}
	addrs := fakeCluster(t, nodes...)
	dead := closedAddr(t)
	code, stdout, stderr := runCLI(t, nil, "", "-json", "test-delivery", "-wait", "300ms", "-addrs", addrs+","+dead)
	if code != exitFail {
		t.Errorf("exit %d, want %d (stderr %q)", code, exitFail, stderr)
	}
	var rep deliveryReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if rep.MsgID != "a/1001" || rep.Origin != nodes[0].srv.URL || rep.Wait != "300ms" || rep.Delivered != 2 || len(rep.Nodes) != 3 ||
		!strings.HasPrefix(rep.Payload, "diagnostic_test_message plumctl ") {
		t.Fatalf("report %+v", rep)
	}
	a, b, c := rep.Nodes[0], rep.Nodes[1], rep.Nodes[2]
	if a.Result != resDelivered || *a.Hops != 0 || a.Via != "stream" || *a.AfterNS != 0 {
		t.Errorf("origin %+v", a)
	}
	if b.Result != resDelivered || *b.Hops != 1 || b.From != "a" || b.After != "5ms" || *b.AfterNS != int64(5*time.Millisecond) || b.Via != "poll" {
		t.Errorf("b %+v", b)
	}
	if c.Result != resUnreachable || c.Hops != nil || !strings.Contains(c.Error, "connection refused") || c.Addr != dead {
		t.Errorf("c %+v", c)
	}
}

func TestTestDeliveryDefaultsToAddr(t *testing.T) {
	n := &fakeNode{name: "solo", stream: "jsonl", deliver: delivered(0, "solo", 0)}
	addrs := fakeCluster(t, n)
	code, stdout, stderr := runCLI(t, map[string]string{envAddr: addrs}, "", "test-delivery")
	if code != exitOK || !strings.Contains(stdout, "OK: delivered on all 1 node within 5s (max 0 hops") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}

// The stream and recent formats recorded from examples/node.
func TestRecordedDeliveryFormats(t *testing.T) {
	const streamed = "n1/1795639651626691865"
	for _, f := range []string{"deliveries_stream.jsonl", "deliveries_stream.sse"} {
		rec, err := scanStream(strings.NewReader(fixture(t, f)), streamed)
		if err != nil || rec == nil || rec.Text != "streamed" || rec.Hops != 1 || rec.From != "n1" || rec.Time.IsZero() {
			t.Errorf("%s: %+v, %v", f, rec, err)
		}
		if rec, err := scanStream(strings.NewReader(fixture(t, f)), "n1/1"); rec != nil || err != nil {
			t.Errorf("%s: found %+v, %v for another id", f, rec, err)
		}
	}
	if _, err := scanStream(strings.NewReader("<html>\n"), streamed); err == nil || !strings.Contains(err.Error(), "not JSON lines") {
		t.Errorf("HTML stream: %v", err)
	}

	srv := fakeAdmin(t, map[string]answerSpec{"GET /deliveries/recent": {body: fixture(t, "deliveries_recent.json")}})
	p := &probe{cl: &client{base: srv.URL, hc: newHTTPClient(time.Second), timeout: time.Second}}
	rec, err := p.recent(t.Context(), "n1/1795639651626691864")
	if err != nil || rec == nil || rec.Text != "recorded broadcast" || rec.Hops != 2 || rec.From != "n4" || rec.Size != 18 {
		t.Errorf("recent: %+v, %v", rec, err)
	}
	if got, _ := rec.payload(); string(got) != "recorded broadcast" {
		t.Errorf("payload %q", got)
	}
	if got, err := (deliveryRecord{PayloadBase64: "AP8="}).payload(); err != nil || string(got) != "\x00\xff" {
		t.Errorf("base64 payload %q, %v", got, err)
	}
}
