package main

import (
	"bytes"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.25
process_resident_memory_bytes 2.62144e+07
go_memstats_heap_inuse_bytes 4194304
go_goroutines 40
plumtree_messages_delivered_total{node="a"} 10
plumtree_messages_delivered_total{node="b",x="}"} 5 1700000000000
plumtree_messages_delivered_bytes_total 999
`
	s, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := sample{cpu: 1.25, rss: 26214400, heap: 4194304, goroutines: 40, delivered: 15}
	if !math.IsNaN(s.retention) {
		t.Fatalf("retention %v without the metric, want NaN", s.retention)
	}
	s.retention = 0
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	s, err = parseMetrics(strings.NewReader(text + "plumtree_cache_retention_seconds{node=\"a\"} 81.5\n"))
	if err != nil || s.retention != 81.5 {
		t.Fatalf("retention %v, %v; want 81.5", s.retention, err)
	}
	if _, err := parseMetrics(strings.NewReader("process_cpu_seconds_total 1\n")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing metrics: %v", err)
	}
	if _, err := parseMetrics(strings.NewReader(strings.Replace(text, "40", "forty", 1))); err == nil || !strings.Contains(err.Error(), "go_goroutines") {
		t.Fatalf("bad value: %v", err)
	}
}

func TestParseFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "1"},
		{"-size", "0"},
		{"-size", "70000"},
		{"-rates", "20,x"},
		{"-rates", "-5"},
		{"-dur", "0s"},
		{"-flood", "-1"},
		{"-flood", "2", "-flood-size", "70000"},
		{"-flood", "2", "-flood-dur", "0s"},
		{"extra"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	c, err := parseFlags([]string{"-rates", "20, 200,,800"}, &bytes.Buffer{})
	if err != nil || len(c.rates) != 3 || c.rates[1] != 200 {
		t.Fatalf("%+v, %v", c.rates, err)
	}
}

// Three processes end to end: the table has the idle row and the rate's,
// every receiver delivered every message (run fails otherwise), and the
// figures are measured, not zero.
func TestRunSmall(t *testing.T) {
	out, err := runNodes(t, "-n", "3", "-idle", "1s", "-rates", "50", "-dur", "2s", "-warmup", "5", "-settle", "0s")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var idle, rate []string
	for _, line := range strings.Split(out, "\n") {
		cells := strings.Split(line, " | ")
		switch {
		case strings.HasPrefix(line, "| idle |"):
			idle = cells
		case strings.HasPrefix(line, "| 50 msg/s |"):
			rate = cells
		}
	}
	if idle == nil || rate == nil {
		t.Fatalf("rows missing:\n%s", out)
	}
	num := func(cells []string, i int) float64 {
		f, err := strconv.ParseFloat(strings.Fields(cells[i])[0], 64)
		if err != nil {
			t.Fatalf("column %d of %q: %v", i, cells, err)
		}
		return f
	}
	// Columns: phase, sent msg/s, refused, deliveries/s, CPU ms/s,
	// µs/delivery, above idle, RSS, heap, goroutines, cache retention,
	// publisher CPU, publisher RSS.
	if r := num(rate, 2); r != 0 {
		t.Errorf("%v broadcasts refused at 50 msg/s for 2 s", r)
	}
	if d := num(rate, 3); d <= 0 {
		t.Errorf("receivers delivered %v/s", d)
	}
	if us := num(rate, 5); us <= 0 {
		t.Errorf("CPU per delivery %v µs", us)
	}
	if rss, heap := num(rate, 7), num(rate, 8); rss <= 0 || heap <= 0 || heap > rss*2 {
		t.Errorf("RSS %v MiB, heap %v MiB", rss, heap)
	}
	if g := num(idle, 9); g < 5 {
		t.Errorf("%v goroutines: a node runs more", g)
	}
	// 100 messages leave the caches far from full: they hold the whole TTL.
	if ret := num(rate, 10); ret != 600 {
		t.Errorf("cache retention %v s, want the TTL, 600 s", ret)
	}
}

// The flood phase end to end: two strangers send node 1 frames for 2 s; the
// row reports frames sent and delivered at node 1, and its memory.
func TestRunFlood(t *testing.T) {
	out, err := runNodes(t, "-n", "2", "-idle", "0", "-rates", "", "-warmup", "0", "-settle", "0s",
		"-flood", "2", "-flood-size", "4096", "-flood-dur", "2s")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var row []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "| 2s | 2 | 4096 |") {
			row = strings.Split(strings.Trim(line, "| "), " | ")
		}
	}
	if len(row) != 9 {
		t.Fatalf("flood row missing:\n%s", out)
	}
	num := func(i int) float64 {
		f, err := strconv.ParseFloat(row[i], 64)
		if err != nil {
			t.Fatalf("column %d of %q: %v", i, row, err)
		}
		return f
	}
	// Columns: duration, connections, payload, frames sent/s, MB/s,
	// deliveries/s at node 1, RSS before, peak, after.
	if sent, got := num(3), num(5); sent <= 0 || got <= 0 || got > sent*1.01 {
		t.Errorf("%v frames/s sent, %v deliveries/s at node 1", sent, got)
	}
	if before, peak := num(6), num(7); before <= 0 || peak < before {
		t.Errorf("RSS before %v MiB, peak %v MiB", before, peak)
	}
}

// runNodes runs the command with args and returns its output; it skips
// the test in -short mode and where no go tool can build examples/node.
func runNodes(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and starts examples/node")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not found: cannot build examples/node")
	}
	var out bytes.Buffer
	err := run(t.Context(), args, &out)
	return out.String(), err
}
