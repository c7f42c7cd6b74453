// Command wakeups reads a Go execution trace (runtime/trace; tools/bench
// -trace writes one per process for its steady phase and its idle window)
// and counts the goroutine wake-ups in it, grouped by where the woken
// goroutine was blocked: its first frames outside the standard library.
// Every wake-up costs a scheduling round and often a futex; with 32 nodes
// in one process, they are most of the idle CPU (tools/bench/README.md).
//
//	go run ./wakeups [-frames 2] [-top 25] TRACE
//
// A goroutine that was already blocked when the trace started is counted
// under "(blocked before the trace)": its blocking stack is not in it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/exp/trace"

	"github.com/plumtree-go/plumtree/tools/internal/tracecmd"
)

func main() {
	frames := flag.Int("frames", 2, "frames outside the standard library that name a blocking site")
	top := flag.Int("top", 25, "sites printed, most wake-ups first")
	tracecmd.Run("wakeups", "wakeups [-frames N] [-top N] TRACE", func(r io.Reader) error {
		rep, err := count(r, *frames)
		if err != nil {
			return err
		}
		rep.print(os.Stdout, *top)
		return nil
	})
}

// report is the wake-ups of one trace.
type report struct {
	seconds float64
	total   int
	sites   map[string]int // blocking site -> wake-ups
}

const beforeTrace = "(blocked before the trace)"

// count reads a trace and attributes every wake-up (a goroutine going from
// waiting to runnable) to the site where that goroutine last blocked.
func count(r io.Reader, frames int) (report, error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return report{}, fmt.Errorf("not a Go execution trace: %w", err)
	}
	rep := report{sites: map[string]int{}}
	blockedAt := map[trace.GoID]string{}
	var first, last trace.Time
	for {
		ev, err := tr.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return report{}, fmt.Errorf("reading the trace: %w", err)
		}
		if first == 0 {
			first = ev.Time()
		}
		last = ev.Time()
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		g := st.Resource.Goroutine()
		from, to := st.Goroutine()
		switch {
		case from == trace.GoRunning && to == trace.GoWaiting:
			blockedAt[g] = site(st.Stack, frames, st.Reason)
		case from == trace.GoWaiting && to == trace.GoRunnable:
			s, ok := blockedAt[g]
			if !ok {
				s = beforeTrace
			}
			rep.sites[s]++
			rep.total++
		}
	}
	rep.seconds = float64(last-first) / 1e9
	return rep, nil
}

// site names a blocking site: up to n frames outside the standard library
// (innermost first) and the reason the trace gives.
func site(s trace.Stack, n int, reason string) string {
	var names []string
	for fr := range s.Frames() {
		if std(fr.Func) {
			continue
		}
		names = append(names, fr.Func)
		if len(names) == n {
			break
		}
	}
	if len(names) == 0 {
		names = append(names, "(standard library only)")
	}
	return strings.Join(names, " < ") + " [" + reason + "]"
}

// std reports whether fn is in the standard library: its import path's
// first element has no dot ("net/http.(*conn).serve", "runtime.gopark";
// not "github.com/…", not main).
func std(fn string) bool {
	if i := strings.Index(fn, "/"); i >= 0 {
		return !strings.Contains(fn[:i], ".")
	}
	return !strings.HasPrefix(fn, "main.")
}

func (r report) print(w io.Writer, top int) {
	perSec := func(n int) float64 {
		if r.seconds <= 0 {
			return 0
		}
		return float64(n) / r.seconds
	}
	fmt.Fprintf(w, "%.1f s traced, %d wake-ups (%.0f/s)\n", r.seconds, r.total, perSec(r.total))
	sites := make([]string, 0, len(r.sites))
	for s := range r.sites {
		sites = append(sites, s)
	}
	slices.SortFunc(sites, func(a, b string) int {
		if d := r.sites[b] - r.sites[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, s := range sites[:min(len(sites), top)] {
		fmt.Fprintf(w, "%8d %7.0f/s  %s\n", r.sites[s], perSec(r.sites[s]), s)
	}
}
