// Package release keeps the modules of this repository releasable together,
// as one module set: one version for all of them, named in versions.txt at
// the root; every module requires its siblings at that version (a replace
// directive points each sibling at its folder, for development in this tree;
// a consumer's build ignores it); and one tag per module, <folder>/<version>.
//
// tools/release is the command (`make release VERSION=vX.Y.Z`); this package
// holds what it does, and BuildProxy, which serves the tree's modules from a
// file-based GOPROXY so that a consumer's build can be tested before the tags
// exist.
package release

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// ModulePrefix is the module path of the repository; a module's path is the
// prefix followed by its folder.
const ModulePrefix = "github.com/plumtree-go/plumtree/"

// VersionsFile is the name, at the repository's root, of the file naming the
// modules and their version.
const VersionsFile = "versions.txt"

// Module is one module of the set.
type Module struct {
	Dir     string // folder, relative to the root, e.g. "transport-tcp"
	Version string // e.g. "v0.1.0"
}

// Path returns the module path.
func (m Module) Path() string { return ModulePrefix + m.Dir }

// Tag returns the module's tag for version v.
func (m Module) Tag(v string) string { return m.Dir + "/" + v }

// ReadVersions reads the versions file of the repository at root. Blank lines
// and lines starting with # are comments; every other line is
// "<folder> <version>".
func ReadVersions(root string) ([]Module, error) {
	data, err := os.ReadFile(filepath.Join(root, VersionsFile))
	if err != nil {
		return nil, err
	}
	var mods []Module
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"<folder> <version>\", got %q", VersionsFile, line, text)
		}
		if err := checkVersion(f[1]); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", VersionsFile, line, err)
		}
		if slices.ContainsFunc(mods, func(m Module) bool { return m.Dir == f[0] }) {
			return nil, fmt.Errorf("%s:%d: module %s listed twice", VersionsFile, line, f[0])
		}
		mods = append(mods, Module{Dir: f[0], Version: f[1]})
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("%s lists no module", VersionsFile)
	}
	return mods, sc.Err()
}

// checkVersion accepts a canonical semantic version: vMAJOR.MINOR.PATCH with
// an optional pre-release, no build metadata.
func checkVersion(v string) error {
	if !semver.IsValid(v) || semver.Canonical(v) != v {
		return fmt.Errorf("version %q is not of the form vX.Y.Z (or vX.Y.Z-pre)", v)
	}
	if semver.Major(v) != "v0" && semver.Major(v) != "v1" {
		return fmt.Errorf("version %q: a major version above v1 needs a /vN module path", v)
	}
	return nil
}

// workspaceDirs returns the folders go.work uses.
func workspaceDirs(root string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		return nil, err
	}
	wf, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, u := range wf.Use {
		dirs = append(dirs, filepath.ToSlash(filepath.Clean(u.Path)))
	}
	return dirs, nil
}

// Version returns the set's version: the one version every module of the
// versions file has.
func Version(mods []Module) (string, error) {
	v := mods[0].Version
	for _, m := range mods[1:] {
		if m.Version != v {
			return "", fmt.Errorf("%s: %s is at %s but %s at %s; the modules are released together at one version", VersionsFile, mods[0].Dir, v, m.Dir, m.Version)
		}
	}
	return v, nil
}

// Check verifies that the tree at root is consistent: the versions file names
// exactly the modules go.work uses, at one version; every go.mod declares its
// module path and requires every sibling it requires at that version, with a
// replace directive to the sibling's folder. It returns every problem found.
func Check(root string) error {
	mods, err := ReadVersions(root)
	if err != nil {
		return err
	}
	var errs []error
	version, err := Version(mods)
	if err != nil {
		errs = append(errs, err)
	}
	dirs, err := workspaceDirs(root)
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if !slices.ContainsFunc(mods, func(m Module) bool { return m.Dir == d }) {
			errs = append(errs, fmt.Errorf("go.work uses ./%s but %s does not list it: add the line \"%s %s\"", d, VersionsFile, d, mods[0].Version))
		}
	}
	for _, m := range mods {
		if !slices.Contains(dirs, m.Dir) {
			errs = append(errs, fmt.Errorf("%s lists %s but go.work does not use it", VersionsFile, m.Dir))
		}
	}
	for _, m := range mods {
		f, err := readMod(root, m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if f.Module == nil || f.Module.Mod.Path != m.Path() {
			errs = append(errs, fmt.Errorf("%s/go.mod: module path is not %s", m.Dir, m.Path()))
		}
		for _, r := range f.Require {
			sib, ok := sibling(mods, r.Mod.Path)
			if !ok {
				continue
			}
			if version != "" && r.Mod.Version != version {
				errs = append(errs, fmt.Errorf("%s/go.mod: requires %s %s, want %s (run make release VERSION=%s)", m.Dir, r.Mod.Path, r.Mod.Version, version, version))
			}
			if !hasReplace(f, sib) {
				errs = append(errs, fmt.Errorf("%s/go.mod: requires %s without \"replace %s => ../%s\"", m.Dir, r.Mod.Path, r.Mod.Path, sib.Dir))
			}
		}
	}
	return errors.Join(errs...)
}

func readMod(root string, m Module) (*modfile.File, error) {
	name := filepath.Join(root, m.Dir, "go.mod")
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return modfile.Parse(m.Dir+"/go.mod", data, nil)
}

func sibling(mods []Module, path string) (Module, bool) {
	for _, m := range mods {
		if m.Path() == path {
			return m, true
		}
	}
	return Module{}, false
}

func hasReplace(f *modfile.File, sib Module) bool {
	for _, r := range f.Replace {
		if r.Old.Path == sib.Path() && r.Old.Version == "" && filepath.ToSlash(filepath.Clean(r.New.Path)) == "../"+sib.Dir {
			return true
		}
	}
	return false
}

// Bump sets the version of every module in the versions file and every
// sibling requirement of every go.mod to version, adding a missing replace
// directive to the sibling's folder. It returns the files it changed. It
// refuses a version below the current one.
func Bump(root, version string) ([]string, error) {
	if err := checkVersion(version); err != nil {
		return nil, err
	}
	mods, err := ReadVersions(root)
	if err != nil {
		return nil, err
	}
	for _, m := range mods {
		if semver.Compare(version, m.Version) < 0 {
			return nil, fmt.Errorf("version %s is below %s's current %s", version, m.Dir, m.Version)
		}
	}
	var changed []string
	for _, m := range mods {
		f, err := readMod(root, m)
		if err != nil {
			return changed, err
		}
		dirty := false
		for _, r := range f.Require {
			sib, ok := sibling(mods, r.Mod.Path)
			if !ok {
				continue
			}
			if r.Mod.Version != version {
				if err := f.AddRequire(r.Mod.Path, version); err != nil {
					return changed, err
				}
				dirty = true
			}
			if !hasReplace(f, sib) {
				if err := f.AddReplace(sib.Path(), "", "../"+sib.Dir, ""); err != nil {
					return changed, err
				}
				dirty = true
			}
		}
		if !dirty {
			continue
		}
		f.Cleanup()
		out, err := f.Format()
		if err != nil {
			return changed, err
		}
		name := filepath.Join(root, m.Dir, "go.mod")
		if err := os.WriteFile(name, out, 0o644); err != nil {
			return changed, err
		}
		changed = append(changed, m.Dir+"/go.mod")
	}
	vchanged, err := writeVersions(root, version)
	if err != nil {
		return changed, err
	}
	if vchanged {
		changed = append(changed, VersionsFile)
	}
	return changed, nil
}

// writeVersions rewrites the version of every module line, keeping the
// comments.
func writeVersions(root, version string) (bool, error) {
	name := filepath.Join(root, VersionsFile)
	data, err := os.ReadFile(name)
	if err != nil {
		return false, err
	}
	lines := strings.SplitAfter(string(data), "\n")
	for i, l := range lines {
		text := strings.TrimSpace(l)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		nl := ""
		if strings.HasSuffix(l, "\n") {
			nl = "\n"
		}
		lines[i] = f[0] + " " + version + nl
	}
	out := strings.Join(lines, "")
	if out == string(data) {
		return false, nil
	}
	return true, os.WriteFile(name, []byte(out), 0o644)
}

// Tidy runs `go mod tidy -diff` without the workspace in every module and
// returns the modules whose go.mod or go.sum it would change.
func Tidy(root string, mods []Module, goCmd string) error {
	var errs []error
	for _, m := range mods {
		cmd := exec.Command(goCmd, "mod", "tidy", "-diff")
		cmd.Dir = filepath.Join(root, m.Dir)
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s is not tidy (run 'GOWORK=off go mod tidy' in %s):\n%s", m.Dir, m.Dir, out))
		}
	}
	return errors.Join(errs...)
}
