package tracecmd

import "testing"

// What tools/bench writes, tools/tailtrace reads back; anything else in the
// category is not taken for a mark.
func TestMarksRoundTrip(t *testing.T) {
	if k, id, ok := ParseMark(PublishMark(41)); !ok || k != MarkPublish || id != 41 {
		t.Errorf("publish mark read as %q %d %v", k, id, ok)
	}
	if k, id, ok := ParseMark(DeliverMark(7, 3)); !ok || k != MarkDeliver || id != 7 {
		t.Errorf("deliver mark read as %q %d %v", k, id, ok)
	}
	for _, bad := range []string{"", "publish", "publish x", "publish 1 2", "deliver 1", "deliver -1 2", "sent 1 2"} {
		if k, id, ok := ParseMark(bad); ok {
			t.Errorf("%q read as a mark: %q %d", bad, k, id)
		}
	}
}
