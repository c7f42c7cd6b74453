package large

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

func fuzzSeeds(f *testing.F) {
	g := Geometry{Transfer: 42, Size: 1000, ChunkSize: 300}
	data := bytes.Repeat([]byte{9}, 300)
	f.Add(AppendChunk(nil, g, 0, data))
	f.Add(AppendChunk(nil, g, 3, data[:100]))
	f.Add(AppendChunk(nil, g, 4, data[:100]))                                     // index out of range
	f.Add(AppendChunk(nil, g, 1, data[:299]))                                     // short chunk
	f.Add(AppendChunk(nil, Geometry{Transfer: 1, Size: 0, ChunkSize: 1}, 0, nil)) // empty message has no chunk
	m := Manifest{Geometry: g, Digest: sha256.Sum256([]byte("x")), OriginTime: time.UnixMilli(1_763_000_000_000)}
	f.Add(AppendManifest(nil, &m))
	f.Add(AppendManifest(nil, &Manifest{Geometry: Geometry{Transfer: 2, ChunkSize: 1}}))
	f.Add(append(AppendManifest(nil, &m), 0)) // trailing byte
	f.Add(AppendManifest(nil, &m)[:40])       // truncated digest
	f.Add([]byte{})
	f.Add([]byte{Version})
	f.Add([]byte{Version, 3})
	f.Add([]byte{2, kindChunk, 0, 0, 1})
	f.Add([]byte{Version, kindChunk, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{Version, kindManifest, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1})
}

var fuzzLimits = Limits{MaxSize: 1 << 30, MaxChunkSize: 1 << 16}

// FuzzDecode: Decode never panics; a part it accepts respects the limits
// and its geometry, and encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b, fuzzLimits)
		if err != nil {
			if !errors.Is(err, ErrInvalidPart) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps neither ErrInvalidPart nor ErrTooLarge", err)
			}
			return
		}
		g := p.Geometry()
		if g.Size < 0 || g.Size > fuzzLimits.MaxSize || g.ChunkSize < 1 || g.ChunkSize > fuzzLimits.MaxChunkSize {
			t.Fatalf("accepted geometry %+v outside the limits", g)
		}
		var again []byte
		switch p.Kind {
		case KindChunk:
			c := p.Chunk
			if c.Index < 0 || c.Index >= g.Chunks() || len(c.Data) != g.ChunkLen(c.Index) {
				t.Fatalf("accepted chunk %d (%d bytes) of %+v", c.Index, len(c.Data), g)
			}
			again = AppendChunk(nil, g, c.Index, c.Data)
		case KindManifest:
			if p.Manifest.Count != g.Chunks() {
				t.Fatalf("manifest count %d for %+v", p.Manifest.Count, g)
			}
			again = AppendManifest(nil, &p.Manifest)
		default:
			t.Fatalf("kind %d", p.Kind)
		}
		// Varints have one shortest form; a longer one decodes too, so
		// compare by decoding the re-encoding instead of the bytes.
		q, err := Decode(again, fuzzLimits)
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if q.Kind != p.Kind || q.Geometry() != g || !bytes.Equal(q.Chunk.Data, p.Chunk.Data) ||
			q.Manifest.Digest != p.Manifest.Digest || !q.Manifest.OriginTime.Equal(p.Manifest.OriginTime) {
			t.Fatalf("round trip changed the part: %+v -> %+v", p, q)
		}
	})
}

// FuzzAssemble: whatever parts arrive, the Assembler never panics, never
// exceeds its budget and delivers only a payload whose SHA-256 is its
// manifest's digest.
func FuzzAssemble(f *testing.F) {
	payload := []byte("the quick brown fox jumps over the lazy dog")
	g := Geometry{Transfer: 5, Size: int64(len(payload)), ChunkSize: 16}
	var seed []byte
	for i := range g.Chunks() {
		c := AppendChunk(nil, g, i, payload[i*16:i*16+g.ChunkLen(i)])
		seed = append(append(seed, byte(len(c))), c...)
	}
	man := AppendManifest(nil, &Manifest{Geometry: g, Digest: sha256.Sum256(payload)})
	seed = append(append(seed, byte(len(man))), man...)
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := Config{MaxSize: 4096, MinChunkSize: 1, Budget: 300, OriginBudget: 200, MaxFinished: 4}
		a := NewAssembler(cfg)
		lim := Limits{MaxSize: 4096, MaxChunkSize: 256}
		for k := 0; len(b) > 0; k++ {
			n := min(int(b[0]), len(b)-1)
			part := b[1 : 1+n]
			b = b[1+n:]
			p, err := Decode(part, lim)
			if err != nil {
				continue
			}
			r := a.Add(t0, []core.PeerID{"a", "b", "c"}[k%3], t0, &p)
			if r.Status == Delivered && sha256.Sum256(r.Message.Payload) != r.Message.Manifest.Digest {
				t.Fatal("delivered a payload that does not match its digest")
			}
			if s := a.Stats(); s.Bytes > cfg.Budget {
				t.Fatalf("%d bytes reserved, budget %d", s.Bytes, cfg.Budget)
			}
		}
	})
}
