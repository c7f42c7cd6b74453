package cluster

import (
	"fmt"
	"io"
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
	inflight := all.Messages - all.Complete
	rmr := p.c.RMR()
	rows := p.c.Peers()
	frac := min(float64(elapsed)/float64(p.opts.Duration), 1)

	if !p.tty {
		var b strings.Builder
		fmt.Fprintf(&b, "t=%4.1fs sent=%d delivered=%.2f%% in-flight=%d rmr=%.3f last-delivery p50=%s p99=%s",
			elapsed.Seconds(), sent, r.DeliveryPct(), inflight, rmr, ms(r.P50), ms(r.P99))
		if h := p.heapText("="); h != "" {
			b.WriteString(" " + h)
		}
		b.WriteString(" eager/lazy:")
		for _, row := range rows {
			if row.Up {
				fmt.Fprintf(&b, " %s=%d/%d", row.Name, row.Eager, row.Lazy)
			} else {
				fmt.Fprintf(&b, " %s=down", row.Name)
			}
		}
		fmt.Fprintln(p.out, b.String())
		return
	}
	p.clear()
	const width = 30
	bar := strings.Repeat("#", int(frac*width)) + strings.Repeat("-", width-int(frac*width))
	lines := []string{
		fmt.Sprintf("t=%4.1fs [%s] %3.0f%%   sent %d   in flight %d   %s", elapsed.Seconds(), bar, 100*frac, sent, inflight, p.heapText(" ")),
		fmt.Sprintf("delivered %.2f%% (messages older than %v)   RMR %.3f   time to last node p50 %s  p99 %s",
			r.DeliveryPct(), settle, rmr, ms(r.P50), ms(r.P99)),
		fmt.Sprintf("%-10s %5s %5s %8s", "node", "eager", "lazy", "members"),
	}
	for _, row := range rows {
		if row.Up {
			lines = append(lines, fmt.Sprintf("%-10s %5d %5d %8d", row.Name, row.Eager, row.Lazy, row.Members))
		} else {
			lines = append(lines, fmt.Sprintf("%-10s %5s %5s %8s", row.Name, "-", "-", "down"))
		}
	}
	for _, l := range lines {
		fmt.Fprintf(p.out, "%s\x1b[K\n", l)
	}
	p.drawn = len(lines)
}
