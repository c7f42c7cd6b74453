package large

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"pgregory.net/rapid"
)

var t0 = time.UnixMilli(1_763_000_000_000)

// testMsg is one large message cut into encoded parts.
type testMsg struct {
	key     Key
	payload []byte
	origin  time.Time
	parts   [][]byte // chunks by index, then the manifest last
}

func cut(origin core.PeerID, transfer uint64, payload []byte, chunkSize int, at time.Time) testMsg {
	g := Geometry{Transfer: transfer, Size: int64(len(payload)), ChunkSize: chunkSize}
	m := testMsg{key: Key{origin, transfer}, payload: payload, origin: at}
	for i := range g.Chunks() {
		start := i * chunkSize
		m.parts = append(m.parts, AppendChunk(nil, g, i, payload[start:start+g.ChunkLen(i)]))
	}
	man := Manifest{Geometry: g, Digest: sha256.Sum256(payload), OriginTime: at}
	m.parts = append(m.parts, AppendManifest(nil, &man))
	return m
}

var testLimits = Limits{MaxSize: 1 << 20, MaxChunkSize: 1 << 16}

type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func mustDecode(t fataler, b []byte) *Part {
	t.Helper()
	p, err := Decode(b, testLimits)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return &p
}

func TestAssembleInAnyOrder(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 100) // 1600 bytes
	m := cut("a", 7, payload, 300, t0)
	for name, order := range map[string][]int{
		"in order":       {0, 1, 2, 3, 4, 5, 6},
		"manifest first": {6, 0, 1, 2, 3, 4, 5},
		"reversed":       {6, 5, 4, 3, 2, 1, 0},
		"duplicates":     {3, 3, 6, 0, 6, 1, 2, 2, 4, 5},
	} {
		t.Run(name, func(t *testing.T) {
			a := NewAssembler(Config{MaxSize: 1 << 20, Budget: 1 << 20, OriginBudget: 1 << 20, MinChunkSize: 1})
			var got *Message
			for k, i := range order {
				r := a.Add(t0, "a", t0, mustDecode(t, m.parts[i]))
				if r.Status == Delivered {
					if got != nil {
						t.Fatal("delivered twice")
					}
					got = r.Message
					if k != len(order)-1 && name != "duplicates" {
						t.Fatalf("delivered at part %d of %d", k+1, len(order))
					}
				}
			}
			if got == nil || !bytes.Equal(got.Payload, payload) || got.Key != m.key {
				t.Fatalf("not delivered correctly: %+v", got)
			}
			if s := a.Stats(); s.InFlight != 0 || s.Bytes != 0 || s.Delivered != 1 {
				t.Fatalf("stats after delivery: %+v", s)
			}
			// A late part of a finished transfer starts nothing.
			if r := a.Add(t0, "a", t0, mustDecode(t, m.parts[0])); r.Status != Late {
				t.Fatalf("late part: %v", r.Status)
			}
		})
	}
}

func TestDigestMismatchIsNeverDelivered(t *testing.T) {
	payload := bytes.Repeat([]byte{1, 2, 3}, 500)
	m := cut("a", 1, payload, 256, t0)
	bad := bytes.Clone(m.parts[2])
	bad[len(bad)-1] ^= 0x40 // flip a data bit: the geometry still decodes
	m.parts[2] = bad
	a := NewAssembler(Config{MaxSize: 1 << 20, Budget: 1 << 20, OriginBudget: 1 << 20})
	var last Result
	for _, p := range m.parts {
		last = a.Add(t0, "a", t0, mustDecode(t, p))
		if last.Status == Delivered {
			t.Fatal("a corrupted message was delivered")
		}
	}
	if last.Status != Failed || !errors.Is(last.Err, ErrDigestMismatch) {
		t.Fatalf("last part: %v %v", last.Status, last.Err)
	}
	if s := a.Stats(); s.DigestFailures != 1 || s.InFlight != 0 || s.Bytes != 0 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestGeometryConflictRefused(t *testing.T) {
	m := cut("a", 1, make([]byte, 1000), 256, t0)
	a := NewAssembler(Config{MaxSize: 1 << 20, Budget: 1 << 20, OriginBudget: 1 << 20})
	if r := a.Add(t0, "a", t0, mustDecode(t, m.parts[0])); r.Status != Pending {
		t.Fatal(r.Status)
	}
	other := cut("a", 1, make([]byte, 1001), 256, t0) // same transfer id, other size
	if r := a.Add(t0, "a", t0, mustDecode(t, other.parts[1])); r.Status != Refused || !errors.Is(r.Err, ErrInvalidPart) {
		t.Fatalf("conflicting part: %v %v", r.Status, r.Err)
	}
}

func TestBudgetEvictsOldestAndRefusesNewcomerWhenOldest(t *testing.T) {
	a := NewAssembler(Config{MaxSize: 1 << 20, Budget: 2000, OriginBudget: 1500})
	old := cut("a", 1, make([]byte, 1000), 256, t0)
	mid := cut("b", 1, make([]byte, 1000), 256, t0.Add(time.Second))
	young := cut("c", 1, make([]byte, 1000), 256, t0.Add(2*time.Second))
	ancient := cut("d", 1, make([]byte, 1000), 256, t0.Add(-time.Second))
	for _, m := range []testMsg{old, mid} {
		if r := a.Add(t0, m.key.Origin, m.origin, mustDecode(t, m.parts[0])); r.Status != Pending {
			t.Fatal(r.Status, r.Err)
		}
	}
	r := a.Add(t0, "c", young.origin, mustDecode(t, young.parts[0]))
	if r.Status != Pending || len(r.Evicted) != 1 || r.Evicted[0] != old.key {
		t.Fatalf("young: %v evicted %v", r.Status, r.Evicted)
	}
	if r := a.Add(t0, "d", ancient.origin, mustDecode(t, ancient.parts[0])); r.Status != Refused {
		t.Fatalf("ancient newcomer: %v", r.Status)
	}
	// The evicted transfer does not come back.
	if r := a.Add(t0, "a", old.origin, mustDecode(t, old.parts[1])); r.Status != Late {
		t.Fatalf("evicted transfer's next part: %v", r.Status)
	}
	if s := a.Stats(); s.Bytes != 2000 || s.Evicted != 1 || s.InFlight != 2 {
		t.Fatalf("stats: %+v", s)
	}
	// Per origin: a second transfer of "b" evicts b's older one only.
	b2 := cut("b", 2, make([]byte, 1000), 256, t0.Add(3*time.Second))
	r = a.Add(t0, "b", b2.origin, mustDecode(t, b2.parts[0]))
	if r.Status != Pending || len(r.Evicted) != 1 || r.Evicted[0] != mid.key {
		t.Fatalf("b2: %v evicted %v", r.Status, r.Evicted)
	}
}

func TestExpire(t *testing.T) {
	a := NewAssembler(Config{MaxSize: 1 << 20, Budget: 1 << 20, OriginBudget: 1 << 20, Retention: time.Minute})
	m := cut("a", 1, make([]byte, 1000), 256, t0)
	a.Add(t0, "a", t0, mustDecode(t, m.parts[0]))
	if got := a.NextExpiry(); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next expiry %v", got)
	}
	if keys := a.Expire(t0.Add(time.Minute)); len(keys) != 0 {
		t.Fatalf("expired early: %v", keys)
	}
	if keys := a.Expire(t0.Add(time.Minute + time.Millisecond)); len(keys) != 1 || keys[0] != m.key {
		t.Fatalf("expired %v", keys)
	}
	if r := a.Add(t0, "a", t0, mustDecode(t, m.parts[1])); r.Status != Late {
		t.Fatalf("part after expiry: %v", r.Status)
	}
	if s := a.Stats(); s.Expired != 1 || s.Bytes != 0 || !a.NextExpiry().IsZero() {
		t.Fatalf("stats: %+v", s)
	}
	// Too old on arrival: refused.
	m2 := cut("a", 2, make([]byte, 10), 256, t0)
	if r := a.Add(t0.Add(2*time.Minute), "a", t0, mustDecode(t, m2.parts[0])); r.Status != Refused {
		t.Fatalf("old part: %v", r.Status)
	}
}

// TestAssemblerProperty feeds the parts of random messages in random order,
// with losses, duplicates and corrupted copies, and compares every result
// with a model: a message is delivered exactly when its manifest and every
// chunk arrived while it was in flight and the first copy of each was intact,
// and then with exactly its payload; with every part present and a
// corrupted first copy it fails its digest and is never delivered. The
// budget (per node and per origin) is never exceeded, a transfer is only
// refused or evicted when it does not fit, victims are older than the
// newcomer, and finished transfers never restart.
func TestAssemblerProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		origins := []core.PeerID{"a", "b", "c"}
		nMsgs := rapid.IntRange(1, 6).Draw(rt, "messages")
		msgs := make([]testMsg, nMsgs)
		var total int64
		for i := range msgs {
			size := rapid.IntRange(0, 900).Draw(rt, "size")
			payload := rapid.SliceOfN(rapid.Byte(), size, size).Draw(rt, "payload")
			origin := rapid.SampledFrom(origins).Draw(rt, "origin")
			cs := rapid.IntRange(1, 300).Draw(rt, "chunk size")
			at := t0.Add(time.Duration(rapid.IntRange(0, 10).Draw(rt, "age")) * time.Millisecond)
			msgs[i] = cut(origin, uint64(i), payload, cs, at)
			total += int64(size)
		}
		unlimited := rapid.Bool().Draw(rt, "unlimited")
		cfg := Config{MaxSize: 1 << 20, MinChunkSize: 1, Budget: total, OriginBudget: total}
		if !unlimited {
			// Budgets around the total make evictions and refusals common.
			cfg.Budget = int64(rapid.IntRange(0, int(total)+1).Draw(rt, "budget"))
			cfg.OriginBudget = int64(rapid.IntRange(0, int(total)+1).Draw(rt, "origin budget"))
		}
		cfg.MaxTransfers = rapid.IntRange(1, 7).Draw(rt, "max transfers")
		a := NewAssembler(cfg)

		type event struct {
			msg, part int
			corrupt   bool
		}
		var events []event
		for i, m := range msgs {
			for j := range m.parts {
				copies := rapid.IntRange(0, 3).Draw(rt, "copies")
				for range copies {
					events = append(events, event{i, j, rapid.IntRange(0, 9).Draw(rt, "corrupt") == 0})
				}
			}
		}
		events = rapid.Permutation(events).Draw(rt, "order")

		// The model.
		const (
			new = iota
			active
			finished
		)
		state := make([]int, nMsgs)
		got := make([]map[int]bool, nMsgs) // part -> first copy corrupted
		delivered := make([]bool, nMsgs)
		failed := make([]bool, nMsgs)
		for i := range got {
			got[i] = map[int]bool{}
		}
		index := map[Key]int{}
		for i, m := range msgs {
			index[m.key] = i
		}
		for _, e := range events {
			m := &msgs[e.msg]
			b := bytes.Clone(m.parts[e.part])
			isManifest := e.part == len(m.parts)-1
			if e.corrupt {
				if isManifest {
					b[len(b)-9] ^= 1 // inside the digest: the origin time after it is 6 bytes here
				} else if len(b) > 0 && len(m.payload) > 0 {
					b[len(b)-1] ^= 0x80
				}
			}
			p := mustDecode(rt, b)
			before := a.Stats()
			originBytes := a.byOrigin[m.key.Origin]
			r := a.Add(t0, m.key.Origin, m.origin, p)
			if s := a.Stats(); s.Bytes > cfg.Budget || s.InFlight > cfg.MaxTransfers {
				rt.Fatalf("%d bytes reserved in %d transfers, budget %d bytes, %d transfers", s.Bytes, s.InFlight, cfg.Budget, cfg.MaxTransfers)
			}
			for o, b := range a.byOrigin {
				if b > cfg.OriginBudget {
					rt.Fatalf("origin %s: %d bytes reserved, budget %d", o, b, cfg.OriginBudget)
				}
			}
			switch state[e.msg] {
			case finished:
				if r.Status != Late {
					rt.Fatalf("part %d of finished %v: %v", e.part, m.key, r.Status)
				}
				continue
			case new:
				size := int64(len(m.payload))
				fits := before.Bytes+size <= cfg.Budget && originBytes+size <= cfg.OriginBudget && before.InFlight < cfg.MaxTransfers
				if r.Status == Refused {
					if fits {
						rt.Fatalf("%v refused though it fits (%d + %d bytes, budget %d; origin %d, budget %d)", m.key, before.Bytes, size, cfg.Budget, originBytes, cfg.OriginBudget)
					}
					state[e.msg] = finished
					continue
				}
				if fits && len(r.Evicted) > 0 {
					rt.Fatalf("%v evicted %v though it fits", m.key, r.Evicted)
				}
				for _, v := range r.Evicted {
					vi := index[v]
					if state[vi] != active {
						rt.Fatalf("evicted %v in state %d", v, state[vi])
					}
					if msgs[vi].origin.After(m.origin) {
						rt.Fatalf("evicted %v, younger than the newcomer %v", v, m.key)
					}
					state[vi] = finished
				}
				state[e.msg] = active
			}
			if _, seen := got[e.msg][e.part]; seen {
				if r.Status != Duplicate {
					rt.Fatalf("duplicate part %d of %v: %v", e.part, m.key, r.Status)
				}
				continue
			}
			got[e.msg][e.part] = e.corrupt && (isManifest || len(m.payload) > 0)
			if len(got[e.msg]) < len(m.parts) {
				if r.Status != Pending {
					rt.Fatalf("part %d of %v (%d of %d): %v %v", e.part, m.key, len(got[e.msg]), len(m.parts), r.Status, r.Err)
				}
				continue
			}
			state[e.msg] = finished
			corrupted := false
			for _, c := range got[e.msg] {
				corrupted = corrupted || c
			}
			switch {
			case corrupted && r.Status != Failed:
				rt.Fatalf("%v with a corrupted part: %v", m.key, r.Status)
			case !corrupted && r.Status != Delivered:
				rt.Fatalf("%v complete and intact: %v %v", m.key, r.Status, r.Err)
			case r.Status == Delivered && (!bytes.Equal(r.Message.Payload, m.payload) || r.Message.Key != m.key):
				rt.Fatalf("%v delivered the wrong payload", m.key)
			}
			delivered[e.msg] = r.Status == Delivered
			failed[e.msg] = r.Status == Failed
		}
		inFlight, nDelivered, nFailed := 0, uint64(0), uint64(0)
		for i := range msgs {
			if state[i] == active {
				inFlight++
			}
			if delivered[i] {
				nDelivered++
			}
			if failed[i] {
				nFailed++
			}
		}
		s := a.Stats()
		if s.InFlight != inFlight || s.Delivered != nDelivered || s.DigestFailures != nFailed {
			rt.Fatalf("stats %+v, model: %d in flight, %d delivered, %d failed", s, inFlight, nDelivered, nFailed)
		}
		if unlimited && cfg.MaxTransfers >= nMsgs && (s.Evicted != 0 || s.Refused != 0) {
			rt.Fatalf("evictions or refusals with room for everything: %+v", s)
		}
		a.Expire(t0.Add(time.Hour)) // no retention: nothing expires
		if a.Stats().InFlight != inFlight {
			rt.Fatal("Expire without retention gave up transfers")
		}
	})
}

func ExampleAssembler() {
	payload := []byte("a large message, cut into chunks of 8 bytes")
	g := Geometry{Transfer: 1, Size: int64(len(payload)), ChunkSize: 8}
	a := NewAssembler(Config{MaxSize: 1 << 20, Budget: 1 << 20, OriginBudget: 1 << 20, MinChunkSize: 1})
	lim := Limits{MaxSize: 1 << 20, MaxChunkSize: 8}
	// The manifest first, then the chunks backwards.
	parts := [][]byte{AppendManifest(nil, &Manifest{Geometry: g, Digest: sha256.Sum256(payload), OriginTime: t0})}
	for i := g.Chunks() - 1; i >= 0; i-- {
		parts = append(parts, AppendChunk(nil, g, i, payload[i*8:i*8+g.ChunkLen(i)]))
	}
	for _, b := range parts {
		p, err := Decode(b, lim)
		if err != nil {
			panic(err)
		}
		if r := a.Add(t0, "origin", t0, &p); r.Status == Delivered {
			fmt.Printf("%s: %q\n", r.Message.Key, r.Message.Payload)
		}
	}
	// Output: origin/1: "a large message, cut into chunks of 8 bytes"
}

// core refuses a max_message_size below MinMessageSizeForLarge while large
// messages are on: it must be a chunk of the assembler's smallest size
// (256) and its framing, so every valid config can send large messages.
func TestMinMessageSizeForLargeIsTheSmallestChunk(t *testing.T) {
	if core.MinMessageSizeForLarge != 256+ChunkOverhead {
		t.Fatalf("core.MinMessageSizeForLarge = %d, want 256 + ChunkOverhead = %d", core.MinMessageSizeForLarge, 256+ChunkOverhead)
	}
	c := core.DefaultConfig()
	c.MaxMessageSize = core.MinMessageSizeForLarge
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.MaxMessageSize--
	if err := c.Validate(); err == nil {
		t.Fatalf("max_message_size %d accepted with large messages on", c.MaxMessageSize)
	}
	c.MaxLargeMessageSize = 0
	if err := c.Validate(); err != nil {
		t.Fatalf("max_message_size %d with large messages off: %v", c.MaxMessageSize, err)
	}
}
