package membership

import (
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// PartitionLogMessage is the operations guide's log line; {peers} is
// replaced by the unreachable peers, comma-separated.
const PartitionLogMessage = "Possible partition detected - cannot reach peers: {peers}"

// partitionDetector watches peer failures within a sliding window. It is used
// by the drainer goroutine only, except lastPartitioned (atomic), which the
// observer sets.
type partitionDetector struct {
	window   time.Duration
	fraction float64
	minPeers int

	failedAt map[string]time.Time // peers declared dead within window (bounded by the member count)
	lastWarn time.Time
	lastSet  string

	lastPartitioned atomic.Int64 // unix nanos of the last EventMessagePartitioned
}

func (d *partitionDetector) failed(now time.Time, name string) {
	if d.failedAt == nil {
		d.failedAt = make(map[string]time.Time)
	}
	d.failedAt[name] = now
}

func (d *partitionDetector) recovered(name string) { delete(d.failedAt, name) }

// evaluate returns the unreachable peers (sorted) when the node should
// suspect a partition at now, given alive reachable peers.
func (d *partitionDetector) evaluate(now time.Time, alive int) ([]string, bool) {
	for name, at := range d.failedAt {
		if now.Sub(at) > d.window {
			delete(d.failedAt, name)
		}
	}
	n := len(d.failedAt)
	if n == 0 {
		return nil, false
	}
	total := alive + n
	byShare := n >= d.minPeers && float64(n) >= d.fraction*float64(total)
	lp := d.lastPartitioned.Load()
	byGrafts := lp != 0 && now.Sub(time.Unix(0, lp)) <= d.window
	if !byShare && !byGrafts {
		return nil, false
	}
	peers := make([]string, 0, n)
	for name := range d.failedAt {
		peers = append(peers, name)
	}
	sort.Strings(peers)
	set := strings.Join(peers, ", ")
	// Once per window, or earlier when the set of unreachable peers changed.
	if !d.lastWarn.IsZero() && now.Sub(d.lastWarn) < d.window && set == d.lastSet {
		return nil, false
	}
	d.lastWarn, d.lastSet = now, set
	return peers, true
}

// checkPartition runs on the drainer goroutine.
func (m *Membership) checkPartition(now time.Time) {
	peers, ok := m.part.evaluate(now, int(m.alive.Load()))
	if !ok {
		return
	}
	m.partitionSuspicions.Add(1)
	list := strings.Join(peers, ", ")
	m.log.Warn(strings.Replace(PartitionLogMessage, "{peers}", list, 1),
		slog.Any("peers", peers),
		slog.Int("unreachable", len(peers)),
		slog.Int("reachable", int(m.alive.Load())),
		slog.Duration("window", m.part.window))
}

// Observes implements node.EventFilter: Observe reads graft failures and
// partitioned messages only, so the runtime wakes its observer goroutine for
// nothing else (an idle node's maintenance rounds, for one).
func (m *Membership) Observes(k core.EventKind) bool {
	return k == core.EventGraftFailed || k == core.EventMessagePartitioned
}

// Observe implements node.Observer: graft failures and messages that no
// announcer can provide (EventMessagePartitioned) are counted, and the latter
// make recent peer failures a partition suspicion even below the share
// threshold. It only updates counters and never blocks.
func (m *Membership) Observe(events []core.Event) {
	var partitioned bool
	for i := range events {
		switch events[i].Kind {
		case core.EventGraftFailed:
			m.graftFailures.Add(1)
		case core.EventMessagePartitioned:
			m.partitionedMessages.Add(1)
			partitioned = true
		}
	}
	if partitioned {
		m.part.lastPartitioned.Store(time.Now().UnixNano())
		m.signal()
	}
}
