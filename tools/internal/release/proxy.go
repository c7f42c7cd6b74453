package release

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// BuildProxy writes, under dst, a module proxy in the layout the go command
// reads from a file:// GOPROXY: every module of the tree at root, at the
// version of the versions file, zipped from its folder as a tag would
// publish it (the go.mod as it is, replace directives included; a consumer
// ignores them). It returns the version served.
//
//	GOPROXY=file://<dst>,<the usual proxy> GONOSUMDB=github.com/plumtree-go/plumtree
func BuildProxy(dst, root string) (string, error) {
	mods, err := ReadVersions(root)
	if err != nil {
		return "", err
	}
	version, err := Version(mods)
	if err != nil {
		return "", err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return "", err
	}
	for _, m := range mods {
		mv := module.Version{Path: m.Path(), Version: version}
		esc, err := module.EscapePath(mv.Path)
		if err != nil {
			return "", err
		}
		dir := filepath.Join(dst, filepath.FromSlash(esc), "@v")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		src := filepath.Join(root, m.Dir)
		gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
		if err != nil {
			return "", err
		}
		files := map[string][]byte{
			"list":            []byte(version + "\n"),
			version + ".info": info,
			version + ".mod":  gomod,
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				return "", err
			}
		}
		zf, err := os.Create(filepath.Join(dir, version+".zip"))
		if err != nil {
			return "", err
		}
		err = modzip.CreateFromDir(zf, mv, src)
		if cerr := zf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("zip %s: %w", m.Dir, err)
		}
	}
	return version, nil
}
