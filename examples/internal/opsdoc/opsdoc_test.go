package opsdoc

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	metricsprom "github.com/plumtree-go/plumtree/metrics-prom"
)

// root is the repository's root, seen from this package's folder.
const root = "../../.."

const guidePath = "docs/operations.md"

// guide returns docs/operations.md and its sections by "## " heading.
func guide(t *testing.T) (string, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, guidePath))
	if err != nil {
		t.Fatalf("the operations guide: %v", err)
	}
	text := string(data)
	sections := map[string]string{}
	parts := strings.Split("\n"+text, "\n## ")
	for _, p := range parts[1:] {
		title, body, _ := strings.Cut(p, "\n")
		sections[strings.TrimSpace(title)] = body
	}
	return text, sections
}

func section(t *testing.T, sections map[string]string, title string) string {
	t.Helper()
	s, ok := sections[title]
	if !ok {
		t.Fatalf("%s has no \"## %s\" section", guidePath, title)
	}
	return s
}

// configFields returns the fields of core.Config, with the fields of nested
// structs as Parent.Field, and the snake_case name GET /config shows each
// under.
func configFields() map[string]string {
	fields := map[string]string{}
	var walk func(typ, report reflect.Type, prefix, snakePrefix string)
	walk = func(typ, report reflect.Type, prefix, snakePrefix string) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			snake := ""
			var rf reflect.StructField
			ok := false
			if report != nil {
				rf, ok = report.FieldByName(f.Name)
				if ok {
					snake = snakePrefix + strings.Split(rf.Tag.Get("json"), ",")[0]
				}
			}
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == typ.PkgPath() {
				var sub reflect.Type
				if ok {
					sub = rf.Type
				}
				walk(f.Type, sub, prefix+f.Name+".", snake+".")
				continue
			}
			fields[prefix+f.Name] = snake
		}
	}
	walk(reflect.TypeOf(core.Config{}), reflect.TypeOf(node.ConfigReport{}), "", "")
	return fields
}

// TestGuideDocumentsEveryConfigField: every field of core.Config has a row
// in the guide's configuration table, and every row names a field.
func TestGuideDocumentsEveryConfigField(t *testing.T) {
	_, sections := guide(t)
	body := section(t, sections, "Configuration")
	rowName := regexp.MustCompile("(?m)^\\| `([A-Za-z.]+)`")
	documented := map[string]bool{}
	for _, m := range rowName.FindAllStringSubmatch(body, -1) {
		documented[m[1]] = true
	}
	fields := configFields()
	names := make([]string, 0, len(fields))
	for f := range fields {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		if !documented[f] {
			snake := fields[f]
			if snake == "" {
				snake = "its GET /config name (node.ConfigReport)"
			}
			t.Errorf("core.Config field %s is not documented: add a row to the table under \"## Configuration\" in %s:\n"+
				"| `%s` (`%s`) | unit | default / LAN / WAN / large | trade-off |", f, guidePath, f, snake)
		}
	}
	for f := range documented {
		if _, ok := fields[f]; !ok {
			t.Errorf("%s documents config field %s, which core.Config does not have: remove or rename its row under \"## Configuration\"", guidePath, f)
		}
	}
}

// TestGuideDocumentsEveryMetric: every metric metrics-prom exports is in the
// guide's metrics section, and every plumtree_* name the guide uses is
// exported.
func TestGuideDocumentsEveryMetric(t *testing.T) {
	text, sections := guide(t)
	body := section(t, sections, "Metrics")
	exported := metricsprom.MetricNames()
	rowName := regexp.MustCompile("(?m)^\\| `(plumtree_[a-z0-9_]+)`")
	documented := map[string]bool{}
	for _, m := range rowName.FindAllStringSubmatch(body, -1) {
		documented[m[1]] = true
	}
	for _, n := range exported {
		if !documented[n] {
			t.Errorf("metric %s (metrics-prom) is not documented: add a row to a table under \"## Metrics\" in %s:\n"+
				"| `%s` | type | meaning | alert or query that uses it (or –) |", n, guidePath, n)
		}
	}
	// Every plumtree_* name anywhere in the guide is exported (histogram
	// series add _bucket, _sum and _count).
	anyName := regexp.MustCompile(`plumtree_[a-z0-9_]*[a-z0-9]`)
	for _, n := range anyName.FindAllString(text, -1) {
		base := n
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suf); ok && slices.Contains(exported, b) {
				base = b
			}
		}
		if !slices.Contains(exported, base) {
			t.Errorf("%s names metric %s, which metrics-prom does not export", guidePath, n)
		}
	}
}

// logLine is a log message found in the code. Variable parts are {}.
type logLine struct {
	level string // DEBUG, INFO, WARN, ERROR; "" when the level is a variable
	text  string
	pos   string
}

var placeholder = regexp.MustCompile(`\{[A-Za-z_]*\}`)

// normalize turns every {name} into {}.
func normalize(s string) string { return placeholder.ReplaceAllString(s, "{}") }

var verb = regexp.MustCompile(`%[-+# 0-9.*]*[a-zA-Z]`)

// codeLogLines finds the log messages of every module: calls of a logger's
// Debug, Info, Warn, Error or Log whose message is built from string
// literals (literals, constants, concatenations, fmt.Sprintf formats,
// variables assigned literals in the function).
func codeLogLines(t *testing.T) []logLine {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	var mods []string
	for _, m := range regexp.MustCompile(`(?m)^\s*\./([A-Za-z0-9_.-]+)`).FindAllStringSubmatch(string(data), -1) {
		mods = append(mods, m[1])
	}
	if len(mods) == 0 {
		t.Fatal("go.work uses no module")
	}
	var lines []logLine
	for _, mod := range mods {
		dirs := map[string][]string{}
		err := filepath.WalkDir(filepath.Join(root, mod), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				dirs[filepath.Dir(p)] = append(dirs[filepath.Dir(p)], p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, files := range dirs {
			lines = append(lines, packageLogLines(t, files)...)
		}
	}
	return lines
}

func packageLogLines(t *testing.T, files []string) []logLine {
	fset := token.NewFileSet()
	var parsed []*ast.File
	consts := map[string]string{}
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, af)
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[n.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	var out []logLine
	for _, af := range parsed {
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			// Variables assigned string literals in this function.
			locals := map[string][]string{}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				as, ok := n.(*ast.AssignStmt)
				if !ok {
					return true
				}
				for i, l := range as.Lhs {
					id, ok := l.(*ast.Ident)
					if !ok || i >= len(as.Rhs) {
						continue
					}
					if lit, ok := as.Rhs[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						locals[id.Name] = append(locals[id.Name], s)
					}
				}
				return true
			})
			var resolve func(e ast.Expr) []string
			resolve = func(e ast.Expr) []string {
				switch e := e.(type) {
				case *ast.BasicLit:
					if e.Kind == token.STRING {
						s, _ := strconv.Unquote(e.Value)
						return []string{s}
					}
				case *ast.Ident:
					if s, ok := consts[e.Name]; ok {
						return []string{s}
					}
					return locals[e.Name]
				case *ast.BinaryExpr:
					if e.Op != token.ADD {
						return nil
					}
					l, r := resolve(e.X), resolve(e.Y)
					if l == nil && r == nil {
						return nil
					}
					if l == nil {
						l = []string{"{}"}
					}
					if r == nil {
						r = []string{"{}"}
					}
					var all []string
					for _, a := range l {
						for _, b := range r {
							all = append(all, a+b)
						}
					}
					return all
				case *ast.CallExpr:
					sel, ok := e.Fun.(*ast.SelectorExpr)
					if !ok || len(e.Args) == 0 {
						return nil
					}
					pkg, _ := sel.X.(*ast.Ident)
					switch {
					case pkg != nil && pkg.Name == "fmt" && sel.Sel.Name == "Sprintf":
						var all []string
						for _, f := range resolve(e.Args[0]) {
							all = append(all, verb.ReplaceAllString(f, "{}"))
						}
						return all
					case pkg != nil && pkg.Name == "strings" && (sel.Sel.Name == "Replace" || sel.Sel.Name == "ReplaceAll"):
						return resolve(e.Args[0])
					}
				}
				return nil
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				var msg ast.Expr
				level := ""
				switch sel.Sel.Name {
				case "Debug", "Info", "Warn", "Error":
					if len(call.Args) == 0 {
						return true
					}
					msg, level = call.Args[0], strings.ToUpper(sel.Sel.Name)
				case "Log":
					if len(call.Args) < 3 {
						return true
					}
					if pkg, _ := sel.X.(*ast.Ident); pkg != nil && pkg.Name == "trace" {
						return true // runtime/trace's user events (tools/bench -trace marks messages), not log lines
					}
					msg = call.Args[2]
					if ls, ok := call.Args[1].(*ast.SelectorExpr); ok {
						level = strings.ToUpper(strings.TrimPrefix(ls.Sel.Name, "Level"))
					}
				default:
					return true
				}
				for _, s := range resolve(msg) {
					if !regexp.MustCompile(`[A-Za-z]{2}`).MatchString(placeholder.ReplaceAllString(s, "")) {
						continue
					}
					p := fset.Position(call.Pos())
					rel, _ := filepath.Rel(root, p.Filename)
					out = append(out, logLine{level: level, text: normalize(s), pos: fmt.Sprintf("%s:%d", filepath.ToSlash(rel), p.Line)})
				}
				return true
			})
		}
	}
	return out
}

// docLogLine is a row of the guide's log table.
type docLogLine struct {
	levels []string
	text   string
}

func guideLogLines(t *testing.T, sections map[string]string) []docLogLine {
	body := section(t, sections, "Log lines")
	row := regexp.MustCompile("(?m)^\\| ([A-Z, /]+) \\| `([^`]+)` \\|")
	var out []docLogLine
	for _, m := range row.FindAllStringSubmatch(body, -1) {
		levels := regexp.MustCompile(`[A-Z]+`).FindAllString(m[1], -1)
		out = append(out, docLogLine{levels: levels, text: normalize(m[2])})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no log table rows (| LEVEL | `message` | ...) under \"## Log lines\"", guidePath)
	}
	return out
}

// TestGuideDocumentsEveryLogLine: every log message in the code has a row in
// the guide's log table at its level, and every row is a message the code
// logs.
func TestGuideDocumentsEveryLogLine(t *testing.T) {
	_, sections := guide(t)
	doc := guideLogLines(t, sections)
	code := codeLogLines(t)
	if len(code) < 10 {
		t.Fatalf("found only %d log lines in the code: the extraction is broken", len(code))
	}
	for _, c := range code {
		i := slices.IndexFunc(doc, func(d docLogLine) bool { return d.text == c.text })
		if i < 0 {
			lvl := c.level
			if lvl == "" {
				lvl = "LEVEL"
			}
			t.Errorf("%s logs %q, which %s does not document: add a row to the table under \"## Log lines\":\n"+
				"| %s | `%s` | module | what it means and what to do |", c.pos, c.text, guidePath, lvl, strings.ReplaceAll(c.text, "{}", "{value}"))
			continue
		}
		if c.level != "" && !slices.Contains(doc[i].levels, c.level) {
			t.Errorf("%s logs %q at %s; %s gives the level(s) %v", c.pos, c.text, c.level, guidePath, doc[i].levels)
		}
	}
	for _, d := range doc {
		if !slices.ContainsFunc(code, func(c logLine) bool { return c.text == d.text }) {
			t.Errorf("%s documents the log line %q, which no module logs: remove or correct its row under \"## Log lines\"", guidePath, d.text)
		}
	}
}
