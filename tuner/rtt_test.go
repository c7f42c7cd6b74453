package tuner

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestRTTValidate(t *testing.T) {
	tests := []struct {
		field string
		mod   func(*RTTConfig)
	}{
		{"min_timeout", func(c *RTTConfig) { c.MinTimeout = 0 }},
		{"max_timeout", func(c *RTTConfig) { c.MaxTimeout = time.Millisecond }},
		{"initial_timeout", func(c *RTTConfig) { c.InitialTimeout = time.Minute }},
		{"granularity", func(c *RTTConfig) { c.Granularity = -1 }},
		{"max_sample", func(c *RTTConfig) { c.MaxSample = 0 }},
		{"max_peers", func(c *RTTConfig) { c.MaxPeers = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			c := DefaultRTTConfig()
			tt.mod(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field+" ") {
				t.Fatalf("err = %v, want one naming %s", err, tt.field)
			}
			if _, err := NewRTTEstimator[string](c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// The RFC 6298 arithmetic, worked by hand.
func TestRTTEstimatorRFC6298(t *testing.T) {
	e, err := NewRTTEstimator[string](DefaultRTTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := e.GraftTimeout("a"); got != 500*time.Millisecond {
		t.Fatalf("no samples: %v", got)
	}
	steps := []struct {
		sample, srtt, rttvar, timeout time.Duration
	}{
		// First sample: SRTT = R, RTTVAR = R/2, RTO = R + 4·R/2.
		{100 * time.Millisecond, 100 * time.Millisecond, 50 * time.Millisecond, 300 * time.Millisecond},
		// RTTVAR = 3/4·50 + 1/4·|100-200| = 62.5; SRTT = 7/8·100 + 1/8·200 = 112.5.
		{200 * time.Millisecond, 112500 * time.Microsecond, 62500 * time.Microsecond, 362500 * time.Microsecond},
	}
	for i, s := range steps {
		if !e.Observe(t0, "a", s.sample) {
			t.Fatal("rejected")
		}
		est, ok := e.Estimate("a")
		if !ok || est.SRTT != s.srtt || est.RTTVar != s.rttvar || est.Samples != uint64(i+1) {
			t.Fatalf("step %d: %+v", i, est)
		}
		if got := e.GraftTimeout("a"); got != s.timeout {
			t.Fatalf("step %d: timeout %v, want %v", i, got, s.timeout)
		}
	}
	// Stable 1 ms links: the variance decays, the timeout reaches the
	// floor (50 ms) rather than SRTT + G.
	for i := 0; i < 100; i++ {
		e.Observe(t0, "b", time.Millisecond)
	}
	if got := e.GraftTimeout("b"); got != 50*time.Millisecond {
		t.Fatalf("fast peer: %v", got)
	}
	// A slow peer hits the ceiling.
	e.Observe(t0, "c", 30*time.Second)
	if got := e.GraftTimeout("c"); got != 8*time.Second {
		t.Fatalf("slow peer: %v", got)
	}
	// Bogus samples are rejected.
	for _, r := range []time.Duration{0, -time.Second, 2 * time.Minute} {
		if e.Observe(t0, "d", r) {
			t.Fatalf("accepted %v", r)
		}
	}
	if _, ok := e.Estimate("d"); ok {
		t.Fatal("rejected sample created a peer")
	}
	if got := e.GraftTimeout("unknown"); got != e.OverallTimeout() {
		t.Fatal("unknown peer does not use the overall timeout")
	}
	if e.Overall().Samples != 103 || e.Len() != 3 {
		t.Fatalf("overall %+v len %d", e.Overall(), e.Len())
	}
	e.Remove("c")
	if got := e.Rank([]string{"x", "c", "a", "b"}); !slices.Equal(got, []string{"b", "a", "x", "c"}) {
		t.Fatalf("rank %v", got)
	}
}

func TestRTTEstimatorBounded(t *testing.T) {
	c := DefaultRTTConfig()
	c.MaxPeers = 3
	e, _ := NewRTTEstimator[int](c)
	for i := 0; i < 10; i++ {
		e.Observe(t0.Add(time.Duration(i)*time.Second), i, time.Millisecond)
		if e.Len() > 3 {
			t.Fatalf("len %d", e.Len())
		}
	}
	for _, p := range []int{7, 8, 9} {
		if _, ok := e.Estimate(p); !ok {
			t.Fatalf("recent peer %d forgotten", p)
		}
	}
}

// Smoothed RTT stays within the samples' range; timeouts within bounds;
// Rank is a sorted permutation; the peer table stays bounded.
func TestPropRTTEstimator(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := DefaultRTTConfig()
		c.MaxPeers = rapid.IntRange(1, 8).Draw(t, "max_peers")
		c.MinTimeout = time.Duration(rapid.Int64Range(1, int64(time.Second)).Draw(t, "min_timeout"))
		c.MaxTimeout = c.MinTimeout + time.Duration(rapid.Int64Range(0, int64(10*time.Second)).Draw(t, "span"))
		c.InitialTimeout = c.MinTimeout
		e, err := NewRTTEstimator[int](c)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := map[int]time.Duration{}, map[int]time.Duration{}
		now := t0
		n := rapid.IntRange(0, 200).Draw(t, "n")
		for i := 0; i < n; i++ {
			now = now.Add(time.Millisecond)
			p := rapid.IntRange(0, 12).Draw(t, "peer")
			r := time.Duration(rapid.Int64Range(-1, int64(2*time.Minute)).Draw(t, "rtt"))
			if _, known := e.Estimate(p); !known {
				delete(lo, p)
				delete(hi, p)
			}
			if e.Observe(now, p, r) {
				if l, ok := lo[p]; !ok || r < l {
					lo[p] = r
				}
				if h, ok := hi[p]; !ok || r > h {
					hi[p] = r
				}
			}
			if e.Len() > c.MaxPeers {
				t.Fatalf("len %d > %d", e.Len(), c.MaxPeers)
			}
			if est, ok := e.Estimate(p); ok {
				if est.SRTT < lo[p] || est.SRTT > hi[p] {
					t.Fatalf("srtt %v outside samples [%v, %v]", est.SRTT, lo[p], hi[p])
				}
			}
			if to := e.GraftTimeout(p); to < c.MinTimeout || to > c.MaxTimeout {
				t.Fatalf("timeout %v outside bounds", to)
			}
		}
		peers := rapid.SliceOfN(rapid.IntRange(0, 12), 0, 20).Draw(t, "rank")
		got := e.Rank(peers)
		a, b := slices.Clone(peers), slices.Clone(got)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Fatalf("rank %v is not a permutation of %v", got, peers)
		}
		for i := 1; i < len(got); i++ {
			x, okx := e.Estimate(got[i-1])
			y, oky := e.Estimate(got[i])
			if !okx && oky {
				t.Fatalf("unknown peer ranked before a known one: %v", got)
			}
			if okx && oky && (x.SRTT > y.SRTT || (x.SRTT == y.SRTT && x.RTTVar > y.RTTVar)) {
				t.Fatalf("not sorted: %v", got)
			}
		}
	})
}
