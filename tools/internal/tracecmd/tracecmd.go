// Package tracecmd is what the tools around Go execution traces share: the
// command line of those that read one trace (tools/wakeups, tools/tailtrace:
// the caller's flags, then the trace's file name), and the marks
// tools/bench -trace writes for tools/tailtrace to read.
package tracecmd

import (
	"flag"
	"fmt"
	"io"
	"os"
)

// Run parses the command line with the flags the caller defined, opens the
// trace it names and hands it to read. A command line without exactly one
// argument prints usage ("usage: " + usage, then the flags) and exits 2; a
// trace that cannot be opened or read exits 1 with the error, prefixed by
// name.
func Run(name, usage string, read func(io.Reader) error) {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: "+usage)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	err := open(flag.Arg(0), read)
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

func open(path string, read func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return read(f)
}
