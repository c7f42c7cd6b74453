// Command testlog reads the event streams of `go test -json` and prints them
// for people: one line per package, the output of every failed test, and the
// slowest tests. `make test` runs every package with -json into files and
// uses testlog to show them.
//
//	testlog unit-core.json              # per-package results, failures in full
//	testlog -slowest 10 logs/*.json     # the 10 slowest tests of all files
//	testlog -failures logs/*.json       # failed packages and tests, one a line
//
// Exit status: 0 if the files record no failure, 1 if they do, 2 on a usage
// or read error. Lines that are not JSON events (build errors printed before
// any test ran) are shown as they are and count as a failure when the
// package's result is missing.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	slowest := flag.Int("slowest", 0, "print the `n` slowest tests instead of the per-package report")
	failures := flag.Bool("failures", false, "print only the failed packages and tests, one a line")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: testlog [-slowest n | -failures] file.json...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(run(os.Stdout, flag.Args(), *slowest, *failures))
}

func run(w io.Writer, files []string, slowest int, failures bool) int {
	var all []*Log
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testlog:", err)
			return 2
		}
		l, err := Parse(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "testlog: %s: %v\n", name, err)
			return 2
		}
		all = append(all, l)
	}
	if slowest > 0 {
		WriteSlowest(w, Slowest(all, slowest))
		return 0
	}
	failed := false
	for _, l := range all {
		if failures {
			if l.WriteFailures(w) {
				failed = true
			}
			continue
		}
		if l.Write(w) {
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}
