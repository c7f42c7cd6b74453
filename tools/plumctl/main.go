package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Exit codes. Those of health follow the monitoring-plugin convention (OK,
// WARNING, CRITICAL, UNKNOWN).
const (
	exitOK          = 0  // success; Healthy
	exitFail        = 1  // the command failed; Degraded; a node missed the test message
	exitUnhealthy   = 2  // Unhealthy
	exitUnreachable = 3  // no answer, or an answer that is not the admin API's
	exitUsage       = 64 // bad flags or arguments (sysexits EX_USAGE)
)

// envAddr is the environment variable of the admin address; examples/node
// reads the same one for its -admin-addr.
const envAddr = "PLUMTREE_ADMIN_ADDR"

const defaultTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli is one invocation of plumctl.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	// Common flags, accepted before and after the command name.
	addr    string
	timeout time.Duration
	json    bool

	hc *http.Client // created once the flags are parsed
}

type command struct {
	name, args, summary string
	run                 func(c *cli, ctx context.Context, args []string) int
}

var commands []command

func init() {
	commands = []command{
		{"health", "", "the health report (exit 0 Healthy, 1 Degraded, 2 Unhealthy, 3 unreachable)", (*cli).health},
		{"peers", "", "the peer state: eager, lazy and protected peers", (*cli).peers},
		{"stats", "", "protocol and runtime counters and gauges", (*cli).stats},
		{"config", "", "the node's configuration, with the guide's field names", (*cli).config},
		{"dump", "", "health, peers, stats, config and extra sections as one JSON document", (*cli).dump},
		{"broadcast", "[-file F | text...]", "broadcast a message; prints its id", (*cli).broadcast},
		{"topology", "", "the node's eager and lazy links and memberlist's view of the cluster", (*cli).topology},
		{"members", "", "memberlist's members with their Plumtree and admin addresses", (*cli).members},
		{"test-delivery", "[-addrs a,b,c] [-wait 5s]", "broadcast a diagnostic message on the first node; check that every node delivers it (default: every member that advertises its admin address)", (*cli).testDelivery},
		{"watch", "[-interval 2s] [-count N]", "health and peer counts every interval until interrupted", (*cli).watch},
		{"explain", "[msg-id]", "the propagation tree of a broadcast (default: the node's latest delivery); needs the node's -ui", (*cli).explain},
	}
}

// run is plumctl with its environment passed in; it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, addr: defaultAddr, timeout: defaultTimeout}
	if v := strings.TrimSpace(getenv(envAddr)); v != "" {
		c.addr = v
	}
	fs := c.flagSet("plumctl")
	fs.Usage = func() { c.usage(stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() == 0 {
		c.usage(stderr)
		return exitUsage
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "help" {
		if len(rest) == 0 {
			c.usage(stdout)
			return exitOK
		}
		name, rest = rest[0], []string{"-h"}
	}
	for _, cmd := range commands {
		if cmd.name == name {
			defer func() {
				if c.hc != nil {
					c.hc.CloseIdleConnections()
				}
			}()
			return cmd.run(c, ctx, rest)
		}
	}
	fmt.Fprintf(stderr, "plumctl: unknown command %q (see plumctl help)\n", name)
	return exitUsage
}

// flagSet returns a flag set holding the common flags.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.addr, "addr", c.addr, "admin API address: host:port, or a URL such as https://host/prefix (env "+envAddr+")")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "timeout of each request to a node")
	fs.BoolVar(&c.json, "json", c.json, "print the JSON answer instead of the report")
	return fs
}

// parse parses a command's flags. It returns ok=false with the exit code
// when the command must not run (-h, or a usage error already reported).
func (c *cli) parse(fs *flag.FlagSet, args []string, cmd string) (ok bool, code int) {
	var spec command
	for _, x := range commands {
		if x.name == cmd {
			spec = x
		}
	}
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: plumctl %s [-addr A] [-timeout D] [-json] %s\n\n%s.\n\nFlags:\n", cmd, spec.args, upperFirst(spec.summary))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, exitOK
		}
		return false, exitUsage
	}
	if c.timeout <= 0 {
		fmt.Fprintf(c.stderr, "plumctl %s: -timeout must be positive, got %v\n", cmd, c.timeout)
		return false, exitUsage
	}
	c.hc = newHTTPClient(c.timeout)
	return true, 0
}

// client returns the client of the -addr node, or reports a bad address.
func (c *cli) client(addr string) (*client, error) {
	base, err := baseURL(addr)
	if err != nil {
		return nil, err
	}
	return &client{base: base, hc: c.hc, timeout: c.timeout}, nil
}

// fail reports err and returns its exit code.
func (c *cli) fail(cmd string, err error) int {
	fmt.Fprintf(c.stderr, "plumctl %s: %v\n", cmd, err)
	if isUnreachable(err) {
		return exitUnreachable
	}
	return exitFail
}

// usageErr reports a usage error.
func (c *cli) usageErr(cmd, format string, a ...any) int {
	fmt.Fprintf(c.stderr, "plumctl %s: %s\n", cmd, fmt.Sprintf(format, a...))
	return exitUsage
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, `plumctl: operator CLI for the admin HTTP API of a Plumtree node

Usage:
  plumctl [-addr A] [-timeout D] [-json] <command> [command flags] [arguments]

Commands:
`)
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-14s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, `  help [command] this text, or a command's flags

Common flags (before or after the command):
  -addr A     admin API address (default $%s, else %s)
  -timeout D  timeout of each request (default %v)
  -json       print JSON instead of the report

Exit codes: 0 success or Healthy; 1 failure, Degraded, or a node missed the
test message; 2 Unhealthy; 3 node unreachable or answer not understood;
64 usage error.
`, envAddr, defaultAddr, defaultTimeout)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
