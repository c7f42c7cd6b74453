package leakcheck

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// A goroutine that ends within the wait is not a leak; one that outlives
// it is.
func TestSettle(t *testing.T) {
	opts := goleak.IgnoreCurrent()
	done := make(chan struct{})
	go func() { <-time.After(2 * time.Second); close(done) }()
	if err := settle(time.Minute, opts); err != nil {
		t.Fatalf("a goroutine ending after 2 s reported: %v", err)
	}
	<-done

	stop := make(chan struct{})
	defer close(stop)
	go func() { <-stop }()
	start := time.Now()
	if err := settle(time.Second, opts); err == nil {
		t.Fatal("a goroutine that outlives the wait not reported")
	}
	if time.Since(start) < time.Second {
		t.Fatalf("gave up after %v, before the wait", time.Since(start))
	}
}
