package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"64MiB": 64 << 20, "3KiB": 3 << 10, "7": 7, "1GiB": 1 << 30, "10B": 10} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1MiB", "MiB", "1.5MiB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

// A small run end to end: three nodes, two large messages at once, with
// frame loss; every node gets both exactly once with the right digest.
func TestRunSmall(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{"-nodes", "3", "-size", "300KiB", "-origins", "2", "-drop", "0.02", "-warmup", "5", "-copy-runs", "1", "-small-rate", "50", "-views"}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"exactly once with the right bytes: true", "bytes on the wire per delivered byte", "one TCP copy", "small messages, time to the last node: idle", "small messages, time per hop (a node's delivery minus its sender's): idle p50 ",
		"views after the warm-up:", "views after the idle small messages:", "views at the end:", "  n00 eager ["} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run([]string{"-nodes", "1"}, &out); err == nil {
		t.Error("-nodes 1 accepted")
	}
}

// -large-rate sets every node's large_send_rate; a rate the config refuses
// is an error before anything starts.
func TestRunLargeRate(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{"-nodes", "3", "-size", "200KiB", "-warmup", "3", "-copy-runs", "1", "-large-rate", "2"}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"large_send_rate 2.00 MiB/s per node", "exactly once with the right bytes: true", "chunk repairs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, bad := range []string{"-1", "0.0001"} {
		if err := run([]string{"-nodes", "3", "-large-rate", bad}, &out); err == nil {
			t.Errorf("-large-rate %s accepted", bad)
		}
	}
}
