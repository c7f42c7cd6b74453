package core

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The seen set (ring + fifoIndex) against a map model: FIFO eviction by
// size, TTL expiry, lookups of present and absent ids, growth.
func TestSeenSetModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		max := rapid.IntRange(1, 300).Draw(t, "max")
		var s seenSet
		s.init(max, time.Minute)
		model := map[MessageID]uint16{}
		var order []MessageID
		now := time.Unix(0, 0)
		ops := rapid.IntRange(1, 2000).Draw(t, "ops")
		for i := 0; i < ops; i++ {
			id := MessageID{Origin: PeerID(rune('a' + rapid.IntRange(0, 3).Draw(t, "o"))), Seq: uint64(rapid.IntRange(0, 400).Draw(t, "seq"))}
			if rapid.IntRange(0, 20).Draw(t, "advance") == 0 {
				now = now.Add(10 * time.Second)
				s.expire(now)
			}
			e, ok := s.get(id)
			if _, mok := model[id]; ok != mok {
				// The model forgets by TTL too: rebuild it from the ring.
				model = map[MessageID]uint16{}
				for n := s.first; n < s.next; n++ {
					model[s.slot(n).id] = s.slot(n).hops
				}
				if _, mok := model[id]; ok != mok {
					t.Fatalf("get(%v) = %v, model %v", id, ok, mok)
				}
			}
			if ok {
				if e.hops != model[id] {
					t.Fatalf("hops %d, model %d", e.hops, model[id])
				}
				continue
			}
			hops := uint16(i)
			ev := s.add(now, id, hops, "x")
			if ev == 1 {
				delete(model, order[0])
			}
			model[id] = hops
			order = append(order, id)
			for len(order) > 0 {
				if _, in := model[order[0]]; in {
					break
				}
				order = order[1:]
			}
			if s.len() > max || s.len() != s.idx.count {
				t.Fatalf("len %d index %d max %d", s.len(), s.idx.count, max)
			}
		}
		for n := s.first; n < s.next; n++ {
			if e, ok := s.get(s.slot(n).id); !ok || e.n != n {
				t.Fatalf("entry %d lost", n)
			}
		}
	})
}

func TestMemStore(t *testing.T) {
	now := time.Unix(100, 0)
	s := NewMemStore(3, time.Second)
	for i := uint64(1); i <= 4; i++ {
		s.Put(now, MessageID{Origin: "o", Seq: i}, StoredMessage{Hops: uint16(i)})
	}
	if s.Len() != 3 || s.Capacity() != 3 {
		t.Fatalf("len %d cap %d", s.Len(), s.Capacity())
	}
	if _, ok := s.Get(now, MessageID{Origin: "o", Seq: 1}); ok {
		t.Error("oldest not evicted")
	}
	if m, ok := s.Get(now, MessageID{Origin: "o", Seq: 4}); !ok || m.Hops != 4 {
		t.Error("newest missing")
	}
	s.Put(now, MessageID{Origin: "o", Seq: 4}, StoredMessage{Hops: 9})
	if m, _ := s.Get(now, MessageID{Origin: "o", Seq: 4}); m.Hops != 9 || s.Len() != 3 {
		t.Error("replace")
	}
	if _, ok := s.Get(now.Add(2*time.Second), MessageID{Origin: "o", Seq: 4}); ok {
		t.Error("expired entry returned")
	}
	if n := s.Expire(now.Add(2 * time.Second)); n != 3 || s.Len() != 0 {
		t.Errorf("expired %d, len %d", n, s.Len())
	}
	if r := s.Retention(now.Add(2 * time.Second)); r != time.Second {
		t.Errorf("retention of an empty store %v, want the TTL", r)
	}
	if NewMemStore(0, time.Second).Capacity() != 1 {
		t.Error("capacity floor")
	}
	// Long FIFO runs keep the index consistent.
	big := NewMemStore(1000, time.Hour)
	for i := uint64(0); i < 50000; i++ {
		big.Put(now, MessageID{Origin: "p", Seq: i}, StoredMessage{})
		if i >= 1000 {
			if _, ok := big.Get(now, MessageID{Origin: "p", Seq: i - 1000}); ok {
				t.Fatalf("%d not evicted", i-1000)
			}
		}
	}
	for i := uint64(49000); i < 50000; i++ {
		if _, ok := big.Get(now, MessageID{Origin: "p", Seq: i}); !ok {
			t.Fatalf("%d missing", i)
		}
	}
}

// MemStore's retention: the TTL until it evicts a live entry for room, then
// the age of the next to go, back to the TTL a TTL after the last such
// eviction. A late copy (an old origin time) does not move that back.
func TestMemStoreRetention(t *testing.T) {
	t0 := time.Unix(100, 0)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	s := NewMemStore(2, 10*time.Second)
	s.Put(sec(0), MessageID{Origin: "o", Seq: 1}, StoredMessage{})
	s.Put(sec(1), MessageID{Origin: "o", Seq: 2}, StoredMessage{})
	if r := s.Retention(sec(5)); r != 10*time.Second {
		t.Fatalf("full, nothing evicted: %v, want the TTL", r)
	}
	s.Put(sec(6), MessageID{Origin: "o", Seq: 3}, StoredMessage{}) // evicts 1
	if r := s.Retention(sec(6)); r != 5*time.Second {
		t.Fatalf("after an eviction for room: %v, want 5s (seq 2's age)", r)
	}
	s.Put(sec(2), MessageID{Origin: "o", Seq: 4}, StoredMessage{}) // a late copy evicts 2
	// seq 3 (origin time 6 s) is next to go, 9 s old at 15 s; had the late
	// copy's time counted, the last eviction would be 13 s old, past the TTL.
	if r := s.Retention(sec(15)); r != 9*time.Second {
		t.Fatalf("at 15 s: %v, want 9s", r)
	}
	if r := s.Retention(sec(16).Add(1)); r != 10*time.Second {
		t.Fatalf("a TTL after the last eviction for room: %v, want the TTL", r)
	}
	if r := s.Retention(sec(0)); r < 0 {
		t.Fatalf("negative retention %v", r)
	}
}

// A MemStore made with a byte bound holds at most that many bytes of
// payloads and headers, forgetting its oldest entries for room (which
// its retention reports), and keeps one entry larger than the bound alone.
func TestMemStoreByteBound(t *testing.T) {
	now := time.Unix(100, 0)
	kib := func(n int) StoredMessage { return StoredMessage{Payload: make([]byte, n<<10)} }
	s := NewMemStoreBytes(100, 10<<10, time.Minute)
	for i := uint64(1); i <= 12; i++ {
		s.Put(now, MessageID{Origin: "o", Seq: i}, kib(1))
	}
	if s.Len() != 10 || s.Bytes() != 10<<10 {
		t.Fatalf("12 messages of 1 KiB under 10 KiB: %d held, %d bytes; want 10 and 10240", s.Len(), s.Bytes())
	}
	if _, ok := s.Get(now, MessageID{Origin: "o", Seq: 2}); ok {
		t.Error("the oldest were not the ones forgotten")
	}
	if r := s.Retention(now); r != 0 {
		t.Errorf("retention %v after forgetting live entries of this instant, want 0", r)
	}
	// Headers count.
	s.Put(now, MessageID{Origin: "o", Seq: 13}, StoredMessage{Payload: make([]byte, 1000), Headers: []Header{{Key: "k", Value: string(make([]byte, 23))}}})
	if s.Len() != 10 || s.Bytes() != 9<<10+1024 {
		t.Fatalf("after a message of 1,000 bytes and 24 of headers: %d held, %d bytes", s.Len(), s.Bytes())
	}
	// One message larger than the bound is kept, alone.
	s.Put(now, MessageID{Origin: "o", Seq: 14}, kib(20))
	if m, ok := s.Get(now, MessageID{Origin: "o", Seq: 14}); !ok || len(m.Payload) != 20<<10 || s.Len() != 1 || s.Bytes() != 20<<10 {
		t.Fatalf("a 20 KiB message under 10 KiB: stored %v, %d held, %d bytes", ok, s.Len(), s.Bytes())
	}
	s.Put(now, MessageID{Origin: "o", Seq: 15}, kib(1))
	if s.Len() != 1 || s.Bytes() != 1<<10 {
		t.Fatalf("after it, 1 KiB: %d held, %d bytes", s.Len(), s.Bytes())
	}
	if n := s.Expire(now.Add(2 * time.Minute)); n != 1 || s.Bytes() != 0 {
		t.Fatalf("expired %d, %d bytes left", n, s.Bytes())
	}
}

// Over random puts, replacements and expiries the byte count is the sum of
// the entries' sizes, and the store stays within its bounds (over the byte
// bound only with one entry, or until the next Put after a replacement).
func TestMemStoreBytesAccounting(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		maxBytes := rapid.Int64Range(1, 4096).Draw(t, "maxBytes")
		s := NewMemStoreBytes(rapid.IntRange(1, 20).Draw(t, "capacity"), maxBytes, 10*time.Second)
		now := time.Unix(100, 0)
		for range rapid.IntRange(1, 300).Draw(t, "ops") {
			now = now.Add(time.Duration(rapid.IntRange(0, 200).Draw(t, "step")) * time.Millisecond)
			if rapid.IntRange(0, 9).Draw(t, "op") == 0 {
				s.Expire(now)
				continue
			}
			id := MessageID{Origin: "o", Seq: rapid.Uint64Range(0, 40).Draw(t, "seq")}
			_, replaced := s.Get(now, id)
			s.Put(now, id, StoredMessage{Payload: make([]byte, rapid.IntRange(0, 600).Draw(t, "size"))})
			var sum int64
			for n := s.first; n < s.next; n++ {
				sum += int64(len(s.slot(n).m.Payload))
			}
			if sum != s.Bytes() {
				t.Fatalf("%d bytes counted, entries hold %d", s.Bytes(), sum)
			}
			if s.Len() > s.Capacity() {
				t.Fatalf("%d entries, capacity %d", s.Len(), s.Capacity())
			}
			if s.Bytes() > maxBytes && s.Len() > 1 && !replaced {
				t.Fatalf("%d bytes in %d entries, bound %d", s.Bytes(), s.Len(), maxBytes)
			}
		}
	})
}
