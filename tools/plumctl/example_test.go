package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
)

// plumctl health against a node that lost most of its peers (the answer
// recorded from examples/node in a cluster of two).
func Example_health() {
	recorded, err := os.ReadFile("testdata/health_degraded.json")
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(recorded)
	}))
	defer srv.Close()

	noEnv := func(string) string { return "" }
	code := run(context.Background(), []string{"-addr", srv.URL, "health"}, noEnv, nil, os.Stdout, os.Stderr)
	fmt.Println("exit code:", code)
	// Output:
	// === Health Report ===
	// Status:          Degraded
	// Message:         Few peers: 1 (want 3)
	// Peer Health:     1 peer: 1 eager (target 3), 0 lazy
	// Delivery Health: 0 pending grafts; graft failure rate 0.0% (0 succeeded, 0 failed in the health window)
	// Cache Health:    9 of 10000 messages (0.1% used), TTL 30s, retention 30s
	// exit code: 1
}
