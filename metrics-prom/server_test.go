package metricsprom

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestServerMetrics serves /metrics and checks the guide's
// `curl -s localhost:9090/metrics | grep plumtree_` finds the metrics.
func TestServerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := Register(reg, WithStats(func() core.Stats { return core.Stats{EagerPeers: 3} })); err != nil {
		t.Fatal(err)
	}
	srv, err := Listen("127.0.0.1:0", reg, WithHandler("/ping", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "pong")
	})))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addr().String()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	var grep []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "plumtree_") {
			grep = append(grep, sc.Text())
		}
	}
	if !strings.Contains(body, "\nplumtree_eager_peers 3\n") || len(grep) < 20 {
		t.Errorf("grep plumtree_ found %d lines:\n%s", len(grep), body)
	}
	if code, body := get(t, base+"/ping"); code != http.StatusOK || body != "pong" {
		t.Errorf("extra handler: %d %q", code, body)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/metrics"); err == nil {
		t.Error("server still answers after Shutdown")
	}
}

// TestServerShutdownWaitsForScrape: a scrape in flight finishes before
// Shutdown returns.
func TestServerShutdownWaitsForScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	entered, release := make(chan struct{}), make(chan struct{})
	if _, err := Register(reg, WithStats(func() core.Stats {
		close(entered)
		<-release
		return core.Stats{}
	})); err != nil {
		t.Fatal(err)
	}
	srv, err := Listen("127.0.0.1:0", reg)
	if err != nil {
		t.Fatal(err)
	}
	scraped := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + srv.Addr().String() + "/metrics")
		if err != nil {
			scraped <- -1
			return
		}
		resp.Body.Close()
		scraped <- resp.StatusCode
	}()
	<-entered
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	select {
	case <-done:
		t.Fatal("Shutdown returned while a scrape was in flight")
	case <-time.After(50 * time.Millisecond): // Shutdown must still be waiting
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code := <-scraped; code != http.StatusOK {
		t.Errorf("scrape in flight got %d", code)
	}
}

func TestListenAndServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // free the port for ListenAndServe

	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ListenAndServe(ctx, addr, reg) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline for the listener
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ListenAndServe after cancel: %v", err)
	}
	// A busy address is reported.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := ListenAndServe(context.Background(), busy.Addr().String(), reg); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("ListenAndServe on a busy address: %v", err)
	}
}
