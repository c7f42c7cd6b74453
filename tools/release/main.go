// Command release prepares a release of every module of the repository at
// one version (`make release VERSION=vX.Y.Z`): it sets the version in
// versions.txt and every sibling requirement in every go.mod, checks that
// every module is tidy, and prints the tags to create, one per module
// (core/vX.Y.Z, cache/vX.Y.Z, …). It creates no tag and no commit.
//
//	release -version v0.1.0        bump, check, print the tags
//	release -check                 only check that the tree is consistent
//	release -proxy DIR             write a file-based GOPROXY of the tree (at
//	                               the version of versions.txt) into DIR
//
// -root is the repository's root (default "..", for running from tools/).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/plumtree-go/plumtree/tools/internal/release"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "..", "the repository's root")
	version := fs.String("version", "", "the version to release, vX.Y.Z")
	check := fs.Bool("check", false, "only check that versions.txt and every go.mod agree")
	proxy := fs.String("proxy", "", "write a file-based GOPROXY of the tree into this directory")
	goCmd := fs.String("go", "go", "the go command")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "release:", err)
		return 1
	}
	switch {
	case *check:
		if err := release.Check(*root); err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, "release: versions.txt and every go.mod agree")
		return 0
	case *proxy != "":
		dst, err := filepath.Abs(*proxy)
		if err != nil {
			return fail(err)
		}
		v, err := release.BuildProxy(dst, *root)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "release: modules at %s served from %s\n  GOPROXY=file://%s,$(go env GOPROXY) GONOSUMDB=%s\n",
			v, dst, filepath.ToSlash(dst), release.ModulePrefix[:len(release.ModulePrefix)-1])
		return 0
	case *version == "":
		fmt.Fprintln(stderr, "release: -version vX.Y.Z is required (make release VERSION=vX.Y.Z)")
		return 2
	}
	changed, err := release.Bump(*root, *version)
	if err != nil {
		return fail(err)
	}
	mods, err := release.ReadVersions(*root)
	if err != nil {
		return fail(err)
	}
	if err := release.Check(*root); err != nil {
		return fail(err)
	}
	if err := release.Tidy(*root, mods, *goCmd); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "release %s: %d files changed", *version, len(changed))
	for _, c := range changed {
		fmt.Fprintf(stdout, " %s", c)
	}
	fmt.Fprintln(stdout, "; every module is tidy.")
	fmt.Fprintln(stdout, "Commit, then create and push these tags on that commit:")
	for _, m := range mods {
		fmt.Fprintf(stdout, "  %s\n", m.Tag(*version))
	}
	return 0
}
