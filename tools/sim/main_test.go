package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var quick = []string{"-nodes", "120", "-cycles", "56", "-scenario", "stable,massive-50", "-after", "3", "-protocols", "flood,plumtree,plumtree-many-opt3", "-quiet", "-seed", "7"}

// TestSameSeedSameOutput: two runs with the same seed print byte-identical
// output, with one JSON object per run carrying the documented fields.
func TestSameSeedSameOutput(t *testing.T) {
	var out [2]bytes.Buffer
	for i := range out {
		var errb bytes.Buffer
		if err := run(append(quick, "-json"), &out[i], &errb); err != nil {
			t.Fatalf("run: %v\n%s", err, errb.String())
		}
		if !strings.Contains(errb.String(), "seed 7") {
			t.Errorf("stderr does not print the seed: %q", errb.String())
		}
	}
	if !bytes.Equal(out[0].Bytes(), out[1].Bytes()) {
		t.Fatalf("outputs differ:\n%s\n---\n%s", out[0].String(), out[1].String())
	}
	lines := strings.Split(strings.TrimSpace(out[0].String()), "\n")
	// stable: 3 protocols × 2 overlays; massive-50: 3 × 2.
	if len(lines) != 12 {
		t.Fatalf("%d JSON lines, want 12:\n%s", len(lines), out[0].String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		for _, k := range []string{"protocol", "overlay", "scenario", "nodes", "seed", "reliability", "rmr", "ldh", "payload_msgs", "control_msgs"} {
			if _, ok := m[k]; !ok {
				t.Errorf("field %q missing in %s", k, l)
			}
		}
		if m["seed"].(float64) != 7 {
			t.Errorf("seed %v, want 7", m["seed"])
		}
	}
}

func TestOutDir(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(append(quick, "-out", dir), &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "seed: 7") {
		t.Errorf("table does not start with the seed: %q", stdout.String())
	}
	// Under the table, a legend of its columns.
	for _, col := range []string{"min rel.%  ", "regain     ", "RMR ok     ", "LDH        "} {
		if !strings.Contains(stdout.String(), "\n"+col) {
			t.Errorf("no legend line for %q under the table:\n%s", col, stdout.String())
		}
	}
	for _, f := range []string{"report.md", "results.csv", "results.json", "rmr-stable-paper.png", "ldh-stable-full.png", "reliability-vs-failure.png", "rmr-massive-50.png"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	rep, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"flood RMR, stable", "live heap per simulated node", "![rmr-stable-paper](rmr-stable-paper.png)"} {
		if !strings.Contains(string(rep), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// TestMemFlag: with -out the heap per node is measured unless -mem=false.
func TestMemFlag(t *testing.T) {
	args := []string{"-nodes", "60", "-cycles", "52", "-scenario", "stable", "-protocols", "plumtree", "-overlay", "paper", "-quiet"}
	for _, c := range []struct {
		extra []string
		want  bool
	}{{nil, true}, {[]string{"-mem=false"}, false}} {
		dir := t.TempDir()
		var stdout, stderr bytes.Buffer
		if err := run(append(append(args, c.extra...), "-out", dir), &stdout, &stderr); err != nil {
			t.Fatalf("%v: %v\n%s", c.extra, err, stderr.String())
		}
		rep, err := os.ReadFile(filepath.Join(dir, "report.md"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(rep), "live heap per simulated node"); got != c.want {
			t.Errorf("%v: heap per node in report.md: %v, want %v", c.extra, got, c.want)
		}
	}
}

// TestCPUProfile: -cpuprofile writes a profile of the simulation.
func TestCPUProfile(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	var stdout, stderr bytes.Buffer
	args := []string{"-nodes", "60", "-cycles", "52", "-scenario", "stable", "-protocols", "plumtree", "-overlay", "paper", "-engine", "event", "-quiet", "-cpuprofile", prof}
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	// A pprof profile is a gzipped protocol buffer.
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("%s: %d bytes, not a gzipped profile", prof, len(b))
	}
	if err := run(append(args[:len(args)-1], filepath.Join(t.TempDir(), "no", "such", "dir", "cpu.prof")), &stdout, &stderr); err == nil {
		t.Error("-cpuprofile into a missing directory: no error")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-nodes", "5"},
		{"-scenario", "sometimes"},
		{"-protocols", "gossipsub"},
		{"-overlay", "ring"},
		{"-engine", "warp"},
		{"-cycles", "20"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(append(args, "-quiet"), &stdout, &stderr); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
