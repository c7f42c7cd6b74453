// Command bench runs broadcast systems side by side on loopback: plumtree-go
// (assembled from its public packages), memberlist's TransmitLimitedQueue
// broadcast (serf's pattern), go-libp2p-pubsub GossipSub (signed and
// unsigned) and the direct-unicast bound. Each system, N and run is a fresh
// process (this binary re-executed) holding all N nodes; all get the same
// payloads, origins, rates and seeds. See README.md for what is measured.
//
//	go run ./bench                       # short side-by-side, N = 16, about a minute
//	go run ./bench -n 16,32,64 -runs 3 -count 200 -burst 2000 -out report
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
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"
)

// childCmd is the hidden first argument that makes the binary run one
// benchmark (a JSON spec follows) and print its result as JSON.
const childCmd = "__bench-run"

func main() {
	if len(os.Args) > 2 && os.Args[1] == childCmd {
		os.Exit(childMain(os.Args[2]))
	}
	if len(os.Args) == 2 && os.Args[1] == keepAwakeCmd {
		os.Exit(keepAwakeMain(os.Stdout))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := parentMain(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func childMain(arg string) int {
	var s spec
	if err := json.Unmarshal([]byte(arg), &s); err != nil {
		fmt.Fprintln(os.Stderr, "bench: bad spec:", err)
		return 2
	}
	res, err := runSpec(context.Background(), s, countWriter{os.Stderr})
	if err != nil {
		res.Error = err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

type config struct {
	ns      []int
	burstAt []int // the N with a burst (all when empty)
	systems []string
	runs    int
	out     string
	timeout time.Duration
	quiet   bool
	base    spec
	profile string
	memprof string
	trace   string
	doc     string
	note    string
	awake   bool
	// The rate sweep (-rates): after each round's runs, ratesSystems at
	// N = ratesN at each of rates, steady phase only (see plan).
	rates        []float64
	ratesN       int
	ratesSystems []string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var err error
	ns := fs.String("n", "16", "cluster sizes, comma-separated")
	burstAt := fs.String("burst-at", "", "cluster sizes that get the burst, comma-separated (default: every -n)")
	systems := fs.String("systems", strings.Join(systemNames, ","), "systems to run, comma-separated")
	fs.IntVar(&c.runs, "runs", 1, "runs per system and N (the report shows medians)")
	fs.IntVar(&c.base.Count, "count", 100, "steady messages per run")
	fs.IntVar(&c.base.Size, "size", 1024, "payload bytes")
	fs.Float64Var(&c.base.Rate, "rate", 20, "steady messages per second (from random origins)")
	fs.IntVar(&c.base.Warmup, "warmup", 40, "messages at the steady rate before measuring (the trees form)")
	fs.IntVar(&c.base.Burst, "burst", 500, "messages published back to back after the steady phase (0: no burst)")
	seed := fs.Int64("seed", 1, "seed of payloads, origins and node seeds (run r uses seed+r)")
	fs.DurationVar(&c.base.Idle, "idle", time.Second, "idle window measured for background CPU and bytes (0: skip)")
	fs.DurationVar(&c.base.Settle, "settle", 5*time.Second, "wait between the warm-up's end and the idle window, so that it sees no announcement of the warm-up's messages")
	fs.DurationVar(&c.base.Stall, "stall", 3*time.Second, "a phase ends after this long without a delivery")
	fs.DurationVar(&c.base.Drain, "drain", 5*time.Second, "a phase ends at the latest this long after its last publish")
	fs.DurationVar(&c.base.Setup, "setup", 2*time.Minute, "limit for a cluster to form")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "limit for one benchmark process")
	fs.StringVar(&c.base.IP, "ip", "127.0.0.1", "loopback address every node binds (ports are chosen by the OS)")
	fs.StringVar(&c.out, "out", "", "directory for the report: summary.md, results.csv, results.json, PNG plots")
	fs.StringVar(&c.doc, "doc", "", "write the benchmarks page (explanation, machine, command, date, tables, targets) to this file; plots go to -out")
	fs.StringVar(&c.note, "note", "", "a sentence for the benchmarks page about the conditions (e.g. a shared machine)")
	fs.StringVar(&c.profile, "cpuprofile", "", "directory for CPU profiles of each process: its steady and burst phases, and its idle window (-idle.pprof)")
	fs.StringVar(&c.memprof, "memprofile", "", "directory for allocation profiles of each process at the start and the end of its steady phase (SYSTEM-nN-rR.allocs-start.pprof, SYSTEM-nN-rR.allocs.pprof) and of its idle window (-idle-start, -idle); each snapshot collects garbage first")
	fs.StringVar(&c.trace, "trace", "", "directory for execution traces (runtime/trace) of each process's steady phase (SYSTEM-nN-rR.trace) and idle window (SYSTEM-nN-rR-idle.trace); go tool trace")
	fs.BoolVar(&c.awake, "keep-awake", false, "keep every processor busy at the lowest priority while the benchmarks run (Linux), so none halts between messages: on a virtual machine waking a halted processor can wait for the host (see README.md)")
	fs.BoolVar(&c.quiet, "q", false, "no progress display")
	rates := fs.String("rates", "", "rate sweep: steady rates (msg/s, comma-separated) at which -rates-systems run at N = -rates-n after each round, with no burst and a steady phase as long as -count at -rate takes (at least -count messages); the report adds a table and cpu_vs_rate.png")
	fs.IntVar(&c.ratesN, "rates-n", 32, "cluster size of the rate sweep")
	ratesSystems := fs.String("rates-systems", "plumtree,unicast", "systems of the rate sweep, comma-separated")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	c.base.Seed = *seed
	for _, f := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return c, fmt.Errorf("-n: %q is not a cluster size (at least 2)", f)
		}
		c.ns = append(c.ns, n)
	}
	if *burstAt != "" {
		for _, f := range strings.Split(*burstAt, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 2 {
				return c, fmt.Errorf("-burst-at: %q is not a cluster size", f)
			}
			c.burstAt = append(c.burstAt, n)
		}
	}
	if c.systems, err = parseSystems(*systems); err != nil {
		return c, err
	}
	if *rates != "" {
		for _, f := range strings.Split(*rates, ",") {
			x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || !(x > 0) || math.IsInf(x, 1) {
				return c, fmt.Errorf("-rates: %q is not a positive rate", f)
			}
			if slices.Contains(c.rates, x) {
				return c, fmt.Errorf("-rates: %g twice", x)
			}
			c.rates = append(c.rates, x)
		}
		if c.ratesN < 2 {
			return c, fmt.Errorf("-rates-n: %d is not a cluster size (at least 2)", c.ratesN)
		}
		if c.ratesSystems, err = parseSystems(*ratesSystems); err != nil {
			return c, fmt.Errorf("-rates-systems: %w", err)
		}
	}
	switch {
	case c.runs < 1:
		return c, errors.New("-runs: at least 1")
	case c.base.Count < 1:
		return c, errors.New("-count: at least 1")
	case c.base.Size < headerSize:
		return c, fmt.Errorf("-size: at least %d bytes", headerSize)
	case !(c.base.Rate > 0) || math.IsInf(c.base.Rate, 1):
		return c, errors.New("-rate: must be positive")
	case c.base.Stall <= 0 || c.base.Drain <= 0:
		return c, errors.New("-stall and -drain: must be positive")
	case c.base.Warmup < 0 || c.base.Burst < 0:
		return c, errors.New("-warmup and -burst: not negative")
	case c.base.Idle < 0 || c.base.Settle < 0:
		return c, errors.New("-idle and -settle: not negative")
	}
	return c, nil
}

func parseSystems(list string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if _, err := newSystem(name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, nil
}

// plan lists the benchmark processes in the order they run. Runs are
// outermost, then N, then the systems: every system sees the machine in
// the same state within a round. The rate sweep closes each round: at
// N = ratesN, each rate, each of ratesSystems, with no burst and Count
// scaled so that the steady phase lasts as long as the base one (at least
// the base Count). A sweep point that the round already ran (the base rate
// at an N and system of the main runs) is not run again: the report reads
// it from the main run.
func plan(c config) []spec {
	var out []spec
	add := func(s spec, name string, n, r int) {
		s.System, s.N, s.Run, s.Seed = name, n, r, c.base.Seed+int64(r)
		sweep := s.Rate != c.base.Rate
		if len(c.burstAt) > 0 && !slices.Contains(c.burstAt, n) {
			s.Burst = 0
		}
		file := fmt.Sprintf("%s-n%d-r%d", name, n, r)
		if sweep {
			file = fmt.Sprintf("%s-n%d-rate%g-r%d", name, n, s.Rate, r)
		}
		if c.profile != "" {
			s.Profile = fmt.Sprintf("%s/%s.pprof", c.profile, file)
		}
		if c.memprof != "" {
			s.MemProfile = fmt.Sprintf("%s/%s.allocs.pprof", c.memprof, file)
		}
		if c.trace != "" {
			s.Trace = fmt.Sprintf("%s/%s.trace", c.trace, file)
		}
		out = append(out, s)
	}
	for r := 0; r < c.runs; r++ {
		for _, n := range c.ns {
			for _, name := range c.systems {
				add(c.base, name, n, r)
			}
		}
		for _, rate := range c.rates {
			for _, name := range c.ratesSystems {
				if rate == c.base.Rate && slices.Contains(c.ns, c.ratesN) && slices.Contains(c.systems, name) {
					continue
				}
				s := c.base
				s.Rate, s.Burst = rate, 0
				s.Count = max(c.base.Count, int(math.Ceil(float64(c.base.Count)*rate/c.base.Rate)))
				add(s, name, c.ratesN, r)
			}
		}
	}
	return out
}

func parentMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, dir := range []string{c.profile, c.memprof, c.trace} {
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
	}
	if c.awake {
		_, stop, err := startKeepAwake(ctx, self)
		if err != nil {
			return err
		}
		defer stop()
	}
	started := time.Now()
	var results []result
	specs := plan(c)
	for k, s := range specs {
		label := fmt.Sprintf("[%d/%d] %s N=%d run %d", k+1, len(specs), s.System, s.N, s.Run+1)
		if s.Rate != c.base.Rate {
			label = fmt.Sprintf("[%d/%d] %s N=%d %g msg/s run %d", k+1, len(specs), s.System, s.N, s.Rate, s.Run+1)
		}
		res, err := runChild(ctx, self, s, c.timeout, label, c.quiet, stderr)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res = result{Spec: s, Error: err.Error()}
		}
		if res.Error != "" {
			fmt.Fprintf(stderr, "%s: %s\n", label, res.Error)
		}
		results = append(results, res)
	}
	rep := newReport(results, c, started, time.Now())
	fmt.Fprint(stdout, rep.markdown())
	if c.out != "" {
		if err := rep.write(c.out); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "report written to %s\n", c.out)
	}
	if c.doc != "" {
		if err := rep.writeDoc(c.doc, c.out); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "benchmarks page written to %s\n", c.doc)
	}
	return nil
}

// runChild runs one benchmark process and relays its progress lines.
func runChild(ctx context.Context, self string, s spec, timeout time.Duration, label string, quiet bool, stderr io.Writer) (result, error) {
	arg, err := json.Marshal(s)
	if err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, childCmd, string(arg))
	var out bytes.Buffer
	cmd.Stdout = &out
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	done := make(chan struct{})
	var tail []string
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			tail = append(tail, line)
			if len(tail) > 20 {
				tail = tail[1:]
			}
			if !quiet {
				fmt.Fprintf(stderr, "%s: %s\n", label, line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err = cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		return result{}, fmt.Errorf("%w (last output: %s)", err, strings.Join(tail, " | "))
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return result{}, fmt.Errorf("bad result: %w", err)
	}
	return res, nil
}
