package main

import (
	"strings"
	"testing"
)

func TestCheckFlags(t *testing.T) {
	for _, tc := range []struct {
		nodes int
		rate  float64
		size  int
		kill  float64
		want  string // "" = accepted
	}{
		{5, 50, 1024, 0, ""},
		{5, 50, 1024, 0.3, ""},
		{0, 50, 1024, 0, "-nodes 0: must be at least 2"},
		{1, 50, 1024, 0, "-nodes 1: must be at least 2"},
		{5, 0, 1024, 0, "-rate 0: must be > 0"},
		{5, -3, 1024, 0, "-rate -3: must be > 0"},
		{5, 50, 0, 0, "-size 0: must be at least"},
		{5, 50, 256<<20 + 1, 0, "must be at most max_large_message_size"},
		{5, 50, 1024, 1, "-kill 1: must be in [0, 1)"},
	} {
		err := checkFlags(tc.nodes, tc.rate, tc.size, tc.kill)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want %q", tc, err, tc.want)
		}
	}
}
