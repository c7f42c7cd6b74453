package main

import (
	"slices"
	"testing"

	"github.com/plumtree-go/plumtree/membership"
)

// Explain asks this node, the -explain-peers and every member that
// advertises its admin address, each once.
func TestExplainTargetsIncludeAdvertisedAdmins(t *testing.T) {
	got := explainTargets("http://127.0.0.1:7947", []string{"http://127.0.0.2:7947"}, []membership.Member{
		{Name: "a", AdminAddr: "127.0.0.1:7947"},
		{Name: "b", AdminAddr: "127.0.0.2:7947"},
		{Name: "c", AdminAddr: "127.0.0.3:7947"},
		{Name: "d"},
	})
	want := []string{"http://127.0.0.1:7947", "http://127.0.0.2:7947", "http://127.0.0.3:7947"}
	if !slices.Equal(got, want) {
		t.Fatalf("targets = %q, want %q", got, want)
	}
}
