package sim

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Results is a set of run results with lookup helpers.
type Results []*Result

// Find returns the result of engine/overlay/protocol/scenario, or nil.
func (rs Results) Find(engine Engine, overlay Overlay, protocol, scenario string) *Result {
	for _, r := range rs {
		if r.Engine == string(engine) && r.Overlay == string(overlay) && r.Protocol == protocol && r.Scenario == scenario {
			return r
		}
	}
	return nil
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
func f3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

// WriteTable prints the results as an aligned text table.
func WriteTable(w io.Writer, rs Results) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\toverlay\tprotocol\tscenario\treliab.%\tmin rel.%\tRMR\tLDH\tpayload\tcontrol\tlast ms\tregain\tRMR ok\t")
	for _, r := range rs {
		regain, rmrc := "", ""
		if strings.HasPrefix(r.Scenario, "massive") {
			regain, rmrc = cycles(r.RegainCycles), cycles(r.RMRCycles)
		}
		last := ""
		if r.Engine == string(EngineEvent) {
			last = f1(r.LastDeliveryMs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Engine, r.Overlay, r.Protocol, r.Scenario, f2(r.Reliability), f2(r.MinReliability), f3(r.RMR), f1(r.LDH),
			f1(r.PayloadMsgs), f1(r.ControlMsgs), last, regain, rmrc)
	}
	return tw.Flush()
}

// TableLegend explains the columns of WriteTable.
const TableLegend = `reliab.%   deliveries / (broadcasts × live nodes) of the measured cycles, in %
min rel.%  the lowest reliability of any one broadcast in those cycles
RMR        relative message redundancy: payload messages / (nodes reached - 1) - 1 (0 = a perfect tree)
LDH        last delivery hop: hops to the last node reached (mean per broadcast)
payload    payload messages sent per broadcast; control: IHave, Graft and Prune messages per broadcast
last ms    virtual time from the broadcast to its last delivery (event engine only)
regain     massive failure: cycles after the failure until a broadcast reaches every live node (never = not within the run)
RMR ok     massive failure: cycles after the failure from which RMR stays at most 0.01 (never = not within the run)
`

// WriteLegend prints TableLegend, under the table.
func WriteLegend(w io.Writer) error {
	_, err := io.WriteString(w, "\n"+TableLegend)
	return err
}

func cycles(v int) string {
	if v < 0 {
		return "never"
	}
	return strconv.Itoa(v)
}

// WriteJSONLines prints one JSON object per run.
func WriteJSONLines(w io.Writer, rs Results) error {
	enc := json.NewEncoder(w)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

type runWithSeries struct {
	*Result
	Series []CyclePoint `json:"series"`
}

type resultsFile struct {
	Seed  uint64          `json:"seed"`
	Nodes int             `json:"nodes"`
	Runs  []runWithSeries `json:"runs"`
}

// WriteJSON writes every run with its per-cycle series.
func WriteJSON(w io.Writer, seed uint64, nodes int, rs Results) error {
	out := resultsFile{Seed: seed, Nodes: nodes}
	for _, r := range rs {
		out.Runs = append(out.Runs, runWithSeries{Result: r, Series: r.Series})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(out)
}

// ReadJSON reads what WriteJSON wrote.
func ReadJSON(r io.Reader) (seed uint64, nodes int, rs Results, err error) {
	var in resultsFile
	if err := json.NewDecoder(r).Decode(&in); err != nil {
		return 0, 0, nil, fmt.Errorf("sim: reading results: %w", err)
	}
	for _, run := range in.Runs {
		if run.Result == nil {
			return 0, 0, nil, fmt.Errorf("sim: reading results: empty run")
		}
		run.Result.Series = run.Series
		rs = append(rs, run.Result)
	}
	return in.Seed, in.Nodes, rs, nil
}

// WriteCSV writes one row per run.
func WriteCSV(w io.Writer, rs Results) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"engine", "overlay", "protocol", "scenario", "nodes", "seed", "reliability", "min_reliability",
		"rmr", "max_rmr", "low_rmr_share", "ldh", "max_ldh", "payload_msgs", "control_msgs", "membership_msgs",
		"last_delivery_ms", "fail_pct", "regain_cycles", "rmr_cycles", "peak_rmr", "broadcasts",
		"duplicate_deliveries", "broadcast_errors", "mean_degree"})
	for _, r := range rs {
		cw.Write([]string{r.Engine, r.Overlay, r.Protocol, r.Scenario, strconv.Itoa(r.Nodes), strconv.FormatUint(r.Seed, 10),
			f3(r.Reliability), f3(r.MinReliability), f3(r.RMR), f3(r.MaxRMR), f3(r.LowRMRShare), f3(r.LDH), f1(r.MaxLDH),
			f1(r.PayloadMsgs), f1(r.ControlMsgs), f1(r.MembershipMsgs), f1(r.LastDeliveryMs), strconv.Itoa(r.FailPct),
			strconv.Itoa(r.RegainCycles), strconv.Itoa(r.RMRCycles), f3(r.PeakRMR), strconv.Itoa(r.Broadcasts),
			strconv.Itoa(r.DuplicateDeliveries), strconv.Itoa(r.BroadcastErrors), f2(r.MeanDegree)})
	}
	cw.Flush()
	return cw.Error()
}

// Check is one target of the report: the paper's (or our) value, ours,
// and whether the target is met.
type Check struct {
	Quantity string
	Paper    string
	Ours     string
	Target   string
	Met      string // "met", "missed", "n/a"
	Why      string
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// Checks evaluates the targets of the reproduction at n nodes against the
// cycle engine's results (missing runs are reported as n/a).
func Checks(rs Results, n int) []Check {
	var out []Check
	E, P, F := EngineCycle, OverlayPaper, OverlayFull
	na := func(q, paper, target string) Check {
		return Check{Quantity: q, Paper: paper, Ours: "not run", Target: target, Met: "n/a"}
	}
	// Stable, paper overlay.
	if r := rs.Find(E, P, "flood", "stable"); r != nil {
		out = append(out, Check{Quantity: "flood RMR, stable", Paper: "3", Ours: f3(r.RMR), Target: "3.0 ± 0.1",
			Met: verdict(math.Abs(r.RMR-3) <= 0.1)})
		want := paperScale(PaperFloodPayload, n)
		out = append(out, Check{Quantity: "flood payload msgs / broadcast", Paper: fmt.Sprintf("%.0f (×n/10,000 = %.0f)", PaperFloodPayload, want),
			Ours: f1(r.PayloadMsgs), Target: "± 1 %", Met: verdict(math.Abs(r.PayloadMsgs-want) <= 0.01*want)})
		out = append(out, Check{Quantity: "flood LDH, stable", Paper: "≈ 9", Ours: f2(r.LDH), Target: "9 ± 1",
			Met: verdict(math.Abs(r.LDH-PaperFloodLDH) <= 1), Why: ldhWhy(n, r.LDH, PaperFloodLDH)})
		out = append(out, Check{Quantity: "flood control msgs / broadcast", Paper: "0", Ours: f1(r.ControlMsgs), Target: "0",
			Met: verdict(r.ControlMsgs == 0)})
	} else {
		out = append(out, na("flood RMR, stable", "3", "3.0 ± 0.1"))
	}
	for _, pr := range []struct {
		name, paperLDH string
		ldh            float64
		tol            float64
	}{
		{"plumtree", "≈ 10", PaperPlumLDH, 1},
		{"plumtree-opt3", "≈ 8.5", PaperPlumOptLDH, 1},
		{"plumtree-many", "≈ 60", PaperManyLDH, -1},
		{"plumtree-many-opt7", "≈ 17", PaperManyOptLDH, -1},
	} {
		r := rs.Find(E, P, pr.name, "stable")
		if r == nil {
			out = append(out, na(pr.name+" RMR, stable", "0", "≤ 0.01"))
			continue
		}
		out = append(out, Check{Quantity: pr.name + " RMR, stable", Paper: "0 for most messages", Ours: fmt.Sprintf("%s (max %s, %.1f %% ≤ 0.01)", f3(r.RMR), f3(r.MaxRMR), 100*r.LowRMRShare),
			Target: "≤ 0.01", Met: verdict(r.RMR <= 0.01)})
		out = append(out, Check{Quantity: pr.name + " payload msgs / broadcast", Paper: "n − 1", Ours: f1(r.PayloadMsgs),
			Target: fmt.Sprintf("= %d", n-1), Met: verdict(r.PayloadMsgs == float64(n-1))})
		ctl := paperScale(PaperPlumControl, n)
		paperCtl := fmt.Sprintf("%.0f (×n/10,000 = %.0f)", PaperPlumControl, ctl)
		if pr.name == "plumtree-many-opt7" {
			paperCtl = fmt.Sprintf("≤ %.0f (×n/10,000 = %.0f)", PaperPlumCtlOpt, paperScale(PaperPlumCtlOpt, n))
		}
		out = append(out, Check{Quantity: pr.name + " control msgs / broadcast", Paper: paperCtl, Ours: f1(r.ControlMsgs), Target: "report", Met: "n/a"})
		c := Check{Quantity: pr.name + " LDH, stable", Paper: pr.paperLDH, Ours: f2(r.LDH)}
		if pr.tol > 0 {
			c.Target = fmt.Sprintf("%s ± %g", strconv.FormatFloat(pr.ldh, 'f', -1, 64), pr.tol)
			c.Met = verdict(math.Abs(r.LDH-pr.ldh) <= pr.tol)
			c.Why = ldhWhy(n, r.LDH, pr.ldh)
		} else {
			c.Target = fmt.Sprintf("≤ %g (read off Fig. 2c)", pr.ldh)
			c.Met = verdict(r.LDH <= pr.ldh)
			if plain := rs.Find(E, P, "plumtree-many", "stable"); c.Met == "missed" && plain != nil {
				c.Why = fmt.Sprintf("our plain shared tree is already at %s (the paper's: ≈ 60): the core keeps the first broadcast's breadth-first tree; Algorithm 4 at this threshold fires rarely, and each rewiring shortens one sender's paths at the expense of others'", f1(plain.LDH))
			}
		}
		out = append(out, c)
	}
	// Constant failures.
	for _, name := range []string{"flood", "plumtree", "plumtree-many-opt7"} {
		if r := rs.Find(E, P, name, "constant"); r != nil {
			out = append(out, Check{Quantity: name + " reliability, 0.5 %/cycle failing", Paper: "100 %", Ours: fmt.Sprintf("%s %% (min %s %%)", f3(r.Reliability), f3(r.MinReliability)),
				Target: "100 %", Met: verdict(r.MinReliability >= 100)})
		}
	}
	// Massive failures, paper overlay.
	for _, name := range []string{"flood", "plumtree"} {
		for pct := 10; pct <= 90; pct += 10 {
			r := rs.Find(E, P, name, "massive-"+strconv.Itoa(pct))
			if r == nil {
				continue
			}
			pv := PaperMassive[pct]
			c := Check{Quantity: fmt.Sprintf("%s reliability, first broadcasts after %d %% fail", name, pct), Paper: f1(pv) + " %",
				Ours: f2(r.Reliability) + " %", Target: "± 5 points", Met: verdict(math.Abs(r.Reliability-pv) <= 5)}
			if c.Met == "missed" {
				c.Why = massiveWhy(pct, r.Reliability, pv)
			}
			out = append(out, c)
			lo, hi := PaperHeal(pct)
			out = append(out, Check{Quantity: fmt.Sprintf("%s cycles to regain 100 %% after %d %%", name, pct), Paper: healStr(lo, hi),
				Ours: cycles(r.RegainCycles), Target: healStr(lo, hi), Met: verdict(r.RegainCycles >= 0 && r.RegainCycles <= hi),
				Why: healWhy(r, hi)})
			if name == "plumtree" {
				out = append(out, Check{Quantity: fmt.Sprintf("plumtree RMR after %d %% fail: peak / cycles to ≤ 0.01", pct), Paper: "≈ 2 / ≈ 3",
					Ours: f2(r.PeakRMR) + " / " + cycles(r.RMRCycles), Target: "report", Met: "n/a"})
			}
		}
	}
	// Our overlay.
	for pct := 10; pct <= 90; pct += 10 {
		for _, r := range rs {
			if r.Engine != string(E) || r.Overlay != string(F) || r.Scenario != "massive-"+strconv.Itoa(pct) || !strings.HasPrefix(r.Protocol, "plumtree") {
				continue
			}
			name := r.Protocol
			out = append(out, Check{Quantity: fmt.Sprintf("ours %s: cycles to 100 %% after %d %% fail", name, pct), Paper: healStr(PaperHeal(pct)) + " (or never ≥ 80 %)",
				Ours: cycles(r.RegainCycles) + fmt.Sprintf(" (first broadcasts %s %%)", f2(r.Reliability)), Target: "≤ 2 (a few cycles)",
				Met: verdict(r.RegainCycles >= 0 && r.RegainCycles <= 2), Why: healWhy(r, 2)})
			out = append(out, Check{Quantity: fmt.Sprintf("ours %s: cycles to RMR ≤ 0.01 after %d %% fail", name, pct), Paper: "≈ 3",
				Ours: cycles(r.RMRCycles) + " (peak " + f2(r.PeakRMR) + ")", Target: "≤ 3",
				Met: verdict(r.RMRCycles >= 0 && r.RMRCycles <= 3)})
		}
	}
	fl := rs.Find(E, F, "flood", "stable")
	for _, r := range rs {
		if r.Engine != string(E) || r.Overlay != string(F) || r.Scenario != "stable" || !strings.HasPrefix(r.Protocol, "plumtree-many") || fl == nil {
			continue
		}
		name := r.Protocol
		out = append(out, Check{Quantity: "ours " + name + " (shared tree) LDH vs flood on ours", Paper: "17–60 (vs 9)",
			Ours: fmt.Sprintf("%s vs %s", f2(r.LDH), f2(fl.LDH)), Target: "≤ flood + 2", Met: verdict(r.LDH <= fl.LDH+2),
			Why: sharedWhy(r, fl)})
		if pf := rs.Find(E, P, "flood", "stable"); pf != nil {
			out = append(out, Check{Quantity: "ours " + name + " (shared tree) LDH vs flood on the paper's overlay", Paper: "17–60 (vs 9)",
				Ours: fmt.Sprintf("%s vs %s", f2(r.LDH), f2(pf.LDH)), Target: "≤ flood + 2", Met: verdict(r.LDH <= pf.LDH+2)})
		}
		out = append(out, Check{Quantity: "ours " + name + " RMR, stable", Paper: "0", Ours: f3(r.RMR), Target: "≤ 0.01", Met: verdict(r.RMR <= 0.01)})
	}
	return out
}

func sharedWhy(r, fl *Result) string {
	if r.LDH <= fl.LDH+2 {
		return ""
	}
	why := fmt.Sprintf("flooding on our overlay pushes on every eager link (%.1f per node: each node's EagerFanout plus the links others open to it), so its depth is that of a much denser graph than the tree's", fl.MeanDegree)
	if r.Protocol == "plumtree-many" {
		why += "; without Algorithm 4 the tree is the first sender's"
	}
	return why
}

func healStr(lo, hi int) string {
	if lo == hi {
		return strconv.Itoa(lo)
	}
	return fmt.Sprintf("%d–%d", lo, hi)
}

func ldhWhy(n int, got, want float64) string {
	if math.Abs(got-want) <= 1 {
		return ""
	}
	if n < PaperNodes {
		return fmt.Sprintf("depth grows with log n: at %d nodes the overlay is shallower than at 10,000", n)
	}
	return ""
}

func massiveWhy(pct int, got, want float64) string {
	if got > want {
		return "our overlay is a uniform random degree-5 graph: its largest surviving component holds ≈ 84 % of the survivors at 60 % failures and ≈ 47 % at 70 % (site percolation), more than the paper's HyParView overlay kept; at 80 % and more it has no giant component, and only the sender's small component is reached"
	}
	return "fewer survivors reach the sender's component than in the paper"
}

func healWhy(r *Result, hi int) string {
	if r.RegainCycles >= 0 && r.RegainCycles <= hi {
		return ""
	}
	if r.RegainCycles < 0 {
		return "some live nodes stay cut off to the end of the run"
	}
	return "the repair took more cycles"
}

// ReportMeta is what the report says about how it was produced.
type ReportMeta struct {
	Command string
	Date    time.Time
	Seed    uint64
	Nodes   int
	Params  Params
	// Wall is the total wall-clock time; StableWall per overlay the time of
	// the slowest stable cycle-engine run; Memory per overlay the live heap
	// per node in bytes. These vary between machines and runs.
	Wall       time.Duration
	StableWall map[string]time.Duration
	Memory     map[string]float64
	Plots      []string // file names relative to the report
}

// WriteReport writes the markdown report: the paper's numbers beside ours,
// per quantity, with the verdict and why, then every run.
func WriteReport(w io.Writer, meta ReportMeta, rs Results) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# Plumtree simulator report\n\n")
	fmt.Fprintf(b, "Command: `%s`  \nDate: %s  \nSeed: %d, nodes: %d, runs: %d\n\n", meta.Command, meta.Date.UTC().Format("2006-01-02 15:04 MST"), meta.Seed, meta.Nodes, len(rs))
	fmt.Fprintf(b, "## Targets\n\nCycle engine. \"paper\" is the paper's value (message counts also scaled to %d nodes); verdicts compare ours with the target.\n\n", meta.Nodes)
	fmt.Fprintf(b, "| quantity | paper | ours | target | verdict | why |\n|---|---|---|---|---|---|\n")
	for _, c := range Checks(rs, meta.Nodes) {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", c.Quantity, c.Paper, c.Ours, c.Target, c.Met, c.Why)
	}
	if hasMassive(rs) {
		fmt.Fprintf(b, "\n## Reliability of the first broadcasts after a massive failure (%%)\n\nMean of the failure cycle's broadcasts (from random live senders, before any repair); in brackets the cycles until every broadcast reaches every live node again.\n\n")
		writeMassiveTable(b, rs)
	}
	fmt.Fprintf(b, "\n## All runs\n\nStable and constant runs: means over the measured cycles (after the 50-cycle warm-up). Massive runs: the broadcasts of the failure cycle (10 from random live senders, the same for every protocol, before any repair; mean); `regain` = cycles after the failure until every broadcast of a cycle reaches every live node, `RMR ok` = cycles until RMR stays ≤ 0.01.\n\n```\n")
	WriteTable(b, rs)
	fmt.Fprintf(b, "```\n")
	if len(meta.Memory) > 0 || meta.Wall > 0 {
		fmt.Fprintf(b, "\n## Cost (this machine, this run)\n\n")
		if meta.Wall > 0 {
			fmt.Fprintf(b, "- total wall time: %s\n", meta.Wall.Round(time.Second))
		}
		for _, k := range sortedKeys(meta.StableWall) {
			fmt.Fprintf(b, "- slowest stable run (250 cycles), %s: %s\n", k, meta.StableWall[k].Round(time.Second))
		}
		for _, k := range sortedKeys(meta.Memory) {
			fmt.Fprintf(b, "- live heap per simulated node, %s: %.1f KiB\n", k, meta.Memory[k]/1024)
		}
	}
	if len(meta.Plots) > 0 {
		fmt.Fprintf(b, "\n## Plots\n\n")
		for _, p := range meta.Plots {
			fmt.Fprintf(b, "![%s](%s)\n\n", strings.TrimSuffix(p, ".png"), p)
		}
	}
	fmt.Fprintf(b, "\n## Model\n\n%s", ModelNotes(meta.Params))
	_, err := io.WriteString(w, b.String())
	return err
}

func hasMassive(rs Results) bool {
	for _, r := range rs {
		if strings.HasPrefix(r.Scenario, "massive-") {
			return true
		}
	}
	return false
}

func writeMassiveTable(b *strings.Builder, rs Results) {
	type col struct {
		engine  Engine
		overlay Overlay
		proto   string
	}
	var cols []col
	seen := map[col]bool{}
	for _, r := range rs {
		if !strings.HasPrefix(r.Scenario, "massive-") {
			continue
		}
		c := col{Engine(r.Engine), Overlay(r.Overlay), r.Protocol}
		if !seen[c] {
			seen[c] = true
			cols = append(cols, c)
		}
	}
	fmt.Fprintf(b, "| failed | paper |")
	for _, c := range cols {
		fmt.Fprintf(b, " %s/%s/%s |", c.engine, c.overlay, c.proto)
	}
	fmt.Fprintf(b, "\n|---|---|")
	for range cols {
		fmt.Fprintf(b, "---|")
	}
	fmt.Fprintf(b, "\n")
	for pct := 1; pct <= 99; pct++ {
		row := ""
		any := false
		for _, c := range cols {
			r := rs.Find(c.engine, c.overlay, c.proto, "massive-"+strconv.Itoa(pct))
			if r == nil {
				row += " |"
				continue
			}
			any = true
			row += fmt.Sprintf(" %s (regain %s) |", f1(r.Reliability), cycles(r.RegainCycles))
		}
		if !any {
			continue
		}
		pv, ok := PaperMassive[pct]
		ps := "–"
		if ok {
			ps = f1(pv)
		}
		fmt.Fprintf(b, "| %d %% | %s |%s\n", pct, ps, row)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// ModelNotes documents what the simulator models, for the report.
func ModelNotes(p Params) string {
	ring := "hash ring off (the core's default)"
	if p.FullRing {
		ring = "hash ring on, ring protection off (protected links would carry payload copies forever)"
	}
	maxPeers := fmt.Sprintf("at most EagerFanout + LazyFanout = %d links (the core's bound when MaxPeers is 0), kept symmetric by its Join/Disconnect handshake; no eager cap beyond it", p.FullEager+p.FullLazy)
	if p.FullMaxPeers > 0 {
		maxPeers = fmt.Sprintf("at most %d", p.FullMaxPeers)
	}
	return fmt.Sprintf(`- Every node runs the real core.Protocol; the simulator only moves its
  Outbound messages, calls Tick at its NextDeadline, and calls AddPeer /
  RemovePeer as the membership layer would.
- Cycle engine: per cycle, failures, one broadcast run until nothing is in
  flight (FIFO rounds of %v virtual time; graft timers and maintenance fire
  when due), then the membership step. One cycle is %v of virtual time.
  IHaves leave on the core's flush timer (200 ms = 200 rounds, after the
  eager push is over); with one broadcast per cycle each carries one id,
  as in the paper.
- Event engine: per-link latency uniform in [%v, %v], plus per-message jitter
  in [0, %v); one broadcast every %v, measured until the membership step
  that ends its cycle; the core's default timers (IHave interval 200 ms,
  batch 64, graft timeout 500 ms, maintenance 2 s ± 0.5 s).
- Paper overlay: a random graph of degree %d (HyParView's active view; fanout
  %d), passive views of %d. Plumtree: EagerFanout %d, all neighbours in the
  active view (LazyFanout %d), no anti-entropy. Flood: every neighbour
  eager, nothing ever pruned, no lazy peers. HyParView is modelled at the
  membership step: failed neighbours are detected (RemovePeer =
  NeighborDown) at the step of the cycle they failed in, lost links are
  replaced from the passive view (high-priority requests when a node has
  no neighbour left), and every node shuffles its passive view (random
  walk of %d hops, %d active + %d passive entries).
- Our overlay: full membership; every node AddPeer's every other node in
  its own random order; the core keeps EagerFanout %d, LazyFanout %d and at
  most %d passive candidates; active view %s; %s; anti-entropy on (core
  default). Failed members are RemovePeer'd by every live node %d cycle(s)
  after they fail (at the membership step).
- Massive failure: the failure cycle sends %d broadcasts from random live
  nodes (the same for every protocol), each run to its end, before the
  membership step; "the first broadcast after the failure" is their mean
  (one broadcast would only tell whether its sender happens to be in the
  largest surviving component). Later cycles have one broadcast each.
- Plumtree prunes on the first duplicate (OptimizationThreshold 1); the
  Algorithm 4 variants use HopOptimizationThreshold N (plumtree-optN,
  plumtree-many-optN; the paper uses 3 for one sender, 7 for many). The
  single sender never fails; failed nodes are picked uniformly among the
  others, the same for every protocol.
- Metrics as the paper defines them: reliability = %% of live nodes that
  deliver; RMR = payload receipts (duplicates included) / (delivering nodes
  − 1) − 1; LDH = hop count of the last delivered copy; control = IHave,
  Graft and Prune messages received during the broadcast (membership-step
  link messages are counted apart).
`, p.RoundLength, p.CycleLength, p.LatencyMin, p.LatencyMax, p.Jitter, p.Interval,
		p.Degree, p.Degree-1, p.PassiveView, p.Degree-1, p.Degree, p.ShuffleWalk, p.ShuffleActive, p.ShufflePassive,
		p.FullEager, p.FullLazy, p.FullPassive, maxPeers, ring, p.DetectionDelay, p.Probes)
}
