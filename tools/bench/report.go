package main

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// report aggregates the runs: medians per system and N.
type report struct {
	results []result
	cfg     config
	start   time.Time
	end     time.Time
}

func newReport(rs []result, c config, start, end time.Time) *report {
	return &report{results: rs, cfg: c, start: start, end: end}
}

// row is the median over the runs of one system at one N and rate.
type row struct {
	System  string
	N       int
	Rate    float64
	Runs    int // successful runs
	Errors  []string
	Steady  phase
	Burst   *phase
	IdleCPU float64
	IdleB   float64
	// AboveIdle is the median over the runs of the steady phase's CPU per
	// delivery less the run's idle CPU spread over its deliveries
	// (aboveIdle); NaN when no run measured an idle window.
	AboveIdle float64
	Lat       []float64 // all runs' complete-message latencies (CDF)
}

// rows are the main runs' rows (the base rate), N by N.
func (r *report) rows() []row {
	var out []row
	for _, n := range r.cfg.ns {
		for _, sys := range r.cfg.systems {
			out = append(out, r.row(sys, n, r.cfg.base.Rate))
		}
	}
	return out
}

// sweepRows are the rate sweep's rows, rate by rate (none without -rates).
func (r *report) sweepRows() []row {
	var out []row
	for _, rate := range r.cfg.rates {
		for _, sys := range r.cfg.ratesSystems {
			out = append(out, r.row(sys, r.cfg.ratesN, rate))
		}
	}
	return out
}

func (r *report) row(sys string, n int, rate float64) row {
	w := row{System: sys, N: n, Rate: rate}
	var st, bu []phase
	var icpu, ib, above []float64
	for _, res := range r.results {
		if res.Spec.System != sys || res.Spec.N != n || res.Spec.Rate != rate {
			continue
		}
		if res.Error != "" {
			w.Errors = append(w.Errors, res.Error)
			continue
		}
		w.Runs++
		st = append(st, res.Steady)
		w.Lat = append(w.Lat, res.Steady.LatMs...)
		if res.Burst != nil {
			bu = append(bu, *res.Burst)
		}
		icpu = append(icpu, res.IdleCPUms)
		ib = append(ib, res.IdleBytes)
		if x, ok := aboveIdle(res); ok {
			above = append(above, x)
		}
	}
	slices.Sort(w.Lat)
	w.Steady = medianPhase(st)
	if len(bu) > 0 {
		b := medianPhase(bu)
		w.Burst = &b
	}
	w.IdleCPU, w.IdleB = median(icpu), median(ib)
	w.AboveIdle = math.NaN()
	if len(above) > 0 {
		w.AboveIdle = median(above)
	}
	return w
}

// aboveIdle is a run's steady CPU per delivery less what its idle window
// would have spent over the same time (idle CPU per second over the steady
// phase's deliveries per second): the part of the CPU that the messages
// themselves cost, if the background runs on at its idle rate meanwhile.
// False without an idle window or deliveries.
func aboveIdle(res result) (float64, bool) {
	if res.Spec.Idle <= 0 || res.Steady.DelPerSec <= 0 {
		return 0, false
	}
	return res.Steady.CPUusPerDel - 1000*res.IdleCPUms/res.Steady.DelPerSec, true
}

// medianPhase takes the median of every field separately. The latencies
// and the tree depth are over the complete messages, so their medians take
// only the runs that completed one (a run with none has no latency, not
// 0 ms).
func medianPhase(ps []phase) phase {
	f := func(get func(p phase) float64) float64 {
		xs := make([]float64, len(ps))
		for i, p := range ps {
			xs[i] = get(p)
		}
		return median(xs)
	}
	lat := func(get func(p phase) float64) float64 {
		var xs []float64
		for _, p := range ps {
			if p.Complete > 0 {
				xs = append(xs, get(p))
			}
		}
		return median(xs)
	}
	return phase{
		Messages:    int(f(func(p phase) float64 { return float64(p.Messages) })),
		Deliveries:  int64(f(func(p phase) float64 { return float64(p.Deliveries) })),
		Expected:    int64(f(func(p phase) float64 { return float64(p.Expected) })),
		DeliveredPc: f(func(p phase) float64 { return p.DeliveredPc }),
		Complete:    int(f(func(p phase) float64 { return float64(p.Complete) })),
		Duplicates:  int64(f(func(p phase) float64 { return float64(p.Duplicates) })),
		P50ms:       lat(func(p phase) float64 { return p.P50ms }),
		P99ms:       lat(func(p phase) float64 { return p.P99ms }),
		MaxMs:       lat(func(p phase) float64 { return p.MaxMs }),
		RMR:         f(func(p phase) float64 { return p.RMR }),
		Bytes:       int64(f(func(p phase) float64 { return float64(p.Bytes) })),
		BytesPerDel: f(func(p phase) float64 { return p.BytesPerDel }),
		CPUms:       f(func(p phase) float64 { return p.CPUms }),
		CPUusPerDel: f(func(p phase) float64 { return p.CPUusPerDel }),
		CtxSwPerDel: f(func(p phase) float64 { return p.CtxSwPerDel }),
		Seconds:     f(func(p phase) float64 { return p.Seconds }),
		DelPerSec:   f(func(p phase) float64 { return p.DelPerSec }),
		LDH:         lat(func(p phase) float64 { return p.LDH }),
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// paired is a system's ratio to the bound run by run: each run of the
// system at N and a rate against the unicast run with the same N, rate and
// run index (the same seed, in the same round: runs are the outer loop),
// and the median of those ratios. Comparing within a round keeps a change
// of the machine's pace between rounds out of the ratio; the ratio of the
// medians mixes rounds.
type paired struct {
	runs []float64 // in run order, runs where both succeeded
	med  float64
}

func (r *report) paired(sys string, n int, rate float64, get func(p phase) float64) (paired, bool) {
	find := func(sys string, run int) *result {
		for i := range r.results {
			res := &r.results[i]
			if res.Spec.System == sys && res.Spec.N == n && res.Spec.Rate == rate && res.Spec.Run == run && res.Error == "" {
				return res
			}
		}
		return nil
	}
	var pr paired
	for run := range r.cfg.runs {
		s, u := find(sys, run), find("unicast", run)
		if s == nil || u == nil || get(s.Steady) <= 0 || get(u.Steady) <= 0 {
			continue
		}
		pr.runs = append(pr.runs, get(s.Steady)/get(u.Steady))
	}
	if len(pr.runs) == 0 {
		return pr, false
	}
	pr.med = median(pr.runs)
	return pr, true
}

func (pr paired) String() string { return fmt.Sprintf("%.2f×", pr.med) }

// ratioCell is a table's cell for a row's ratio to the bound (paired): the
// median, with the runs' ratios when detail is set; "–" without a pair.
func (r *report) ratioCell(w row, get func(p phase) float64, detail bool) string {
	pr, ok := r.paired(w.System, w.N, w.Rate, get)
	switch {
	case !ok:
		return "–"
	case detail:
		return pr.detail()
	}
	return pr.String()
}

// detail lists the runs' ratios after the median.
func (pr paired) detail() string {
	if len(pr.runs) < 2 {
		return pr.String()
	}
	rs := make([]string, len(pr.runs))
	for i, x := range pr.runs {
		rs[i] = fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%s (runs %s)", pr, strings.Join(rs, ", "))
}

func p99Of(p phase) float64   { return p.P99ms }
func cpuOf(p phase) float64   { return p.CPUusPerDel }
func bytesOf(p phase) float64 { return p.BytesPerDel }

func f1(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }
func f2(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) }

// latCells renders a phase's p50, p99 and max: "–" when no run completed a
// message (then medianPhase leaves the latencies at 0, which would read as
// instant).
func latCells(p phase) (p50, p99, mx string) {
	if p.Complete == 0 && p.MaxMs == 0 {
		return "–", "–", "–"
	}
	return f2(p.P50ms), f2(p.P99ms), f2(p.MaxMs)
}

// markdown renders the tables.
func (r *report) markdown() string {
	rows := r.rows()
	var b strings.Builder
	s := r.cfg.base
	fmt.Fprintf(&b, "Steady: %d messages of %d B at %g msg/s from random origins after %d warm-up messages; medians of %d run(s).\n\n",
		s.Count, s.Size, s.Rate, s.Warmup, r.cfg.runs)
	b.WriteString("| system | N | delivered % | complete | dup | p50 ms | p99 ms | max ms | RMR | bytes / delivery | CPU µs / delivery | p99 / bound | bytes / bound | CPU / bound | idle CPU ms/s | idle B/s |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range rows {
		if w.Runs == 0 {
			fmt.Fprintf(&b, "| %s | %d | failed: %s |||||||||||||||\n", w.System, w.N, firstLine(w.Errors))
			continue
		}
		p := w.Steady
		p99b, bb, cb := r.ratioCell(w, p99Of, false), r.ratioCell(w, bytesOf, false), r.ratioCell(w, cpuOf, false)
		p50, p99, mx := latCells(p)
		fmt.Fprintf(&b, "| %s | %d | %s | %d/%d | %d | %s | %s | %s | %s | %.0f | %.0f | %s | %s | %s | %s | %.0f |\n",
			w.System, w.N, f2(p.DeliveredPc), p.Complete, p.Messages, p.Duplicates, p50, p99, mx,
			f2(p.RMR), p.BytesPerDel, p.CPUusPerDel, p99b, bb, cb, f1(w.IdleCPU), w.IdleB)
	}
	var depth []string
	for _, w := range rows {
		if w.Runs > 0 && w.Steady.LDH > 0 {
			depth = append(depth, fmt.Sprintf("%s at N = %d: %s", w.System, w.N, f1(w.Steady.LDH)))
		}
	}
	if len(depth) > 0 {
		fmt.Fprintf(&b, "\nTree depth (hops from the origin to the last node, median over the messages; medians of the runs): %s.\n", strings.Join(depth, "; "))
	}
	if s.Burst > 0 {
		fmt.Fprintf(&b, "\nBurst: %d messages published back to back from random origins after the steady phase.\n\n", s.Burst)
		b.WriteString("| system | N | delivered % | complete | dup | deliveries/s | p50 ms | p99 ms | max ms | RMR | bytes / delivery | CPU µs / delivery |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, w := range rows {
			if w.Burst == nil {
				continue
			}
			p := *w.Burst
			p50, p99, mx := latCells(p)
			fmt.Fprintf(&b, "| %s | %d | %s | %d/%d | %d | %.0f | %s | %s | %s | %s | %.0f | %.0f |\n",
				w.System, w.N, f2(p.DeliveredPc), p.Complete, p.Messages, p.Duplicates, p.DelPerSec, p50, p99, mx,
				f2(p.RMR), p.BytesPerDel, p.CPUusPerDel)
		}
	}
	b.WriteString(r.sweepMarkdown())
	var errs []string
	for _, res := range r.results {
		if res.Error != "" {
			errs = append(errs, fmt.Sprintf("- %s N=%d %g msg/s run %d: %s", res.Spec.System, res.Spec.N, res.Spec.Rate, res.Spec.Run+1, res.Error))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\nFailed runs:\n\n" + strings.Join(errs, "\n") + "\n")
	}
	return b.String()
}

// sweepMarkdown renders the rate sweep (empty without one): per rate and
// system the steady phase's medians, and the CPU and p99 ratios to the
// bound run by run.
func (r *report) sweepMarkdown() string {
	rows := r.sweepRows()
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	s := r.cfg.base
	fmt.Fprintf(&b, "\nRate sweep at N = %d: the steady phase at each rate, as long as %d messages at %g msg/s take (at least %d messages), no burst; medians of %d run(s). CPU / bound gives the runs' ratios. Above idle: CPU per delivery less the run's idle CPU per second over its deliveries per second.\n\n",
		r.cfg.ratesN, s.Count, s.Rate, s.Count, r.cfg.runs)
	b.WriteString("| msg/s | system | messages | delivered % | dup | p50 ms | p99 ms | CPU µs / delivery | above idle | idle CPU ms/s | context switches / delivery | p99 / bound | CPU / bound |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range rows {
		if w.Runs == 0 {
			fmt.Fprintf(&b, "| %g | %s | failed: %s |||||||||||\n", w.Rate, w.System, firstLine(w.Errors))
			continue
		}
		p := w.Steady
		p99b, cb := r.ratioCell(w, p99Of, false), r.ratioCell(w, cpuOf, true)
		above, idle := "–", "–"
		if !math.IsNaN(w.AboveIdle) {
			above, idle = fmt.Sprintf("%.0f", w.AboveIdle), f1(w.IdleCPU)
		}
		p50, p99, _ := latCells(p)
		fmt.Fprintf(&b, "| %g | %s | %d | %s | %d | %s | %s | %.0f | %s | %s | %s | %s | %s |\n",
			w.Rate, w.System, p.Messages, f2(p.DeliveredPc), p.Duplicates, p50, p99, p.CPUusPerDel, above, idle, f2(p.CtxSwPerDel), p99b, cb)
	}
	return b.String()
}

func firstLine(errs []string) string {
	if len(errs) == 0 {
		return ""
	}
	l, _, _ := strings.Cut(errs[0], "\n")
	return strings.ReplaceAll(l, "|", "/")
}

// write puts the report into dir: summary.md, results.json, results.csv and
// the plots.
func (r *report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	host, _ := os.Hostname()
	var md strings.Builder
	fmt.Fprintf(&md, "# Benchmark report\n\nDate: %s (%.0f s). Machine: %s, %d CPUs, %s/%s, %s.\n\nCommand: `go run ./bench %s`\n\n",
		r.start.UTC().Format(time.RFC3339), r.end.Sub(r.start).Seconds(), host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), strings.Join(r.args(), " "))
	md.WriteString(r.markdown())
	md.WriteString("\n![latency CDF](latency_cdf.png)\n\n![bytes per delivery](bytes_per_delivery.png)\n\n![CPU per delivery](cpu_per_delivery.png)\n")
	if len(r.cfg.rates) > 0 {
		md.WriteString("\n![CPU per delivery against the rate](cpu_vs_rate.png)\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r.results, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644); err != nil {
		return err
	}
	if err := r.writeCSV(filepath.Join(dir, "results.csv")); err != nil {
		return err
	}
	return r.plots(dir)
}

// args reconstructs the command line of this report's configuration.
func (r *report) args() []string {
	s := r.cfg.base
	args := []string{"-n", joinInts(r.cfg.ns), "-runs", strconv.Itoa(r.cfg.runs), "-count", strconv.Itoa(s.Count),
		"-size", strconv.Itoa(s.Size), "-rate", strconv.FormatFloat(s.Rate, 'g', -1, 64), "-warmup", strconv.Itoa(s.Warmup),
		"-burst", strconv.Itoa(s.Burst), "-idle", s.Idle.String(), "-settle", s.Settle.String(), "-stall", s.Stall.String(), "-drain", s.Drain.String(), "-seed", strconv.FormatInt(s.Seed, 10), "-systems", strings.Join(r.cfg.systems, ",")}
	if len(r.cfg.burstAt) > 0 {
		args = append(args, "-burst-at", joinInts(r.cfg.burstAt))
	}
	if r.cfg.awake {
		args = append(args, "-keep-awake")
	}
	if len(r.cfg.rates) > 0 {
		rs := make([]string, len(r.cfg.rates))
		for i, x := range r.cfg.rates {
			rs[i] = strconv.FormatFloat(x, 'g', -1, 64)
		}
		args = append(args, "-rates", strings.Join(rs, ","), "-rates-n", strconv.Itoa(r.cfg.ratesN), "-rates-systems", strings.Join(r.cfg.ratesSystems, ","))
	}
	return args
}

func (r *report) writeCSV(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"system", "n", "rate", "run", "seed", "phase", "messages", "deliveries", "expected", "delivered_pct", "complete", "duplicates",
		"p50_ms", "p99_ms", "max_ms", "rmr", "bytes", "bytes_per_delivery", "cpu_ms", "cpu_us_per_delivery", "seconds", "deliveries_per_s",
		"idle_cpu_ms_per_s", "idle_bytes_per_s", "error"})
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	for _, res := range r.results {
		put := func(name string, p phase) {
			_ = w.Write([]string{res.Spec.System, strconv.Itoa(res.Spec.N), g(res.Spec.Rate), strconv.Itoa(res.Spec.Run), strconv.FormatInt(res.Spec.Seed, 10), name,
				strconv.Itoa(p.Messages), strconv.FormatInt(p.Deliveries, 10), strconv.FormatInt(p.Expected, 10), g(p.DeliveredPc),
				strconv.Itoa(p.Complete), strconv.FormatInt(p.Duplicates, 10), g(p.P50ms), g(p.P99ms), g(p.MaxMs), g(p.RMR),
				strconv.FormatInt(p.Bytes, 10), g(p.BytesPerDel), g(p.CPUms), g(p.CPUusPerDel), g(p.Seconds), g(p.DelPerSec),
				g(res.IdleCPUms), g(res.IdleBytes), res.Error})
		}
		put("steady", res.Steady)
		if res.Burst != nil {
			put("burst", *res.Burst)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// plots: the latency CDF (per N one panel file, the largest N as
// latency_cdf.png), bytes and CPU per delivery against N.
func (r *report) plots(dir string) error {
	rows := r.rows()
	for i, n := range r.cfg.ns {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("Publish → last node, N = %d (steady)", n)
		p.X.Label.Text = "ms"
		p.Y.Label.Text = "fraction of messages"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		k := 0
		for _, w := range rows {
			if w.N != n || len(w.Lat) == 0 {
				continue
			}
			pts := make(plotter.XYs, 0, len(w.Lat))
			for j, x := range w.Lat {
				pts = append(pts, plotter.XY{X: max(x, 0.01), Y: float64(j+1) / float64(len(w.Lat))})
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return err
			}
			l.Color = plotutil.Color(k)
			l.Width = vg.Points(1.5)
			p.Add(l)
			p.Legend.Add(w.System, l)
			k++
		}
		p.Legend.Top, p.Legend.Left = false, false
		p.Legend.YOffs = vg.Points(20)
		name := fmt.Sprintf("latency_cdf_n%d.png", n)
		if err := p.Save(7*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, name)); err != nil {
			return err
		}
		if i == len(r.cfg.ns)-1 {
			if err := p.Save(7*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, "latency_cdf.png")); err != nil {
				return err
			}
		}
	}
	vsN := func(file, title, ylabel string, get func(phase) float64) error {
		return linePlot(filepath.Join(dir, file), title, "N", ylabel, r.cfg.systems, func(sys string) plotter.XYs {
			var pts plotter.XYs
			for _, w := range rows {
				if w.System == sys && w.Runs > 0 && w.Steady.Deliveries > 0 {
					pts = append(pts, plotter.XY{X: float64(w.N), Y: get(w.Steady)})
				}
			}
			return pts
		})
	}
	if len(r.cfg.rates) > 0 {
		if err := r.plotRates(dir); err != nil {
			return err
		}
	}
	if err := vsN("bytes_per_delivery.png", "Bytes on the wire per delivery (steady)", "bytes", func(p phase) float64 { return p.BytesPerDel }); err != nil {
		return err
	}
	return vsN("cpu_per_delivery.png", "Whole-process CPU per delivery (steady)", "µs", func(p phase) float64 { return p.CPUusPerDel })
}

// plotRates draws the rate sweep: CPU per delivery against the rate, a
// line per system.
func (r *report) plotRates(dir string) error {
	rows := r.sweepRows()
	title := fmt.Sprintf("Whole-process CPU per delivery against the rate, N = %d (steady)", r.cfg.ratesN)
	return linePlot(filepath.Join(dir, "cpu_vs_rate.png"), title, "messages per second", "µs", r.cfg.ratesSystems, func(sys string) plotter.XYs {
		var pts plotter.XYs
		for _, w := range rows {
			if w.System == sys && w.Runs > 0 && w.Steady.Deliveries > 0 {
				pts = append(pts, plotter.XY{X: w.Rate, Y: w.Steady.CPUusPerDel})
			}
		}
		slices.SortFunc(pts, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		return pts
	})
}

// linePlot saves a plot with a line of points per system (systems without
// points are left out), y from 0.
func linePlot(path, title, xlabel, ylabel string, systems []string, points func(sys string) plotter.XYs) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	for k, sys := range systems {
		pts := points(sys)
		if len(pts) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, s.Color = plotutil.Color(k), plotutil.Color(k)
		s.Shape = plotutil.Shape(k)
		p.Add(l, s)
		p.Legend.Add(sys, l, s)
	}
	p.Legend.Top = true
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
