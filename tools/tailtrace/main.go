// Command tailtrace reads an execution trace written by tools/bench -trace
// (which marks every publish and first delivery) and shows what the process
// did while each message travelled, from its publish to its last delivery:
// for the slowest messages one by one, and averaged over the messages
// around the median and over the fastest tenth,
//
//   - ms: the message's time to the last node; ov: other messages in flight
//     meanwhile;
//   - the milliseconds goroutines ran, by kind (node: the protocol and
//     delegate goroutines; transport; membership, memberlist's included;
//     harness: tools/bench's own code; gc: the collector's workers), and
//     spent in system calls; cpu%: all of that over the processors' time;
//   - runnable: goroutine-milliseconds spent runnable, waiting for a
//     processor; starved: milliseconds in which a goroutine was runnable
//     while a processor idled (the runtime had yet to wake a thread);
//     gc: milliseconds of a collection's mark phase;
//   - the wake-ups, as woken<waker:count (node<runtime: a node's timer or
//     the network poller woke a node goroutine).
//
// It answers whether the slowest messages are slow because more work met
// them or because they waited for a processor (tools/bench/README.md,
// "What the slowest messages met").
//
//	go run ./tailtrace [-slow 5] TRACE
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/exp/trace"

	"github.com/plumtree-go/plumtree/tools/internal/tracecmd"
)

func main() {
	slow := flag.Int("slow", 5, "slowest messages shown one by one")
	tracecmd.Run("tailtrace", "tailtrace [-slow N] TRACE", func(r io.Reader) error {
		tr, err := read(r)
		if err != nil {
			return err
		}
		tr.report(os.Stdout, *slow)
		return nil
	})
}

type span struct{ from, to trace.Time }

type message struct {
	id        int
	pub, last trace.Time
	n         int
}

type traced struct {
	msgs []message
	run  map[trace.GoID][]span // running intervals
	sys  map[trace.GoID][]span // in a system call
	wait map[trace.GoID][]span // runnable, waiting for a processor
	kind map[trace.GoID]string
	gc   []span
	// starved: spans in which a goroutine was runnable while a processor
	// was idle (the runtime had not yet woken a thread for it).
	starved []span
	procs   int // processors seen
	// wakes: goroutine wake-ups (waiting → runnable), with the woken
	// goroutine and what woke it (the waker's kind, "runtime" for a timer
	// or the network poller).
	wakes []wake
}

type wake struct {
	at    trace.Time
	g     trace.GoID
	waker string
}

func read(r io.Reader) (*traced, error) {
	rd, err := trace.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a Go execution trace: %w", err)
	}
	t := &traced{run: map[trace.GoID][]span{}, sys: map[trace.GoID][]span{}, wait: map[trace.GoID][]span{}, kind: map[trace.GoID]string{}}
	running := map[trace.GoID]trace.Time{}
	runnable := map[trace.GoID]trace.Time{}
	insys := map[trace.GoID]trace.Time{}
	byID := map[int]int{}
	var gcFrom trace.Time
	nRunnable, nIdle := 0, 0
	procState := map[trace.ProcID]trace.ProcState{}
	var starvedFrom trace.Time
	update := func(now trace.Time) {
		st := nRunnable > 0 && nIdle > 0
		switch {
		case st && starvedFrom == 0:
			starvedFrom = now
		case !st && starvedFrom != 0:
			t.starved = append(t.starved, span{starvedFrom, now})
			starvedFrom = 0
		}
	}
	for {
		ev, err := rd.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the trace: %w", err)
		}
		switch ev.Kind() {
		case trace.EventLog:
			l := ev.Log()
			if l.Category != tracecmd.MarkCategory {
				continue
			}
			kind, id, ok := tracecmd.ParseMark(l.Message)
			switch {
			case !ok:
			case kind == tracecmd.MarkPublish:
				byID[id] = len(t.msgs)
				t.msgs = append(t.msgs, message{id: id, pub: ev.Time()})
			default:
				if k, ok := byID[id]; ok {
					t.msgs[k].last = ev.Time()
					t.msgs[k].n++
				}
			}
		case trace.EventRangeBegin:
			if strings.HasPrefix(ev.Range().Name, "GC concurrent mark") {
				gcFrom = ev.Time()
			}
		case trace.EventRangeEnd:
			if strings.HasPrefix(ev.Range().Name, "GC concurrent mark") && gcFrom != 0 {
				t.gc = append(t.gc, span{gcFrom, ev.Time()})
				gcFrom = 0
			}
		case trace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind == trace.ResourceProc {
				p := st.Resource.Proc()
				_, to := st.Proc()
				if procState[p] == trace.ProcIdle {
					nIdle--
				}
				if to == trace.ProcIdle {
					nIdle++
				}
				procState[p] = to
				t.procs = max(t.procs, len(procState))
				update(ev.Time())
				continue
			}
			if st.Resource.Kind != trace.ResourceGoroutine {
				continue
			}
			g := st.Resource.Goroutine()
			from, to := st.Goroutine()
			if _, ok := t.kind[g]; !ok || t.kind[g] == "other" {
				if k := kindOf(st.Stack); k != "" {
					t.kind[g] = k
				} else if s := kindOf(ev.Stack()); s != "" {
					t.kind[g] = s
				} else if !ok {
					t.kind[g] = "other"
				}
			}
			now := ev.Time()
			if from == trace.GoRunning {
				if s, ok := running[g]; ok {
					t.run[g] = append(t.run[g], span{s, now})
					delete(running, g)
				}
			}
			if from == trace.GoSyscall {
				if s, ok := insys[g]; ok {
					t.sys[g] = append(t.sys[g], span{s, now})
					delete(insys, g)
				}
			}
			if from == trace.GoRunnable {
				if s, ok := runnable[g]; ok {
					t.wait[g] = append(t.wait[g], span{s, now})
					delete(runnable, g)
				}
			}
			if from == trace.GoWaiting && to == trace.GoRunnable {
				k := kindOf(ev.Stack())
				if k == "" {
					k = "runtime"
					if ev.Goroutine() != trace.NoGoroutine {
						k = "?"
					}
				}
				t.wakes = append(t.wakes, wake{now, g, k})
			}
			if from == trace.GoRunnable {
				nRunnable--
			}
			if to == trace.GoRunnable {
				nRunnable++
			}
			nRunnable = max(nRunnable, 0)
			update(now)
			switch to {
			case trace.GoRunning:
				running[g] = now
			case trace.GoRunnable:
				runnable[g] = now
			case trace.GoSyscall:
				insys[g] = now
			}
		}
	}
	return t, nil
}

// kindOf names what a goroutine is from a stack of it.
func kindOf(s trace.Stack) string {
	k := ""
	for fr := range s.Frames() {
		fn := fr.Func
		switch {
		case strings.Contains(fn, "plumtree/core/node."):
			return "node"
		case strings.Contains(fn, "plumtree/transport-tcp."):
			return "transport"
		case strings.Contains(fn, "plumtree/membership."), strings.Contains(fn, "hashicorp/memberlist."):
			return "membership"
		case strings.Contains(fn, "plumtree/core."):
			return "node"
		case strings.HasPrefix(fn, "main."), strings.Contains(fn, "plumtree/tools/"):
			k = "harness" // tools/bench's own code (its systems, its recorder)
		case strings.HasPrefix(fn, "runtime.gcBgMarkWorker"), strings.HasPrefix(fn, "runtime.bgsweep"), strings.HasPrefix(fn, "runtime.bgscavenge"):
			return "gc"
		}
	}
	return k
}

// overlap is the time of spans within w.
func overlap(spans []span, w span) trace.Time {
	var d trace.Time
	for _, s := range spans {
		a, b := max(s.from, w.from), min(s.to, w.to)
		if b > a {
			d += b - a
		}
	}
	return d
}

type window struct {
	m      message
	run    map[string]float64 // ms ran, by kind
	wait   float64            // ms goroutines waited runnable
	sys    float64            // ms goroutines spent in system calls
	gc     float64            // ms with a GC mark phase under way
	starve float64            // ms with a goroutine runnable and a processor idle
	wakes  map[string]int     // "woken kind<waker kind" -> wake-ups
	lat    float64
	cpuPct float64 // ran / (processors × latency)
}

func (t *traced) window(m message) window {
	w := span{m.pub, m.last}
	out := window{m: m, run: map[string]float64{}, wakes: map[string]int{}, lat: float64(m.last-m.pub) / 1e6}
	for _, x := range t.wakes {
		if x.at >= w.from && x.at < w.to {
			out.wakes[t.kind[x.g]+"<"+x.waker]++
		}
	}
	total := 0.0
	for g, spans := range t.run {
		d := float64(overlap(spans, w)) / 1e6
		if d > 0 {
			out.run[t.kind[g]] += d
			total += d
		}
	}
	for _, spans := range t.sys {
		d := float64(overlap(spans, w)) / 1e6
		out.sys += d
		total += d
	}
	for _, spans := range t.wait {
		out.wait += float64(overlap(spans, w)) / 1e6
	}
	out.gc = float64(overlap(t.gc, w)) / 1e6
	out.starve = float64(overlap(t.starved, w)) / 1e6
	if out.lat > 0 {
		out.cpuPct = 100 * total / (float64(max(t.procs, 1)) * out.lat)
	}
	return out
}

var kinds = []string{"node", "transport", "membership", "harness", "gc", "other"}

func (t *traced) report(w io.Writer, slow int) {
	var ms []message
	maxN := 0
	for _, m := range t.msgs {
		maxN = max(maxN, m.n)
	}
	for _, m := range t.msgs {
		if m.n == maxN && m.last > m.pub {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		fmt.Fprintln(w, "no complete message marked in the trace (was it written by tools/bench -trace?)")
		return
	}
	slices.SortFunc(ms, func(a, b message) int { return int((b.last - b.pub) - (a.last - a.pub)) })
	fmt.Fprintf(w, "%d complete messages (%d deliveries each)\n", len(ms), maxN)
	head := "%-14s %8s %6s"
	fmt.Fprintf(w, head, "message", "ms", "cpu%")
	for _, k := range kinds {
		fmt.Fprintf(w, " %10s", k)
	}
	fmt.Fprintf(w, " %10s %10s %8s %8s\n", "syscall", "runnable", "starved", "gc")
	line := func(name string, ws []window) {
		var lat, cpu, wait, gc, sys, starve float64
		run := map[string]float64{}
		for _, x := range ws {
			lat += x.lat
			cpu += x.cpuPct
			wait += x.wait
			sys += x.sys
			starve += x.starve
			gc += x.gc
			for k, v := range x.run {
				run[k] += v
			}
		}
		n := float64(len(ws))
		fmt.Fprintf(w, "%-14s %8.3f %6.0f", name, lat/n, cpu/n)
		for _, k := range kinds {
			fmt.Fprintf(w, " %10.3f", run[k]/n)
		}
		fmt.Fprintf(w, " %10.3f %10.3f %8.3f %8.3f ", sys/n, wait/n, starve/n, gc/n)
		wk := map[string]float64{}
		for _, x := range ws {
			for k, v := range x.wakes {
				wk[k] += float64(v)
			}
		}
		keys := make([]string, 0, len(wk))
		for k := range wk {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, " %s:%.0f", k, wk[k]/n)
		}
		fmt.Fprintln(w)
	}
	overlapping := func(m message) int {
		k := 0
		for _, o := range t.msgs {
			if o.id != m.id && o.pub < m.last && o.last > m.pub {
				k++
			}
		}
		return k
	}
	for i := range min(slow, len(ms)) {
		line("#"+strconv.Itoa(ms[i].id)+" ov"+strconv.Itoa(overlapping(ms[i])), []window{t.window(ms[i])})
	}
	var mid []window
	for _, m := range ms[len(ms)*2/5 : len(ms)*3/5] {
		mid = append(mid, t.window(m))
	}
	line("p40-p60 mean", mid)
	var fast []window
	for _, m := range ms[len(ms)*9/10:] {
		fast = append(fast, t.window(m))
	}
	line("fastest 10%", fast)
}
