package cluster

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// settle is how old a message must be to count in the live delivery
// percentage; younger ones are reported as in flight.
const settle = 500 * time.Millisecond

// progress prints the live view: a table redrawn in place on a terminal,
// plain lines otherwise.
type progress struct {
	out   io.Writer
	tty   bool
	c     *Cluster
	opts  *RunOptions
	drawn int         // lines of the table currently on screen (TTY)
	heap  *HeapSample // the latest heap sample (nil before the first)
	// lastT is the time shown by the last plain line: the final render,
	// right after the last tick, is not printed again for the same time.
	lastT string
}

// maxNodeRows is the most nodes the progress and the summary list one by
// one; above it they show the distribution of the eager and lazy counts.
const maxNodeRows = 12

// snapshot is what one progress render shows.
type snapshot struct {
	elapsed         time.Duration
	frac            float64 // of the broadcasting done
	warmup          bool    // within RunOptions.Warmup
	sent, inflight  int
	deliveryPct     float64
	rmr             float64
	p50, p99        time.Duration
	rows            []PeerRow
	heapText, heapS string // heap sample with "=" and " " separators
}

// distribution summarises the eager and lazy counts of many nodes: min,
// median and max of each, the busiest nodes (most eager links, the ones
// that forward the most payload copies) and how many are down.
func distribution(rows []PeerRow) string {
	var eager, lazy []int
	var up []PeerRow
	down := 0
	for _, r := range rows {
		if !r.Up {
			down++
			continue
		}
		up = append(up, r)
		eager = append(eager, r.Eager)
		lazy = append(lazy, r.Lazy)
	}
	if len(up) == 0 {
		return fmt.Sprintf("%d nodes, all down", len(rows))
	}
	mmm := func(v []int) string {
		slices.Sort(v)
		return fmt.Sprintf("%d/%d/%d", v[0], v[len(v)/2], v[len(v)-1])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d nodes: eager min/median/max %s, lazy %s", len(rows), mmm(eager), mmm(lazy))
	slices.SortStableFunc(up, func(x, y PeerRow) int {
		if x.Eager != y.Eager {
			return y.Eager - x.Eager
		}
		return y.Lazy - x.Lazy
	})
	b.WriteString("; busiest")
	for i, r := range up[:min(3, len(up))] {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s %d/%d", r.Name, r.Eager, r.Lazy)
	}
	if down > 0 {
		fmt.Fprintf(&b, "; %d down", down)
	}
	return b.String()
}

// heapText shows the latest heap sample: in use (live or not yet
// collected) and live at the last GC.
func (p *progress) heapText(sep string) string {
	if p.heap == nil {
		return ""
	}
	return fmt.Sprintf("heap%s%.1fMiB live%s%.1fMiB", sep, float64(p.heap.InUse)/(1<<20), sep, float64(p.heap.Live)/(1<<20))
}

// line prints an event line above the table.
func (p *progress) line(s string) {
	p.clear()
	fmt.Fprintln(p.out, s)
}

func (p *progress) clear() {
	if p.tty && p.drawn > 0 {
		fmt.Fprintf(p.out, "\x1b[%dA\x1b[J", p.drawn)
		p.drawn = 0
	}
}

// finish leaves the last table on screen.
func (p *progress) finish() { p.drawn = 0 }

func (p *progress) render(elapsed time.Duration, sent int) {
	now := time.Now()
	live := p.c.Live()
	since := p.c.Since()
	r := p.c.Tracker.Report(func(t time.Time, _ int) bool { return now.Sub(t) >= settle }, live, since)
	all := p.c.Tracker.Report(nil, live, since)
	p.print(snapshot{
		elapsed: elapsed, frac: min(float64(elapsed)/float64(p.opts.Duration), 1),
		warmup: elapsed < p.opts.Warmup,
		sent:   sent, inflight: all.Messages - all.Complete,
		deliveryPct: r.DeliveryPct(), rmr: p.c.RMR(), p50: r.P50, p99: r.P99,
		rows:     p.c.Peers(),
		heapText: p.heapText("="), heapS: p.heapText(" "),
	})
}

func (p *progress) print(s snapshot) {
	warm := ""
	if s.warmup {
		warm = " (warm-up)"
	}
	if !p.tty {
		t := fmt.Sprintf("t=%4.1fs", s.elapsed.Seconds())
		if t == p.lastT {
			return // the final render right after the last tick
		}
		p.lastT = t
		var b strings.Builder
		fmt.Fprintf(&b, "%s%s sent=%d delivered=%.2f%% in-flight=%d rmr=%.3f last-delivery p50=%s p99=%s",
			t, warm, s.sent, s.deliveryPct, s.inflight, s.rmr, ms(s.p50), ms(s.p99))
		if s.heapText != "" {
			b.WriteString(" " + s.heapText)
		}
		if len(s.rows) > maxNodeRows {
			b.WriteString(" peers: " + distribution(s.rows))
		} else {
			b.WriteString(" eager/lazy:")
			for _, row := range s.rows {
				if row.Up {
					fmt.Fprintf(&b, " %s=%d/%d", row.Name, row.Eager, row.Lazy)
				} else {
					fmt.Fprintf(&b, " %s=down", row.Name)
				}
			}
		}
		fmt.Fprintln(p.out, b.String())
		return
	}
	p.clear()
	const width = 30
	bar := strings.Repeat("#", int(s.frac*width)) + strings.Repeat("-", width-int(s.frac*width))
	lines := []string{
		fmt.Sprintf("t=%4.1fs [%s] %3.0f%%%s   sent %d   in flight %d   %s", s.elapsed.Seconds(), bar, 100*s.frac, warm, s.sent, s.inflight, s.heapS),
		fmt.Sprintf("delivered %.2f%% (messages older than %v)   RMR %.3f   time to last node p50 %s  p99 %s",
			s.deliveryPct, settle, s.rmr, ms(s.p50), ms(s.p99)),
	}
	if len(s.rows) > maxNodeRows {
		lines = append(lines, "peers: "+distribution(s.rows))
	} else {
		lines = append(lines, fmt.Sprintf("%-10s %5s %5s %8s", "node", "eager", "lazy", "members"))
		for _, row := range s.rows {
			if row.Up {
				lines = append(lines, fmt.Sprintf("%-10s %5d %5d %8d", row.Name, row.Eager, row.Lazy, row.Members))
			} else {
				lines = append(lines, fmt.Sprintf("%-10s %5s %5s %8s", row.Name, "-", "-", "down"))
			}
		}
	}
	for _, l := range lines {
		fmt.Fprintf(p.out, "%s\x1b[K\n", l)
	}
	p.drawn = len(lines)
}
