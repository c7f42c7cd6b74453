package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/examples/internal/leakcheck"
)

// proc is one examples/node process started by the test.
type proc struct {
	name  string
	cmd   *exec.Cmd
	addr  string // memberlist + Plumtree
	admin string // http://...
	metr  string
	mu    sync.Mutex
	log   bytes.Buffer
	done  chan struct{}
}

var startLine = regexp.MustCompile(`^plumtree node (\S+): addr=(\S+) admin=(\S+) metrics=(\S+)$`)

// memberlist's probe goroutines (in-process nodes) may outlive Shutdown by
// several seconds on a loaded machine (see leakcheck).
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m, time.Minute) }

func buildNode(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	bin := filepath.Join(t.TempDir(), "node")
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startProc(t *testing.T, bin, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"-name", name, "-preset", "local", "-admin-addr", "127.0.0.1:0",
		"-metrics-addr", "127.0.0.1:0", "-leave-timeout", "2s", "-log-level", "warn"}, args...)...)
	p.cmd.Env = os.Environ()
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &lockedWriter{p: p}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := startLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case ready <- m:
				default:
				}
			}
			(&lockedWriter{p: p}).Write([]byte(sc.Text() + "\n"))
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	select {
	case m := <-ready:
		p.addr, p.admin, p.metr = m[2], m[3], m[4]
	case <-p.done:
		t.Fatalf("%s exited before it was ready:\n%s", name, p.output())
	case <-time.After(2 * time.Minute): // a start takes milliseconds; a loaded machine gets plenty
		t.Fatalf("%s not ready:\n%s", name, p.output())
	}
	return p
}

type lockedWriter struct{ p *proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.p.log.Len() < 1<<20 {
		w.p.log.Write(b)
	}
	return len(b), nil
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// kill sends SIGKILL and waits for the process.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) getJSON(t *testing.T, path string, v any) error {
	t.Helper()
	resp, err := http.Get(p.admin + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (p *proc) broadcast(t *testing.T, text string) {
	t.Helper()
	resp, err := http.Post(p.admin+"/broadcast", "text/plain", strings.NewReader(text))
	if err != nil {
		t.Fatalf("%s: broadcast: %v", p.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: broadcast: %s %s", p.name, resp.Status, b)
	}
}

func (p *proc) alivePeers(t *testing.T) int {
	var st struct {
		Alive int `json:"alive"`
	}
	if err := p.getJSON(t, "/membership", &st); err != nil {
		return -1
	}
	return st.Alive
}

func (p *proc) delivered(t *testing.T, text string) int {
	var r struct {
		Deliveries []struct {
			Text string `json:"text"`
		} `json:"deliveries"`
	}
	if err := p.getJSON(t, "/deliveries/recent?limit=1000", &r); err != nil {
		return -1
	}
	n := 0
	for _, d := range r.Deliveries {
		if d.Text == text {
			n++
		}
	}
	return n
}

// The waits below take a second or two on a quiet machine (memberlist's
// failure detection and the repair plane's timers); their deadlines leave
// room for a machine many times slower.
const (
	formWait    = 2 * time.Minute // a join, a rejoin, or a failure or leave detected
	deliverWait = time.Minute     // a broadcast everywhere, repairs included
)

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool, procs ...*proc) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, p := range procs {
				fmt.Fprintf(&logs, "--- %s\n%s", p.name, p.output())
			}
			t.Fatalf("timed out waiting for %s\n%s", what, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestThreeProcesses builds examples/node, runs three processes on
// loopback, drives them through the admin API, SIGKILLs one and restarts it
// on the same address, and checks deliveries through the API.
func TestThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes; skipped with -short")
	}
	bin := buildNode(t)
	n1 := startProc(t, bin, "n1", "-bind", "127.0.0.1:0")
	// Alone by configuration (no -join): ready (/health 200, Healthy)
	// before anyone joins, and alive.
	var h struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if err := n1.getJSON(t, "/health", &h); err != nil || h.Status != "Healthy" || h.Message != "Standalone: no peers yet" {
		t.Fatalf("n1 alone: %+v, %v", h, err)
	}
	if err := n1.getJSON(t, "/livez", &struct{}{}); err != nil {
		t.Fatalf("n1 /livez: %v", err)
	}
	n2 := startProc(t, bin, "n2", "-bind", "127.0.0.1:0", "-join", n1.addr, "-advertise-admin")
	n3 := startProc(t, bin, "n3", "-bind", "127.0.0.1:0", "-join", n1.addr+","+n2.addr)
	all := []*proc{n1, n2, n3}
	formed := func(ps ...*proc) func() bool {
		return func() bool {
			for _, p := range ps {
				if p.alivePeers(t) != len(ps)-1 {
					return false
				}
			}
			return true
		}
	}
	everywhere := func(text string, ps ...*proc) func() bool {
		return func() bool {
			for _, p := range ps {
				if p.delivered(t, text) != 1 {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, formWait, "the cluster to form", formed(all...), all...)
	// The README's demo: three nodes, each with the two peers a 3-node
	// cluster allows, are Healthy (plumctl health exits 0).
	waitFor(t, formWait, "every node Healthy", func() bool {
		for _, p := range all {
			var h struct {
				Status string `json:"status"`
			}
			if err := p.getJSON(t, "/health", &h); err != nil || h.Status != "Healthy" {
				return false
			}
		}
		return true
	}, all...)

	// n2 advertises its admin address (-advertise-admin); the others do not.
	var topo struct {
		Members []struct {
			Name      string `json:"name"`
			AdminAddr string `json:"admin_addr"`
		} `json:"members"`
	}
	if err := n1.getJSON(t, "/topology", &topo); err != nil {
		t.Fatal(err)
	}
	for _, m := range topo.Members {
		want := ""
		if m.Name == "n2" {
			want = strings.TrimPrefix(n2.admin, "http://")
		}
		if m.AdminAddr != want {
			t.Errorf("n1 sees %s's admin address %q, want %q", m.Name, m.AdminAddr, want)
		}
	}

	n1.broadcast(t, "m1 from n1")
	n2.broadcast(t, "m2 from n2")
	waitFor(t, deliverWait, "m1 and m2 everywhere", func() bool {
		return everywhere("m1 from n1", all...)() && everywhere("m2 from n2", all...)()
	}, all...)

	// Metrics are served.
	resp, err := http.Get(n1.metr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte("plumtree_messages_delivered_total")) {
		t.Fatalf("metrics lack plumtree_messages_delivered_total:\n%.2000s", body)
	}

	// SIGKILL n3: the others keep delivering to each other.
	n3.kill()
	n2.broadcast(t, "m3 while n3 is down")
	waitFor(t, deliverWait, "m3 at n1 and n2", everywhere("m3 while n3 is down", n1, n2), n1, n2)

	// Restart n3 on the same address: it rejoins and receives.
	n3 = startProc(t, bin, "n3", "-bind", n3.addr, "-join", n1.addr)
	all = []*proc{n1, n2, n3}
	waitFor(t, formWait, "n3 to rejoin", formed(all...), all...)
	n3.broadcast(t, "m4 from the restarted n3")
	n1.broadcast(t, "m5 from n1")
	waitFor(t, deliverWait, "m4 and m5 everywhere", func() bool {
		return everywhere("m4 from the restarted n3", all...)() && everywhere("m5 from n1", all...)()
	}, all...)

	// SIGTERM n2: it leaves gracefully and exits 0; the others drop it.
	if err := n2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n2.done:
	case <-time.After(formWait):
		t.Fatalf("n2 did not exit after SIGTERM:\n%s", n2.output())
	}
	if code := n2.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("n2 exit code %d:\n%s", code, n2.output())
	}
	waitFor(t, formWait, "n1 and n3 to drop n2", formed(n1, n3), n1, n3)
	n1.broadcast(t, "m6 after n2 left")
	waitFor(t, deliverWait, "m6 at n1 and n3", everywhere("m6 after n2 left", n1, n3), n1, n3)
}

// digestsReceived reads the node's anti-entropy digest count from /stats.
func (p *proc) digestsReceived(t *testing.T) int {
	var st struct {
		DigestReceived int `json:"digest_received"`
	}
	if err := p.getJSON(t, "/stats", &st); err != nil {
		return -1
	}
	return st.DigestReceived
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit after SIGTERM:\n%s", p.name, p.output())
	}
	if c := p.cmd.ProcessState.ExitCode(); c != 0 {
		t.Fatalf("%s exited with %d:\n%s", p.name, c, p.output())
	}
}

// TestStateDirRestart runs the real node with -state-dir: after a clean
// restart it delivers what was broadcast while it was down, once, and
// nothing it had delivered before. The same restart without -state-dir
// delivers the earlier message again (the README's "what a restart
// re-delivers"), which shows the check can fail.
func TestStateDirRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes; skipped with -short")
	}
	bin := buildNode(t)
	for _, persist := range []bool{true, false} {
		t.Run(fmt.Sprintf("state-dir=%v", persist), func(t *testing.T) {
			var extra []string
			if persist {
				extra = []string{"-state-dir", filepath.Join(t.TempDir(), "n2-state")}
			}
			n1 := startProc(t, bin, "n1", "-bind", "127.0.0.1:0")
			n2 := startProc(t, bin, "n2", append([]string{"-bind", "127.0.0.1:0", "-join", n1.addr}, extra...)...)
			formed := func(ps ...*proc) func() bool {
				return func() bool {
					for _, p := range ps {
						if p.alivePeers(t) != len(ps)-1 {
							return false
						}
					}
					return true
				}
			}
			waitFor(t, 30*time.Second, "the cluster to form", formed(n1, n2), n1, n2)
			n1.broadcast(t, "before the restart")
			waitFor(t, 10*time.Second, "the first message at n2", func() bool { return n2.delivered(t, "before the restart") == 1 }, n1, n2)
			n2.stop(t)
			n1.broadcast(t, "while n2 is down")
			n2 = startProc(t, bin, "n2", append([]string{"-bind", n2.addr, "-join", n1.addr}, extra...)...)
			waitFor(t, 60*time.Second, "n2 to catch up the message sent while it was down", func() bool {
				return n2.delivered(t, "while n2 is down") == 1
			}, n1, n2)
			// Let several more anti-entropy exchanges happen before judging.
			base := n2.digestsReceived(t)
			waitFor(t, 60*time.Second, "five more digests at n2", func() bool { return n2.digestsReceived(t) >= base+5 }, n1, n2)
			want := 0
			if !persist {
				want = 1 // without state, the restart catches up the retention
			}
			if got := n2.delivered(t, "before the restart"); got != want {
				t.Fatalf("n2 delivered the pre-restart message %d times after the restart, want %d\n%s", got, want, n2.output())
			}
			if got := n2.delivered(t, "while n2 is down"); got != 1 {
				t.Fatalf("n2 delivered the missed message %d times", got)
			}
		})
	}
}
