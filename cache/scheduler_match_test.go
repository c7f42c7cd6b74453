package cache

import (
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// cleanupTunerShape copies the method set of *tuner.CleanupTuner that
// Scheduler relies on. The cache does not import the tuner; this copy, and
// TestCleanupTunerSatisfiesScheduler below (which reads the tuner's source
// when the repository is checked out), keep the two in step.
type cleanupTunerShape struct{}

func (*cleanupTunerShape) Next(now time.Time, utilization float64, ttl time.Duration, puts uint64) (interval time.Duration, batch int, level int) {
	return 0, 0, 0
}
func (*cleanupTunerShape) Observe(now time.Time, took time.Duration, removed int) {}

var (
	_ Scheduler = (*cleanupTunerShape)(nil)
	_ Scheduler = FixedScheduler{}
)

// TestCleanupTunerSatisfiesScheduler compares Scheduler with the methods of
// *CleanupTuner declared in ../tuner/cleanup.go.
func TestCleanupTunerSatisfiesScheduler(t *testing.T) {
	const path = "../tuner/cleanup.go"
	src, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("tuner source not available: %v", err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv == nil || len(fd.Recv.List) != 1 {
			continue
		}
		if star, ok := fd.Recv.List[0].Type.(*ast.StarExpr); ok {
			if id, ok := star.X.(*ast.Ident); ok && id.Name == "CleanupTuner" {
				have[fd.Name.Name] = funcSig(fset, fd.Type)
			}
		}
	}
	it := reflect.TypeOf((*Scheduler)(nil)).Elem()
	for i := 0; i < it.NumMethod(); i++ {
		m := it.Method(i)
		got, ok := have[m.Name]
		if !ok {
			t.Errorf("*tuner.CleanupTuner lacks %s%s", m.Name, strings.TrimPrefix(m.Type.String(), "func"))
			continue
		}
		if want := m.Type.String(); got != want {
			t.Errorf("*tuner.CleanupTuner.%s is %s, Scheduler wants %s", m.Name, got, want)
		}
	}
}

// funcSig renders ft as reflect.Type.String does: "func(T1, T2) (R1, R2)".
func funcSig(fset *token.FileSet, ft *ast.FuncType) string {
	list := func(fl *ast.FieldList) []string {
		var s []string
		if fl == nil {
			return s
		}
		for _, f := range fl.List {
			var b strings.Builder
			printer.Fprint(&b, fset, f.Type)
			for range max(1, len(f.Names)) {
				s = append(s, b.String())
			}
		}
		return s
	}
	sig := "func(" + strings.Join(list(ft.Params), ", ") + ")"
	switch res := list(ft.Results); len(res) {
	case 0:
	case 1:
		sig += " " + res[0]
	default:
		sig += " (" + strings.Join(res, ", ") + ")"
	}
	return sig
}
