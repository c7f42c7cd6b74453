package tuner

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

// cacheScheduler is a copy of the message cache's Scheduler interface. The
// tuner does not import the cache; this copy, and TestSchedulerMatchesCache
// below (which reads the cache's source when the repository is checked out),
// keep the two in step.
type cacheScheduler interface {
	Next(now time.Time, utilization float64, ttl time.Duration, puts uint64) (interval time.Duration, batch int, level int)
	Observe(now time.Time, took time.Duration, removed int)
}

var _ cacheScheduler = (*CleanupTuner)(nil)

// TestSchedulerMatchesCache compares CleanupTuner's Next and Observe with the
// Scheduler interface declared in ../cache/scheduler.go.
func TestSchedulerMatchesCache(t *testing.T) {
	const path = "../cache/scheduler.go"
	src, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("cache source not available: %v", err)
	}
	want := interfaceMethods(t, path, src, "Scheduler")
	if len(want) == 0 {
		t.Fatalf("no Scheduler interface in %s", path)
	}
	tu, err := NewCleanupTuner(DefaultCleanupConfig())
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.ValueOf(tu)
	for name, sig := range want {
		m := v.MethodByName(name)
		if !m.IsValid() {
			t.Errorf("CleanupTuner lacks %s%s", name, sig)
			continue
		}
		if got := m.Type().String(); got != sig {
			t.Errorf("CleanupTuner.%s is %s, cache.Scheduler wants %s", name, got, sig)
		}
	}
}

// interfaceMethods returns name -> "func(T1, T2) (R1, R2)" (the form of
// reflect.Type.String) for each method of the named interface type.
func interfaceMethods(t *testing.T, path string, src []byte, typeName string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != typeName {
			return true
		}
		it, ok := ts.Type.(*ast.InterfaceType)
		if !ok {
			return false
		}
		for _, m := range it.Methods.List {
			ft, ok := m.Type.(*ast.FuncType)
			if !ok || len(m.Names) != 1 {
				continue
			}
			out[m.Names[0].Name] = funcSig(fset, ft)
		}
		return false
	})
	return out
}

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
