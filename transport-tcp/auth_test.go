package tcp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// testKeyring is a keyring with memberlist's semantics: keys[0] is the
// primary; AddKey installs a secondary, UseKey makes a key the primary,
// RemoveKey removes a secondary.
type testKeyring struct {
	mu   sync.Mutex
	keys [][]byte
}

func newKeyring(primary []byte, others ...[]byte) *testKeyring {
	return &testKeyring{keys: append([][]byte{primary}, others...)}
}

func (k *testKeyring) GetPrimaryKey() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys[0]
}

// GetKeys returns the current slice without copying, like memberlist's:
// the mutators below replace it instead of changing it.
func (k *testKeyring) GetKeys() [][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys
}

func (k *testKeyring) AddKey(key []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = append(slices.Clone(k.keys), key)
}

func (k *testKeyring) UseKey(key []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys := slices.Clone(k.keys)
	i := slices.IndexFunc(keys, func(x []byte) bool { return bytes.Equal(x, key) })
	keys[0], keys[i] = keys[i], keys[0]
	k.keys = keys
}

func (k *testKeyring) RemoveKey(key []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = slices.DeleteFunc(slices.Clone(k.keys), func(x []byte) bool { return bytes.Equal(x, key) })
}

func testKey(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// keyedRaw is a hand-driven keyed connection: it runs the dialer's side of
// the handshake with whatever key it is given.
type keyedRaw struct {
	c  net.Conn
	br *bufio.Reader
	tx *sealer
	rx *opener
}

func dialRawKeyed(t *testing.T, addr string, id core.PeerID, inc uint64, key []byte) *keyedRaw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	nonce := newNonce()
	mine := appendKeyedHello(nil, inc, id, &nonce)
	c.Write(mine)
	r := &keyedRaw{c: c, br: bufio.NewReader(c)}
	h, err := readHello(r.br)
	if err != nil {
		t.Fatalf("hello from the transport: %v", err)
	}
	proof, err := readProof(r.br)
	if err != nil {
		t.Fatalf("proof from the transport: %v", err)
	}
	th := transcript(mine, h.raw)
	kr := newKeyring(key)
	if verifyProof(kr.GetKeys(), labelAcceptor, &th, proof) != bytes.Equal(key, testKey(1, 32)) {
		t.Fatalf("the transport's proof checks with key %x: %v", key[:1], !bytes.Equal(key, testKey(1, 32)))
	}
	c.Write(keyedMAC(key, labelDialer, &th))
	r.tx = &sealer{kr: kr, label: labelD2A, th: th}
	r.rx = &opener{kr: kr, label: labelA2D, th: th}
	return r
}

// sealed returns f sealed and length-prefixed.
func (r *keyedRaw) sealed(f []byte) []byte {
	b, err := r.tx.seal(nil, f)
	if err != nil {
		panic(err)
	}
	return lengthPrefixed(b)
}

// readFrame reads and opens one frame; an error when the transport closed.
func (r *keyedRaw) readFrame() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r.br, hdr[:]); err != nil {
		return nil, err
	}
	f := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(r.br, f); err != nil {
		return nil, err
	}
	g, ok := r.rx.open(f)
	if !ok {
		return nil, io.ErrUnexpectedEOF
	}
	return g, nil
}

// keyedPair returns two connected transports "a" and "b" holding keyrings
// ka and kb.
func keyedPair(t *testing.T, ka, kb Keyring, opts ...Option) (a, b *Transport) {
	t.Helper()
	a = newTransport(t, "a", append([]Option{WithKeyring(ka)}, opts...)...)
	b = newTransport(t, "b", append([]Option{WithKeyring(kb)}, opts...)...)
	a.SetPeerAddr("b", b.Addr().String())
	b.SetPeerAddr("a", a.Addr().String())
	connect(t, a, b)
	return a, b
}

// connect makes a dial b and waits until both use that one connection, so
// that no duplicate dialed from both sides reorders the first frames (order
// is kept per connection).
func connect(t *testing.T, a, b *Transport) {
	t.Helper()
	sendRetry(t, a, b.Self(), testFrame(0, 50), 10*time.Second)
	recvN(t, b, 1, 30*time.Second)
	eventually(t, 30*time.Second, "one connection", func() bool {
		sa, sb := a.Stats(), b.Stats()
		return sa.Conns == 1 && sb.Conns == 1 && sa.ConnectedPeers == 1 && sb.ConnectedPeers == 1
	})
}

// exchange sends n frames each way between a and b and checks they arrive
// in order.
func exchange(t *testing.T, a, b *Transport, first uint64, n int) {
	t.Helper()
	for i := range n {
		sendRetry(t, a, b.Self(), testFrame(first+uint64(i), 300), 10*time.Second)
		sendRetry(t, b, a.Self(), testFrame(first+uint64(i), 300), 10*time.Second)
	}
	for _, rx := range []*Transport{a, b} {
		for i, f := range recvN(t, rx, n, 30*time.Second) {
			if frameSeq(f.Data) != first+uint64(i) {
				t.Fatalf("%s: frame %d has seq %d", rx.Self(), i, frameSeq(f.Data))
			}
		}
	}
}

func TestKeyringExchange(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		k := newKeyring(testKey(1, n))
		a, b := keyedPair(t, k, k)
		exchange(t, a, b, 0, 200)
		for _, tr := range []*Transport{a, b} {
			if s := tr.Stats(); s.AuthFailures != 0 || s.BadFrames != 0 || s.HandshakeFailures != 0 {
				t.Errorf("%d-byte key, %s: %+v", n, tr.Self(), s)
			}
		}
	}
	// With TLS as well.
	ca := newCA(t, "ca")
	k := newKeyring(testKey(1, 32))
	a := newTransport(t, "ta", WithKeyring(k), mtls(ca, ca.issue(t, "ta")))
	b := newTransport(t, "tb", WithKeyring(k), mtls(ca, ca.issue(t, "tb")))
	a.SetPeerAddr("tb", b.Addr().String())
	b.SetPeerAddr("ta", a.Addr().String())
	connect(t, a, b)
	exchange(t, a, b, 0, 50)
}

// A client without the key cannot complete a hello: not with a plain
// hello, not with a keyed hello and a proof made with another key, not as a
// Transport with another keyring or none; nothing it sends after its hello
// is read.
func TestKeyringClientWithoutKeyCannotHello(t *testing.T) {
	k := newKeyring(testKey(1, 32))
	a := newTransport(t, "a", WithKeyring(k))
	addr := a.Addr().String()
	failures := func() uint64 { return a.Stats().HandshakeFailures }

	// Plain hello, then a frame.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(append(appendHello(nil, 1, "mallory"), lengthPrefixed(testFrame(1, 50))...))
	eventually(t, 30*time.Second, "the plain hello to be refused", func() bool { return failures() == 1 })

	// Keyed hello with a proof made with another key, then a frame sealed
	// with it.
	r := dialRawKeyed(t, addr, "mallory", 1, testKey(2, 32))
	r.c.Write(r.sealed(testFrame(2, 50)))
	if _, err := r.readFrame(); err == nil {
		t.Fatal("connection with a wrong proof stays open")
	}
	eventually(t, 30*time.Second, "the wrong proof to be refused", func() bool { return failures() == 2 })

	// Transports with another keyring or none, both directions.
	other := newTransport(t, "o", WithKeyring(newKeyring(testKey(2, 32))))
	open := newTransport(t, "p")
	for _, tr := range []*Transport{other, open} {
		tr.SetPeerAddr("a", addr)
		a.SetPeerAddr(tr.Self(), tr.Addr().String())
		tr.Send("a", testFrame(3, 50))
		a.Send(tr.Self(), testFrame(3, 50))
	}
	eventually(t, 30*time.Second, "the dials of the others to fail both ways", func() bool {
		return a.Stats().DialFailures >= 2 && other.Stats().DialFailures >= 1 && open.Stats().DialFailures >= 1 &&
			failures() >= 4
	})
	s := a.Stats()
	if s.FramesIn != 0 || s.Conns != 0 || s.AuthFailures < 4 || len(a.Receive()) != 0 {
		t.Errorf("after the attempts without the key: %+v", s)
	}
	for _, tr := range []*Transport{other, open} {
		if s := tr.Stats(); s.FramesIn != 0 || s.Conns != 0 {
			t.Errorf("%s connected: %+v", tr.Self(), s)
		}
	}
}

// A client without the key cannot close or take over a link by claiming a
// peer's id with a new incarnation: the existing connection stays, and
// frames keep flowing on it.
func TestKeyringStrangerCannotCloseLink(t *testing.T) {
	k := newKeyring(testKey(1, 32))
	a, b := keyedPair(t, k, k)
	exchange(t, a, b, 0, 10)

	r := dialRawKeyed(t, a.Addr().String(), "b", 12345, testKey(2, 32))
	r.c.Write(r.sealed(testFrame(99, 50)))
	if _, err := r.readFrame(); err == nil {
		t.Fatal("the stranger's connection stays open")
	}
	eventually(t, 30*time.Second, "the stranger to be refused", func() bool { return a.Stats().HandshakeFailures == 1 })
	exchange(t, a, b, 10, 10)
	for _, tr := range []*Transport{a, b} {
		if s := tr.Stats(); s.Reconnects != 0 || s.Conns != 1 || s.Dials+b.Stats().Dials > 2 {
			t.Errorf("%s after the stranger: %+v", tr.Self(), s)
		}
	}
	if s := a.Stats(); s.AuthFailures != 1 || s.FramesIn != 20 { // b's first frame came back
		t.Errorf("a: %+v", s)
	}
}

// A proven hello from a new incarnation replaces the old connection at
// once (a restarted peer holding the key).
func TestKeyringRestartedPeerReplacesConnection(t *testing.T) {
	k := newKeyring(testKey(1, 32))
	a := newTransport(t, "a", WithKeyring(k))
	old := dialRawKeyed(t, a.Addr().String(), "b", 1, testKey(1, 32))
	eventually(t, 30*time.Second, "the first connection", func() bool { return a.Stats().ConnectedPeers == 1 })
	cur := dialRawKeyed(t, a.Addr().String(), "b", 2, testKey(1, 32))
	if _, err := old.readFrame(); err == nil {
		t.Fatal("old incarnation's connection still open")
	}
	sendRetry(t, a, "b", testFrame(1, 50), 10*time.Second)
	if f, err := cur.readFrame(); err != nil || frameSeq(f) != 1 {
		t.Fatalf("frame on the new connection: %v", err)
	}
	if s := a.Stats(); s.Reconnects != 1 {
		t.Errorf("reconnects %d", s.Reconnects)
	}
}

// A frame that is not sealed with a key of the keyring is not delivered,
// even on an authenticated connection (a frame injected into the stream, a
// tampered frame, a replayed one): the connection is closed and counted.
func TestKeyringForgedFrameNotDelivered(t *testing.T) {
	k := newKeyring(testKey(1, 32))
	a := newTransport(t, "a", WithKeyring(k))
	attacks := []struct {
		name  string
		frame func(r *keyedRaw) []byte
	}{
		{"plaintext frame", func(*keyedRaw) []byte { return lengthPrefixed(testFrame(2, 50)) }},
		{"tampered frame", func(r *keyedRaw) []byte {
			b := r.sealed(testFrame(2, 50))
			b[10] ^= 1
			return b
		}},
		{"replayed frame", func(r *keyedRaw) []byte {
			r.tx.ctr-- // the first frame's nonce again
			return r.sealed(testFrame(1, 50))
		}},
		{"frame sealed with another key", func(r *keyedRaw) []byte {
			r.tx.kr = newKeyring(testKey(2, 32))
			return r.sealed(testFrame(2, 50))
		}},
	}
	for i, at := range attacks {
		r := dialRawKeyed(t, a.Addr().String(), core.PeerID("m"+string(rune('a'+i))), 1, testKey(1, 32))
		// A good frame first: the connection is authenticated.
		r.c.Write(r.sealed(testFrame(1, 50)))
		if f := recvN(t, a, 1, 30*time.Second)[0]; frameSeq(f.Data) != 1 {
			t.Fatalf("%s: good frame has seq %d", at.name, frameSeq(f.Data))
		}
		r.c.Write(at.frame(r))
		if _, err := r.readFrame(); err == nil {
			t.Fatalf("%s: connection still open", at.name)
		}
		eventually(t, 30*time.Second, at.name+" to be counted", func() bool { return a.Stats().BadFrames == uint64(i+1) })
		if s := a.Stats(); s.FramesIn != uint64(i+1) || s.AuthFailures != uint64(i+1) || len(a.Receive()) != 0 {
			t.Errorf("%s: delivered or not counted: %+v", at.name, s)
		}
	}
}

// Key rotation without downtime: install the new key everywhere, make it
// the primary node by node, remove the old one. Frames flow between every
// pair throughout, on the connections made before the rotation and on new
// ones; nodes with either primary interoperate; afterwards the old key alone
// no longer gets in.
func TestKeyRotation(t *testing.T) {
	k1, k2 := testKey(1, 32), testKey(2, 16)
	ids := []core.PeerID{"a", "b", "c"}
	var trs []*Transport
	var rings []*testKeyring
	for _, id := range ids {
		kr := newKeyring(k1)
		rings = append(rings, kr)
		trs = append(trs, newTransport(t, id, WithKeyring(kr)))
	}
	for _, x := range trs {
		for _, y := range trs {
			if x != y {
				x.SetPeerAddr(y.Self(), y.Addr().String())
			}
		}
	}
	seq := uint64(0)
	// round sends 20 frames between every pair, both ways, and checks
	// every one arrives in order.
	round := func(phase string) {
		t.Helper()
		const n = 20
		for _, x := range trs {
			for _, y := range trs {
				if x != y {
					for i := range n {
						sendRetry(t, x, y.Self(), testFrame(seq+uint64(i), 200), 10*time.Second)
					}
				}
			}
		}
		for _, y := range trs {
			last := map[core.PeerID]uint64{}
			for _, f := range recvN(t, y, n*(len(trs)-1), 30*time.Second) {
				if s := frameSeq(f.Data); s != seq+last[f.From] {
					t.Fatalf("%s: %s got seq %d from %s, want %d", phase, y.Self(), s, f.From, seq+last[f.From])
				}
				last[f.From]++
			}
		}
		seq += n
		for _, tr := range trs {
			if s := tr.Stats(); s.AuthFailures != 0 || s.BadFrames != 0 || s.Drops != s.QueueFull {
				t.Fatalf("%s: %s: %+v", phase, tr.Self(), s)
			}
		}
	}
	dials := func() (n uint64) {
		for _, tr := range trs {
			n += tr.Stats().Dials
		}
		return n
	}
	// settled waits until every node has one connection to each other.
	settled := func() {
		eventually(t, 30*time.Second, "one connection per pair", func() bool {
			for _, tr := range trs {
				if s := tr.Stats(); s.Conns != 2 || s.ConnectedPeers != 2 || s.Handshaking != 0 {
					return false
				}
			}
			return true
		})
	}
	// existing runs a round on the connections made before it.
	existing := func(phase string) {
		t.Helper()
		before := dials()
		round(phase)
		if d := dials(); d != before {
			t.Fatalf("%s: %d new dials: connections were lost", phase, d-before)
		}
	}
	// redial makes a drop its connections and dial again: a handshake
	// under the current keys.
	redial := func() {
		trs[0].RemovePeer("b")
		trs[0].RemovePeer("c")
		eventually(t, 30*time.Second, "b and c to see the connection end", func() bool {
			return trs[1].Stats().ConnectedPeers == 1 && trs[2].Stats().ConnectedPeers == 1
		})
		trs[0].SetPeerAddr("b", trs[1].Addr().String())
		trs[0].SetPeerAddr("c", trs[2].Addr().String())
		// a dials first (b and c would dial too and make duplicates,
		// which may reorder the first frames).
		for _, id := range []core.PeerID{"b", "c"} {
			sendRetry(t, trs[0], id, testFrame(seq, 50), 10*time.Second)
		}
		recvN(t, trs[1], 1, 30*time.Second)
		recvN(t, trs[2], 1, 30*time.Second)
		settled()
	}

	// One connection per pair, dialed by one side (see redial).
	for i, x := range trs {
		for _, y := range trs[i+1:] {
			sendRetry(t, x, y.Self(), testFrame(0, 50), 10*time.Second)
			recvN(t, y, 1, 30*time.Second)
		}
	}
	settled()
	existing("k1")
	for _, kr := range rings {
		kr.AddKey(k2)
	}
	existing("k2 installed")
	rings[0].UseKey(k2) // a seals and proves with k2, b and c with k1
	existing("a uses k2, existing connections")
	redial()
	round("a uses k2, new connections")
	for _, kr := range rings[1:] {
		kr.UseKey(k2)
	}
	existing("everyone uses k2")
	for _, kr := range rings {
		kr.RemoveKey(k1)
	}
	existing("k1 removed, existing connections")
	redial()
	round("k1 removed, new connections")

	// The old key alone no longer gets in.
	old := newTransport(t, "old", WithKeyring(newKeyring(k1)))
	old.SetPeerAddr("a", trs[0].Addr().String())
	old.Send("a", testFrame(0, 50))
	eventually(t, 30*time.Second, "the old key to be refused", func() bool {
		return old.Stats().AuthFailures >= 1 && trs[0].Stats().HandshakeFailures >= 1
	})
	if s := trs[0].Stats(); s.FramesIn != uint64(seq)*2 || s.ConnectedPeers != 2 || s.AuthFailures != 0 {
		t.Errorf("a after the old key: %+v", s)
	}
}
