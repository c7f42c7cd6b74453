package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/plumtree-go/plumtree/tools/internal/sim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(1)
	}
}

type options struct {
	nodes      int
	scenarios  string
	protocols  string
	failProtos string
	overlays   string
	engines    string
	seed       uint64
	out        string
	json       bool
	parallel   int
	after      int
	cycles     int
	eventScen  string
	ihaveBatch int
	replot     string
	quiet      bool
	mem        bool
	memSet     bool // -mem given explicitly
	cpuProfile string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.nodes, "nodes", 1000, "number of simulated nodes (the paper: 10000)")
	fs.StringVar(&o.scenarios, "scenario", "stable,massive-50", "scenarios: stable, constant, massive (10..90 %), massive-N, all (comma-separated)")
	fs.StringVar(&o.protocols, "protocols", "all", "protocols: flood, plumtree, plumtree-optN, plumtree-many, plumtree-many-optN, plumtree-many-shapeN, all (= flood, plumtree, plumtree-opt3, plumtree-many, plumtree-many-opt3, plumtree-many-opt7)")
	fs.StringVar(&o.failProtos, "failure-protocols", "auto", "protocols of the failure scenarios (constant, massive); auto = those of flood, plumtree, plumtree-many-opt3 that -protocols selects (or all of -protocols if none)")
	fs.StringVar(&o.overlays, "overlay", "paper,full", "overlays: paper (HyParView-like, degree 5), full (full membership, the core's own views)")
	fs.StringVar(&o.engines, "engine", "cycle", "engines: cycle (the paper's), event (latency, jitter, real timers), both")
	fs.Uint64Var(&o.seed, "seed", 1, "seed: the same seed gives byte-identical results")
	fs.StringVar(&o.out, "out", "", "directory for report.md, results.csv, results.json and PNG plots")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per run instead of the table")
	fs.IntVar(&o.parallel, "parallel", min(2, runtime.GOMAXPROCS(0)), "runs simulated at once")
	fs.IntVar(&o.after, "after", 20, "cycles simulated after a massive failure")
	fs.IntVar(&o.cycles, "cycles", 0, "cycles of the stable scenario, warm-up (50) included; 0 = the paper's 250 at 10,000 nodes or more, 100 below")
	fs.StringVar(&o.eventScen, "event-scenarios", "stable,constant,massive-50", "scenarios the event engine runs (among -scenario); all = every one")
	fs.StringVar(&o.replot, "replot", "", "read this results.json (and timings.json beside it) instead of simulating; write the report and plots to -out")
	fs.IntVar(&o.ihaveBatch, "ihave-batch", 0, "core IHaveBatchSize in the cycle engine (0 = the core's default: IHaves leave on the 200 ms flush timer; 1 = at once)")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress bar")
	fs.BoolVar(&o.mem, "mem", false, "measure the heap per simulated node (on by default with -out; -mem=false skips it, which saves a 5-cycle build of each overlay)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the simulation (go tool pprof) to this file")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sim [flags]\n\nSimulates Plumtree (the real core.Protocol) at scale and compares it with the paper.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "mem" {
			o.memSet = true
		}
	})
	return o, nil
}

func (o *options) plan() (sim.Plan, error) {
	pl := sim.Plan{Nodes: o.nodes, Seed: o.seed, Params: sim.DefaultParams()}
	pl.Params.CycleIHaveBatch = o.ihaveBatch
	var err error
	if o.cycles == 0 {
		o.cycles = 100
		if o.nodes >= sim.PaperNodes {
			o.cycles = 250
		}
	}
	if o.cycles <= 50 {
		return pl, fmt.Errorf("-cycles %d: must exceed the 50-cycle warm-up", o.cycles)
	}
	if o.after < 1 {
		return pl, fmt.Errorf("-after %d: must be at least 1", o.after)
	}
	if pl.Scenarios, err = sim.ParseScenarios(o.scenarios, o.cycles, o.after); err != nil {
		return pl, err
	}
	if pl.Protocols, err = parseProtocols(o.protocols); err != nil {
		return pl, err
	}
	if o.failProtos == "auto" {
		for _, p := range pl.Protocols {
			switch p.Name {
			case "flood", "plumtree", "plumtree-many-opt3":
				pl.FailureProtocols = append(pl.FailureProtocols, p)
			}
		}
	} else if pl.FailureProtocols, err = parseProtocols(o.failProtos); err != nil {
		return pl, err
	}
	for _, name := range split(o.overlays) {
		switch sim.Overlay(name) {
		case sim.OverlayPaper, sim.OverlayFull:
			pl.Overlays = append(pl.Overlays, sim.Overlay(name))
		default:
			return pl, fmt.Errorf("unknown overlay %q (want paper or full)", name)
		}
	}
	for _, name := range split(o.engines) {
		switch name {
		case "cycle":
			pl.Engines = append(pl.Engines, sim.EngineCycle)
		case "event":
			pl.Engines = append(pl.Engines, sim.EngineEvent)
		case "both":
			pl.Engines = append(pl.Engines, sim.EngineCycle, sim.EngineEvent)
		default:
			return pl, fmt.Errorf("unknown engine %q (want cycle, event or both)", name)
		}
	}
	if o.eventScen != "all" {
		pl.EventScenarios = split(o.eventScen)
	}
	if len(pl.Protocols) == 0 || len(pl.Overlays) == 0 || len(pl.Engines) == 0 {
		return pl, errors.New("nothing to run")
	}
	return pl, nil
}

func parseProtocols(list string) ([]sim.Protocol, error) {
	var out []sim.Protocol
	seen := map[string]bool{}
	for _, name := range split(list) {
		ps := []sim.Protocol{}
		if name == "all" {
			ps = sim.Protocols()
		} else {
			p, err := sim.ProtocolByName(name)
			if err != nil {
				return nil, err
			}
			ps = append(ps, p)
		}
		for _, p := range ps {
			if !seen[p.Name] {
				seen[p.Name] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	pl, err := o.plan()
	if err != nil {
		return err
	}
	if o.replot != "" {
		return replot(o, pl, args)
	}
	specs := pl.Specs()
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "plumtree sim: seed %d, %d nodes, %d stable cycles, %d runs, %d at once\n", o.seed, o.nodes, o.cycles, len(specs), o.parallel)
	// The CPU profile covers the simulation only (not the heap
	// measurement and the report).
	stopProfile := func() error { return nil }
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		stopProfile = sync.OnceValue(func() error {
			pprof.StopCPUProfile()
			return f.Close()
		})
		defer stopProfile()
	}

	start := time.Now()
	bar := newProgress(stderr, specs, o.quiet)
	rs, err := sim.RunAll(specs, o.parallel, bar.update)
	bar.finish()
	if err != nil {
		return err
	}
	if err := stopProfile(); err != nil {
		return err
	}
	wall := time.Since(start)
	fmt.Fprintf(stderr, "plumtree sim: %d runs in %s\n", len(rs), wall.Round(100*time.Millisecond))
	for _, r := range rs {
		if r.DuplicateDeliveries > 0 || r.BroadcastErrors > 0 {
			fmt.Fprintf(stderr, "plumtree sim: WARNING %s/%s/%s/%s: %d duplicate deliveries, %d broadcast errors\n",
				r.Engine, r.Overlay, r.Protocol, r.Scenario, r.DuplicateDeliveries, r.BroadcastErrors)
		}
	}

	if o.json {
		if err := sim.WriteJSONLines(stdout, rs); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "seed: %d  nodes: %d  stable cycles: %d\n", o.seed, o.nodes, o.cycles)
		if err := sim.WriteTable(stdout, rs); err != nil {
			return err
		}
		if err := sim.WriteLegend(stdout); err != nil {
			return err
		}
	}

	var memory map[string]float64
	if o.mem || (o.out != "" && !o.memSet) {
		memory = map[string]float64{}
		for _, ov := range pl.Overlays {
			spec := sim.Spec{Engine: sim.EngineCycle, Overlay: ov, Protocol: sim.ProtoPlumtree, Nodes: o.nodes, Seed: o.seed, Params: pl.Params}
			b, err := sim.MemoryPerNode(spec, 5)
			if err != nil {
				return err
			}
			memory[string(ov)] = b
			fmt.Fprintf(stderr, "plumtree sim: live heap per node, %s overlay: %.1f KiB\n", ov, b/1024)
		}
	}
	if o.out == "" {
		return nil
	}
	tm := timings{Wall: wall, Memory: memory, Runs: map[string]time.Duration{}}
	for i, r := range rs {
		tm.Runs[specs[i].Key()] = r.Wall
	}
	return writeOut(o, pl, rs, tm, "go run ./tools/sim "+strings.Join(args, " "), time.Now())
}

// timings are the machine-dependent measurements, kept apart from the
// deterministic results.
type timings struct {
	Command string                   `json:"command"`
	Date    time.Time                `json:"date"`
	Wall    time.Duration            `json:"wall_ns"`
	Memory  map[string]float64       `json:"memory_per_node_bytes"`
	Runs    map[string]time.Duration `json:"run_wall_ns"`
}

// replot reads one or more results.json files (comma-separated; runs are
// concatenated in that order) and their timings.json, and writes the
// report and plots.
func replot(o *options, pl sim.Plan, args []string) error {
	if o.out == "" {
		return errors.New("-replot needs -out")
	}
	var rs sim.Results
	tm := timings{Memory: map[string]float64{}, Runs: map[string]time.Duration{}}
	var cmds []string
	for i, file := range split(o.replot) {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		seed, nodes, part, err := sim.ReadJSON(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if i > 0 && (seed != o.seed || nodes != o.nodes) {
			return fmt.Errorf("%s: seed %d, %d nodes; the first file has seed %d, %d nodes", file, seed, nodes, o.seed, o.nodes)
		}
		o.seed, o.nodes = seed, nodes
		rs = append(rs, part...)
		var t timings
		b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "timings.json"))
		if err != nil {
			continue
		}
		if err := json.Unmarshal(b, &t); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		cmds = append(cmds, t.Command)
		if t.Date.After(tm.Date) {
			tm.Date = t.Date
		}
		tm.Wall += t.Wall
		for k, v := range t.Memory {
			tm.Memory[k] = v
		}
		for k, v := range t.Runs {
			tm.Runs[k] = v
		}
	}
	for _, r := range rs {
		r.Wall = tm.Runs[r.Engine+"/"+r.Overlay+"/"+r.Protocol+"/"+r.Scenario]
	}
	if tm.Date.IsZero() {
		tm.Date = time.Now()
	}
	cmd := strings.Join(cmds, "` + `")
	if cmd == "" {
		cmd = "go run ./tools/sim " + strings.Join(args, " ")
	}
	return writeOut(o, pl, rs, tm, cmd, tm.Date)
}

func writeOut(o *options, pl sim.Plan, rs sim.Results, tm timings, command string, date time.Time) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	tm.Command, tm.Date = command, date
	create := func(name string, write func(io.Writer) error) error {
		f, err := os.Create(filepath.Join(o.out, name))
		if err != nil {
			return err
		}
		if err := write(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	// With -replot this is the merge of the inputs (the same file when
	// there is one).
	if err := create("results.json", func(w io.Writer) error { return sim.WriteJSON(w, o.seed, o.nodes, rs) }); err != nil {
		return err
	}
	if err := create("results.csv", func(w io.Writer) error { return sim.WriteCSV(w, rs) }); err != nil {
		return err
	}
	plots, err := sim.WritePlots(o.out, rs)
	if err != nil {
		return err
	}
	stable := map[string]time.Duration{}
	for _, r := range rs {
		if r.Scenario == "stable" && r.Engine == string(sim.EngineCycle) && r.Wall > stable[r.Overlay] {
			stable[r.Overlay] = r.Wall
		}
	}
	if o.replot == "" {
		if err := create("timings.json", func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", " ")
			return enc.Encode(tm)
		}); err != nil {
			return err
		}
	}
	meta := sim.ReportMeta{
		Command:    tm.Command,
		Date:       tm.Date,
		Seed:       o.seed,
		Nodes:      o.nodes,
		Params:     pl.Params,
		Wall:       tm.Wall,
		StableWall: stable,
		Memory:     tm.Memory,
		Plots:      plots,
	}
	return create("report.md", func(w io.Writer) error { return sim.WriteReport(w, meta, rs) })
}

// progress draws a progress bar on stderr: one cell per simulated cycle
// over all runs. On a terminal it redraws in place (at most 10 times a
// second); otherwise it prints a line per finished run.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	quiet    bool
	tty      bool
	specs    []sim.Spec
	cycles   []int
	total    int
	done     int
	finished int
	start    time.Time
	last     time.Time
}

func newProgress(w io.Writer, specs []sim.Spec, quiet bool) *progress {
	p := &progress{w: w, quiet: quiet, specs: specs, cycles: make([]int, len(specs)), start: time.Now()}
	for _, s := range specs {
		p.total += s.Scenario.Cycles
	}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(run, cycle, cycles int) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += cycle - p.cycles[run]
	p.cycles[run] = cycle
	if cycle == cycles {
		p.finished++
		if !p.tty {
			fmt.Fprintf(p.w, "  [%d/%d] %s done (%s elapsed)\n", p.finished, len(p.specs), p.specs[run].Key(), time.Since(p.start).Round(time.Second))
			return
		}
	}
	if !p.tty {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && cycle != cycles {
		return
	}
	p.last = now
	const width = 30
	frac := float64(p.done) / float64(max(p.total, 1))
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	eta := ""
	if frac > 0.02 {
		el := time.Since(p.start)
		eta = " ETA " + (time.Duration(float64(el)/frac) - el).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r[%s] %3.0f%% %d/%d runs  %-40s %3d/%d%s   ", bar, 100*frac, p.finished, len(p.specs), p.specs[run].Key(), cycle, cycles, eta)
}

func (p *progress) finish() {
	if p.tty && !p.quiet {
		fmt.Fprintln(p.w)
	}
}
