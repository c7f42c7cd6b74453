package release

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/semver"
)

// repoRoot is the repository's root, seen from this package's folder.
const repoRoot = "../../.."

func TestTreeIsConsistent(t *testing.T) {
	if err := Check(repoRoot); err != nil {
		t.Fatalf("versions.txt and the go.mod files disagree:\n%v", err)
	}
}

// copyTree copies the versions file, go.work and the folder of every module
// of the repository into a new directory.
func copyTree(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	mods, err := ReadVersions(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{VersionsFile, "go.work"} {
		copyFile(t, filepath.Join(repoRoot, name), filepath.Join(dst, name))
	}
	for _, m := range mods {
		src := filepath.Join(repoRoot, m.Dir)
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(dst, m.Dir, rel), 0o755)
			}
			if d.Type().IsRegular() {
				copyFile(t, p, filepath.Join(dst, m.Dir, rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// nextVersion returns a version above v: the next patch as a pre-release,
// a new one at every call. The go command takes a module version for
// immutable: it keeps what it parsed of a version's packages (imports
// included) in its build cache, keyed by the version's folder in the module
// cache. With one pre-release for every run, a consumer built after an
// import was added to one of our modules used what an earlier run had
// parsed, and its compile failed ("could not import net/netip").
func nextVersion(t *testing.T, v string) string {
	t.Helper()
	g := regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)`).FindStringSubmatch(v)
	if g == nil {
		t.Fatalf("version %q", v)
	}
	patch, _ := strconv.Atoi(g[3])
	next := fmt.Sprintf("v%s.%s.%d-consumertest.%d", g[1], g[2], patch+1, time.Now().UnixNano())
	if semver.Compare(next, v) <= 0 {
		t.Fatalf("next version %s is not above %s", next, v)
	}
	return next
}

func TestBumpSetsEverySiblingRequirement(t *testing.T) {
	root := copyTree(t)
	mods, err := ReadVersions(root)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := Version(mods)
	if err != nil {
		t.Fatal(err)
	}
	next := nextVersion(t, cur)
	changed, err := Bump(root, next)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) == 0 {
		t.Fatal("Bump changed nothing")
	}
	if err := Check(root); err != nil {
		t.Fatalf("after Bump: %v", err)
	}
	// Every module that requires a sibling now requires it at next.
	for _, m := range mods {
		data, err := os.ReadFile(filepath.Join(root, m.Dir, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(regexp.QuoteMeta(ModulePrefix) + `[a-z-]+ (v\S+)`)
		for _, g := range re.FindAllStringSubmatch(string(data), -1) {
			if g[1] != next {
				t.Errorf("%s/go.mod: %s", m.Dir, g[0])
			}
		}
	}
	after, err := ReadVersions(root)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := Version(after); v != next {
		t.Errorf("versions file at %s, want %s", v, next)
	}
	// Bumping again to the same version changes nothing; a lower one is refused.
	if changed, err := Bump(root, next); err != nil || len(changed) != 0 {
		t.Errorf("second Bump: changed %v, err %v", changed, err)
	}
	if _, err := Bump(root, cur); err == nil && cur != next {
		t.Errorf("Bump to the lower %s was accepted", cur)
	}
	for _, bad := range []string{"0.1.0", "v0.1", "v2.0.0", "v0.1.0+meta"} {
		if _, err := Bump(root, bad); err == nil {
			t.Errorf("Bump(%q) accepted", bad)
		}
	}
}

func TestCheckReportsDrift(t *testing.T) {
	root := copyTree(t)
	// A sibling required at another version than the set's.
	name := filepath.Join(root, "membership", "go.mod")
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(` + regexp.QuoteMeta(ModulePrefix) + `core) v\S+`)
	drifted := re.ReplaceAll(data, []byte("$1 v0.0.1-drift"))
	if bytes.Equal(drifted, data) {
		t.Fatal("membership/go.mod does not require core")
	}
	if err := os.WriteFile(name, drifted, 0o644); err != nil {
		t.Fatal(err)
	}
	err = Check(root)
	if err == nil || !strings.Contains(err.Error(), "membership/go.mod: requires "+ModulePrefix+"core v0.0.1-drift") {
		t.Fatalf("Check: %v", err)
	}
	// A module of go.work the versions file does not list.
	if err := os.WriteFile(filepath.Join(root, VersionsFile), []byte("core v0.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Check(root); err == nil || !strings.Contains(err.Error(), "go.work uses ./membership but versions.txt does not list it") {
		t.Fatalf("Check: %v", err)
	}
}

// goEnv returns `go env name`.
func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// TestConsumerThroughLocalProxy releases the tree (in a copy) at a version
// above the current one, serves its modules from a file-based GOPROXY, and
// builds testdata/consumer — a program importing membership, transport-tcp
// and metrics-prom — as a project outside this repository would: its own
// module, no workspace, `go get` of the three modules at that version. Our
// modules come only from the local proxy (replace directives in their go.mod
// are ignored, as for any consumer); third-party modules come from the local
// module cache or, failing that, from the proxy this machine is configured
// with.
func TestConsumerThroughLocalProxy(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	root := copyTree(t)
	mods, err := ReadVersions(root)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := Version(mods)
	if err != nil {
		t.Fatal(err)
	}
	next := nextVersion(t, cur)
	if _, err := Bump(root, next); err != nil {
		t.Fatal(err)
	}
	proxyDir := t.TempDir()
	if v, err := BuildProxy(proxyDir, root); err != nil || v != next {
		t.Fatalf("BuildProxy: version %s, %v", v, err)
	}

	// The consumer: its own module and the go.sum lines the repository's
	// modules already trust (so that no checksum database is needed for
	// third-party modules).
	consumer := t.TempDir()
	copyFile(t, filepath.Join("testdata", "consumer", "main.go"), filepath.Join(consumer, "main.go"))
	if err := os.WriteFile(filepath.Join(consumer, "go.mod"), []byte("module example.com/consumer\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var sums []byte
	for _, dir := range []string{"core", "membership", "transport-tcp", "metrics-prom"} {
		data, err := os.ReadFile(filepath.Join(repoRoot, dir, "go.sum"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		sums = append(sums, data...)
	}
	if err := os.WriteFile(filepath.Join(consumer, "go.sum"), sums, 0o644); err != nil {
		t.Fatal(err)
	}

	fallback := goEnv(t, "GOPROXY")
	if fallback == "" || fallback == "off" {
		fallback = "https://proxy.golang.org,direct"
	}
	cacheProxy := "file://" + filepath.ToSlash(filepath.Join(goEnv(t, "GOMODCACHE"), "cache", "download"))
	modPrefix := strings.TrimSuffix(ModulePrefix, "/")
	env := append(os.Environ(),
		"GOWORK=off",
		"GOFLAGS=-mod=mod -modcacherw",
		"GOTOOLCHAIN=local",
		// A module cache holding none of our modules, so that none cached
		// earlier can stand in for the proxy's.
		"GOMODCACHE="+consumerModCache(t, modPrefix),
		"GOPROXY=file://"+filepath.ToSlash(proxyDir)+","+cacheProxy+","+fallback,
		"GONOSUMDB="+modPrefix,
		"GOPRIVATE=",
		"GONOPROXY=",
	)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = consumer
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("get",
		modPrefix+"/membership@"+next,
		modPrefix+"/transport-tcp@"+next,
		modPrefix+"/metrics-prom@"+next)
	run("build", "-o", filepath.Join(consumer, "consumer"), ".")
	run("vet", ".")

	// The build list holds our modules at the released version, from the
	// proxy: no replace, no pseudo-version.
	list := run("list", "-m", "-f", "{{.Path}} {{.Version}} {{if .Replace}}replaced{{end}}", "all")
	for _, dir := range []string{"core", "membership", "transport-tcp", "metrics-prom"} {
		want := modPrefix + "/" + dir + " " + next + " "
		if !strings.Contains(list, want+"\n") {
			t.Errorf("go list -m all has no %q:\n%s", want, list)
		}
	}
}

// TestReadmeShowsTheConsumer keeps the README's "Use it in your project"
// section the program TestConsumerThroughLocalProxy builds.
func TestReadmeShowsTheConsumer(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("testdata", "consumer", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Use it in your project")
	if !ok {
		t.Fatal(`README.md has no "## Use it in your project" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	if !strings.Contains(section, "```go\n"+string(src)+"```\n") {
		t.Fatal("README.md's \"Use it in your project\" does not show tools/internal/release/testdata/consumer/main.go as it is: copy it into the ```go block")
	}
}

// TestGoWorkSumStable: what make test and go doc do in workspace mode (load
// every module's packages with their tests, and the whole module graph)
// leaves go.work.sum as committed. A go.work.sum missing lines is rewritten
// on the first run on a fresh clone, which leaves the tree dirty.
func TestGoWorkSumStable(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	root := copyTree(t)
	copyFile(t, filepath.Join(repoRoot, "go.work.sum"), filepath.Join(root, "go.work.sum"))
	before, err := os.ReadFile(filepath.Join(root, "go.work.sum"))
	if err != nil {
		t.Fatal(err)
	}
	mods, err := ReadVersions(root)
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"), "GOFLAGS=", "GOTOOLCHAIN=local")
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
		}
	}
	run(root, "list", "-m", "all")
	for _, m := range mods {
		run(filepath.Join(root, m.Dir), "list", "-deps", "-test", "./...")
	}
	after, err := os.ReadFile(filepath.Join(root, "go.work.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatalf("go.work.sum changes in workspace mode (run 'go list -m all' at the root and commit go.work.sum):\n%s",
			lineDiff(string(before), string(after)))
	}
}

// lineDiff lists the lines only in a (-) or only in b (+).
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for l := range ma {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range mb {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
