package large

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"slices"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// ErrDigestMismatch: every chunk and the manifest of a transfer arrived but
// the SHA-256 of the assembled bytes is not the manifest's digest. The
// message is not delivered.
var ErrDigestMismatch = errors.New("large: digest mismatch")

// Key names one transfer: its origin and the transfer id the origin chose.
type Key struct {
	Origin   core.PeerID
	Transfer uint64
}

// String formats k as "origin/transfer".
func (k Key) String() string { return fmt.Sprintf("%s/%d", k.Origin, k.Transfer) }

// Config bounds an Assembler.
type Config struct {
	// MaxSize is the largest message accepted (max_large_message_size).
	MaxSize int64
	// MinChunkSize is the smallest chunk size accepted (it bounds the
	// bookkeeping per byte: one bit per chunk). Default 256.
	MinChunkSize int
	// Budget bounds the bytes reserved by partial messages on this node.
	// A transfer reserves its whole size when its first part arrives.
	Budget int64
	// OriginBudget bounds the bytes reserved by the partial messages of
	// one origin.
	OriginBudget int64
	// Retention is how long after its origin time a transfer may still
	// complete: its parts are refused by the protocol's age rule after
	// message_cache_ttl + clock_skew, so Expire gives it up then.
	Retention time.Duration
	// MaxTransfers bounds the partial transfers (the bookkeeping of many
	// tiny ones, which the byte budgets barely see). Default 1024.
	MaxTransfers int
	// MaxFinished bounds the transfers remembered as finished (delivered,
	// failed, evicted, refused), whose late parts are then ignored instead
	// of starting a new assembly. Default 4096.
	MaxFinished int
}

// Status is what happened to a part.
type Status uint8

// The statuses Add reports.
const (
	// Pending: the part was taken; the message is not complete yet.
	Pending Status = iota
	// Delivered: the part completed the message and its digest matched.
	Delivered
	// Failed: the part completed the message but the digest did not match
	// (ErrDigestMismatch); the message is dropped.
	Failed
	// Duplicate: a chunk or manifest the transfer already had.
	Duplicate
	// Late: the transfer is finished (delivered, failed, evicted or
	// refused); the part is ignored.
	Late
	// Refused: the transfer does not fit (above MaxSize or a budget, or too
	// old), or the part contradicts the transfer's geometry.
	Refused
)

var statusNames = [...]string{"pending", "delivered", "failed", "duplicate", "late", "refused"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", s)
}

// Message is a complete, verified large message.
type Message struct {
	Key      Key
	Manifest Manifest
	Payload  []byte
}

// Result is the outcome of Add.
type Result struct {
	Status  Status
	Message *Message // when Delivered
	Err     error    // why, when Failed or Refused
	Evicted []Key    // transfers given up to make room for this one
}

// Stats are an Assembler's counters and gauges.
type Stats struct {
	InFlight       int    // partial transfers
	Bytes          int64  // bytes reserved by partial transfers
	Delivered      uint64 // messages completed and verified
	DigestFailures uint64 // messages completed with a wrong digest (not delivered)
	Evicted        uint64 // partial transfers given up for room (budget)
	Expired        uint64 // partial transfers given up by age (Expire)
	Refused        uint64 // parts refused (size, budget, age, geometry)
	Duplicates     uint64 // parts a transfer already had
	Late           uint64 // parts of finished transfers
}

type transfer struct {
	key        Key
	geo        Geometry
	originTime time.Time
	buf        []byte
	have       []uint64 // bitset over chunk indexes
	got        int
	manifest   *Manifest
	// The SHA-256 of the payload is computed as the chunks come: h has
	// the chunks 0..hashed-1 (the longest prefix present), so the check at
	// completion hashes only what came out of order, and no single part
	// costs a hash of the whole payload when chunks come in order.
	h      hash.Hash
	hashed int
}

// Assembler puts large messages together from their parts, in any order,
// with duplicates and losses, within a memory budget, and verifies each
// message's digest before handing it out. It does no I/O, reads no clock
// and is not safe for concurrent use.
//
// Budget: a transfer reserves its declared size when its first part
// arrives. If that would put its origin above OriginBudget, the origin's
// partial transfers with the oldest origin time are evicted first; if the
// node would then be above Budget (or MaxTransfers), the node's oldest
// partial transfers are evicted (any origin). A transfer older than every one it would have to
// evict, or larger than a budget on its own, is refused instead. Evicted and
// refused transfers are remembered (MaxFinished) so that their later parts
// are ignored rather than starting them again: a transfer never thrashes.
type Assembler struct {
	cfg      Config
	active   map[Key]*transfer
	byOrigin map[core.PeerID]int64
	bytes    int64
	finished map[Key]struct{}
	finOrder []Key
	finHead  int
	stats    Stats
}

// NewAssembler returns an empty Assembler.
func NewAssembler(cfg Config) *Assembler {
	if cfg.MinChunkSize <= 0 {
		cfg.MinChunkSize = 256
	}
	if cfg.MaxTransfers <= 0 {
		cfg.MaxTransfers = 1024
	}
	if cfg.MaxFinished <= 0 {
		cfg.MaxFinished = 4096
	}
	return &Assembler{
		cfg:      cfg,
		active:   map[Key]*transfer{},
		byOrigin: map[core.PeerID]int64{},
		finished: map[Key]struct{}{},
	}
}

// Stats returns the counters and gauges.
func (a *Assembler) Stats() Stats {
	s := a.stats
	s.InFlight = len(a.active)
	s.Bytes = a.bytes
	return s
}

// Add takes a part of a large message from origin; originTime is the
// origin time of the core message that carried it. It copies what it keeps:
// p's data may be reused afterwards.
func (a *Assembler) Add(now time.Time, origin core.PeerID, originTime time.Time, p *Part) Result {
	g := p.Geometry()
	key := Key{Origin: origin, Transfer: g.Transfer}
	if _, done := a.finished[key]; done {
		a.stats.Late++
		return Result{Status: Late}
	}
	t := a.active[key]
	var res Result
	if t == nil {
		var err error
		t, res.Evicted, err = a.admit(now, key, g, originTime)
		if err != nil {
			a.stats.Refused++
			a.finish(key)
			res.Status, res.Err = Refused, err
			return res
		}
	} else if t.geo != g {
		a.stats.Refused++
		res.Status = Refused
		res.Err = fmt.Errorf("%w: part of %s declares %+v, the transfer has %+v", ErrInvalidPart, key, g, t.geo)
		return res
	}
	switch p.Kind {
	case KindChunk:
		c := &p.Chunk
		w, bit := c.Index/64, uint64(1)<<(c.Index%64)
		if c.Index < 0 || c.Index >= g.Chunks() || len(c.Data) != g.ChunkLen(c.Index) {
			a.stats.Refused++
			res.Status, res.Err = Refused, fmt.Errorf("%w: chunk %d of %s has %d bytes", ErrInvalidPart, c.Index, key, len(c.Data))
			return res
		}
		if t.have[w]&bit != 0 {
			a.stats.Duplicates++
			res.Status = Duplicate
			return res
		}
		t.have[w] |= bit
		t.got++
		copy(t.buf[int64(c.Index)*int64(g.ChunkSize):], c.Data)
		t.hashPrefix()
	case KindManifest:
		if t.manifest != nil {
			a.stats.Duplicates++
			res.Status = Duplicate
			return res
		}
		m := p.Manifest
		t.manifest = &m
	default:
		a.stats.Refused++
		res.Status, res.Err = Refused, fmt.Errorf("%w: kind %d", ErrInvalidPart, p.Kind)
		return res
	}
	if t.manifest == nil || t.got < g.Chunks() {
		res.Status = Pending
		return res
	}
	// Complete: verify, then hand out or drop.
	a.release(t)
	a.finish(key)
	var sum [sha256.Size]byte
	t.h.Sum(sum[:0])
	if sum != t.manifest.Digest {
		a.stats.DigestFailures++
		res.Status = Failed
		res.Err = fmt.Errorf("%w: %s (%d bytes)", ErrDigestMismatch, key, g.Size)
		return res
	}
	a.stats.Delivered++
	res.Status = Delivered
	res.Message = &Message{Key: key, Manifest: *t.manifest, Payload: t.buf}
	return res
}

// hashPrefix feeds the hash with the chunks present after the prefix it
// has.
func (t *transfer) hashPrefix() {
	n := t.geo.Chunks()
	for t.hashed < n && t.have[t.hashed/64]&(uint64(1)<<(t.hashed%64)) != 0 {
		off := int64(t.hashed) * int64(t.geo.ChunkSize)
		t.h.Write(t.buf[off : off+int64(t.geo.ChunkLen(t.hashed))])
		t.hashed++
	}
}

// admit reserves room for a new transfer, evicting older ones if needed.
func (a *Assembler) admit(now time.Time, key Key, g Geometry, originTime time.Time) (*transfer, []Key, error) {
	switch {
	case g.Size > a.cfg.MaxSize:
		return nil, nil, fmt.Errorf("%w: %s is %d bytes, max_large_message_size is %d", ErrTooLarge, key, g.Size, a.cfg.MaxSize)
	case g.ChunkSize < a.cfg.MinChunkSize && g.Size > int64(g.ChunkSize):
		return nil, nil, fmt.Errorf("%w: %s has chunk size %d, minimum %d", ErrInvalidPart, key, g.ChunkSize, a.cfg.MinChunkSize)
	case g.Size > a.cfg.OriginBudget || g.Size > a.cfg.Budget:
		return nil, nil, fmt.Errorf("large: %s is %d bytes, above the assembly budget (%d per node, %d per origin)", key, g.Size, a.cfg.Budget, a.cfg.OriginBudget)
	case a.cfg.Retention > 0 && now.Sub(originTime) > a.cfg.Retention:
		return nil, nil, fmt.Errorf("large: %s is too old to complete (origin time %v)", key, originTime.UTC())
	}
	// Victims: oldest first, of this origin while its budget is exceeded,
	// then of any origin while the node's is.
	var victims []*transfer
	planned := map[Key]bool{}
	need := func(origin bool) bool {
		var freed int64
		for _, v := range victims {
			if !origin || v.key.Origin == key.Origin {
				freed += v.geo.Size
			}
		}
		if origin {
			return a.byOrigin[key.Origin]-freed+g.Size > a.cfg.OriginBudget
		}
		return a.bytes-freed+g.Size > a.cfg.Budget || len(a.active)-len(victims)+1 > a.cfg.MaxTransfers
	}
	for _, origin := range []bool{true, false} {
		if !need(origin) {
			continue
		}
		cands := make([]*transfer, 0, len(a.active))
		for _, t := range a.active {
			if !planned[t.key] && (!origin || t.key.Origin == key.Origin) {
				cands = append(cands, t)
			}
		}
		slices.SortFunc(cands, olderFirst)
		for _, c := range cands {
			if !need(origin) {
				break
			}
			if olderFirst(c, &transfer{key: key, originTime: originTime}) > 0 {
				break // the newcomer is the oldest: it yields
			}
			victims = append(victims, c)
			planned[c.key] = true
		}
		if need(origin) {
			return nil, nil, fmt.Errorf("large: %s (%d bytes) does not fit the assembly budget (%d per node, %d per origin) without evicting newer transfers", key, g.Size, a.cfg.Budget, a.cfg.OriginBudget)
		}
	}
	var evicted []Key
	for _, v := range victims {
		a.release(v)
		a.finish(v.key)
		a.stats.Evicted++
		evicted = append(evicted, v.key)
	}
	t := &transfer{
		key:        key,
		geo:        g,
		originTime: originTime,
		buf:        make([]byte, g.Size),
		h:          sha256.New(),
		have:       make([]uint64, (g.Chunks()+63)/64),
	}
	a.active[key] = t
	a.byOrigin[key.Origin] += g.Size
	a.bytes += g.Size
	return t, evicted, nil
}

func olderFirst(x, y *transfer) int {
	if c := x.originTime.Compare(y.originTime); c != 0 {
		return c
	}
	if c := cmp.Compare(x.key.Origin, y.key.Origin); c != 0 {
		return c
	}
	return cmp.Compare(x.key.Transfer, y.key.Transfer)
}

// release drops t's reservation.
func (a *Assembler) release(t *transfer) {
	delete(a.active, t.key)
	a.bytes -= t.geo.Size
	if a.byOrigin[t.key.Origin] -= t.geo.Size; a.byOrigin[t.key.Origin] <= 0 {
		delete(a.byOrigin, t.key.Origin)
	}
}

// finish remembers key as finished, forgetting the oldest beyond
// MaxFinished.
func (a *Assembler) finish(key Key) {
	if _, ok := a.finished[key]; ok {
		return
	}
	a.finished[key] = struct{}{}
	a.finOrder = append(a.finOrder, key)
	for len(a.finOrder)-a.finHead > a.cfg.MaxFinished {
		delete(a.finished, a.finOrder[a.finHead])
		a.finOrder[a.finHead] = Key{}
		a.finHead++
	}
	if a.finHead > a.cfg.MaxFinished {
		a.finOrder = slices.Clone(a.finOrder[a.finHead:])
		a.finHead = 0
	}
}

// Expire gives up the partial transfers whose origin time is more than
// Retention before now (their missing parts can no longer arrive: the
// protocol refuses copies that old) and returns their keys, oldest first.
func (a *Assembler) Expire(now time.Time) []Key {
	if a.cfg.Retention <= 0 {
		return nil
	}
	var old []*transfer
	for _, t := range a.active {
		if now.Sub(t.originTime) > a.cfg.Retention {
			old = append(old, t)
		}
	}
	slices.SortFunc(old, olderFirst)
	keys := make([]Key, 0, len(old))
	for _, t := range old {
		a.release(t)
		a.finish(t.key)
		a.stats.Expired++
		keys = append(keys, t.key)
	}
	return keys
}

// NextExpiry returns the earliest time at which Expire would give up a
// transfer, or the zero time when nothing is in flight.
func (a *Assembler) NextExpiry() time.Time {
	var next time.Time
	if a.cfg.Retention <= 0 {
		return next
	}
	for _, t := range a.active {
		if at := t.originTime.Add(a.cfg.Retention); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}
