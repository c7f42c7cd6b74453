package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// runCLI runs plumctl in-process and checks that it never panicked or
// printed a stack trace.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("plumctl %q panicked: %v", args, r)
			}
		}()
		code = run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errb)
	}()
	for _, bad := range []string{"goroutine ", "panic", ".go:"} {
		if strings.Contains(errb.String(), bad) {
			t.Errorf("plumctl %q: stderr looks like a stack trace:\n%s", args, errb.String())
		}
	}
	return code, out.String(), errb.String()
}

// fixture returns a recorded answer from testdata (recorded from
// examples/node: a cluster of four, then of two, then alone).
func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// answerSpec is what a fake admin API answers on one route.
type answerSpec struct {
	status int    // default 200
	ctype  string // default application/json
	body   string
	header map[string]string
	delay  time.Duration                      // before answering (until the client gives up)
	check  func(r *http.Request, body []byte) // sees the request
}

// fakeAdmin serves routes ("GET /health": answer) like a node's admin API;
// other paths get net/http's "404 page not found", as from a real node.
func fakeAdmin(t *testing.T, routes map[string]answerSpec) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	for pattern, a := range routes {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if a.check != nil {
				a.check(r, body)
			}
			if a.delay > 0 {
				select {
				case <-time.After(a.delay):
				case <-r.Context().Done():
					return
				}
			}
			ct := a.ctype
			if ct == "" {
				ct = "application/json"
			}
			w.Header().Set("Content-Type", ct)
			for k, v := range a.header {
				w.Header().Set(k, v)
			}
			st := a.status
			if st == 0 {
				st = http.StatusOK
			}
			w.WriteHeader(st)
			io.WriteString(w, a.body)
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// closedAddr returns an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	return addr
}

func TestCommands(t *testing.T) {
	const (
		notJSON = "<html><body>Welcome to nginx!</body></html>"
	)
	healthy, degraded, unhealthy := fixture(t, "health_healthy.json"), fixture(t, "health_degraded.json"), fixture(t, "health_unhealthy.json")
	// A node with large messages enabled adds large_health.
	healthyLarge := strings.Replace(healthy, "{", `{"large_health":{"in_flight":2,"assembly_bytes":33554432,"assembly_budget":536870912,`+
		`"assembly_utilization":0.0625,"part_repairs":17,"digest_failures":1,"evicted":0,"expired":3},`, 1)
	tests := []struct {
		name     string
		routes   map[string]answerSpec
		args     []string // after -addr <server>
		stdin    string
		code     int
		stdout   []string // substrings, in order
		stderr   []string
		noStdout bool
	}{
		{
			name:   "health healthy",
			routes: map[string]answerSpec{"GET /health": {body: healthy}},
			args:   []string{"health"},
			code:   exitOK,
			stdout: []string{
				"=== Health Report ===",
				"Status:          Healthy",
				"Message:         Operating normally",
				"Peer Health:     3 peers: 2 eager (target 3), 1 lazy",
				"Delivery Health: 0 pending grafts; graft failure rate 0.0% (0 succeeded, 0 failed in the health window)",
				"Cache Health:    6 of 10000 messages (0.1% used), TTL 30s, retention 30s",
			},
		},
		{
			name:   "health with large messages",
			routes: map[string]answerSpec{"GET /health": {body: healthyLarge}},
			args:   []string{"health"},
			code:   exitOK,
			stdout: []string{
				"Status:          Healthy",
				"Cache Health:    6 of 10000 messages (0.1% used), TTL 30s, retention 30s",
				"Large Messages:  2 in flight, 33554432 of 536870912 assembly bytes (6.2% used); 17 part repairs, 1 digest failures, 0 evicted, 3 expired",
			},
		},
		{
			name:   "health degraded",
			routes: map[string]answerSpec{"GET /health": {body: degraded}},
			args:   []string{"health"},
			code:   exitFail,
			stdout: []string{"Status:          Degraded", "Message:         Few peers: 1 (want 3)", "Peer Health:     1 peer: 1 eager (target 3), 0 lazy"},
		},
		{
			name:   "health unhealthy is a 503 with a report",
			routes: map[string]answerSpec{"GET /health": {status: 503, body: unhealthy}},
			args:   []string{"health"},
			code:   exitUnhealthy,
			// A node whose report has no retention (an older one): none printed.
			stdout: []string{"Status:          Unhealthy", "Message:         No peers connected", "Peer Health:     0 peers",
				"Cache Health:    8 of 10000 messages (0.1% used), TTL 30s\n"},
		},
		{
			name:   "health -json after the command",
			routes: map[string]answerSpec{"GET /health": {status: 503, body: unhealthy}},
			args:   []string{"health", "-json"},
			code:   exitUnhealthy,
			stdout: []string{`"status": "Unhealthy"`, `"ttl_ns": 30000000000`},
		},
		{
			name:     "health not JSON",
			routes:   map[string]answerSpec{"GET /health": {ctype: "text/html", body: notJSON}},
			args:     []string{"health"},
			code:     exitUnreachable,
			stderr:   []string{"plumctl health: answer from http://", "/health is not JSON (HTTP 200, text/html): \"<html><body>Welcome to nginx!</body></html>\" (is this a plumtree admin API address?)"},
			noStdout: true,
		},
		{
			name:     "health JSON of another service",
			routes:   map[string]answerSpec{"GET /health": {body: `{"ok": true}`}},
			args:     []string{"health"},
			code:     exitUnreachable,
			stderr:   []string{`no "status", "message", "peer_health" field`},
			noStdout: true,
		},
		{
			name:     "health JSON array",
			routes:   map[string]answerSpec{"GET /health": {body: `[1, 2]`}},
			args:     []string{"health"},
			code:     exitUnreachable,
			stderr:   []string{"want a JSON object"},
			noStdout: true,
		},
		{
			name:     "health truncated JSON",
			routes:   map[string]answerSpec{"GET /health": {body: healthy[:40]}},
			args:     []string{"health"},
			code:     exitUnreachable,
			stderr:   []string{"is not JSON"},
			noStdout: true,
		},
		{
			name:     "health from a proxy error page",
			routes:   map[string]answerSpec{"GET /health": {status: 502, ctype: "text/html", body: "<h1>Bad Gateway</h1>"}},
			args:     []string{"health"},
			code:     exitUnreachable,
			stderr:   []string{"(HTTP 502): not an answer of the admin API"},
			noStdout: true,
		},
		{
			name:     "health on a server without the route",
			routes:   map[string]answerSpec{},
			args:     []string{"health"},
			code:     exitUnreachable,
			stderr:   []string{"/health: HTTP 404 Not Found (is this a plumtree admin API address, with the right path prefix?)"},
			noStdout: true,
		},
		{
			name:     "health timeout",
			routes:   map[string]answerSpec{"GET /health": {body: healthy, delay: 5 * time.Second}},
			args:     []string{"-timeout", "100ms", "health"},
			code:     exitUnreachable,
			stderr:   []string{"/health: no answer within 100ms"},
			noStdout: true,
		},
		{
			name:   "peers",
			routes: map[string]answerSpec{"GET /peers": {body: fixture(t, "peers.json")}},
			args:   []string{"peers"},
			code:   exitOK,
			stdout: []string{"=== Peer State ===\n", "Self:          n1\n", "Eager (2):     n2, n4\n", "Lazy (1):      n3\n", "Protected (0): -\n", "Total peers:   3\n"},
		},
		{
			name:   "peers with protected neighbours",
			routes: map[string]answerSpec{"GET /peers": {body: `{"self":"a","eager":["b","c"],"lazy":["d"],"protected":["b"],"count":3}`}},
			args:   []string{"peers"},
			code:   exitOK,
			stdout: []string{"Eager (2):     b, c\n", "Lazy (1):      d\n", "Protected (1): b\n", "Total peers:   3\n"},
		},
		{
			name:   "peers -json",
			routes: map[string]answerSpec{"GET /peers": {body: `{"self":"a","eager":[],"lazy":[],"protected":[],"count":0}`}},
			args:   []string{"-json", "peers"},
			code:   exitOK,
			stdout: []string{"{\n  \"self\": \"a\",\n  \"eager\": [],"},
		},
		{
			name:   "stats",
			routes: map[string]answerSpec{"GET /stats": {body: fixture(t, "stats.json")}},
			args:   []string{"stats"},
			code:   exitOK,
			stdout: []string{
				"=== Stats ===",
				"Peers:      2 eager, 1 lazy, 3 total; 0 passive, 0 protected",
				"Cache:      messages 6 of 10000 (0.1%); seen ids 6 of 100000 (0.0%)",
				"Messages:   2 broadcast, 6 delivered, 3 duplicate (50.0% of delivered)",
				"Sent:       gossip 10, ihave 11, graft 3, prune",
				"Grafts:     0 succeeded, 0 failed (n/a)",
				"Repair:     digests 7 sent, 9 received, 1 rate-limited; repairs 4 sent, 5 received (2 duplicate)",
				"Streams:    4 origins tracked; 1 gaps given up, 0 forgotten at max_streams, 5 origins of digests not learnt; 3 copies refused by age",
				"Runtime:",
				"  Delivery queue: 0 of 4096 (backpressure at 3072), overflow 0 of 10000, intake paused: no",
				"  Payload held:   queue 2 of 65536 KiB, overflow 0 of 65536 KiB",
				"  Frames:",
			},
		},
		{
			name:   "config keeps the answer's order and every digit",
			routes: map[string]answerSpec{"GET /config": {body: fixture(t, "config.json")}},
			args:   []string{"config"},
			code:   exitOK,
			stdout: []string{
				"=== Configuration ===\n",
				"max_peers                          0\n",
				"eager_fanout                       3\n",
				"ihave_interval                     50ms\n",
				"graft_rate_limit_per_second        20\n",
				"use_hash_ring                      false\n",
				"health.failure_rate_unhealthy      0.8\n",
				"health.window                      5m0s\n",
				"seed                               6985247847424002434\n",
			},
		},
		{
			name:   "dump",
			routes: map[string]answerSpec{"GET /dump": {body: fixture(t, "dump.json")}},
			args:   []string{"dump"},
			code:   exitOK,
			stdout: []string{"{\n  \"config\": {", `"topology": {`},
		},
		{
			name: "broadcast text",
			routes: map[string]answerSpec{"POST /broadcast": {body: fixture(t, "broadcast.json"), check: func(r *http.Request, body []byte) {
				if string(body) != "hello  world" {
					t.Errorf("broadcast body %q, want %q", body, "hello  world")
				}
			}}},
			args:   []string{"broadcast", "hello ", "world"},
			code:   exitOK,
			stdout: []string{"n1/1795639651626691864\n"},
		},
		{
			name: "broadcast from standard input",
			routes: map[string]answerSpec{"POST /broadcast": {body: fixture(t, "broadcast.json"), check: func(r *http.Request, body []byte) {
				if string(body) != "\x00binary\xff" {
					t.Errorf("broadcast body %q", body)
				}
			}}},
			args:   []string{"broadcast", "-file", "-"},
			stdin:  "\x00binary\xff",
			code:   exitOK,
			stdout: []string{"n1/1795639651626691864\n"},
		},
		{
			name:   "broadcast -json",
			routes: map[string]answerSpec{"POST /broadcast": {body: fixture(t, "broadcast.json")}},
			args:   []string{"broadcast", "-json", "x"},
			code:   exitOK,
			stdout: []string{`"msg_id": "n1/1795639651626691864"`, `"size": 18`},
		},
		{
			name:     "broadcast too large",
			routes:   map[string]answerSpec{"POST /broadcast": {status: 413, body: `{"error": "core: message too large"}`}},
			args:     []string{"broadcast", "x"},
			code:     exitFail,
			stderr:   []string{"plumctl broadcast: POST http://", "/broadcast: HTTP 413 Request Entity Too Large: core: message too large\n"},
			noStdout: true,
		},
		{
			name:     "broadcast under backpressure",
			routes:   map[string]answerSpec{"POST /broadcast": {status: 503, header: map[string]string{"Retry-After": "1"}, body: `{"error": "node: backpressure"}`}},
			args:     []string{"broadcast", "x"},
			code:     exitFail,
			stderr:   []string{"HTTP 503 Service Unavailable: node: backpressure (retry after 1s)"},
			noStdout: true,
		},
		{
			name:     "broadcast on a read-only admin API",
			routes:   map[string]answerSpec{"GET /health": {body: healthy}},
			args:     []string{"broadcast", "x"},
			code:     exitFail,
			stderr:   []string{"HTTP 404 Not Found (the node does not accept POST /broadcast: its admin API may be read-only)"},
			noStdout: true,
		},
		{
			name:     "broadcast answer without an id",
			routes:   map[string]answerSpec{"POST /broadcast": {body: `{"msg_id": ""}`}},
			args:     []string{"broadcast", "x"},
			code:     exitUnreachable,
			stderr:   []string{"empty msg_id"},
			noStdout: true,
		},
		{
			name:   "watch -count",
			routes: map[string]answerSpec{"GET /health": {body: degraded}, "GET /stats": {body: fixture(t, "stats.json")}},
			args:   []string{"watch", "-interval", "10ms", "-count", "2"},
			code:   exitFail, // the last health: Degraded
			stdout: []string{
				"every 10ms (Ctrl-C to stop)\n",
				"TIME      STATUS     PEERS  EAGER  LAZY  PENDING   CACHE  DELIVERED  MESSAGE\n",
				"  Degraded       1      1     0        0    0.1%          6  Few peers: 1 (want 3)\n",
				"  Degraded       1      1     0        0    0.1%         +0  Few peers: 1 (want 3)\n",
			},
		},
		{
			name:   "watch -json",
			routes: map[string]answerSpec{"GET /health": {status: 503, body: unhealthy}, "GET /stats": {body: fixture(t, "stats.json")}},
			args:   []string{"-json", "watch", "-interval", "10ms", "-count", "1"},
			code:   exitUnhealthy,
			stdout: []string{`{"time":"`, `"health":{"status":"Unhealthy","message":"No peers connected"`, `"messages_delivered":6}`},
		},
		{
			name:   "watch keeps going when the node does not answer",
			routes: map[string]answerSpec{"GET /health": {ctype: "text/html", body: notJSON}},
			args:   []string{"watch", "-interval", "10ms", "-count", "2"},
			code:   exitUnreachable,
			stdout: []string{"  ERROR      answer from", "  ERROR      answer from"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeAdmin(t, tt.routes)
			args := append([]string{"-addr", srv.URL}, tt.args...)
			code, stdout, stderr := runCLI(t, nil, tt.stdin, args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			containsInOrder(t, "stdout", stdout, tt.stdout)
			containsInOrder(t, "stderr", stderr, tt.stderr)
			if tt.noStdout && stdout != "" {
				t.Errorf("stdout should be empty on error, got:\n%s", stdout)
			}
			if tt.code == exitOK && stderr != "" {
				t.Errorf("stderr should be empty on success, got:\n%s", stderr)
			}
		})
	}
}

func containsInOrder(t *testing.T, what, got string, want []string) {
	t.Helper()
	rest := got
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("%s does not contain %q (after the previous matches):\n%s", what, w, got)
			return
		}
		rest = rest[i+len(w):]
	}
}

func TestJSONOutputIsTheAnswer(t *testing.T) {
	for _, c := range []struct{ cmd, path, file string }{
		{"health", "/health", "health_healthy.json"},
		{"peers", "/peers", "peers.json"},
		{"stats", "/stats", "stats.json"},
		{"config", "/config", "config.json"},
		{"dump", "/dump", "dump.json"},
	} {
		t.Run(c.cmd, func(t *testing.T) {
			body := fixture(t, c.file)
			srv := fakeAdmin(t, map[string]answerSpec{"GET " + c.path: {body: body}})
			code, stdout, stderr := runCLI(t, nil, "", "-addr", srv.URL, "-json", c.cmd)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var want, got bytes.Buffer
			if err := json.Compact(&want, []byte(body)); err != nil {
				t.Fatal(err)
			}
			if err := json.Compact(&got, []byte(stdout)); err != nil {
				t.Fatalf("-json output is not JSON: %v\n%s", err, stdout)
			}
			if got.String() != want.String() {
				t.Errorf("-json output differs from the answer:\n%s\nwant:\n%s", got.String(), want.String())
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	addr := closedAddr(t)
	for _, cmd := range [][]string{{"health"}, {"peers"}, {"stats"}, {"config"}, {"dump"}, {"broadcast", "x"}, {"test-delivery"}, {"topology"}, {"members"}} {
		t.Run(cmd[0], func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, "", append([]string{"-addr", addr}, cmd...)...)
			if code != exitUnreachable {
				t.Errorf("exit code %d, want %d", code, exitUnreachable)
			}
			if stdout != "" {
				t.Errorf("stdout: %q", stdout)
			}
			// test-delivery without -addrs first asks the node for the
			// cluster (GET /topology).
			want := "plumctl " + cmd[0] + ": cannot reach http://" + addr + "/"
			if !strings.HasPrefix(stderr, want) || !strings.Contains(stderr, "connection refused") ||
				!strings.HasSuffix(stderr, "(is the node running, with its admin API on this address?)\n") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr:\n%s\nwant one line starting %q", stderr, want)
			}
		})
	}
}

func TestAddressSources(t *testing.T) {
	var hits []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		hits = append(hits, r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"self":"x","eager":["y"],"lazy":[],"protected":[],"count":1}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	host := srv.Listener.Addr().String()
	_, port, _ := strings.Cut(host, ":")
	dead := closedAddr(t)

	for _, c := range []struct {
		name     string
		env      map[string]string
		args     []string
		wantPath string
	}{
		{"flag", nil, []string{"-addr", host, "peers"}, "/peers"},
		{"flag after the command", nil, []string{"peers", "-addr", host}, "/peers"},
		{"environment", map[string]string{envAddr: host}, []string{"peers"}, "/peers"},
		{"flag over environment", map[string]string{envAddr: dead}, []string{"-addr", host, "peers"}, "/peers"},
		{"port only", nil, []string{"-addr", ":" + port, "peers"}, "/peers"},
		{"URL with a prefix", nil, []string{"-addr", srv.URL + "/plumtree/", "peers"}, "/plumtree/peers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hits = nil
			code, _, stderr := runCLI(t, c.env, "", c.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if len(hits) != 1 || hits[0] != c.wantPath {
				t.Errorf("requests %q, want [%s]", hits, c.wantPath)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"127.0.0.1:7947", "http://127.0.0.1:7947", ""},
		{" node-1 ", "http://node-1:7947", ""},
		{":9000", "http://127.0.0.1:9000", ""},
		{"[::1]:7947", "http://[::1]:7947", ""},
		{"http://node-1", "http://node-1", ""},
		{"https://ops.example.com/plumtree/", "https://ops.example.com/plumtree", ""},
		{"http://u:p@h:1/x?y=1#z", "http://h:1/x", ""},
		{"", "", "empty admin address"},
		{"off", "", `admin address is "off"`},
		{"ftp://h:1", "", `scheme "ftp"`},
		{"http://", "", "no host or port"},
		{"h:port", "", "invalid port"},
	} {
		got, err := baseURL(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("baseURL(%q) error %v, want %q", c.in, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("baseURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestUsage(t *testing.T) {
	srv := fakeAdmin(t, nil)
	tmp := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(tmp, []byte("p"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, exitUsage, "", "Usage:"},
		{[]string{"help"}, exitOK, "Commands:\n  health", ""},
		{[]string{"-h"}, exitOK, "", "Exit codes:"},
		{[]string{"help", "test-delivery"}, exitOK, "", "Usage: plumctl test-delivery"},
		{[]string{"health", "-h"}, exitOK, "", "Usage: plumctl health"},
		{[]string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{[]string{"-nope", "health"}, exitUsage, "", "flag provided but not defined: -nope"},
		{[]string{"health", "extra"}, exitUsage, "", `unexpected arguments ["extra"]`},
		{[]string{"-timeout", "0s", "health"}, exitUsage, "", "-timeout must be positive"},
		{[]string{"-addr", "off", "health"}, exitUsage, "", `admin address is "off"`},
		{[]string{"broadcast"}, exitUsage, "", "no payload"},
		{[]string{"broadcast", "-file", tmp, "text"}, exitUsage, "", "not both"},
		{[]string{"broadcast", "-file", filepath.Join(tmp, "missing")}, exitFail, "", "not a directory"},
		{[]string{"watch", "-interval", "0s"}, exitUsage, "", "-interval must be positive"},
		{[]string{"test-delivery", "-wait", "-1s"}, exitUsage, "", "-wait must be positive"},
		{[]string{"test-delivery", "-addrs", "a,ftp://b"}, exitUsage, "", `scheme "ftp"`},
	} {
		args := c.args
		if len(args) > 0 && args[0] != "-addr" {
			args = append([]string{"-addr", srv.URL}, args...)
		}
		code, stdout, stderr := runCLI(t, nil, "", args...)
		if code != c.code || !strings.Contains(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
			t.Errorf("plumctl %q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				c.args, code, stdout, stderr, c.code, c.stdout, c.stderr)
		}
	}
}

func TestFlattenJSON(t *testing.T) {
	kvs, err := flattenJSON([]byte(`{"b": 1, "a": {"y": "s", "x": [1, "t"], "e": {}}, "n": null, "big": 12345678901234567890}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range kvs {
		got = append(got, x.key+"="+x.value)
	}
	want := []string{"b=1", "a.y=s", `a.x=[1,"t"]`, "a.e={}", "n=null", "big=12345678901234567890"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := flattenJSON([]byte(`{"a": `)); err == nil {
		t.Error("no error for truncated JSON")
	}
}

func TestWatchStopsOnInterrupt(t *testing.T) {
	srv := fakeAdmin(t, map[string]answerSpec{"GET /health": {body: fixture(t, "health_healthy.json")}, "GET /stats": {body: fixture(t, "stats.json")}})
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"-addr", srv.URL, "watch", "-interval", "5ms"}, func(string) string { return "" }, nil, &out, &errb)
	}()
	// Interrupt once two samples are out (a few milliseconds on a quiet
	// machine; the deadline only bounds a broken watch).
	deadline := time.Now().Add(time.Minute)
	for strings.Count(out.String(), "Healthy") < 2 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("fewer than two samples after a minute:\n%s\nstderr %q", out.String(), errb.String())
		}
		time.Sleep(5 * time.Millisecond) // polling
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d after interrupt, want 0 (stderr %q)", code, errb.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("watch did not stop on interrupt")
	}
	if n := strings.Count(out.String(), "Healthy"); n < 2 {
		t.Errorf("%d samples, want several:\n%s", n, out.String())
	}
}

// lockedBuffer is a bytes.Buffer that a command writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
