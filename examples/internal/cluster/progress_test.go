package cluster

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

func TestKillCount(t *testing.T) {
	for _, tc := range []struct {
		frac  float64
		nodes int
		want  int
	}{
		{0, 5, 0},
		{0.3, 5, 1}, // 1.5 rounded down: not 2 of 5 (40 %)
		{0.3, 10, 3},
		{0.29, 100, 29},
		{0.01, 5, 1}, // at least one
		{0.9, 2, 1},  // never every node
		{0.5, 4, 2},
	} {
		if got := KillCount(tc.frac, tc.nodes); got != tc.want {
			t.Errorf("KillCount(%v, %d) = %d, want %d", tc.frac, tc.nodes, got, tc.want)
		}
	}
}

func rowsOf(n int) []PeerRow {
	var rows []PeerRow
	for i := range n {
		rows = append(rows, PeerRow{Name: fmt.Sprintf("node-%02d", i+1), Up: i != 3, Eager: 1 + i%4, Lazy: 2 + i%7, Members: n})
	}
	return rows
}

// The final render right after the last tick shows the same time: printed
// once, not twice, when the output is not a terminal.
func TestPlainProgressPrintsTheLastLineOnce(t *testing.T) {
	var b bytes.Buffer
	p := &progress{out: &b}
	s := snapshot{elapsed: 10*time.Second + 20*time.Millisecond, frac: 1, sent: 500, rows: rowsOf(3)}
	p.print(s)
	s.elapsed += 10 * time.Millisecond
	p.print(s)
	if n := strings.Count(b.String(), "\n"); n != 1 {
		t.Fatalf("%d lines:\n%s", n, b.String())
	}
	s.elapsed += time.Second
	p.print(s)
	if n := strings.Count(b.String(), "\n"); n != 2 {
		t.Fatalf("%d lines after a new time:\n%s", n, b.String())
	}
}

func TestProgressWarmupLabel(t *testing.T) {
	var b bytes.Buffer
	p := &progress{out: &b}
	p.print(snapshot{elapsed: time.Second, warmup: true, rows: rowsOf(3)})
	p.print(snapshot{elapsed: 3 * time.Second, rows: rowsOf(3)})
	lines := strings.Split(b.String(), "\n")
	if !strings.HasPrefix(lines[0], "t= 1.0s (warm-up) sent=") || strings.Contains(lines[1], "warm-up") {
		t.Fatalf("warm-up label:\n%s", b.String())
	}
}

// Above a dozen nodes the progress shows the distribution, not every node.
func TestProgressManyNodes(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var b bytes.Buffer
		p := &progress{out: &b, tty: tty}
		p.print(snapshot{elapsed: time.Second, rows: rowsOf(64)})
		out := b.String()
		if strings.Contains(out, "node-05") && !strings.Contains(out, "busiest") || strings.Count(out, "node-") > 3 ||
			!strings.Contains(out, "64 nodes: eager min/median/max 1/2/4, lazy 2/5/8; busiest") || !strings.Contains(out, "; 1 down") {
			t.Fatalf("tty %v:\n%s", tty, out)
		}
		if len(out) > 500 {
			t.Fatalf("tty %v: %d characters", tty, len(out))
		}
	}
	// A dozen or fewer: every node.
	var b bytes.Buffer
	(&progress{out: &b}).print(snapshot{elapsed: time.Second, rows: rowsOf(12)})
	if strings.Count(b.String(), "node-") != 12 {
		t.Fatalf("12 nodes:\n%s", b.String())
	}
}

func TestDistribution(t *testing.T) {
	rows := []PeerRow{
		{Name: "a", Up: true, Eager: 2, Lazy: 5},
		{Name: "b", Up: true, Eager: 5, Lazy: 1},
		{Name: "c", Up: true, Eager: 3, Lazy: 9},
		{Name: "d", Up: false},
		{Name: "e", Up: true, Eager: 5, Lazy: 4},
	}
	// The order of equals follows the lazy count: e (5/4) before b (5/1).
	want := "5 nodes: eager min/median/max 2/5/5, lazy 1/5/9; busiest e 5/4, b 5/1, c 3/9; 1 down"
	if got := distribution(rows); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestSummaryLabelsTheWarmupAndSummarisesManyNodes(t *testing.T) {
	o := &RunOptions{Size: 1024, Rate: 50, Duration: 10 * time.Second, Warmup: 2 * time.Second}
	s := Summary{Nodes: 64, Survivors: 64, Sent: 500, Complete: 500, DeliveryPct: 100,
		P50: 3 * time.Millisecond, P99: 202 * time.Millisecond,
		Steady: Phase{Sent: 400, DeliveryPct: 100, P50: 2 * time.Millisecond, P99: 9 * time.Millisecond},
		Peers:  rowsOf(64)}
	var b bytes.Buffer
	printSummary(&b, o, s)
	out := b.String()
	for _, want := range []string{
		"p99 202.0ms  max 0.0ms (every message, the warm-up included)\n",
		"  after warm-up   400 msgs sent after the first 2s (the warm-up dials connections and prunes the tree), p50 2.0ms p99 9.0ms\n",
		"tree              64 nodes: eager min/median/max",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "node-") > 3 {
		t.Errorf("summary lists every node:\n%s", out)
	}
}

// ReportFrom leaves out the messages sent in the warm-up, folded or not:
// the summary's "after warm-up" line is not the warm-up's p99 again.
func TestTrackerReportFromLeavesOutWarmup(t *testing.T) {
	tr := NewTracker(2)
	t0 := time.Unix(1000, 0)
	tr.SetSteadyFrom(t0.Add(500 * time.Millisecond))
	for i := range 100 {
		id := core.MessageID{Origin: "n", Seq: uint64(i)}
		sent := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		tr.Sent(id, sent, 0)
		lat := time.Millisecond
		if i < 50 {
			lat = 200 * time.Millisecond // the warm-up
		}
		for s := range 2 {
			tr.Delivered(s, 1, core.Delivery{ID: id, Payload: MakePayload(64, sent, 0), Hops: 1}, sent.Add(lat))
		}
	}
	all := []int{0, 1}
	for _, fold := range []bool{false, true} {
		if fold {
			if n := tr.Fold(t0.Add(800 * time.Millisecond)); n != 80 {
				t.Fatalf("folded %d", n)
			}
		}
		every, steady := tr.Report(nil, all, nil), tr.ReportFrom(all, nil)
		if every.Messages != 100 || every.P99 < 190*time.Millisecond {
			t.Errorf("fold %v: every message: %d, p99 %v", fold, every.Messages, every.P99)
		}
		if steady.Messages != 50 || steady.Complete != 50 || steady.P99 > 2*time.Millisecond || steady.Max > 2*time.Millisecond {
			t.Errorf("fold %v: after the warm-up: %d messages, %d complete, p99 %v, max %v", fold, steady.Messages, steady.Complete, steady.P99, steady.Max)
		}
	}
}
