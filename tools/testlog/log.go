package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail events
	Test       string
	Elapsed    float64 // seconds, on pass/fail/skip
	Output     string
}

// Test is the result of one test or subtest.
type Test struct {
	Package string
	Name    string
	Elapsed time.Duration
	Failed  bool
	Output  []string // its output lines, without the === RUN/PAUSE/CONT markers
}

// Package is the result of one package.
type Package struct {
	Name    string
	Result  string // "pass", "fail", "skip" or "" if the stream ends without one
	Elapsed time.Duration
	Output  []string // output not attributed to a test (panics, leaks, build errors)
	Tests   []*Test  // in the order they finished
}

// Log is one `go test -json` stream.
type Log struct {
	Packages []*Package // in the order they first appear
	Raw      []string   // lines that were not JSON events
}

// maxLines bounds the lines kept per test or package, so that a test that
// prints without end cannot exhaust memory; the last lines are kept.
const maxLines = 2000

func appendLine(lines []string, s string) []string {
	if len(lines) >= maxLines {
		lines = append(lines[:0], lines[len(lines)-maxLines/2:]...)
		lines[0] = "... (earlier output dropped)"
	}
	return append(lines, s)
}

// Parse reads one stream. Lines that are not events are kept in Raw.
func Parse(r io.Reader) (*Log, error) {
	l := &Log{}
	pkgs := map[string]*Package{}
	running := map[[2]string]*Test{}
	pkg := func(name string) *Package {
		p := pkgs[name]
		if p == nil {
			p = &Package{Name: name}
			pkgs[name] = p
			l.Packages = append(l.Packages, p)
		}
		return p
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		var e event
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil || (e.Package == "" && e.ImportPath == "") {
			if strings.TrimSpace(line) != "" {
				l.Raw = appendLine(l.Raw, line)
			}
			continue
		}
		// A test binary's build is named "pkg [pkg.test]".
		if i := strings.Index(e.ImportPath, " ["); i > 0 {
			e.ImportPath = e.ImportPath[:i]
		}
		switch e.Action {
		case "build-output":
			p := pkg(e.ImportPath)
			p.Output = appendLine(p.Output, strings.TrimRight(e.Output, "\n"))
			continue
		case "build-fail":
			p := pkg(e.ImportPath)
			p.Result = "fail"
			continue
		}
		p := pkg(e.Package)
		if e.Test == "" {
			switch e.Action {
			case "output":
				p.Output = appendLine(p.Output, strings.TrimRight(e.Output, "\n"))
			case "pass", "fail", "skip":
				p.Result = e.Action
				p.Elapsed = seconds(e.Elapsed)
			}
			continue
		}
		key := [2]string{e.Package, e.Test}
		t := running[key]
		if t == nil {
			t = &Test{Package: e.Package, Name: e.Test}
			running[key] = t
		}
		switch e.Action {
		case "output":
			if !isMarker(e.Output) {
				t.Output = appendLine(t.Output, strings.TrimRight(e.Output, "\n"))
			}
		case "pass", "fail", "skip":
			t.Failed = e.Action == "fail"
			t.Elapsed = seconds(e.Elapsed)
			p.Tests = append(p.Tests, t)
			delete(running, key)
		}
	}
	// Tests that never finished (a panic or a timeout ended the binary)
	// are reported as failed with what they printed.
	for _, p := range l.Packages {
		for key, t := range running {
			if key[0] == p.Name {
				t.Failed = true
				t.Output = appendLine(t.Output, "(did not finish)")
				p.Tests = append(p.Tests, t)
			}
		}
	}
	return l, sc.Err()
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func isMarker(s string) bool {
	for _, m := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(s, m) {
			return true
		}
	}
	return false
}

// Failed reports whether the package failed or has no result.
func (p *Package) Failed() bool { return p.Result != "pass" && p.Result != "skip" }

// Write prints one line per package and, for each failure, what explains
// it. It reports whether anything failed.
func (l *Log) Write(w io.Writer) bool {
	failed := false
	for _, p := range l.Packages {
		if !p.Failed() {
			if p.Result == "skip" || len(p.Tests) == 0 {
				fmt.Fprintf(w, "ok    %s (no tests)\n", p.Name)
			} else {
				fmt.Fprintf(w, "ok    %s %s\n", p.Name, round(p.Elapsed))
			}
			continue
		}
		failed = true
		if p.Result == "" {
			fmt.Fprintf(w, "FAIL  %s (no result: crashed, timed out or did not build)\n", p.Name)
		} else {
			fmt.Fprintf(w, "FAIL  %s %s\n", p.Name, round(p.Elapsed))
		}
		anyTest := false
		for _, t := range p.Tests {
			if !t.Failed {
				continue
			}
			anyTest = true
			fmt.Fprintf(w, "  --- FAIL: %s (%s)\n", t.Name, round(t.Elapsed))
			for _, s := range t.Output {
				if strings.HasPrefix(strings.TrimSpace(s), "--- FAIL: "+t.Name+" ") {
					continue
				}
				fmt.Fprintf(w, "    %s\n", s)
			}
		}
		// Package output matters when no test explains the failure
		// (build error, panic outside a test, TestMain's leak check) and
		// is noise otherwise (FAIL/exit status lines).
		for _, s := range p.Output {
			if anyTest && (s == "FAIL" || strings.HasPrefix(s, "FAIL\t") || strings.HasPrefix(s, "exit status ")) {
				continue
			}
			if s == "PASS" || strings.HasPrefix(s, "ok  \t") {
				continue
			}
			fmt.Fprintf(w, "    %s\n", s)
		}
	}
	if len(l.Raw) > 0 {
		for _, s := range l.Raw {
			fmt.Fprintf(w, "  %s\n", s)
		}
		// Raw lines without any package result are a failure before the
		// tests ran (go list or the build failed outside -json).
		if len(l.Packages) == 0 {
			failed = true
		}
	}
	return failed
}

// WriteFailures prints each failed package and, under it, its failed
// tests, one a line. It reports whether anything failed.
func (l *Log) WriteFailures(w io.Writer) bool {
	failed := false
	for _, p := range l.Packages {
		if !p.Failed() {
			continue
		}
		failed = true
		fmt.Fprintf(w, "FAIL  %s\n", p.Name)
		for _, t := range p.Tests {
			if t.Failed {
				fmt.Fprintf(w, "        %s\n", t.Name)
			}
		}
	}
	if len(l.Packages) == 0 && len(l.Raw) > 0 {
		failed = true
		fmt.Fprintf(w, "FAIL  (no test ran) %s\n", l.Raw[0])
	}
	return failed
}

// Slowest returns the n slowest tests (subtests included) of the logs.
func Slowest(logs []*Log, n int) []*Test {
	var all []*Test
	for _, l := range logs {
		for _, p := range l.Packages {
			all = append(all, p.Tests...)
		}
	}
	slices.SortStableFunc(all, func(a, b *Test) int {
		if a.Elapsed != b.Elapsed {
			if a.Elapsed > b.Elapsed {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Package+" "+a.Name, b.Package+" "+b.Name)
	})
	return all[:min(n, len(all))]
}

// WriteSlowest prints tests as a table: duration, result, package, name.
func WriteSlowest(w io.Writer, tests []*Test) {
	for _, t := range tests {
		res := "ok  "
		if t.Failed {
			res = "FAIL"
		}
		fmt.Fprintf(w, "%9s  %s  %s %s\n", round(t.Elapsed), res, t.Package, t.Name)
	}
}

func round(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
