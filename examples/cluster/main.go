package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/examples/internal/cluster"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		nodes    = flag.Int("nodes", 5, "number of nodes")
		rate     = flag.Float64("rate", 50, "broadcasts per second, cluster-wide")
		duration = flag.Duration("duration", 10*time.Second, "how long to broadcast")
		size     = flag.Int("size", 1024, "payload size in bytes; above max_message_size (64 KiB) a large message (chunks along the tree), up to max_large_message_size (256 MiB)")
		kill     = flag.Float64("kill", 0, "fraction of nodes to kill hard half-way, rounded down, at least one (0.3 of 5 kills 1, of 10 kills 3)")
		preset   = flag.String("preset", "local", "timing preset: local (loopback), lan, wan, large or default")
		verbose  = flag.Bool("v", false, "log the nodes' warnings to stderr")
		plain    = flag.Bool("plain", false, "print plain progress lines even on a terminal")
		cacheTTL = flag.Duration("cache-ttl", 0, "message cache TTL (0: the preset's; short values make the caches cycle under load)")
		warmup   = flag.Duration("warmup", 0, "start of the broadcasting whose heap samples are ignored (0: a fifth of -duration)")
		maxGrow  = flag.Float64("max-heap-growth", 0, "fail if the live heap after the warm-up grows by more than this fraction (e.g. 0.25; 0: no check)")
		loss     = flag.Float64("loss", 0, "probability that a Plumtree frame is dropped on send, every link (e.g. 0.05)")
		bindIP   = flag.String("bind-ip", "127.0.0.1", "loopback address the nodes bind (ports chosen by the OS)")
		formTO   = flag.Duration("form-timeout", 30*time.Second, "how long to wait for the cluster to form")
		burst    = flag.Int("burst", 0, "after the steady traffic, broadcast this many messages back to back and report them apart")
	)
	flag.Parse()
	if err := checkFlags(*nodes, *rate, *size, *kill); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	sum, err := cluster.Run(ctx, cluster.RunOptions{
		Cluster:       cluster.Options{Nodes: *nodes, Preset: *preset, Logger: logger, CacheTTL: *cacheTTL, Loss: *loss, BindIP: *bindIP},
		Burst:         *burst,
		FormTimeout:   *formTO,
		Rate:          *rate,
		Duration:      *duration,
		Size:          *size,
		Kill:          *kill,
		Out:           os.Stdout,
		TTY:           !*plain && isTerminal(os.Stdout),
		Warmup:        *warmup,
		MaxHeapGrowth: *maxGrow,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 2
	}
	if !sum.OK() {
		return 1
	}
	return 0
}

// isTerminal reports whether f is a character device (a terminal) and TERM
// allows cursor movement.
func isTerminal(f *os.File) bool {
	if os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// checkFlags rejects the flag values the job cannot run with. A zero is an
// error like a negative value: the options of cluster.Run treat zero as
// "the default", which a command line must not do silently.
func checkFlags(nodes int, rate float64, size int, kill float64) error {
	switch {
	case nodes < 2:
		return fmt.Errorf("-nodes %d: must be at least 2", nodes)
	case !(rate > 0) || math.IsInf(rate, 0):
		return fmt.Errorf("-rate %v: must be > 0 (broadcasts per second)", rate)
	case size < cluster.MinSize:
		return fmt.Errorf("-size %d: must be at least %d bytes", size, cluster.MinSize)
	case size > core.DefaultConfig().MaxLargeMessageSize:
		return fmt.Errorf("-size %d: must be at most max_large_message_size (%d bytes)", size, core.DefaultConfig().MaxLargeMessageSize)
	case !(kill >= 0 && kill < 1):
		return fmt.Errorf("-kill %v: must be in [0, 1)", kill)
	}
	return nil
}
