package release

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// consumerModCache returns the module cache for the consumer build of
// TestConsumerThroughLocalProxy, holding none of our modules.
//
// The cache is kept between runs (in the user's cache folder, locked for
// the test's duration), for one reason: the build cache keys a package on
// its source folder, so third-party modules extracted into a fresh module
// cache were compiled again on every run (about a minute on two cores).
// Only our modules are removed before each run, so none cached by an
// earlier run can stand in for the proxy's. Where the folder cannot be
// made or locked, the cache is a fresh temporary one, as before.
func consumerModCache(t *testing.T, modPrefix string) string {
	t.Helper()
	if modPrefix == "" || strings.Contains(modPrefix, "..") {
		t.Fatalf("module prefix %q", modPrefix)
	}
	base, err := os.UserCacheDir()
	if !canLockFiles || err != nil {
		return t.TempDir()
	}
	dir := filepath.Join(base, "plumtree-go", "release-test-modcache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("module cache: %v; using a fresh one", err)
		return t.TempDir()
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err == nil {
		err = lockFile(lock)
	}
	if err != nil {
		t.Logf("module cache lock: %v; using a fresh one", err)
		return t.TempDir()
	}
	t.Cleanup(func() { lock.Close() })
	// Our modules, both as extracted folders and as downloads.
	for _, p := range []string{
		filepath.Join(dir, filepath.FromSlash(modPrefix)),
		filepath.Join(dir, "cache", "download", filepath.FromSlash(modPrefix)),
	} {
		if err := os.RemoveAll(p); err != nil {
			t.Fatalf("module cache: removing our modules: %v", err)
		}
	}
	return dir
}
