package core_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// A saved State survives its encoding, and a Protocol restored from it
// delivers nothing the saved one delivered, delivers what it did not, and
// continues its own sequence above the saved one.
func TestStateRoundTripAndRestore(t *testing.T) {
	p := fixture(t, nil)
	p.Receive(t0, "e0", gossip("x", 1, 1))
	p.Receive(t0, "e0", gossip("x", 3, 1))
	p.Receive(t0, "e0", gossip("y", 7, 1))
	own, _ := p.Broadcast(t0, []byte("mine"), nil)
	p.Drain()
	st := p.State()
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back core.State
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if back.NextSeq != st.NextSeq || len(back.Streams) != 3 {
		t.Fatalf("decoded %+v, want %+v", back, st)
	}
	// Restored at the same instant (a clock that did not move on, or went
	// back): the sequence still continues above the saved one.
	q, err := core.New(core.DefaultConfig(), "me", nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Restore(back); err != nil {
		t.Fatal(err)
	}
	q.AddPeer(t0, "e0")
	q.Drain()
	for _, s := range []uint64{1, 3} {
		q.Receive(t0, "e0", gossip("x", s, 1))
	}
	q.Receive(t0, "e0", gossip("y", 7, 1))
	q.Receive(t0, "e0", core.Message{Type: core.MsgGossip, ID: own, OriginTime: t0, Hops: 2, Payload: []byte("mine")})
	if d := q.Drain().Deliveries; len(d) != 0 {
		t.Fatalf("restored node delivered again %+v", d)
	}
	q.Receive(t0, "e0", gossip("x", 2, 1))
	if d := q.Drain().Deliveries; len(d) != 1 {
		t.Fatalf("missed message not delivered: %+v", d)
	}
	id, _ := q.Broadcast(t0, []byte("next"), nil)
	if id.Seq <= own.Seq {
		t.Fatalf("restored sequence %d not above the saved %d", id.Seq, own.Seq)
	}
	if err := q.Restore(back); !errors.Is(err, core.ErrInvalidState) {
		t.Fatalf("Restore after deliveries: %v", err)
	}
}

// Corrupt input is refused with ErrInvalidState, never a panic.
func TestStateBadInput(t *testing.T) {
	good, _ := core.State{NextSeq: 5, Streams: []core.StreamState{{Origin: "o", Floor: 2, Runs: []core.StateRun{{First: 4, Last: 6, FirstTime: t0}}, Newest: t0}}}.MarshalBinary()
	flip := append([]byte(nil), good...)
	flip[6] ^= 1
	for name, b := range map[string][]byte{
		"empty": nil, "header only": good[:4], "bad magic": append([]byte("XXXX"), good[4:]...),
		"checksum": flip, "truncated": good[:len(good)-1],
	} {
		var st core.State
		if err := st.UnmarshalBinary(b); !errors.Is(err, core.ErrInvalidState) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, st := range map[string]core.State{
		"run touches floor": {Streams: []core.StreamState{{Origin: "o", Floor: 2, Runs: []core.StateRun{{First: 3, Last: 4}}}}},
		"runs overlap":      {Streams: []core.StreamState{{Origin: "o", Runs: []core.StateRun{{First: 3, Last: 5}, {First: 5, Last: 6}}}}},
		"empty origin":      {Streams: []core.StreamState{{}}},
		"origin twice":      {Streams: []core.StreamState{{Origin: "o"}, {Origin: "o"}}},
	} {
		if _, err := st.MarshalBinary(); !errors.Is(err, core.ErrInvalidState) {
			t.Errorf("%s: marshal %v", name, err)
		}
		p, _ := core.New(core.DefaultConfig(), "me", nil, t0)
		if err := p.Restore(st); !errors.Is(err, core.ErrInvalidState) {
			t.Errorf("%s: restore %v", name, err)
		}
	}
}

// FuzzStateUnmarshal: arbitrary bytes never panic; what decodes re-encodes
// to the same bytes and restores.
func FuzzStateUnmarshal(f *testing.F) {
	good, _ := core.State{NextSeq: 5, Streams: []core.StreamState{{Origin: "o", Floor: 2, Runs: []core.StateRun{{First: 4, Last: 6, FirstTime: time.UnixMilli(9)}}, Newest: time.UnixMilli(10)}}}.MarshalBinary()
	f.Add(good)
	f.Add([]byte("PTS\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var st core.State
		if err := st.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, core.ErrInvalidState) {
				t.Fatalf("error %v does not wrap ErrInvalidState", err)
			}
			return
		}
		again, err := st.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		var st2 core.State
		if err := st2.UnmarshalBinary(again); err != nil || len(st2.Streams) != len(st.Streams) {
			t.Fatalf("decode→encode→decode: %v", err)
		}
		p, _ := core.New(core.DefaultConfig(), "me", nil, t0)
		if err := p.Restore(st); err != nil {
			t.Fatalf("restore: %v", err)
		}
	})
}

// A node configured for more origins than a digest lists (max_streams above
// 4096) saves a State it can load again, every stream in it: the bound on a
// State's streams is max_streams' own limit, not a digest's.
func TestStateBeyondDigestStreamsRestores(t *testing.T) {
	const origins = core.MaxDigestStreams + 100
	more := func(c *core.Config) { c.MaxStreams = origins + 1 }
	p := fixture(t, more)
	for i := range origins {
		p.Receive(t0, "e0", gossip(core.PeerID(fmt.Sprintf("o%05d", i)), 1, 1))
	}
	p.Drain()
	st := p.State()
	if len(st.Streams) != origins {
		t.Fatalf("state holds %d streams, want %d", len(st.Streams), origins)
	}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatalf("saving %d streams: %v", origins, err)
	}
	var back core.State
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatalf("loading %d streams: %v", origins, err)
	}
	c := core.DefaultConfig()
	more(&c)
	q, err := core.New(c, "me", nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Restore(back); err != nil {
		t.Fatalf("restoring %d streams: %v", origins, err)
	}
	q.AddPeer(t0, "e0")
	q.Drain()
	for i := range origins {
		q.Receive(t0, "e0", gossip(core.PeerID(fmt.Sprintf("o%05d", i)), 1, 1))
	}
	if d := q.Drain().Deliveries; len(d) != 0 {
		t.Fatalf("restored node delivered %d messages again", len(d))
	}
}

// MaxStateSize bounds the encoding of any State a node with the config can
// hold: the longest origins, the largest numbers, every run.
func TestMaxStateSizeBoundsTheEncoding(t *testing.T) {
	c := core.DefaultConfig()
	c.MaxStreams, c.MaxStreamGaps = 3, 4
	far := time.UnixMilli(1 << 62)
	var st core.State
	st.NextSeq = 1<<64 - 1
	for i := range c.MaxStreams {
		origin := core.PeerID(fmt.Sprintf("%d%0254d", i, 0))
		ss := core.StreamState{Origin: origin, Floor: 1 << 63, Newest: far}
		prev := ss.Floor
		for range c.MaxStreamGaps {
			r := core.StateRun{First: prev + 2 + 1<<56, FirstTime: far}
			r.Last = r.First + 1<<56
			ss.Runs = append(ss.Runs, r)
			prev = r.Last
		}
		st.Streams = append(st.Streams, ss)
	}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if max := core.MaxStateSize(c); int64(len(b)) > max {
		t.Fatalf("a full state encodes to %d bytes, MaxStateSize says at most %d", len(b), max)
	}
	if d := core.DefaultConfig(); core.MaxStateSize(d) >= 64<<20 {
		t.Errorf("the default config's states can reach %d bytes: above the state file floor of 64 MiB", core.MaxStateSize(d))
	}
}

// AppendState writes exactly what State().MarshalBinary() does, after any
// prefix, for stream tables with gaps, out-of-order deliveries, origin
// times and folded gaps (a small gap bound), and the result decodes.
func TestAppendStateMatchesMarshal(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		p := fixture(t, func(c *core.Config) { c.MaxStreamGaps = 1 + rng.IntN(8) })
		for range rng.IntN(400) {
			m := gossip(core.PeerID(fmt.Sprintf("o%d", rng.IntN(6))), 1+uint64(rng.IntN(60)), 1)
			m.OriginTime = t0.Add(time.Duration(rng.IntN(5000)) * time.Millisecond)
			p.Receive(m.OriginTime, "e0", m)
			if rng.IntN(10) == 0 {
				p.Broadcast(m.OriginTime, []byte("own"), nil)
			}
			p.Drain()
		}
		want, err := p.State().MarshalBinary()
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		prefix := []byte("prefix")[:rng.IntN(7)]
		got, err := p.AppendState(append([]byte(nil), prefix...))
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if string(got[:len(prefix)]) != string(prefix) || string(got[len(prefix):]) != string(want) {
			t.Fatalf("seed %d: AppendState wrote %x, MarshalBinary %x", seed, got[len(prefix):], want)
		}
		var back core.State
		if err := back.UnmarshalBinary(got[len(prefix):]); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}
