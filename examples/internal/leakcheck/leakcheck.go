// Package leakcheck is goleak.VerifyTestMain with a longer wait, for the
// tests of packages that run memberlist.
//
// memberlist's Shutdown does not wait for a probe in flight: its goroutine
// ends when the probe's ack timer fires, up to the awareness-scaled probe
// interval later (8 × ProbeInterval on a node that felt unhealthy, as a
// loaded machine makes it). goleak's own wait, about a second and a half,
// is shorter, so a goroutine that is about to end is reported as a leak.
package leakcheck

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// VerifyTestMain runs the tests and, if they pass, fails the binary when
// goroutines other than the test runner's are still running after wait.
func VerifyTestMain(m *testing.M, wait time.Duration) {
	code := m.Run()
	if code == 0 {
		if err := settle(wait); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run (after waiting %v): %v\n", wait, err)
			code = 1
		}
	}
	os.Exit(code)
}

// settle returns nil once no unexpected goroutine runs, or goleak's last
// report after wait.
func settle(wait time.Duration, opts ...goleak.Option) error {
	deadline := time.Now().Add(wait)
	for {
		err := goleak.Find(opts...) // retries for about a second and a half itself
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}
