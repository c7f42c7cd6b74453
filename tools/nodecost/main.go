// Command nodecost measures what one plumtree-go node costs as deployed: a
// process per node. It starts N examples/node processes on loopback (node 0
// publishes, through its admin API; nodes 1..N-1 only receive and relay),
// and reads every process's CPU, memory and deliveries from its /metrics
// (the Go and process collectors and plumtree_messages_delivered_total):
// idle, then at each message rate in turn.
//
//	go run ./nodecost                      # in tools: 8 nodes, idle and 20, 200, 800 msg/s of 1 KiB
//	go run ./nodecost -n 16 -rates 50 -dur 60s -preset local
//	go run ./nodecost -n 2 -idle 0 -rates '' -flood 16   # hostile load on node 1
//
// The table gives, per phase, the medians over the receivers: CPU per
// second, CPU per delivered message (and above the idle CPU), resident and
// Go heap memory. The publisher's row includes its admin API's HTTP work.
// With -flood K, a last phase has K strangers on node 1's port (the nodes
// run without a key) send it Gossip frames of -flood-size bytes with fresh
// ids as fast as their connections take them, for -flood-dur, and reports
// node 1's resident memory before, at its peak and after: what an open
// port costs under a flood (docs/operations.md, "Sizing").
// See tools/README.md and docs/operations.md, "Sizing".
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/wire"
	tcp "github.com/plumtree-go/plumtree/transport-tcp"
)

func main() {
	// Ctrl-C ends the measurement and stops the nodes (each leaves the
	// cluster) before the command exits.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		if ctx.Err() != nil {
			err = errors.New("interrupted; the nodes were stopped")
		}
		fmt.Fprintln(os.Stderr, "nodecost:", err)
		os.Exit(1)
	}
}

type config struct {
	n       int
	bin     string
	preset  string
	size    int
	rates   []float64
	dur     time.Duration
	idle    time.Duration
	warmup  int
	settle  time.Duration
	timeout time.Duration

	flood     int // strangers sending node 1 frames in the last phase (0: none)
	floodSize int
	floodDur  time.Duration
}

func parseFlags(args []string, out io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("nodecost", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.IntVar(&c.n, "n", 8, "nodes (processes), at least 2: node 0 publishes, the others receive")
	fs.StringVar(&c.bin, "bin", "", "examples/node binary (default: built from the repository's examples/node)")
	fs.StringVar(&c.preset, "preset", "lan", "the nodes' -preset")
	fs.IntVar(&c.size, "size", 1024, "payload bytes")
	rates := fs.String("rates", "20,200,800", "message rates (msg/s, comma-separated), measured in turn")
	fs.DurationVar(&c.dur, "dur", 30*time.Second, "how long each rate publishes")
	fs.DurationVar(&c.idle, "idle", 20*time.Second, "idle window (no messages) measured before the rates")
	fs.IntVar(&c.warmup, "warmup", 40, "messages at 20 msg/s before measuring (connections open, the tree forms)")
	fs.DurationVar(&c.settle, "settle", 5*time.Second, "wait after the warm-up before the idle window")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Minute, "limit for the cluster to form and for a phase's deliveries to arrive")
	fs.IntVar(&c.flood, "flood", 0, "last phase: this many strangers' connections send node 1 Gossip frames as fast as they can (0: no flood)")
	fs.IntVar(&c.floodSize, "flood-size", 60<<10, "payload bytes of the flood's frames")
	fs.DurationVar(&c.floodDur, "flood-dur", 20*time.Second, "how long the flood lasts")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.n < 2 {
		return c, fmt.Errorf("-n %d: need at least 2 nodes", c.n)
	}
	if c.size < 1 || c.size > 64<<10 {
		return c, fmt.Errorf("-size %d: must be in [1, 65536] (a small message; large ones are tools/largebench's)", c.size)
	}
	if c.dur <= 0 || c.idle < 0 || c.warmup < 0 || c.settle < 0 || c.timeout <= 0 {
		return c, errors.New("-dur and -timeout must be positive; -idle, -warmup and -settle not negative")
	}
	if c.flood < 0 || c.flood > 1000 || c.floodSize < 1 || c.floodSize > 64<<10 || c.floodDur <= 0 {
		return c, errors.New("-flood must be in [0, 1000], -flood-size in [1, 65536], -flood-dur positive")
	}
	for _, s := range strings.Split(*rates, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r <= 0 || r > 100000 {
			return c, fmt.Errorf("-rates: %q is not a rate in (0, 100000] msg/s", s)
		}
		c.rates = append(c.rates, r)
	}
	return c, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	c, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	if c.bin == "" {
		dir, err := os.MkdirTemp("", "nodecost")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if c.bin, err = buildNode(dir); err != nil {
			return err
		}
	}
	cl := &cluster{cfg: c, http: &http.Client{Timeout: 10 * time.Second}}
	defer cl.stop()
	if err := cl.start(ctx); err != nil {
		return err
	}
	return cl.measure(ctx, out)
}

// buildNode builds examples/node into dir, from the repository that holds
// the working directory.
func buildNode(dir string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "examples", "node", "main.go")); err == nil {
			bin := filepath.Join(dir, "node")
			cmd := exec.Command("go", "build", "-o", bin, "./node")
			cmd.Dir = filepath.Join(d, "examples")
			if out, err := cmd.CombinedOutput(); err != nil {
				return "", fmt.Errorf("building examples/node: %v\n%s", err, out)
			}
			return bin, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no examples/node above %s: run from the repository or give -bin", wd)
		}
	}
}

// proc is one examples/node process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	addr    string // memberlist and Plumtree
	admin   string // http://host:port, as the node prints it
	metrics string // http://host:port/metrics
	done    chan struct{}
	logMu   sync.Mutex
	log     bytes.Buffer // its output, the first MiB
}

func (p *proc) Write(b []byte) (int, error) {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	if p.log.Len() < 1<<20 {
		p.log.Write(b)
	}
	return len(b), nil
}

func (p *proc) output() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.log.String()
}

// startLine is what examples/node prints once it listens.
var startLine = regexp.MustCompile(`^plumtree node (\S+): addr=(\S+) admin=(\S+) metrics=(\S+)$`)

type cluster struct {
	cfg   config
	http  *http.Client
	procs []*proc
	idled bool // an idle window was measured: "above idle" has a meaning
}

func (cl *cluster) start(ctx context.Context) error {
	for i := range cl.cfg.n {
		args := []string{"-name", fmt.Sprintf("n%02d", i), "-bind", "127.0.0.1:0",
			"-admin-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0",
			"-preset", cl.cfg.preset, "-log-level", "warn", "-leave-timeout", "2s"}
		if i > 0 {
			args = append(args, "-join", cl.procs[0].addr)
		}
		p, err := startProc(cl.cfg.bin, args, cl.cfg.timeout)
		if p != nil {
			cl.procs = append(cl.procs, p)
		}
		if err != nil {
			return err
		}
	}
	// Formed: every node knows every other as a Plumtree member.
	return cl.waitFor(ctx, "every node to see all "+strconv.Itoa(cl.cfg.n)+" members", func() (bool, error) {
		for _, p := range cl.procs {
			var ms []struct {
				Plumtree bool `json:"plumtree"`
			}
			if err := cl.getJSON(ctx, p.admin+"/members", &ms); err != nil {
				return false, err
			}
			k := 0
			for _, m := range ms {
				if m.Plumtree {
					k++
				}
			}
			if k < cl.cfg.n {
				return false, nil
			}
		}
		return true, nil
	})
}

func startProc(bin string, args []string, timeout time.Duration) (*proc, error) {
	p := &proc{name: args[1], done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...) // stopped by cluster.stop, gracefully
	// The node ignores the terminal's Ctrl-C (its own process group):
	// cluster.stop interrupts it once the measurement has ended.
	p.cmd.SysProcAttr = detached()
	p.cmd.Stderr = p
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := startLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case ready <- m:
				default:
				}
			}
			_, _ = p.Write(append(sc.Bytes(), '\n'))
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	select {
	case m := <-ready:
		p.addr, p.admin, p.metrics = m[2], m[3], m[4]
		return p, nil
	case <-p.done:
		return p, fmt.Errorf("%s exited before it listened:\n%s", p.name, p.output())
	case <-time.After(timeout):
		return p, fmt.Errorf("%s did not listen within %v:\n%s", p.name, timeout, p.output())
	}
}

// stop interrupts every node (a graceful leave) and kills those that do
// not end.
func (cl *cluster) stop() {
	for _, p := range cl.procs {
		_ = p.cmd.Process.Signal(os.Interrupt)
	}
	for _, p := range cl.procs {
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

func (cl *cluster) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// waitFor polls cond until it holds, fails, a process exits, or the
// timeout passes.
func (cl *cluster) waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(cl.cfg.timeout)
	for {
		for _, p := range cl.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited while waiting for %s:\n%s", p.name, what, p.output())
			default:
			}
		}
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
			return fmt.Errorf("waited %v for %s", cl.cfg.timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sample is what one process's /metrics says at one moment.
type sample struct {
	cpu        float64 // process_cpu_seconds_total
	rss        float64 // process_resident_memory_bytes
	heap       float64 // go_memstats_heap_inuse_bytes
	goroutines float64 // go_goroutines
	delivered  float64 // plumtree_messages_delivered_total
	retention  float64 // plumtree_cache_retention_seconds; NaN if not exported
}

// parseMetrics reads the samples nodecost needs from the Prometheus text
// format (series of one name are summed over their labels).
func parseMetrics(r io.Reader) (sample, error) {
	s := sample{retention: math.NaN()}
	// Exported only by nodes with the cache module's retention (a -bin
	// older than it has none): read if there.
	optional := map[string]*float64{"plumtree_cache_retention_seconds": &s.retention}
	fields := map[string]*float64{
		"process_cpu_seconds_total":         &s.cpu,
		"process_resident_memory_bytes":     &s.rss,
		"go_memstats_heap_inuse_bytes":      &s.heap,
		"go_goroutines":                     &s.goroutines,
		"plumtree_messages_delivered_total": &s.delivered,
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
			if j := strings.LastIndexByte(line, '}'); j >= 0 {
				rest = strings.TrimSpace(line[j+1:])
			}
		}
		dst, ok := fields[name]
		if opt, isOpt := optional[name]; isOpt {
			if !seen[name] {
				*opt = 0 // from NaN, to sum the series
			}
			dst, ok = opt, true
		}
		if !ok {
			continue
		}
		val, _, _ := strings.Cut(strings.TrimSpace(rest), " ") // a timestamp may follow
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return s, fmt.Errorf("metric %s: %q is not a number", name, val)
		}
		*dst += v
		seen[name] = true
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	for name := range fields {
		if !seen[name] {
			return s, fmt.Errorf("metric %s missing (are the process and Go collectors registered?)", name)
		}
	}
	return s, nil
}

func (cl *cluster) scrape(ctx context.Context) ([]sample, error) {
	out := make([]sample, len(cl.procs))
	for i, p := range cl.procs {
		var err error
		if out[i], err = cl.scrapeOne(ctx, p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (cl *cluster) scrapeOne(ctx context.Context, p *proc) (sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metrics, nil)
	if err != nil {
		return sample{}, err
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return sample{}, err
	}
	s, err := parseMetrics(resp.Body)
	resp.Body.Close()
	if err != nil {
		return s, fmt.Errorf("%s: %w", p.name, err)
	}
	if ns, ok := threadsCPU(p.cmd.Process.Pid); ok {
		s.cpu = float64(ns) / 1e9
	}
	return s, nil
}

// threadsCPU is the CPU time of a process's threads in nanoseconds, from
// /proc/PID/task/*/schedstat (Linux; ok false elsewhere). The process
// collector's process_cpu_seconds_total counts the kernel's 10 ms ticks:
// a few ms/s of idle CPU over a 20 s window would be off by a tenth. A
// thread that ended takes its time with it; the Go runtime keeps its
// threads.
func threadsCPU(pid int) (int64, bool) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, false
	}
	var total int64
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, false
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		total += ns
	}
	return total, len(tasks) > 0
}

// publish broadcasts count payloads from node 0 at rate msg/s (fewer when
// the admin API cannot take them that fast: a late tick is skipped) until
// count are tried or d has passed. It returns how many were sent and how
// many the node refused for backpressure (503 with Retry-After: its cache's
// block-new level or a full delivery queue; docs/operations.md, "Sizing").
func (cl *cluster) publish(ctx context.Context, rate float64, count int, d time.Duration) (sent, refused int, err error) {
	payload := bytes.Repeat([]byte{'x'}, cl.cfg.size)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	for sent+refused < count && time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return sent, refused, ctx.Err()
		case <-tick.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, cl.procs[0].admin+"/broadcast", bytes.NewReader(payload))
		if err != nil {
			return sent, refused, err
		}
		resp, err := cl.http.Do(req)
		if err != nil {
			return sent, refused, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			sent++
		case http.StatusServiceUnavailable:
			if resp.Header.Get("Retry-After") == "" { // not backpressure: the node is closing
				return sent, refused, fmt.Errorf("POST /broadcast: %s: %s", resp.Status, bytes.TrimSpace(body))
			}
			refused++
		default:
			return sent, refused, fmt.Errorf("POST /broadcast: %s: %s", resp.Status, bytes.TrimSpace(body))
		}
	}
	return sent, refused, nil
}

// waitDelivered waits until every receiver has delivered want more
// messages than in base.
func (cl *cluster) waitDelivered(ctx context.Context, base []sample, want int) ([]sample, error) {
	var last []sample
	err := cl.waitFor(ctx, fmt.Sprintf("%d messages at every node", want), func() (bool, error) {
		s, err := cl.scrape(ctx)
		if err != nil {
			return false, err
		}
		last = s
		for i := 1; i < len(s); i++ {
			if s[i].delivered-base[i].delivered < float64(want) {
				return false, nil
			}
		}
		return true, nil
	})
	return last, err
}

// row is one phase's figures for one node or, as medians, for the receivers.
type row struct {
	cpuMsPerS     float64
	usPerDelivery float64 // CPU over deliveries
	usAboveIdle   float64 // CPU above the idle CPU per second, over deliveries
	delivPerS     float64
	rssMiB        float64
	heapMiB       float64
	goroutines    float64
	retentionS    float64 // the cache's retention at the phase's end (NaN: unknown)
}

func figures(a, b sample, secs, idleMsPerS float64) row {
	cpu := b.cpu - a.cpu
	d := b.delivered - a.delivered
	r := row{cpuMsPerS: cpu / secs * 1e3, delivPerS: d / secs, rssMiB: b.rss / (1 << 20), heapMiB: b.heap / (1 << 20), goroutines: b.goroutines, retentionS: b.retention}
	if d > 0 {
		r.usPerDelivery = cpu / d * 1e6
		r.usAboveIdle = (cpu - idleMsPerS/1e3*secs) / d * 1e6
	}
	return r
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (cl *cluster) measure(ctx context.Context, out io.Writer) error {
	c := cl.cfg
	src := "its process_cpu_seconds_total (the kernel's 10 ms ticks)"
	if _, ok := threadsCPU(cl.procs[0].cmd.Process.Pid); ok {
		src = "/proc/PID/task/*/schedstat (nanoseconds)"
	}
	fmt.Fprintf(out, "%d examples/node processes on 127.0.0.1, preset %s, %d B payloads published through node 0's admin API; each process's CPU from %s\n\n", c.n, c.preset, c.size, src)
	base, err := cl.scrape(ctx)
	if err != nil {
		return err
	}
	if c.warmup > 0 {
		sent, _, err := cl.publish(ctx, 20, c.warmup, time.Hour)
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		if _, err := cl.waitDelivered(ctx, base, sent); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	// Not a synchronisation: the warm-up's announcements and rounds pass
	// before the idle window.
	if err := sleep(ctx, c.settle); err != nil {
		return err
	}
	fmt.Fprintln(out, "| phase | sent msg/s | refused | receivers: deliveries/s | CPU ms/s | CPU µs / delivery | above idle | RSS MiB | Go heap MiB | goroutines | cache retention s | publisher: CPU ms/s | RSS MiB |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	idle := make([]float64, c.n) // per node, ms/s
	if c.idle > 0 {
		a, err := cl.scrape(ctx)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := sleep(ctx, c.idle); err != nil { // the measured window itself
			return err
		}
		b, err := cl.scrape(ctx)
		if err != nil {
			return err
		}
		secs := time.Since(t0).Seconds()
		rows := make([]row, c.n)
		for i := range rows {
			rows[i] = figures(a[i], b[i], secs, 0)
			idle[i] = rows[i].cpuMsPerS
		}
		cl.print(out, "idle", 0, 0, rows)
		cl.idled = true
	}
	for _, rate := range c.rates {
		a, err := cl.scrape(ctx)
		if err != nil {
			return err
		}
		t0 := time.Now()
		sent, refused, err := cl.publish(ctx, rate, int(rate*c.dur.Seconds()+0.5), c.dur)
		if err != nil {
			return fmt.Errorf("rate %g: %w", rate, err)
		}
		sentSecs := time.Since(t0).Seconds()
		b, err := cl.waitDelivered(ctx, a, sent)
		if err != nil {
			return fmt.Errorf("rate %g: %w", rate, err)
		}
		secs := time.Since(t0).Seconds()
		rows := make([]row, c.n)
		for i := range rows {
			rows[i] = figures(a[i], b[i], secs, idle[i])
		}
		cl.print(out, fmt.Sprintf("%g msg/s", rate), float64(sent)/sentSecs, refused, rows)
	}
	fmt.Fprintf(out, "\nReceivers' figures are medians over nodes 1..%d (ranges of CPU in brackets); above idle subtracts each node's idle CPU per second; cache retention is the shortest of the receivers' at the phase's end (how far back their caches held messages; the TTL until a cache is full). Every receiver delivered every message sent in each phase; refused: broadcasts node 0 refused for backpressure (503).\n", c.n-1)
	if c.flood > 0 {
		return cl.flood(ctx, out)
	}
	return nil
}

// flood runs the hostile phase (see -flood): strangers, each a
// transport-tcp Transport under a name the cluster does not know, send node
// 1 Gossip frames with fresh ids from origins of their own, as fast as
// their send queues drain, for floodDur. It prints node 1's resident
// memory before, at its peak (the kernel's high-water mark, VmHWM, on
// Linux; else the largest of the samples taken every 100 ms from
// /metrics) and after, and the frames sent and delivered.
func (cl *cluster) flood(ctx context.Context, out io.Writer) error {
	c := cl.cfg
	target := cl.procs[1]
	before, err := cl.scrapeOne(ctx, target)
	if err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(ctx, c.floodDur)
	defer cancel()
	var (
		sent atomic.Int64
		wg   sync.WaitGroup
	)
	for k := range c.flood {
		tr, err := tcp.New(core.PeerID(fmt.Sprintf("flood-%03d", k)), tcp.WithSendQueue(64))
		if err != nil {
			return err
		}
		defer tr.Close()
		tr.SetPeerAddr(core.PeerID(target.name), target.addr)
		go func() {
			for range tr.Receive() { // whatever node 1 answers
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := bytes.Repeat([]byte{'f'}, c.floodSize)
			origin := core.PeerID(fmt.Sprintf("flood-origin-%03d", k))
			for seq := uint64(1); fctx.Err() == nil; {
				m := core.Message{Type: core.MsgGossip, ID: core.MessageID{Origin: origin, Seq: seq}, OriginTime: time.Now(), Hops: 1, Payload: payload}
				f, err := wire.AppendFrame(nil, &m)
				if err != nil {
					return
				}
				if tr.Send(core.PeerID(target.name), f) != nil {
					// The queue is full: let the connection drain (a
					// load generator's backoff, not a synchronisation).
					time.Sleep(200 * time.Microsecond)
					continue
				}
				seq++
				sent.Add(1)
			}
		}()
	}
	pid := target.cmd.Process.Pid
	peak := before.rss
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for fctx.Err() == nil {
		select {
		case <-tick.C:
			if _, ok := peakRSS(pid); !ok {
				if s, err := cl.scrapeOne(fctx, target); err == nil {
					peak = max(peak, s.rss)
				}
			}
		case <-fctx.Done():
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	after, err := cl.scrapeOne(ctx, target)
	if err != nil {
		return err
	}
	if hwm, ok := peakRSS(pid); ok {
		peak = hwm
	}
	secs := c.floodDur.Seconds()
	const mib = 1 << 20
	fmt.Fprintf(out, "\n| flood of node 1 | connections | frame payload B | frames sent/s | MB/s sent | deliveries/s at node 1 | RSS before MiB | peak RSS MiB | RSS after MiB |\n|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(out, "| %v | %d | %d | %.0f | %.1f | %.0f | %.1f | %.1f | %.1f |\n",
		c.floodDur, c.flood, c.floodSize, float64(sent.Load())/secs, float64(sent.Load())*float64(c.floodSize)/secs/1e6,
		(after.delivered-before.delivered)/secs, before.rss/mib, peak/mib, after.rss/mib)
	fmt.Fprintln(out, "\nPeak RSS: the kernel's high-water mark of the process (VmHWM; since it started) on Linux, else the largest of the samples taken every 100 ms. The flood's messages are valid, from origins nobody knows: node 1 delivers and relays them.")
	return nil
}

// peakRSS is a process's resident-memory high-water mark in bytes
// (/proc/PID/status VmHWM: Linux; ok false elsewhere).
func peakRSS(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
					return kb * 1024, true
				}
			}
		}
	}
	return 0, false
}

func (cl *cluster) print(out io.Writer, phase string, sentPerS float64, refused int, rows []row) {
	recv := rows[1:]
	col := func(f func(row) float64) []float64 {
		xs := make([]float64, len(recv))
		for i, r := range recv {
			xs[i] = f(r)
		}
		return xs
	}
	cpu := col(func(r row) float64 { return r.cpuMsPerS })
	per, above := "–", "–"
	if sentPerS > 0 {
		per = fmt.Sprintf("%.0f", median(col(func(r row) float64 { return r.usPerDelivery })))
		if cl.idled {
			above = fmt.Sprintf("%.0f", median(col(func(r row) float64 { return r.usAboveIdle })))
		}
	}
	sent := "0"
	if sentPerS > 0 {
		sent = fmt.Sprintf("%.0f", sentPerS)
	}
	retention := "–"
	if ret := col(func(r row) float64 { return r.retentionS }); !slices.ContainsFunc(ret, math.IsNaN) {
		retention = fmt.Sprintf("%.0f", slices.Min(ret))
	}
	fmt.Fprintf(out, "| %s | %s | %d | %.0f | %.1f (%.1f–%.1f) | %s | %s | %.1f | %.1f | %.0f | %s | %.1f | %.1f |\n",
		phase, sent, refused, median(col(func(r row) float64 { return r.delivPerS })),
		median(cpu), slices.Min(cpu), slices.Max(cpu), per, above,
		median(col(func(r row) float64 { return r.rssMiB })), median(col(func(r row) float64 { return r.heapMiB })),
		median(col(func(r row) float64 { return r.goroutines })), retention, rows[0].cpuMsPerS, rows[0].rssMiB)
}
