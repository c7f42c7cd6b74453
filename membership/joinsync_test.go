package membership

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// Nodes that join one seed at about the same time learn of each other even
// when no gossip about a join reaches one of them: a node exchanges full
// state with a random member once, settleRounds gossip intervals after it
// joined. Here gossip, probes (which carry gossip too) and the periodic
// push/pull are all off, so only that exchange can tell a, which joined
// first, that b joined after it. Before it, a member missed this way
// stayed unknown until the next periodic push/pull (30 s in the presets).
func TestJoinersLearnOfEachOther(t *testing.T) {
	quiet := WithMemberlistConfig(func(c *memberlist.Config) {
		c.GossipNodes = 0
		c.GossipInterval = 200 * time.Millisecond // the exchange after 2 s
		c.ProbeInterval = time.Hour
		c.PushPullInterval = time.Hour
	})
	s := startMember(t, "s", quiet)
	a := startMember(t, "a", quiet, WithSeeds(s.m.AdvertiseAddr()))
	knows := func(tm *testMember, names ...string) func() string {
		return func() string {
			got := tm.peers.names()
			for _, n := range names {
				if !slices.Contains(got, n) {
					return fmt.Sprintf("%s knows %v, not %s", tm.m.self, got, n)
				}
			}
			return ""
		}
	}
	eventually(t, settle, knows(s, "a"))
	b := startMember(t, "b", quiet, WithSeeds(s.m.AdvertiseAddr()))
	eventually(t, settle, knows(s, "a", "b"))
	eventually(t, settle, knows(b, "s", "a"))
	eventually(t, settle, knows(a, "s", "b"))
}
