package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the bench binary: the parent
// re-executes os.Executable with the child subcommand.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == childCmd {
		os.Exit(childMain(os.Args[2]))
	}
	os.Exit(m.Run())
}

// The short side-by-side through the real parent/child path: unicast and
// plumtree-go must deliver every message exactly once, the byte counts must
// at least hold the payloads, and the report files must be written.
func TestSideBySideShort(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	args := []string{"-n", "4", "-count", "10", "-warmup", "5", "-burst", "20", "-idle", "0", "-rate", "50",
		"-stall", "60s", "-systems", "unicast,plumtree", "-out", dir, "-q"}
	if err := parentMain(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("bench: %v\n%s", err, errb.String())
	}
	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rs []result
	if err := json.Unmarshal(js, &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2", len(rs))
	}
	for _, r := range rs {
		if r.Error != "" {
			t.Fatalf("%s: %s", r.Spec.System, r.Error)
		}
		for name, p := range map[string]phase{"steady": r.Steady, "burst": *r.Burst} {
			if p.Deliveries != p.Expected || p.Complete != p.Messages || p.Duplicates != 0 {
				t.Errorf("%s %s: %d/%d deliveries, %d/%d complete, %d duplicates", r.Spec.System, name,
					p.Deliveries, p.Expected, p.Complete, p.Messages, p.Duplicates)
			}
			if p.BytesPerDel < 1024 {
				t.Errorf("%s %s: %.0f bytes per delivery, less than the payload", r.Spec.System, name, p.BytesPerDel)
			}
			if p.CPUusPerDel <= 0 || p.P99ms <= 0 || len(p.LatMs) != p.Complete && name == "steady" {
				t.Errorf("%s %s: CPU %.1f µs, p99 %.2f ms, %d latencies", r.Spec.System, name, p.CPUusPerDel, p.P99ms, len(p.LatMs))
			}
		}
		if r.Spec.System == "unicast" && (r.Steady.RMR != 0 || r.Steady.BytesPerDel > 1100) {
			t.Errorf("unicast: RMR %.2f, %.0f bytes per delivery (want 0 and 1028 plus runtime noise)", r.Steady.RMR, r.Steady.BytesPerDel)
		}
	}
	for _, f := range []string{"summary.md", "results.csv", "latency_cdf.png", "latency_cdf_n4.png", "bytes_per_delivery.png", "cpu_per_delivery.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	md := out.String()
	if !strings.Contains(md, "| plumtree | 4 | 100.00 | 10/10 | 0 |") || !strings.Contains(md, "| unicast | 4 |") {
		t.Errorf("table:\n%s", md)
	}
}

// memberlist's broadcast runs and its redundant copies are counted but not
// handed to the application twice.
func TestMemberlistShort(t *testing.T) {
	s := spec{System: "memberlist", N: 4, Seed: 3, Count: 5, Size: 1024, Rate: 20, Warmup: 2,
		Stall: 5 * time.Second, Setup: 2 * time.Minute, IP: "127.0.0.1"}
	res, err := runSpec(context.Background(), s, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steady.Deliveries == 0 || res.Steady.Duplicates != 0 || res.Steady.Bytes <= 0 {
		t.Fatalf("steady: %+v", res.Steady)
	}
}

func TestRecorder(t *testing.T) {
	r := newRecorder(3, 2)
	p := r.payload(1, 0, 1, 64)
	if r.deliver(1, p) {
		t.Error("the origin's own copy counted")
	}
	if !r.deliver(0, p) || r.deliver(0, p) {
		t.Error("first copy not new or second copy new")
	}
	if r.dups.Load() != 1 || r.total.Load() != 1 || r.complete(0) {
		t.Errorf("dups %d total %d", r.dups.Load(), r.total.Load())
	}
	if !r.deliver(2, p) || !r.complete(0) {
		t.Error("not complete after every other node")
	}
	if r.deliver(0, []byte("short")) || r.alien.Load() != 1 {
		t.Error("alien payload delivered")
	}
	q := r.payload(1, 0, 1, 64)
	if !bytes.Equal(p[headerSize:], q[headerSize:]) {
		t.Error("payload body depends on more than seed and id")
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-n", "1"}, {"-systems", "nope"}, {"-size", "4"}, {"-rate", "0"}, {"-runs", "0"}, {"extra"}} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	c, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil || len(c.ns) != 1 || c.ns[0] != 16 || len(c.systems) != len(systemNames) {
		t.Fatalf("defaults: %+v %v", c, err)
	}
}
