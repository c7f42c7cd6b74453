package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// testdata/mixed.json is the real `go test -json ./...` output of three
// packages: a (a passing test of 30 ms, a failing test, a failing subtest),
// b (a test that panics) and c (does not compile).
func parseFile(t *testing.T, name string) *Log {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestParseMixed(t *testing.T) {
	l := parseFile(t, "testdata/mixed.json")
	got := map[string]*Package{}
	for _, p := range l.Packages {
		if got[p.Name] != nil {
			t.Fatalf("package %s listed twice", p.Name)
		}
		got[p.Name] = p
	}
	if len(got) != 3 {
		t.Fatalf("packages %v", l.Packages)
	}
	a, b, c := got["example.com/tl/a"], got["example.com/tl/b"], got["example.com/tl/c"]
	if a == nil || b == nil || c == nil {
		t.Fatalf("packages %v", got)
	}
	for _, p := range []*Package{a, b, c} {
		if !p.Failed() {
			t.Errorf("%s not failed", p.Name)
		}
	}
	failed := map[string]bool{}
	for _, tt := range a.Tests {
		failed[tt.Name] = tt.Failed
	}
	want := map[string]bool{"TestPass": false, "TestFail": true, "TestSub": true, "TestSub/ok": false, "TestSub/bad": true}
	for name, f := range want {
		if v, ok := failed[name]; !ok || v != f {
			t.Errorf("%s: failed=%v (seen %v), want %v", name, v, ok, f)
		}
	}
	if len(c.Output) == 0 || !strings.Contains(strings.Join(c.Output, "\n"), "undefined: undefined") {
		t.Errorf("build error missing: %q", c.Output)
	}
}

func TestWriteShowsEveryFailure(t *testing.T) {
	var buf bytes.Buffer
	if !parseFile(t, "testdata/mixed.json").Write(&buf) {
		t.Fatal("Write reported no failure")
	}
	out := buf.String()
	for _, s := range []string{
		"FAIL  example.com/tl/a", "--- FAIL: TestFail", "boom", "--- FAIL: TestSub/bad", "sub broke",
		"FAIL  example.com/tl/b", "--- FAIL: TestPanics", "assignment to entry in nil map",
		"FAIL  example.com/tl/c", "undefined: undefined",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "=== RUN") || strings.Contains(out, "a_test.go:8: fine") {
		t.Errorf("passing tests' output or markers shown:\n%s", out)
	}
}

func TestWriteFailures(t *testing.T) {
	var buf bytes.Buffer
	if !parseFile(t, "testdata/mixed.json").WriteFailures(&buf) {
		t.Fatal("no failure reported")
	}
	want := map[string]bool{
		"FAIL  example.com/tl/c": true, "FAIL  example.com/tl/a": true, "        TestFail": true,
		"        TestSub/bad": true, "        TestSub": true, "FAIL  example.com/tl/b": true, "        TestPanics": true,
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	for _, s := range lines {
		if !want[s] {
			t.Errorf("unexpected line %q", s)
		}
		delete(want, s)
	}
	if len(want) > 0 {
		t.Errorf("missing %v in:\n%s", want, buf.String())
	}
}

func TestWritePassing(t *testing.T) {
	in := `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:3: chatter\n"}
{"Action":"pass","Package":"p","Test":"TestA","Elapsed":1.5}
{"Action":"output","Package":"p","Output":"ok  \tp\t1.6s\n"}
{"Action":"pass","Package":"p","Elapsed":1.6}
{"Action":"start","Package":"q"}
{"Action":"output","Package":"q","Output":"?   \tq\t[no test files]\n"}
{"Action":"skip","Package":"q","Elapsed":0}
`
	l, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if l.Write(&buf) {
		t.Fatalf("passing log reported as failed:\n%s", buf.String())
	}
	if want := "ok    p 1.6s\nok    q (no tests)\n"; buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
	buf.Reset()
	if l.WriteFailures(&buf) || buf.Len() != 0 {
		t.Fatalf("failures of a passing log: %q", buf.String())
	}
}

// A binary that dies mid-test (timeout, os.Exit) leaves a test without a
// result and the package without one: both count as failures.
func TestUnfinished(t *testing.T) {
	in := `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestHang"}
{"Action":"output","Package":"p","Test":"TestHang","Output":"panic: test timed out after 10m0s\n"}
`
	l, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if !l.Write(&buf) {
		t.Fatal("unfinished package not failed")
	}
	for _, s := range []string{"FAIL  p (no result", "--- FAIL: TestHang", "test timed out", "(did not finish)"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, buf.String())
		}
	}
}

// Lines that are not events (go vet or go list errors before -json
// applies) are shown; without any package they are a failure.
func TestRawLines(t *testing.T) {
	l, err := Parse(strings.NewReader("go: cannot find main module\n\n{not json\n"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if !l.Write(&buf) {
		t.Fatal("raw-only log not failed")
	}
	if !strings.Contains(buf.String(), "cannot find main module") || !strings.Contains(buf.String(), "{not json") {
		t.Fatalf("raw lines missing:\n%s", buf.String())
	}
}

func TestSlowest(t *testing.T) {
	mk := func(pkg string, names ...string) *Log {
		p := &Package{Name: pkg, Result: "pass"}
		for i, n := range names {
			p.Tests = append(p.Tests, &Test{Package: pkg, Name: n, Elapsed: time.Duration(i+1) * time.Second})
		}
		return &Log{Packages: []*Package{p}}
	}
	got := Slowest([]*Log{mk("p", "A", "B", "C"), mk("q", "D", "E")}, 3)
	var names []string
	for _, tt := range got {
		names = append(names, tt.Package+"."+tt.Name)
	}
	if strings.Join(names, " ") != "p.C p.B q.E" {
		t.Fatalf("slowest %v", names)
	}
	if n := len(Slowest([]*Log{mk("p", "A")}, 10)); n != 1 {
		t.Fatalf("%d tests from one", n)
	}
	var buf bytes.Buffer
	WriteSlowest(&buf, got[:1])
	if want := "       3s  ok    p C\n"; buf.String() != want {
		t.Fatalf("got %q want %q", buf.String(), want)
	}
}

// Output is bounded per test: a test that prints without end keeps its
// last lines.
func TestBoundedOutput(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"Action":"run","Package":"p","Test":"T"}` + "\n")
	for range 3 * maxLines {
		b.WriteString(`{"Action":"output","Package":"p","Test":"T","Output":"x\n"}` + "\n")
	}
	b.WriteString(`{"Action":"output","Package":"p","Test":"T","Output":"last\n"}` + "\n")
	b.WriteString(`{"Action":"fail","Package":"p","Test":"T"}` + "\n")
	l, err := Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	out := l.Packages[0].Tests[0].Output
	if len(out) > maxLines || out[len(out)-1] != "last" || !strings.Contains(out[0], "dropped") {
		t.Fatalf("%d lines, first %q last %q", len(out), out[0], out[len(out)-1])
	}
}
