package node_test

import (
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
)

// fakeTuner records samples and returns fixed timings.
type fakeTuner struct {
	mu      sync.Mutex
	lags    []time.Duration
	grafts  []time.Duration
	tunes   int
	lastDel uint64
}

func (f *fakeTuner) ObserveDelay(now time.Time, peer string, d time.Duration, graft bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if graft {
		f.grafts = append(f.grafts, d)
	} else {
		f.lags = append(f.lags, d)
	}
}

func (f *fakeTuner) Tune(now time.Time, delivered, ok, failed uint64) (time.Duration, time.Duration, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tunes++
	f.lastDel = delivered
	return 60 * time.Millisecond, 15 * time.Millisecond, 40
}

func (f *fakeTuner) snapshot() (lags int, tunes int, del uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.lags), f.tunes, f.lastDel
}

// With WithTuner the runtime feeds the tuner the protocol's delay samples
// and applies its timings on its own; nobody calls the tuner by hand.
func TestWithTunerFedByRuntime(t *testing.T) {
	ft := &fakeTuner{}
	tr := newChanTransport()
	n, err := node.New(testConfig(1), "me", tr, nil, node.WithTuner(ft))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(t.Context())
	for _, p := range []core.PeerID{"a", "b"} {
		if err := n.AddPeer(p); err != nil {
			t.Fatal(err)
		}
	}
	id := core.MessageID{Origin: "x", Seq: 1}
	tr.inject(t, "b", core.Message{Type: core.MsgIHave, IHaves: []core.Announcement{{ID: id, Hops: 1, OriginTime: time.Now()}}})
	tr.inject(t, "a", core.Message{Type: core.MsgGossip, ID: id, OriginTime: time.Now(), Hops: 2, Payload: []byte("p")})
	waitFor(t, 5*time.Second, "a lag sample, a tuning round and the tuned timings", func() bool {
		lags, tunes, del := ft.snapshot()
		tu := n.Tuning()
		return lags == 1 && tunes > 0 && del == 1 &&
			tu == core.Tuning{GraftTimeout: 60 * time.Millisecond, IHaveInterval: 15 * time.Millisecond, IHaveBatchSize: 40}
	})
}

func TestNodeSetTuning(t *testing.T) {
	n, err := node.New(testConfig(1), "me", newChanTransport(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := n.SetTuning(core.Tuning{GraftTimeout: time.Hour})
	if err != nil || got.GraftTimeout != 8*testConfig(1).GraftTimeout {
		t.Fatalf("SetTuning = %+v, %v; want the graft timeout clamped to 8 × GraftTimeout", got, err)
	}
	if _, err := n.SetTuning(core.Tuning{IHaveBatchSize: -1}); err == nil {
		t.Fatal("negative batch accepted")
	}
	// Stats (and so /stats) show what the protocol runs with now.
	want := float64(8*testConfig(1).GraftTimeout) / float64(time.Millisecond)
	if st := n.Stats().Tuning; st.GraftTimeoutMS != want || st.IHaveBatchSize != testConfig(1).IHaveBatchSize {
		t.Fatalf("Stats().Tuning = %+v, want graft timeout %v ms and batch %d", st, want, testConfig(1).IHaveBatchSize)
	}
	if err := n.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if tu, err := n.SetTuning(core.Tuning{}); err != node.ErrClosed || tu.GraftTimeout != 8*testConfig(1).GraftTimeout {
		t.Fatalf("after Shutdown: %+v, %v", tu, err)
	}
}
