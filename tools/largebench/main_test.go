package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"64MiB": 64 << 20, "3KiB": 3 << 10, "7": 7, "1GiB": 1 << 30, "10B": 10} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1MiB", "MiB", "1.5MiB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

// A small run end to end: three nodes, two large messages at once, with
// frame loss; every node gets both exactly once with the right digest.
func TestRunSmall(t *testing.T) {
	var out bytes.Buffer
	trace := filepath.Join(t.TempDir(), "small.csv")
	err := run([]string{"-nodes", "3", "-size", "300KiB", "-origins", "2", "-drop", "0.02", "-warmup", "5", "-copy-runs", "1", "-small-rate", "50", "-views", "-small-trace", trace}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	checkTrace(t, trace, 3)
	for _, want := range []string{"exactly once with the right bytes: true", "bytes on the wire per delivered byte", "one TCP copy", "deepest bulk lane (chunks any node queued for one peer, sampled every 50 ms): p50 ", "pulls: ", " Grafts sent (ids pulled and link requests; ", " Prunes sent", "small messages, time to the last node: idle", "small messages, time per hop (a node's delivery minus its sender's): idle p50 ",
		"views after the warm-up:", "views after the idle small messages:", "views at the end:", "  n00 eager ["} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run([]string{"-nodes", "1"}, &out); err == nil {
		t.Error("-nodes 1 accepted")
	}
}

// TestRunWithCache runs the nodes on the cache module (-cache): the same
// exactly-once result, and the report names the store.
func TestRunWithCache(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-nodes", "3", "-size", "300KiB", "-origins", "2", "-drop", "0.02", "-warmup", "5", "-copy-runs", "1", "-cache"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"store cache module", "exactly once with the right bytes: true"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// checkTrace checks a -small-trace file: its header, one row per message
// and node in both phases, times since sent that parse and are not
// negative, and hops timed for the nodes that got their copy from another
// node.
func checkTrace(t *testing.T, path string, nodes int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("-small-trace: %v", err)
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != "phase,message,sent_ms,node,from,latency_ms,hop_ms,pulled" {
		t.Fatalf("-small-trace header: %v", rows[:min(1, len(rows))])
	}
	perMsg := map[string]int{}
	hops := 0
	for _, r := range rows[1:] {
		perMsg[r[0]+"/"+r[1]]++
		for _, col := range []int{2, 5} {
			if v, err := strconv.ParseFloat(r[col], 64); err != nil || v < 0 {
				t.Errorf("-small-trace row %v: column %d is %q", r, col, r[col])
			}
		}
		// A hop may be negative: a node hands a copy on before its own
		// delegate goroutine delivers it.
		if r[6] != "" {
			if _, err := strconv.ParseFloat(r[6], 64); err != nil {
				t.Errorf("-small-trace row %v: hop %q", r, r[6])
			}
			hops++
		}
	}
	phases := map[string]bool{}
	for k, n := range perMsg {
		phases[strings.Split(k, "/")[0]] = true
		if n != nodes {
			t.Errorf("-small-trace: message %s has %d rows, want one per node (%d)", k, n, nodes)
		}
	}
	if !phases["idle"] || !phases["loaded"] || hops == 0 {
		t.Errorf("-small-trace: phases %v, %d hops timed", phases, hops)
	}
}

// -large-rate sets every node's large_send_rate; a rate the config refuses
// is an error before anything starts.
func TestRunLargeRate(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{"-nodes", "3", "-size", "200KiB", "-warmup", "3", "-copy-runs", "1", "-large-rate", "2"}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"large_send_rate 2.00 MiB/s per node", "exactly once with the right bytes: true", "chunk repairs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, bad := range []string{"-1", "0.0001"} {
		if err := run([]string{"-nodes", "3", "-large-rate", bad}, &out); err == nil {
			t.Errorf("-large-rate %s accepted", bad)
		}
	}
}

// -distinct-ips puts node i on the -ip address plus i and the TCP copy
// between nodes 0 and 1; an address range that leaves its /24 or is not
// IPv4 is refused before anything starts.
func TestRunDistinctIPs(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.13:0"); err != nil {
		t.Skipf("no 127.0.0.13 on this machine: %v", err)
	} else {
		ln.Close()
	}
	var out bytes.Buffer
	if err := run([]string{"-nodes", "3", "-size", "200KiB", "-warmup", "3", "-copy-runs", "1", "-distinct-ips", "-ip", "127.0.0.11"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "exactly once with the right bytes: true") {
		t.Errorf("output:\n%s", out.String())
	}
	for _, bad := range [][]string{{"-ip", "127.0.0.250"}, {"-ip", "::1"}} {
		if err := run(append([]string{"-nodes", "8", "-distinct-ips"}, bad...), &out); err == nil {
			t.Errorf("-distinct-ips %v accepted", bad)
		}
	}
}

// shaped-links.sh limits the links in a network namespace of its own: the
// transfer is still exactly once, and the TCP copy it is compared with takes
// at least what its link's rate allows (2 MiB at 32 Mbit/s: 0.52 s, less
// the shaper's 256 KiB burst), in both link models. Needs root, iproute2,
// network namespaces and the ifb device; skipped without them.
func TestShapedLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs largebench twice (about 30 s)")
	}
	if os.Geteuid() != 0 {
		t.Skip("shaped-links.sh needs root (network namespaces, tc)")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("shaped-links.sh needs %s (apt-get install iproute2)", tool)
		}
	}
	probe := fmt.Sprintf("ptprobe%d", os.Getpid())
	if b, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, b)
	}
	b, err := exec.Command("ip", "-n", probe, "link", "add", "ifb0", "type", "ifb").CombinedOutput()
	_ = exec.Command("ip", "netns", "del", probe).Run()
	if err != nil {
		t.Skipf("no ifb device in a network namespace here: %v: %s", err, b)
	}
	// The second run also takes Ethernet's packet size and a shallow
	// queue on each link (both devices: loopback and the ifb).
	for _, c := range []struct {
		mode  string
		extra []string
		links string
	}{
		{"pair", nil, "links shaped: pair, 32mbit, mtu 65536, queue pfifo,"},
		{"node", []string{"-u", "1500", "-q", "pfifo limit 64"}, "links shaped: node, 32mbit, mtu 1500, queue pfifo limit 64,"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			args := append([]string{"-m", c.mode, "-r", "32mbit", "-n", "3"}, c.extra...)
			args = append(args, "--", "-size", "2MiB", "-warmup", "5", "-copy-runs", "1")
			out, err := exec.Command("./shaped-links.sh", args...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			s := string(out)
			if !strings.Contains(s, c.links) {
				t.Fatalf("want %q in the output:\n%s", c.links, s)
			}
			if !strings.Contains(s, "exactly once with the right bytes: true") {
				t.Fatalf("output:\n%s", s)
			}
			m := regexp.MustCompile(`one TCP copy of the payload between two sockets: (\S+) `).FindStringSubmatch(s)
			if m == nil {
				t.Fatalf("no TCP copy time in:\n%s", s)
			}
			d, err := time.ParseDuration(m[1])
			if err != nil {
				t.Fatal(err)
			}
			if d < 350*time.Millisecond {
				t.Errorf("the TCP copy took %v: the links are not shaped\n%s", d, s)
			}
		})
	}
}

// lastPath follows the copy that reached the last node back to the origin
// and names its longest hop; a path it cannot follow (a peer that has no
// delivery) is unknown, not a guess.
func TestLastPath(t *testing.T) {
	id := core.MessageID{Origin: "o", Seq: 1}
	t0 := time.Unix(1000, 0)
	rec := func(self, from core.PeerID, at time.Duration) *recorder {
		return &recorder{self: self, at: map[core.MessageID]time.Time{id: t0.Add(at)}, from: map[core.MessageID]core.PeerID{id: from}}
	}
	// o → a (1 ms) → b (9 ms) → c (2 ms); d got it from o at 4 ms.
	recs := []*recorder{rec("o", "", 0), rec("a", "o", time.Millisecond), rec("b", "a", 10*time.Millisecond), rec("c", "b", 12*time.Millisecond), rec("d", "o", 4*time.Millisecond)}
	hops, worst, from, to := lastPath(recs, id)
	if hops != 3 || worst != 9*time.Millisecond || from != "a" || to != "b" {
		t.Errorf("lastPath = %d hops, longest %s→%s %v; want 3, a→b 9ms", hops, from, to, worst)
	}
	delete(recs[1].at, id) // a never delivered: b's hop cannot be timed
	if hops, _, _, _ := lastPath(recs, id); hops != 0 {
		t.Errorf("lastPath through a node without the delivery = %d hops, want 0 (unknown)", hops)
	}
}
