package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/examples/internal/stack"
	"github.com/plumtree-go/plumtree/membership"
	metricsprom "github.com/plumtree-go/plumtree/metrics-prom"
	"github.com/prometheus/client_golang/prometheus"
)

// stateFileName is the state file's name inside -state-dir.
const stateFileName = "plumtree.state"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run starts the node and blocks until ctx is done, then shuts it down. It
// returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "node:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if err := serve(ctx, cfg, log, stdout); err != nil {
		log.Error("node failed", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) error {
	serverTLS, clientTLS, err := cfg.tlsConfigs()
	if err != nil {
		return err
	}
	ui := newUI(cfg.UI)
	nodeOpts := ui.nodeOptions()

	var (
		registry *prometheus.Registry
		metrics  *metricsprom.Collector
	)
	if enabled(cfg.MetricsAddr) {
		if registry, metrics, err = newMetrics(cfg.Name); err != nil {
			return err
		}
		nodeOpts = append(nodeOpts, node.WithObserver(metrics))
	}

	tracer, stopTracing, err := newTracing(ctx, cfg.Tracing, cfg.Name, stdout)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stopTracing(sctx)
	}()
	if tracer != nil {
		nodeOpts = append(nodeOpts,
			node.WithHeaderInjector(tracer.Inject),
			node.WithForwardHook(tracer.Forward),
			node.WithObserver(tracer))
	}

	if cfg.StateDir != "" {
		if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
			return fmt.Errorf("-state-dir: %w", err)
		}
		nodeOpts = append(nodeOpts, node.WithStateFile(filepath.Join(cfg.StateDir, stateFileName)))
	}

	// The admin listener is bound first, so that its address can be
	// advertised in the membership metadata (-advertise-admin).
	var adminLn net.Listener
	var membershipOpts []membership.Option
	if enabled(cfg.AdminAddr) {
		adminLn, err = net.Listen("tcp", cfg.AdminAddr)
		if err != nil {
			return fmt.Errorf("admin API: %w", err)
		}
		if cfg.AdvertiseAdmin {
			membershipOpts = append(membershipOpts, membership.WithAdminAddr(adminLn.Addr().String()))
		}
	}
	deliveries := newHub()
	s, err := stack.Start(ctx, stack.Config{
		Name:          cfg.Name,
		BindAddr:      cfg.Bind,
		AdvertiseAddr: cfg.Advertise,
		Seeds:         cfg.Join,
		// A node without seeds waits to be joined: alone is its normal
		// state, not a failure (its /health answers 200 until peers come).
		Standalone:        len(cfg.Join) == 0,
		Preset:            cfg.Preset,
		SecretKey:         cfg.EncryptKey,
		ServerTLS:         serverTLS,
		ClientTLS:         clientTLS,
		PeerFile:          cfg.PeerFile,
		Logger:            log,
		Delegate:          node.DeliverFunc(deliveries.Deliver),
		NodeOptions:       nodeOpts,
		MembershipOptions: membershipOpts,
		TCPOptions:        cfg.tcpOptions(),
	})
	if err != nil {
		if adminLn != nil {
			adminLn.Close()
		}
		return err
	}
	if metrics != nil {
		connectMetrics(metrics, s)
	}

	var admin *http.Server
	adminURL := "off"
	if adminLn != nil {
		adminURL = "http://" + adminLn.Addr().String()
		admin = &http.Server{Handler: ui.handler(s, deliveries, adminURL, adminHandler(s, deliveries)), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = admin.Serve(adminLn) }()
	}
	var msrv *metricsprom.Server
	metricsURL := "off"
	if registry != nil {
		msrv, err = metricsprom.Listen(cfg.MetricsAddr, registry)
		if err != nil {
			if admin != nil {
				_ = admin.Close()
			}
			s.Kill()
			return fmt.Errorf("metrics: %w", err)
		}
		metricsURL = "http://" + msrv.Addr().String() + "/metrics"
	}
	// One line for humans and scripts (the tests read it).
	fmt.Fprintf(stdout, "plumtree node %s: addr=%s admin=%s metrics=%s\n", cfg.Name, s.Addr(), adminURL, metricsURL)
	if cfg.EncryptKey == nil && cfg.TLSCA == "" {
		log.Warn("the cluster is open: without -encrypt-key or -tls-ca anyone who reaches this port can join and inject broadcasts")
	}
	log.Info("node started", "name", cfg.Name, "addr", s.Addr(), "bind", cfg.Bind, "admin", adminURL,
		"metrics", metricsURL, "seeds", cfg.Join, "preset", cfg.Preset, "tls", serverTLS != nil,
		"encrypted", cfg.EncryptKey != nil, "tracing", cfg.Tracing)

	// A node whose name a live member holds gives up (membership.ErrNameConflict)
	// and the process exits non-zero.
	var fatal error
	select {
	case <-ctx.Done():
	case <-s.Membership.Done():
		fatal = s.Membership.Err()
	}
	log.Info("shutting down: leaving the cluster", "timeout", cfg.LeaveTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.LeaveTimeout+10*time.Second)
	defer cancel()
	deliveries.close()
	if admin != nil {
		_ = admin.Shutdown(sctx)
	}
	err = s.Stop(sctx, cfg.LeaveTimeout)
	if msrv != nil {
		_ = msrv.Shutdown(sctx)
	}
	if fatal != nil {
		return fatal
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("node stopped")
	return nil
}
