package tcp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/core/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTransport starts a Transport on 127.0.0.1 and closes it at the end of
// the test.
func newTransport(t testing.TB, id core.PeerID, opts ...Option) *Transport {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.listener == nil {
		opts = append([]Option{WithListenAddr("127.0.0.1:0")}, opts...)
	}
	tr, err := New(id, opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", id, err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// testFrame returns a frame with a valid header whose body encodes seq and
// is padded to size bytes.
func testFrame(seq uint64, size int) []byte {
	size = max(size, wire.HeaderLen+8)
	f := make([]byte, size)
	f[0], f[1], f[2] = wire.Magic, wire.Version, byte(core.MsgGossip)
	binary.BigEndian.PutUint64(f[3:], seq)
	return f
}

func frameSeq(f []byte) uint64 { return binary.BigEndian.Uint64(f[3:]) }

// lengthPrefixed returns f with its 4-byte length prefix.
func lengthPrefixed(f []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(f))), f...)
}

// recvN receives n frames from tr or fails after timeout.
func recvN(t testing.TB, tr *Transport, n int, timeout time.Duration) []node.Frame {
	t.Helper()
	out := make([]node.Frame, 0, n)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for len(out) < n {
		select {
		case f, ok := <-tr.Receive():
			if !ok {
				t.Fatalf("receive channel closed after %d of %d frames", len(out), n)
			}
			out = append(out, f)
		case <-timer.C:
			t.Fatalf("received %d of %d frames within %v", len(out), n, timeout)
		}
	}
	return out
}

// sendRetry sends f, retrying while the queue is full, up to timeout.
func sendRetry(t testing.TB, tr *Transport, to core.PeerID, f []byte, timeout time.Duration) {
	t.Helper()
	retrySend(t, tr.Send, to, f, timeout)
}

// retrySend is sendRetry for any lane's send (Send or SendBulk).
func retrySend(t testing.TB, send func(core.PeerID, []byte) error, to core.PeerID, f []byte, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := send(to, f)
		if err == nil {
			return
		}
		if err != ErrQueueFull || time.Now().After(deadline) {
			t.Fatalf("Send to %s: %v", to, err)
		}
		time.Sleep(time.Millisecond) // poll: the queue drains at network speed
	}
}

// eventually polls cond every few milliseconds until it holds or fails the
// test after timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) contains(s string) bool { return strings.Contains(b.String(), s) }

func newLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

var serial = struct {
	sync.Mutex
	n int64
}{n: 1}

func nextSerial() *big.Int {
	serial.Lock()
	defer serial.Unlock()
	serial.n++
	return big.NewInt(serial.n)
}

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a certificate for 127.0.0.1 with CommonName cn, usable as a
// server and as a client certificate.
func (ca *testCA) issue(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// mtls returns the WithTLS option for a node holding cert and trusting ca.
func mtls(ca *testCA, cert tls.Certificate) Option {
	server := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: ca.pool}
	client := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.pool}
	return WithTLS(server, client)
}

func certCN(c *x509.Certificate) core.PeerID { return core.PeerID(c.Subject.CommonName) }

func peerID(s string) core.PeerID { return core.PeerID(s) }

// holdConns accepts every connection to ln until the test ends and runs
// serve (if not nil) on each in a goroutine of its own; at the end it
// closes ln and every connection and waits for those goroutines.
func holdConns(t *testing.T, ln net.Listener, serve func(net.Conn)) {
	t.Helper()
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			if serve != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					serve(nc)
				}()
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}
