package membership

import (
	"bufio"
	"bytes"
	"compress/lzw"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The guard in front of memberlist's inbound streams.
//
// memberlist v0.7.0 trusts the counts in a stream's headers: a push/pull
// header claiming 2^20 nodes makes it allocate about 100 MiB before it reads
// a single node, and a user state length or user message header up to
// 20 MiB before the bytes arrive. The port is ours, so every
// inbound memberlist stream is read and checked here first, then replayed to
// memberlist byte for byte:
//
//   - the whole message is read (never more than StreamLimits.MaxStreamBytes,
//     or what the push/pull it may be needs in a large cluster: see
//     pushPullNodeBytes) and every msgpack length in it must be backed by
//     bytes actually sent;
//   - a push/pull header may announce at most min(MaxPushPullNodes,
//     2 × live members + 256) nodes;
//   - compressed messages are decompressed here (bounded) and checked inside;
//     encrypted ones are decrypted with the node's keyring and checked inside
//     (a stream no installed key opens is refused: memberlist would refuse it
//     too);
//   - at most MaxStreams streams are open at once, and the bytes they hold
//     (the message, its decompressed or decrypted copy and memberlist's
//     per-node allocation) count against MaxBufferedBytes until memberlist
//     closes the stream.
//
// A refused stream is closed at once, counted in Stats and logged (at most
// once a second, with the running totals).

// Stream limits defaults.
const (
	DefaultMaxStreams       = 32
	DefaultMaxStreamBytes   = 4 << 20
	DefaultMaxBufferedBytes = 32 << 20
	DefaultMaxPushPullNodes = 16384
)

// pushNodeStateCost is what memberlist allocates per node announced in a
// push/pull header before decoding it: one pushNodeState (a string, three
// slices and three scalars: 112 bytes on 64-bit platforms), rounded up.
const pushNodeStateCost = 128

// pushPullNodeBytes bounds one member's entry in a push/pull as memberlist
// v0.7.0 encodes it: about 120 bytes of fields, a name of at most
// core.MaxPeerIDLen (255) bytes and metadata of at most
// memberlist.MetaMaxSize (512), rounded up. A stream may carry the nodes a
// push/pull may announce (streamState.allowedNodes) at this size each, when
// that is more than MaxStreamBytes: so the full-state exchanges of a large
// cluster are not refused for their size (4 MiB held about 11,000 members
// with 255-byte names), while a small cluster keeps MaxStreamBytes.
const pushPullNodeBytes = 1024

// StreamLimits bound the inbound memberlist streams (see WithStreamLimits).
// Zero fields keep their defaults.
type StreamLimits struct {
	// MaxStreams is the number of inbound memberlist streams open at once
	// (being checked or handled by memberlist). Default 32.
	MaxStreams int
	// MaxStreamBytes bounds one stream's message as sent, and its
	// decompressed or decrypted content, and a user message's or a
	// push/pull's user state. Default 4 MiB (memberlist's own limit is
	// 20 MiB). A cluster large enough that the nodes a push/pull may
	// announce need more (1 KiB per node: a member with a 255-byte name and
	// the largest metadata) gets that instead, up to 16 MiB with the
	// default MaxPushPullNodes.
	MaxStreamBytes int
	// MaxBufferedBytes bounds the bytes held for all open streams together.
	// Default 32 MiB; while a large cluster raises the stream size (see
	// MaxStreamBytes), raised if needed so that one stream of that size
	// (three copies: as sent, decrypted, decompressed) and its nodes fit.
	MaxBufferedBytes int64
	// MaxPushPullNodes is the most nodes a push/pull may announce; the
	// effective bound is min(MaxPushPullNodes, 2 × the live members
	// + 256). Default 16384.
	MaxPushPullNodes int
}

func (l StreamLimits) withDefaults() StreamLimits {
	if l.MaxStreams <= 0 {
		l.MaxStreams = DefaultMaxStreams
	}
	if l.MaxStreamBytes <= 0 {
		l.MaxStreamBytes = DefaultMaxStreamBytes
	}
	if l.MaxBufferedBytes <= 0 {
		l.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if l.MaxPushPullNodes <= 0 {
		l.MaxPushPullNodes = DefaultMaxPushPullNodes
	}
	return l
}

// memberlist's wire constants (net.go of v0.7.0).
const (
	mlPingMsg     = 0
	mlPushPullMsg = 6
	mlUserMsg     = 8
	mlCompressMsg = 9
	mlEncryptMsg  = 10
	mlHasLabelMsg = 244
	mlLZWLitWidth = 8
)

// Refusal reasons.
var (
	errGuardBusy     = errors.New("too many memberlist streams or bytes in flight")
	errGuardNodes    = errors.New("push/pull announces too many nodes")
	errGuardSize     = errors.New("message larger than the stream limit")
	errGuardFormat   = errors.New("malformed memberlist stream")
	errGuardDecrypt  = errors.New("encrypted stream no installed key opens")
	errGuardShutdown = errors.New("shutting down")
)

// streamGuard checks inbound memberlist streams before memberlist sees them.
type streamGuard struct {
	lim         StreamLimits
	log         *slog.Logger
	known       func() int      // memberlist's live members (alive or suspect)
	keys        func() [][]byte // installed keys, primary first; nil without encryption
	readTimeout func() time.Duration

	streams  atomic.Int64
	buffered atomic.Int64

	accepted, refused          atomic.Uint64
	refusedBusy, refusedNodes  atomic.Uint64
	refusedSize, refusedFormat atomic.Uint64
	refusedDecrypt             atomic.Uint64
	lastLog                    atomic.Int64
	mu                         sync.Mutex
	checking                   map[net.Conn]struct{}
	closed                     bool
}

func newStreamGuard(lim StreamLimits, log *slog.Logger) *streamGuard {
	return &streamGuard{
		lim:         lim.withDefaults(),
		log:         log,
		known:       func() int { return 1 },
		keys:        func() [][]byte { return nil },
		readTimeout: func() time.Duration { return 10 * time.Second },
		checking:    make(map[net.Conn]struct{}),
	}
}

// check reads and checks the memberlist message on c. It returns the
// connection to hand to memberlist (replaying what was read), or nil when
// the stream was refused (c is then closed).
func (g *streamGuard) check(c net.Conn) net.Conn {
	if g.streams.Add(1) > int64(g.lim.MaxStreams) {
		g.streams.Add(-1)
		g.refuse(c, errGuardBusy)
		return nil
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		g.streams.Add(-1)
		_ = c.Close()
		return nil
	}
	g.checking[c] = struct{}{}
	g.mu.Unlock()

	s := &streamState{g: g, br: bufio.NewReaderSize(c, 4096)}
	s.allowedNodes = min(g.lim.MaxPushPullNodes, 2*g.known()+256)
	s.limit, s.budget = g.lim.forNodes(s.allowedNodes)
	_ = c.SetReadDeadline(time.Now().Add(g.readTimeout()))
	err := s.checkStream()
	_ = c.SetReadDeadline(time.Time{})

	g.mu.Lock()
	delete(g.checking, c)
	if g.closed && err == nil {
		err = errGuardShutdown
	}
	g.mu.Unlock()
	if err != nil {
		g.buffered.Add(-s.reserved)
		g.streams.Add(-1)
		if len(s.rec) == 0 && errors.Is(err, io.EOF) {
			// Opened and closed without a byte: nothing to refuse
			// (memberlist ignores these too).
			_ = c.Close()
			return nil
		}
		g.refuse(c, err)
		return nil
	}
	g.accepted.Add(1)
	return &guardedConn{Conn: c, r: io.MultiReader(bytes.NewReader(s.rec), s.br), g: g, reserved: s.reserved}
}

// shutdown closes the connections being checked and refuses new ones.
func (g *streamGuard) shutdown() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for c := range g.checking {
		_ = c.Close()
	}
}

// refuse closes c, refused for err, and counts it. The count comes first:
// the peer sees the refusal only when c closes, and by then Stats shows it.
func (g *streamGuard) refuse(c net.Conn, err error) {
	defer c.Close()
	if errors.Is(err, errGuardShutdown) {
		return
	}
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout()) {
		// Truncated or too slow: a malformed stream.
		err = fmt.Errorf("%w: %v", errGuardFormat, err)
	}
	g.refused.Add(1)
	switch {
	case errors.Is(err, errGuardBusy):
		g.refusedBusy.Add(1)
	case errors.Is(err, errGuardNodes):
		g.refusedNodes.Add(1)
	case errors.Is(err, errGuardSize):
		g.refusedSize.Add(1)
	case errors.Is(err, errGuardDecrypt):
		g.refusedDecrypt.Add(1)
	default:
		g.refusedFormat.Add(1)
	}
	now := time.Now().UnixNano()
	last := g.lastLog.Load()
	if now-last < int64(time.Second) || !g.lastLog.CompareAndSwap(last, now) {
		return
	}
	g.log.Warn("membership: refused a memberlist stream", "remote", c.RemoteAddr().String(), "err", err.Error(),
		"refused_total", g.refused.Load(), "streams_open", g.streams.Load(), "bytes_buffered", g.buffered.Load())
}

// guardedConn is an accepted stream as memberlist sees it: what the guard
// read, then the rest of the connection. Close releases its share of the
// limits.
type guardedConn struct {
	net.Conn
	r        io.Reader
	g        *streamGuard
	reserved int64
	once     sync.Once
}

func (c *guardedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *guardedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.g.buffered.Add(-c.reserved)
		c.g.streams.Add(-1)
	})
	return err
}

// forNodes returns the size bound of one stream and the bound of the bytes
// held for all streams, when a push/pull may announce allowed nodes.
func (l StreamLimits) forNodes(allowed int) (limit int, budget int64) {
	if allowed*pushPullNodeBytes <= l.MaxStreamBytes {
		return l.MaxStreamBytes, l.MaxBufferedBytes
	}
	limit = allowed * pushPullNodeBytes
	return limit, max(l.MaxBufferedBytes, 3*int64(limit)+int64(allowed)*pushNodeStateCost)
}

// streamState is one stream being checked.
type streamState struct {
	g            *streamGuard
	br           *bufio.Reader
	rec          []byte // everything read from the connection
	limit        int    // the message as sent, and decompressed or decrypted
	budget       int64  // the bound of g.buffered for this stream
	reserved     int64
	allowedNodes int
	label        []byte
}

// reserve counts n more bytes against the shared budget.
func (s *streamState) reserve(n int64) error {
	if n <= 0 {
		return nil
	}
	if s.g.buffered.Add(n) > s.budget {
		s.g.buffered.Add(-n)
		return errGuardBusy
	}
	s.reserved += n
	return nil
}

// checkStream reads one memberlist stream message: an optional label
// header, then the message.
func (s *streamState) checkStream() error {
	src := &connSource{s: s}
	t, err := src.readByte()
	if err != nil {
		return err
	}
	if t == mlHasLabelMsg {
		n, err := src.readByte()
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: empty label", errGuardFormat)
		}
		label, err := src.readN(uint64(n))
		if err != nil {
			return err
		}
		s.label = append([]byte(nil), label...)
		if t, err = src.readByte(); err != nil {
			return err
		}
	}
	return s.checkMessage(src, t, true, true)
}

// checkMessage checks a message of type t whose body is read from src.
func (s *streamState) checkMessage(src byteSource, t byte, compressed, encrypted bool) error {
	switch {
	case t == mlPingMsg:
		return skipValue(src, 0)
	case t == mlPushPullMsg:
		h, err := readHeader(src, []string{"Nodes", "UserStateLen", "Join"})
		if err != nil {
			return err
		}
		nodes, userLen := h[0], h[1]
		if nodes < 0 || userLen < 0 {
			return fmt.Errorf("%w: negative count in push/pull header", errGuardFormat)
		}
		if nodes > int64(s.allowedNodes) {
			return fmt.Errorf("%w: %d announced, at most %d accepted", errGuardNodes, nodes, s.allowedNodes)
		}
		if userLen > int64(s.g.lim.MaxStreamBytes) {
			return fmt.Errorf("%w: user state of %d bytes", errGuardSize, userLen)
		}
		if err := s.reserve(nodes * pushNodeStateCost); err != nil {
			return err
		}
		for range nodes {
			if err := skipValue(src, 0); err != nil {
				return err
			}
		}
		_, err = src.readN(uint64(userLen))
		return err
	case t == mlUserMsg:
		h, err := readHeader(src, []string{"UserMsgLen"})
		if err != nil {
			return err
		}
		if h[0] < 0 {
			return fmt.Errorf("%w: negative user message length", errGuardFormat)
		}
		if h[0] > int64(s.g.lim.MaxStreamBytes) {
			return fmt.Errorf("%w: user message of %d bytes", errGuardSize, h[0])
		}
		_, err = src.readN(uint64(h[0]))
		return err
	case t == mlCompressMsg && compressed:
		return s.checkCompressed(src, encrypted)
	case t == mlEncryptMsg && encrypted:
		return s.checkEncrypted(src)
	}
	return fmt.Errorf("%w: message type %d", errGuardFormat, t)
}

// checkCompressed reads memberlist's compress{Algo, Buf} and checks the
// message inside.
func (s *streamState) checkCompressed(src byteSource, encrypted bool) error {
	var algo int64 = -1
	var buf []byte
	err := readStruct(src, []string{"Algo", "Buf"}, func(i int) error {
		var err error
		if i == 0 {
			algo, err = readInt(src)
		} else {
			buf, err = readBytes(src)
		}
		return err
	})
	if err != nil {
		return err
	}
	if algo != 0 {
		return fmt.Errorf("%w: compression algorithm %d", errGuardFormat, algo)
	}
	r := lzw.NewReader(bytes.NewReader(buf), lzw.LSB, mlLZWLitWidth)
	defer r.Close()
	var out bytes.Buffer
	n, err := io.CopyN(&out, r, int64(s.limit)+1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("%w: decompress: %v", errGuardFormat, err)
	}
	if n > int64(s.limit) {
		return fmt.Errorf("%w: decompresses to more than %d bytes", errGuardSize, s.limit)
	}
	if n == 0 {
		return fmt.Errorf("%w: empty compressed message", errGuardFormat)
	}
	// memberlist holds the decompressed copy while it handles the stream.
	if err := s.reserve(n); err != nil {
		return err
	}
	inner := out.Bytes()
	mem := &memSource{b: inner[1:]}
	if err := s.checkMessage(mem, inner[0], false, false); err != nil {
		return err
	}
	return nil
}

// checkEncrypted reads memberlist's encrypted message ([length][version]
// [nonce][ciphertext+tag], AES-GCM authenticated with the type, the length
// and the label), opens it with the installed keys and checks the message
// inside.
func (s *streamState) checkEncrypted(src byteSource) error {
	keys := s.g.keys()
	if len(keys) == 0 {
		return fmt.Errorf("%w: encrypted stream but no keyring", errGuardDecrypt)
	}
	lb, err := src.readN(4)
	if err != nil {
		return err
	}
	aad := append([]byte{mlEncryptMsg}, lb...)
	aad = append(aad, s.label...)
	n := binary.BigEndian.Uint32(lb)
	if uint64(n) > uint64(s.limit) {
		return fmt.Errorf("%w: encrypted message of %d bytes", errGuardSize, n)
	}
	msg, err := src.readN(uint64(n))
	if err != nil {
		return err
	}
	const versionSize, nonceSize, tagSize = 1, 12, 16
	if len(msg) < versionSize+nonceSize+tagSize || msg[0] > 1 {
		return fmt.Errorf("%w: bad encryption header", errGuardDecrypt)
	}
	var plain []byte
	for _, k := range keys {
		block, err := aes.NewCipher(k)
		if err != nil {
			continue
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			continue
		}
		if p, err := gcm.Open(nil, msg[versionSize:versionSize+nonceSize], msg[versionSize+nonceSize:], aad); err == nil {
			plain = p
			break
		}
	}
	if plain == nil {
		return errGuardDecrypt
	}
	if msg[0] == 0 { // PKCS7 padding
		if len(plain) == 0 || int(plain[len(plain)-1]) > len(plain) || plain[len(plain)-1] == 0 {
			return fmt.Errorf("%w: bad padding", errGuardDecrypt)
		}
		plain = plain[:len(plain)-int(plain[len(plain)-1])]
	}
	if len(plain) == 0 {
		return fmt.Errorf("%w: empty encrypted message", errGuardFormat)
	}
	if err := s.reserve(int64(len(plain))); err != nil {
		return err
	}
	return s.checkMessage(&memSource{b: plain[1:]}, plain[0], true, false)
}

// byteSource is what the msgpack checks read from: the connection
// (recorded, bounded, budgeted) or a decoded copy in memory.
type byteSource interface {
	readByte() (byte, error)
	// readN returns the next n bytes; the slice is valid until the next call.
	readN(n uint64) ([]byte, error)
	// remaining bounds how many more bytes can be read.
	remaining() uint64
}

type connSource struct{ s *streamState }

func (c *connSource) remaining() uint64 { return uint64(c.s.limit - len(c.s.rec)) }

func (c *connSource) readByte() (byte, error) {
	b, err := c.readN(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (c *connSource) readN(n uint64) ([]byte, error) {
	s := c.s
	if n > c.remaining() {
		return nil, fmt.Errorf("%w: more than %d bytes", errGuardSize, s.limit)
	}
	start := len(s.rec)
	// Grow with what arrives, not with what is announced.
	for left := int(n); left > 0; {
		chunk := min(left, 32<<10)
		if err := s.reserve(int64(chunk)); err != nil {
			return nil, err
		}
		s.rec = append(s.rec, make([]byte, chunk)...)
		if _, err := io.ReadFull(s.br, s.rec[len(s.rec)-chunk:]); err != nil {
			return nil, err
		}
		left -= chunk
	}
	return s.rec[start:], nil
}

type memSource struct{ b []byte }

func (m *memSource) remaining() uint64 { return uint64(len(m.b)) }

func (m *memSource) readByte() (byte, error) {
	if len(m.b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	b := m.b[0]
	m.b = m.b[1:]
	return b, nil
}

func (m *memSource) readN(n uint64) ([]byte, error) {
	if n > uint64(len(m.b)) {
		return nil, io.ErrUnexpectedEOF
	}
	out := m.b[:n]
	m.b = m.b[n:]
	return out, nil
}

// maxMsgpackDepth bounds nesting (memberlist's messages nest two levels).
const maxMsgpackDepth = 16

// msgpackLen reads the big-endian length of size bytes.
func msgpackLen(src byteSource, size int) (uint64, error) {
	b, err := src.readN(uint64(size))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, x := range b {
		n = n<<8 | uint64(x)
	}
	return n, nil
}

// skipValue reads one msgpack value, checking that every length in it is
// backed by bytes.
func skipValue(src byteSource, depth int) error {
	if depth > maxMsgpackDepth {
		return fmt.Errorf("%w: nested too deep", errGuardFormat)
	}
	b, err := src.readByte()
	if err != nil {
		return err
	}
	var n uint64 // bytes to skip
	var items uint64
	switch {
	case b <= 0x7f || b >= 0xe0, b == 0xc0, b == 0xc2, b == 0xc3:
		return nil
	case b&0xf0 == 0x80:
		items = 2 * uint64(b&0x0f)
	case b&0xf0 == 0x90:
		items = uint64(b & 0x0f)
	case isBytes(b):
		n, err = bytesLen(src, b)
	case b == 0xc7:
		n, err = msgpackLen(src, 1)
		n++
	case b == 0xc8:
		n, err = msgpackLen(src, 2)
		n++
	case b == 0xc9:
		n, err = msgpackLen(src, 4)
		n++
	case b == 0xca:
		n = 4
	case b == 0xcb:
		n = 8
	case b >= 0xcc && b <= 0xcf:
		n = 1 << (b - 0xcc)
	case b >= 0xd0 && b <= 0xd3:
		n = 1 << (b - 0xd0)
	case b >= 0xd4 && b <= 0xd8:
		n = 1 + 1<<(b-0xd4)
	case b == 0xdc:
		items, err = msgpackLen(src, 2)
	case b == 0xdd:
		items, err = msgpackLen(src, 4)
	case b == 0xde:
		items, err = msgpackLen(src, 2)
		items *= 2
	case b == 0xdf:
		items, err = msgpackLen(src, 4)
		items *= 2
	default:
		return fmt.Errorf("%w: msgpack byte 0x%02x", errGuardFormat, b)
	}
	if err != nil {
		return err
	}
	if items > src.remaining() { // each item takes at least one byte
		return fmt.Errorf("%w: %d items announced, %d bytes left", errGuardSize, items, src.remaining())
	}
	for range items {
		if err := skipValue(src, depth+1); err != nil {
			return err
		}
	}
	if n > 0 {
		if _, err := src.readN(n); err != nil {
			return err
		}
	}
	return nil
}

// readInt reads a msgpack integer.
func readInt(src byteSource) (int64, error) {
	b, err := src.readByte()
	if err != nil {
		return 0, err
	}
	switch {
	case b <= 0x7f:
		return int64(b), nil
	case b >= 0xe0:
		return int64(int8(b)), nil
	case b >= 0xcc && b <= 0xcf:
		v, err := msgpackLen(src, 1<<(b-0xcc))
		if v > 1<<62 {
			v = 1 << 62 // absurd either way
		}
		return int64(v), err
	case b >= 0xd0 && b <= 0xd3:
		size := 1 << (b - 0xd0)
		v, err := msgpackLen(src, size)
		shift := 64 - 8*size
		return int64(v<<shift) >> shift, err
	}
	return 0, fmt.Errorf("%w: expected an integer, got msgpack byte 0x%02x", errGuardFormat, b)
}

// readBytes reads a msgpack str or bin.
func readBytes(src byteSource) ([]byte, error) {
	b, err := src.readByte()
	if err != nil {
		return nil, err
	}
	switch {
	case b == 0xc0:
		return nil, nil
	case !isBytes(b):
		return nil, fmt.Errorf("%w: expected bytes, got msgpack byte 0x%02x", errGuardFormat, b)
	}
	n, err := bytesLen(src, b)
	if err != nil {
		return nil, err
	}
	return src.readN(n)
}

// isBytes reports whether b starts a msgpack str or bin.
func isBytes(b byte) bool {
	return b&0xe0 == 0xa0 || (b >= 0xc4 && b <= 0xc6) || (b >= 0xd9 && b <= 0xdb)
}

// bytesLen reads the length of the msgpack str or bin that b starts
// (isBytes(b)).
func bytesLen(src byteSource, b byte) (uint64, error) {
	switch {
	case b&0xe0 == 0xa0:
		return uint64(b & 0x1f), nil
	case b == 0xc4 || b == 0xd9:
		return msgpackLen(src, 1)
	case b == 0xc5 || b == 0xda:
		return msgpackLen(src, 2)
	default: // 0xc6, 0xdb
		return msgpackLen(src, 4)
	}
}

// readStruct reads a msgpack-encoded struct with the given fields, as a map
// (memberlist's encoding) or an array (which its decoder also accepts),
// calling field for each known field and skipping the others.
func readStruct(src byteSource, fields []string, field func(i int) error) error {
	b, err := src.readByte()
	if err != nil {
		return err
	}
	var n uint64
	isMap := true
	switch {
	case b&0xf0 == 0x80:
		n = uint64(b & 0x0f)
	case b == 0xde:
		n, err = msgpackLen(src, 2)
	case b == 0xdf:
		n, err = msgpackLen(src, 4)
	case b&0xf0 == 0x90:
		n, isMap = uint64(b&0x0f), false
	case b == 0xdc:
		n, isMap = 0, false
		n, err = msgpackLen(src, 2)
	case b == 0xdd:
		n, isMap = 0, false
		n, err = msgpackLen(src, 4)
	default:
		return fmt.Errorf("%w: expected a map, got msgpack byte 0x%02x", errGuardFormat, b)
	}
	if err != nil {
		return err
	}
	if n > src.remaining() {
		return fmt.Errorf("%w: %d fields announced", errGuardFormat, n)
	}
	for i := range n {
		idx := -1
		if isMap {
			key, err := readBytes(src)
			if err != nil {
				return err
			}
			for j, f := range fields {
				if string(key) == f {
					idx = j
				}
			}
		} else if i < uint64(len(fields)) {
			idx = int(i)
		}
		if idx < 0 {
			if err := skipValue(src, 1); err != nil {
				return err
			}
			continue
		}
		if err := field(idx); err != nil {
			return err
		}
	}
	return nil
}

// readHeader reads a header struct whose fields are integers, except a
// trailing bool in push/pull's Join (skipped). It returns the largest value
// seen per integer field (a repeated key cannot hide a larger count).
func readHeader(src byteSource, fields []string) ([]int64, error) {
	vals := make([]int64, len(fields))
	err := readStruct(src, fields, func(i int) error {
		if fields[i] == "Join" {
			return skipValue(src, 1)
		}
		v, err := readInt(src)
		if err != nil {
			return err
		}
		if v < 0 {
			vals[i] = min(vals[i], v)
		} else if vals[i] >= 0 {
			vals[i] = max(vals[i], v)
		}
		return nil
	})
	return vals, err
}
