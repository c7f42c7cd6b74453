package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"time"
)

// spec is one benchmark process: one system, one N, one run.
type spec struct {
	System  string        `json:"system"`
	N       int           `json:"n"`
	Run     int           `json:"run"`
	Seed    int64         `json:"seed"`
	Count   int           `json:"count"`   // steady messages
	Size    int           `json:"size"`    // payload bytes
	Rate    float64       `json:"rate"`    // steady messages per second
	Warmup  int           `json:"warmup"`  // messages before measuring (at Rate)
	Burst   int           `json:"burst"`   // back-to-back messages (0: none)
	Idle    time.Duration `json:"idle"`    // idle window measured
	Settle  time.Duration `json:"settle"`  // wait before it: no warm-up message still announced (gossipsub: 3 heartbeats)
	Stall   time.Duration `json:"stall"`   // a phase ends after this long without a delivery
	Drain   time.Duration `json:"drain"`   // or this long after its last publish
	Setup   time.Duration `json:"setup"`   // limit for the cluster to form
	IP      string        `json:"ip"`      // loopback address the nodes bind
	Profile string        `json:"profile"` // CPU profile of the steady and burst phases, when set
	// MemProfile, when set, receives the process's allocation profile at
	// the start (suffix -start) and at the end of the steady phase, and at
	// the start and end of the idle window (-idle-start, -idle): go tool
	// pprof -sample_index=alloc_space -diff_base START END shows what the
	// phase allocated; END alone also holds the heap in use.
	MemProfile string `json:"memprofile,omitempty"`
	// Trace, when set, receives an execution trace (runtime/trace) of the
	// steady phase, and one of the idle window (suffix -idle): go tool
	// trace shows what wakes up, how often, and how long it waited to run.
	Trace string `json:"trace,omitempty"`
}

// env is what a system gets to build its cluster.
type env struct {
	n    int
	ip   string
	seed int64
	rec  *recorder
}

// system is one broadcast implementation under test: N nodes in this process.
type system interface {
	// start builds the N nodes and returns once they know each other.
	start(ctx context.Context, e *env) error
	// publish broadcasts payload from node origin.
	publish(ctx context.Context, origin int, payload []byte) error
	// copies is the number of benchmark payloads the nodes have received
	// so far, redundant copies included (for RMR).
	copies() int64
	close()
}

// systemNames are the systems run by default; optionalSystems run only when
// -systems names them.
var (
	systemNames     = []string{"plumtree", "memberlist", "gossipsub", "gossipsub-unsigned", "unicast"}
	optionalSystems = []string{"plumtree-shaped"}
)

func newSystem(name string) (system, error) {
	switch name {
	case "plumtree":
		return &plumtree{}, nil
	case "plumtree-shaped":
		return &plumtree{shaped: true}, nil
	case "memberlist":
		return &mlBroadcast{}, nil
	case "gossipsub":
		return &gossipsub{signed: true}, nil
	case "gossipsub-unsigned":
		return &gossipsub{}, nil
	case "unicast":
		return &unicast{}, nil
	}
	return nil, fmt.Errorf("unknown system %q (want one of %v)", name, append(slices.Clone(systemNames), optionalSystems...))
}

// phase is what one measured phase (steady or burst) produced.
type phase struct {
	Messages    int     `json:"messages"`
	Deliveries  int64   `json:"deliveries"` // to non-origin nodes
	Expected    int64   `json:"expected"`   // Messages × (N-1)
	DeliveredPc float64 `json:"delivered_pct"`
	Complete    int     `json:"complete"`   // messages every node delivered
	Duplicates  int64   `json:"duplicates"` // messages handed to an application twice (exactly-once violations)
	P50ms       float64 `json:"p50_ms"`     // publish → last node, complete messages
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	RMR         float64 `json:"rmr"`
	Bytes       int64   `json:"bytes"`
	BytesPerDel float64 `json:"bytes_per_delivery"`
	CPUms       float64 `json:"cpu_ms"`
	CPUusPerDel float64 `json:"cpu_us_per_delivery"`
	Seconds     float64 `json:"seconds"` // first publish → last delivery
	DelPerSec   float64 `json:"deliveries_per_s"`
	// Allocations of the whole process (every node, the runtime, the
	// harness) over the phase, per delivery, and the GC cycles it ran;
	// LiveMB is the heap the last GC of the phase found live.
	AllocsPerDel     float64 `json:"allocs_per_delivery"`
	AllocBytesPerDel float64 `json:"alloc_bytes_per_delivery"`
	GCCycles         uint64  `json:"gc_cycles"`
	LiveMB           float64 `json:"live_heap_mb"`
	// CtxSwPerDel is the process's context switches (getrusage: its
	// threads' voluntary and involuntary switches) over the phase, per
	// delivery. On a virtual machine a switch can cost as much as the
	// work it switches to.
	CtxSwPerDel float64 `json:"ctx_switches_per_delivery"`
	// LDH is the median over the complete messages of their last delivery
	// hop (the most hops to any node; plumtree only, 0 for the others).
	LDH float64 `json:"ldh,omitempty"`
	// Counters are the system's own counters over the phase (plumtree:
	// Gossip, IHave, Graft and Prune messages sent, summed over the nodes).
	Counters map[string]int64 `json:"counters,omitempty"`
	// LatMs are the publish→last-node times of the complete messages.
	LatMs []float64 `json:"lat_ms,omitempty"`
	// Slowest are the slowest complete messages (slowestKept of them,
	// slowest first), with where their time went.
	Slowest []msgTail `json:"slowest,omitempty"`
}

// slowestKept is how many of a phase's slowest messages a result
// describes (phase.Slowest): the p99 of 100 messages is the second
// slowest, of 200 the third.
const slowestKept = 5

// result is what one benchmark process reports.
type result struct {
	Spec      spec    `json:"spec"`
	SetupMs   float64 `json:"setup_ms"`
	WarmupPc  float64 `json:"warmup_delivered_pct"`
	IdleCPUms float64 `json:"idle_cpu_ms_per_s"` // whole cluster
	IdleBytes float64 `json:"idle_bytes_per_s"`  // whole cluster
	// IdleAllocs, IdleAllocBytes and IdleGCs are the heap allocations
	// (objects and bytes) and GC cycles per second of the whole process
	// while idle.
	IdleAllocs     float64 `json:"idle_allocs_per_s"`
	IdleAllocBytes float64 `json:"idle_alloc_bytes_per_s"`
	IdleGCs        float64 `json:"idle_gc_per_s"`
	IdleCtxSw      float64 `json:"idle_ctx_switches_per_s"` // context switches of the whole process
	// IdleCounters are the system's own counters over the idle window
	// (plumtree: node_wakeups and timer_fires show what wakes its protocol
	// goroutines; tcp_dials the connections made).
	IdleCounters map[string]int64 `json:"idle_counters,omitempty"`
	Steady       phase            `json:"steady"`
	Burst        *phase           `json:"burst,omitempty"`
	Error        string           `json:"error,omitempty"`
	Alien        int64            `json:"alien,omitempty"`
}

// runSpec runs one benchmark in this process. progress receives a line per
// step.
func runSpec(ctx context.Context, s spec, progress io.Writer) (res result, err error) {
	res.Spec = s
	if err := checkCounters(); err != nil {
		return res, err
	}
	sys, err := newSystem(s.System)
	if err != nil {
		return res, err
	}
	if s.Size < headerSize {
		return res, fmt.Errorf("size %d: at least %d bytes", s.Size, headerSize)
	}
	say := func(format string, a ...any) { fmt.Fprintf(progress, format+"\n", a...) }
	total := s.Warmup + s.Count + s.Burst
	e := &env{n: s.N, ip: s.IP, seed: s.Seed, rec: newRecorder(s.N, total)}
	rng := rand.New(rand.NewPCG(uint64(s.Seed), 1))

	t0 := time.Now()
	sctx, cancel := context.WithTimeout(ctx, s.Setup)
	err = sys.start(sctx, e)
	cancel()
	defer sys.close()
	if err != nil {
		return res, fmt.Errorf("%s: start: %w", s.System, err)
	}
	res.SetupMs = ms(time.Since(t0))
	say("cluster up in %.0f ms", res.SetupMs)

	// Warm-up: the trees (mesh) form.
	next := 0
	ids := func(k int) []int {
		r := make([]int, k)
		for i := range r {
			r[i] = next
			next++
		}
		return r
	}
	warm := ids(s.Warmup)
	if err := publishPaced(ctx, sys, e, s, rng, warm); err != nil {
		return res, err
	}
	wait(ctx, e, warm, s.Stall, s.Drain, nil)
	res.WarmupPc = 100 * float64(countDelivered(e, warm)) / float64(max(1, len(warm)*(s.N-1)))
	say("warm-up: %d messages, %.1f%% delivered", len(warm), res.WarmupPc)

	// Idle: background traffic and CPU of the whole cluster, once the
	// warm-up's messages are no longer news (Settle).
	if s.Idle > 0 {
		select {
		case <-time.After(s.Settle):
		case <-ctx.Done():
			return res, ctx.Err()
		}
		if err := writeAllocs(s.MemProfile, "-idle-start"); err != nil {
			return res, err
		}
		stop, err := startProfile(s.Profile, "-idle")
		if err != nil {
			return res, err
		}
		stopTrace, err := startTrace(s.Trace, "-idle")
		if err != nil {
			stop()
			return res, err
		}
		k0 := counters(sys)
		a := take()
		select {
		case <-time.After(s.Idle):
		case <-ctx.Done():
			stopTrace()
			stop()
			return res, ctx.Err()
		}
		b := take()
		res.IdleCounters = diff(counters(sys), k0)
		stopTrace()
		stop()
		if err := writeAllocs(s.MemProfile, "-idle"); err != nil {
			return res, err
		}
		secs := b.at.Sub(a.at).Seconds()
		res.IdleCPUms = ms(b.cpu-a.cpu) / secs
		res.IdleBytes = float64(b.bytes()-a.bytes()) / secs
		res.IdleAllocs = float64(b.mem.allocs-a.mem.allocs) / secs
		res.IdleAllocBytes = float64(b.mem.allocBytes-a.mem.allocBytes) / secs
		res.IdleGCs = float64(b.mem.gcs-a.mem.gcs) / secs
		res.IdleCtxSw = float64(b.csw-a.csw) / secs
		say("idle: %.1f ms CPU/s, %.0f B/s, %.0f context switches/s, %.0f allocs/s (%.0f kB/s), %.2f GC/s, live heap %.1f MB, %d goroutines",
			res.IdleCPUms, res.IdleBytes, res.IdleCtxSw, res.IdleAllocs, res.IdleAllocBytes/1e3, res.IdleGCs, float64(b.mem.liveBytes)/1e6, runtime.NumGoroutine())
	}

	steady := ids(s.Count)
	if err := writeAllocs(s.MemProfile, "-start"); err != nil {
		return res, err
	}
	if s.Profile != "" {
		f, err := os.Create(s.Profile)
		if err != nil {
			return res, err
		}
		if err := pprof.StartCPUProfile(countWriter{f}); err != nil {
			f.Close()
			return res, err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	stopTrace, err := startTrace(s.Trace, "")
	if err != nil {
		return res, err
	}
	c0, d0, k0, a := sys.copies(), e.rec.dups.Load(), counters(sys), take()
	if err := publishPaced(ctx, sys, e, s, rng, steady); err != nil {
		stopTrace()
		return res, err
	}
	b := wait(ctx, e, steady, s.Stall, s.Drain, func(done, want int64) {
		say("steady: %d/%d deliveries", done, want)
	})
	stopTrace()
	res.Steady = summarize(e, steady, a, b, sys.copies()-c0, e.rec.dups.Load()-d0)
	res.Steady.Counters = diff(counters(sys), k0)
	if err := writeAllocs(s.MemProfile, ""); err != nil {
		return res, err
	}
	say("steady: %.1f%% delivered, p99 %.2f ms, %.1f µs CPU, %.1f context switches, %.1f allocs (%.0f B) per delivery, %d GC, live heap %.1f MB",
		res.Steady.DeliveredPc, res.Steady.P99ms, res.Steady.CPUusPerDel, res.Steady.CtxSwPerDel, res.Steady.AllocsPerDel, res.Steady.AllocBytesPerDel, res.Steady.GCCycles, res.Steady.LiveMB)

	if s.Burst > 0 {
		burst := ids(s.Burst)
		c0, d0, k0, a := sys.copies(), e.rec.dups.Load(), counters(sys), take()
		for _, id := range burst {
			origin := rng.IntN(s.N)
			if err := sys.publish(ctx, origin, e.rec.payload(s.Seed, id, origin, s.Size)); err != nil {
				return res, fmt.Errorf("burst publish: %w", err)
			}
		}
		b := wait(ctx, e, burst, s.Stall, s.Drain, func(done, want int64) {
			say("burst: %d/%d deliveries", done, want)
		})
		p := summarize(e, burst, a, b, sys.copies()-c0, e.rec.dups.Load()-d0)
		p.LatMs = nil
		p.Counters = diff(counters(sys), k0)
		res.Burst = &p
		say("burst: %.1f%% delivered, %.0f deliveries/s", p.DeliveredPc, p.DelPerSec)
	}
	res.Alien = e.rec.alien.Load()
	return res, nil
}

// counterSource is a system that reports its own counters.
type counterSource interface{ counters() map[string]int64 }

func counters(sys system) map[string]int64 {
	var m map[string]int64
	if c, ok := sys.(counterSource); ok {
		m = c.counters()
	}
	for k, v := range udpSink.memberlistEvents() {
		if m == nil {
			m = map[string]int64{}
		}
		m[k] = v
	}
	return m
}

func diff(b, a map[string]int64) map[string]int64 {
	if b == nil {
		return nil
	}
	d := make(map[string]int64, len(b))
	for k, v := range b {
		d[k] = v - a[k]
	}
	return d
}

// publishPaced publishes ids at s.Rate from random origins.
func publishPaced(ctx context.Context, sys system, e *env, s spec, rng *rand.Rand, ids []int) error {
	start := time.Now()
	for k, id := range ids {
		at := start.Add(time.Duration(float64(k) / s.Rate * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		origin := rng.IntN(s.N)
		if err := sys.publish(ctx, origin, e.rec.payload(s.Seed, id, origin, s.Size)); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return nil
}

// wait polls until every message of ids reached every node, no delivery
// happened for stall, or drain has passed. It returns the resource snapshot taken at the last
// poll that saw progress (so a stall does not count as work).
func wait(ctx context.Context, e *env, ids []int, stall, drain time.Duration, report func(done, want int64)) snapshot {
	want := int64(len(ids) * (e.n - 1))
	end := time.Now().Add(drain)
	last := take()
	lastDone := int64(-1)
	lastReport := time.Now()
	for {
		done := countDelivered(e, ids)
		if done != lastDone {
			last, lastDone = take(), done
		}
		if done >= want || time.Since(last.at) > stall || time.Now().After(end) || ctx.Err() != nil {
			return last
		}
		if report != nil && time.Since(lastReport) > time.Second {
			report(done, want)
			lastReport = time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func countDelivered(e *env, ids []int) int64 {
	var c int64
	for _, id := range ids {
		c += int64(e.rec.msgs[id].count.Load())
	}
	return c
}

// summarize measures a phase: ids its messages, a and b the resource use at
// its start and end, copies the payloads received and dups the duplicate
// deliveries to the application during it.
func summarize(e *env, ids []int, a, b snapshot, copies, dups int64) phase {
	p := phase{Messages: len(ids), Expected: int64(len(ids) * (e.n - 1))}
	var first, lastT int64 = -1, 0
	for _, id := range ids {
		m := &e.rec.msgs[id]
		p.Deliveries += int64(m.count.Load())
		if pub := m.pub.Load(); first < 0 || pub < first {
			first = pub
		}
		if l := m.last.Load(); l > lastT {
			lastT = l
		}
		if e.rec.complete(id) {
			p.Complete++
			p.LatMs = append(p.LatMs, float64(e.rec.latency(id))/1e6)
		}
	}
	p.Duplicates = dups
	if p.Expected > 0 {
		p.DeliveredPc = 100 * float64(p.Deliveries) / float64(p.Expected)
	}
	var done []int
	for _, id := range ids {
		if e.rec.complete(id) {
			done = append(done, id)
		}
	}
	slices.SortStableFunc(done, func(a, b int) int {
		return cmp.Compare(e.rec.latency(b), e.rec.latency(a))
	})
	for _, id := range done[:min(len(done), slowestKept)] {
		p.Slowest = append(p.Slowest, e.rec.tail(id))
	}
	var ldh []float64
	for _, id := range ids {
		if h := e.rec.msgs[id].hops.Load(); h > 0 && e.rec.complete(id) {
			ldh = append(ldh, float64(h))
		}
	}
	slices.Sort(ldh)
	p.LDH = quantile(ldh, 0.5)
	slices.Sort(p.LatMs)
	p.P50ms, p.P99ms, p.MaxMs = quantile(p.LatMs, 0.5), quantile(p.LatMs, 0.99), quantile(p.LatMs, 1)
	p.Bytes = b.bytes() - a.bytes()
	p.CPUms = ms(b.cpu - a.cpu)
	if p.Deliveries > 0 {
		p.RMR = float64(copies)/float64(p.Deliveries) - 1
		p.BytesPerDel = float64(p.Bytes) / float64(p.Deliveries)
		p.CPUusPerDel = 1000 * p.CPUms / float64(p.Deliveries)
		p.AllocsPerDel = float64(b.mem.allocs-a.mem.allocs) / float64(p.Deliveries)
		p.AllocBytesPerDel = float64(b.mem.allocBytes-a.mem.allocBytes) / float64(p.Deliveries)
		p.CtxSwPerDel = float64(b.csw-a.csw) / float64(p.Deliveries)
	}
	p.GCCycles = b.mem.gcs - a.mem.gcs
	p.LiveMB = float64(b.mem.liveBytes) / 1e6
	if lastT > first && first >= 0 {
		p.Seconds = float64(lastT-first) / 1e9
		p.DelPerSec = float64(p.Deliveries) / p.Seconds
	}
	return p
}

// quantile of sorted xs (nearest rank); 0 when empty (Complete is 0 then).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(q*float64(len(xs))+0.999999) - 1
	i = max(0, min(i, len(xs)-1))
	return xs[i]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// writeAllocs writes the allocation profile into path with suffix inserted
// before its extension (nothing when path is empty). It collects garbage
// first: the runtime publishes allocations to the profile only when a
// collection ends, so without one two snapshots of a phase with no
// collection in it show nothing between them.
func writeAllocs(path, suffix string) error {
	if path == "" {
		return nil
	}
	runtime.GC()
	f, err := os.Create(withSuffix(path, suffix))
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(countWriter{f}, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// withSuffix inserts suffix into path before its extension.
func withSuffix(path, suffix string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + suffix + ext
}

// startTrace starts an execution trace into path with suffix inserted
// before its extension (none when path is empty); stop ends it.
func startTrace(path, suffix string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(withSuffix(path, suffix))
	if err != nil {
		return nil, err
	}
	if err := trace.Start(countWriter{f}); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		trace.Stop()
		f.Close()
	}, nil
}

// startProfile starts a CPU profile into path with suffix inserted before
// its extension (nothing when path is empty); the returned function stops
// it.
func startProfile(path, suffix string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(withSuffix(path, suffix))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(countWriter{f}); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
