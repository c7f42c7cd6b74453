package large

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Errors returned by Decode. Every malformed part wraps ErrInvalidPart.
var (
	// ErrInvalidPart: the bytes are not a well-formed manifest or chunk.
	ErrInvalidPart = errors.New("large: invalid part")
	// ErrTooLarge: the part declares a message above the decoder's limit.
	ErrTooLarge = errors.New("large: message too large")
)

// Format of a part (the payload of a core message carrying HeaderKey):
//
//	byte    Version (1)
//	byte    kind: 1 chunk, 2 manifest
//	uvarint transfer id
//	uvarint size of the whole payload (bytes)
//	uvarint chunk size (bytes, >= 1)
//	chunk:    uvarint index, then the chunk's bytes up to the end
//	manifest: uvarint chunk count, 32 bytes SHA-256 of the whole payload,
//	          varint origin time (Unix ms), and nothing after
const (
	// Version is the format version of parts.
	Version = 1

	kindChunk    = 1
	kindManifest = 2

	// ChunkOverhead bounds the bytes a chunk adds to its data (version,
	// kind and four varints): a chunk of c data bytes is a payload of at
	// most c + ChunkOverhead bytes.
	ChunkOverhead = 2 + 4*binary.MaxVarintLen64
	// MaxSizeLimit is the largest size a part may declare (1 TiB); a
	// decoder's own limit is usually far lower.
	MaxSizeLimit = 1 << 40
)

// HeaderKey is the header that marks a core message as a part of a large
// message; its value is HeaderValue. The runtime strips it before delivery.
const (
	HeaderKey   = "plumtree-large"
	HeaderValue = "1"
)

// Kind tells a manifest from a chunk.
type Kind uint8

// The two kinds of part.
const (
	KindChunk    Kind = kindChunk
	KindManifest Kind = kindManifest
)

// Geometry is what every part of a transfer declares: which transfer, how
// big the whole payload is and how it is cut. Chunk i holds bytes
// [i*ChunkSize, min((i+1)*ChunkSize, Size)).
type Geometry struct {
	Transfer  uint64 // unique per origin (the origin chooses it)
	Size      int64  // bytes of the whole payload
	ChunkSize int    // bytes per chunk, the last one may be shorter
}

// Chunks returns the number of chunks: ceil(Size / ChunkSize).
func (g Geometry) Chunks() int {
	if g.Size <= 0 || g.ChunkSize <= 0 {
		return 0
	}
	return int((g.Size + int64(g.ChunkSize) - 1) / int64(g.ChunkSize))
}

// ChunkLen returns the length of chunk i (0 for an index out of range).
func (g Geometry) ChunkLen(i int) int {
	if i < 0 || i >= g.Chunks() {
		return 0
	}
	start := int64(i) * int64(g.ChunkSize)
	return int(min(int64(g.ChunkSize), g.Size-start))
}

// Manifest describes a whole large message. It is sent after the last chunk
// (the origin streams its payload and knows the digest only at the end).
type Manifest struct {
	Geometry
	Count      int       // chunk count, always Geometry.Chunks()
	Digest     [32]byte  // SHA-256 of the whole payload
	OriginTime time.Time // the origin's clock at publish, ms precision
}

// Chunk is one piece of a large message.
type Chunk struct {
	Geometry
	Index int
	Data  []byte // aliases the decoded bytes
}

// Part is a decoded manifest or chunk.
type Part struct {
	Kind     Kind
	Chunk    Chunk    // when Kind == KindChunk
	Manifest Manifest // when Kind == KindManifest
}

// Geometry returns the part's geometry.
func (p *Part) Geometry() Geometry {
	if p.Kind == KindManifest {
		return p.Manifest.Geometry
	}
	return p.Chunk.Geometry
}

// Limits bound what Decode accepts.
type Limits struct {
	MaxSize      int64 // largest declared Size (at most MaxSizeLimit)
	MaxChunkSize int   // largest declared ChunkSize
}

func appendHead(b []byte, kind byte, g Geometry) []byte {
	b = append(b, Version, kind)
	b = binary.AppendUvarint(b, g.Transfer)
	b = binary.AppendUvarint(b, uint64(g.Size))
	return binary.AppendUvarint(b, uint64(g.ChunkSize))
}

// AppendChunk appends the encoding of a chunk of geometry g with index i and
// the given data to b. It does not check the data's length against g.
func AppendChunk(b []byte, g Geometry, i int, data []byte) []byte {
	b = appendHead(b, kindChunk, g)
	b = binary.AppendUvarint(b, uint64(i))
	return append(b, data...)
}

// AppendManifest appends the encoding of m to b (m.Count is written as
// m.Chunks(), whatever its value).
func AppendManifest(b []byte, m *Manifest) []byte {
	b = appendHead(b, kindManifest, m.Geometry)
	b = binary.AppendUvarint(b, uint64(m.Chunks()))
	b = append(b, m.Digest[:]...)
	return binary.AppendVarint(b, m.OriginTime.UnixMilli())
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad %s", ErrInvalidPart, what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Decode decodes a part. The result aliases b. Every error wraps
// ErrInvalidPart or ErrTooLarge; Decode never panics and allocates nothing
// that grows with the declared sizes.
func Decode(b []byte, lim Limits) (Part, error) {
	var p Part
	if len(b) < 2 {
		return p, fmt.Errorf("%w: %d bytes", ErrInvalidPart, len(b))
	}
	if b[0] != Version {
		return p, fmt.Errorf("%w: version %d, want %d", ErrInvalidPart, b[0], Version)
	}
	kind := b[1]
	if kind != kindChunk && kind != kindManifest {
		return p, fmt.Errorf("%w: kind %d", ErrInvalidPart, kind)
	}
	r := reader{b: b[2:]}
	var g Geometry
	g.Transfer = r.uvarint("transfer")
	size := r.uvarint("size")
	cs := r.uvarint("chunk size")
	if r.err != nil {
		return p, r.err
	}
	maxSize := min(lim.MaxSize, MaxSizeLimit)
	if size > uint64(maxSize) {
		return p, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, maxSize)
	}
	if cs == 0 || cs > uint64(lim.MaxChunkSize) || cs > math.MaxInt32 {
		return p, fmt.Errorf("%w: chunk size %d, must be in [1, %d]", ErrInvalidPart, cs, lim.MaxChunkSize)
	}
	g.Size, g.ChunkSize = int64(size), int(cs)
	switch kind {
	case kindChunk:
		idx := r.uvarint("index")
		if r.err != nil {
			return p, r.err
		}
		if idx >= uint64(g.Chunks()) {
			return p, fmt.Errorf("%w: chunk %d of %d", ErrInvalidPart, idx, g.Chunks())
		}
		i := int(idx)
		if len(r.b) != g.ChunkLen(i) {
			return p, fmt.Errorf("%w: chunk %d has %d bytes, want %d", ErrInvalidPart, i, len(r.b), g.ChunkLen(i))
		}
		p.Kind = KindChunk
		p.Chunk = Chunk{Geometry: g, Index: i, Data: r.b}
	case kindManifest:
		count := r.uvarint("chunk count")
		if r.err != nil {
			return p, r.err
		}
		if count != uint64(g.Chunks()) {
			return p, fmt.Errorf("%w: chunk count %d, size %d / chunk size %d needs %d", ErrInvalidPart, count, g.Size, g.ChunkSize, g.Chunks())
		}
		if len(r.b) < 32 {
			return p, fmt.Errorf("%w: short digest", ErrInvalidPart)
		}
		var m Manifest
		m.Geometry, m.Count = g, int(count)
		copy(m.Digest[:], r.b[:32])
		r.b = r.b[32:]
		ms, n := binary.Varint(r.b)
		if n <= 0 {
			return p, fmt.Errorf("%w: bad origin time", ErrInvalidPart)
		}
		if n != len(r.b) {
			return p, fmt.Errorf("%w: %d bytes after the manifest", ErrInvalidPart, len(r.b)-n)
		}
		m.OriginTime = time.UnixMilli(ms)
		p.Kind = KindManifest
		p.Manifest = m
	}
	return p, nil
}
