package core

import (
	"errors"
	"testing"
	"time"
)

// A summary that breaks what a state file must hold (a bug) makes
// AppendState fail and leave the buffer as it was, where the file would
// otherwise be written and refused at the next start.
func TestAppendStateRefusesBrokenSummary(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	for name, breakIt := range map[string]func(s *streamSummary){
		"adjacent runs":   func(s *streamSummary) { s.runs[1].first = s.runs[0].last + 1 },
		"run below floor": func(s *streamSummary) { s.runs[0].first = s.floor },
		"reversed run":    func(s *streamSummary) { s.runs[1].last = s.runs[1].first - 1 },
	} {
		p, err := New(DefaultConfig(), "me", nil, t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Restore(State{Streams: []StreamState{{Origin: "o", Floor: 1, Newest: t0,
			Runs: []StateRun{{First: 3, Last: 4, FirstTime: t0}, {First: 7, Last: 9, FirstTime: t0}}}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.AppendState(nil); err != nil {
			t.Fatalf("%s: valid state refused: %v", name, err)
		}
		breakIt(p.streams.byOrigin["o"])
		prefix := []byte("kept")
		b, err := p.AppendState(prefix)
		if !errors.Is(err, ErrInvalidState) || string(b) != "kept" {
			t.Errorf("%s: AppendState = %q, %v; want the prefix alone and ErrInvalidState", name, b, err)
		}
	}
}
