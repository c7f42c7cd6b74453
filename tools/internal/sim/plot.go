package sim

import (
	"fmt"
	"image/color"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

type seriesLine struct {
	label  string
	xys    plotter.XYs
	dashed bool
	points bool
}

func savePlot(path, title, xlabel, ylabel string, lines []seriesLine, ymin, ymax float64, legendBottom bool) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = !legendBottom
	p.Legend.Left = legendBottom
	for i, l := range lines {
		if len(l.xys) == 0 {
			continue
		}
		ln, err := plotter.NewLine(l.xys)
		if err != nil {
			return err
		}
		ln.LineStyle.Color = plotutil.Color(i)
		ln.LineStyle.Width = vg.Points(1.2)
		if l.dashed {
			ln.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			ln.LineStyle.Color = color.Gray{Y: 60}
		}
		p.Add(ln)
		if l.points {
			sc, err := plotter.NewScatter(l.xys)
			if err != nil {
				return err
			}
			sc.GlyphStyle.Color = ln.LineStyle.Color
			sc.GlyphStyle.Shape = plotutil.Shape(i)
			p.Add(sc)
			p.Legend.Add(l.label, ln, sc)
		} else {
			p.Legend.Add(l.label, ln)
		}
	}
	if ymax > ymin {
		p.Y.Min, p.Y.Max = ymin, ymax
	} else {
		// Leave room above the data for the legend.
		p.Y.Max = p.Y.Min + 1.35*(p.Y.Max-p.Y.Min)
	}
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}

// WritePlots writes the PNG figures into dir and returns their file names:
// RMR and LDH per cycle of the stable runs (one figure per overlay, like
// the paper's Fig. 2), reliability of the first broadcast after a massive
// failure against the failure percentage (Fig. 6a), and RMR per cycle
// around a massive failure. Only the cycle engine's runs are plotted.
func WritePlots(dir string, rs Results) ([]string, error) {
	var files []string
	for _, ov := range []Overlay{OverlayPaper, OverlayFull} {
		var rmr, ldh []seriesLine
		for _, r := range rs {
			if r.Engine != string(EngineCycle) || r.Overlay != string(ov) || r.Scenario != "stable" {
				continue
			}
			var a, b plotter.XYs
			for _, pt := range r.Series {
				a = append(a, plotter.XY{X: float64(pt.Cycle), Y: pt.RMR})
				b = append(b, plotter.XY{X: float64(pt.Cycle), Y: float64(pt.LDH)})
			}
			rmr = append(rmr, seriesLine{label: r.Protocol, xys: a})
			ldh = append(ldh, seriesLine{label: r.Protocol, xys: b})
		}
		if len(rmr) == 0 {
			continue
		}
		name := "rmr-stable-" + string(ov) + ".png"
		if err := savePlot(filepath.Join(dir, name), fmt.Sprintf("RMR per cycle, stable, %s overlay", ov), "cycle", "RMR", rmr, 0, 0, false); err != nil {
			return files, err
		}
		files = append(files, name)
		name = "ldh-stable-" + string(ov) + ".png"
		if err := savePlot(filepath.Join(dir, name), fmt.Sprintf("LDH per cycle, stable, %s overlay", ov), "cycle", "last delivery hop", ldh, 0, 0, false); err != nil {
			return files, err
		}
		files = append(files, name)
	}

	// Reliability vs failure percentage.
	var rel []seriesLine
	var paper plotter.XYs
	for pct := 10; pct <= 90; pct += 10 {
		paper = append(paper, plotter.XY{X: float64(pct), Y: PaperMassive[pct]})
	}
	rel = append(rel, seriesLine{label: "paper (Fig. 6a)", xys: paper, dashed: true, points: true})
	type key struct{ overlay, proto string }
	var keys []key
	byKey := map[key]plotter.XYs{}
	for _, r := range rs {
		if r.Engine != string(EngineCycle) || r.FailPct == 0 {
			continue
		}
		k := key{r.Overlay, r.Protocol}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], plotter.XY{X: float64(r.FailPct), Y: r.Reliability})
	}
	for _, k := range keys {
		xys := byKey[k]
		sortXY(xys)
		rel = append(rel, seriesLine{label: k.overlay + "/" + k.proto, xys: xys, points: true})
	}
	if len(keys) > 0 {
		name := "reliability-vs-failure.png"
		if err := savePlot(filepath.Join(dir, name), "Reliability of the first broadcasts after a massive failure", "failed nodes (%)", "reliability (%)", rel, -2, 102, true); err != nil {
			return files, err
		}
		files = append(files, name)
	}

	// RMR around a massive failure.
	for _, pct := range []int{50, 90} {
		var lines []seriesLine
		for _, r := range rs {
			if r.Engine != string(EngineCycle) || r.FailPct != pct || len(r.Series) == 0 {
				continue
			}
			var xys plotter.XYs
			for _, pt := range r.Series[min(40, len(r.Series)):] {
				xys = append(xys, plotter.XY{X: float64(pt.Cycle - 50), Y: pt.RMR})
			}
			lines = append(lines, seriesLine{label: r.Overlay + "/" + r.Protocol, xys: xys})
		}
		if len(lines) == 0 {
			continue
		}
		name := "rmr-massive-" + strconv.Itoa(pct) + ".png"
		if err := savePlot(filepath.Join(dir, name), fmt.Sprintf("RMR per cycle around a %d %% failure (cycle 0)", pct), "cycles after the failure", "RMR", lines, 0, 0, false); err != nil {
			return files, err
		}
		files = append(files, name)
	}
	return files, nil
}

func sortXY(xys plotter.XYs) {
	for i := 1; i < len(xys); i++ {
		for j := i; j > 0 && xys[j].X < xys[j-1].X; j-- {
			xys[j], xys[j-1] = xys[j-1], xys[j]
		}
	}
}
