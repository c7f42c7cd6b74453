package stack

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/examples/internal/leakcheck"
)

// memberlist's probe goroutines may outlive Shutdown by several seconds on
// a loaded machine (see leakcheck).
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m, time.Minute) }

// selfSigned returns a certificate for 127.0.0.1 that is its own CA.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "plumtree test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

type recorder struct {
	mu  sync.Mutex
	got map[core.MessageID]int
}

func (r *recorder) deliver(d core.Delivery) {
	r.mu.Lock()
	r.got[d.ID]++
	r.mu.Unlock()
}

func (r *recorder) count(id core.MessageID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[id]
}

// TestTLSAndEncryptionOnOnePort: Plumtree frames over mutual TLS and
// encrypted memberlist gossip share each node's port.
func TestTLSAndEncryptionOnOnePort(t *testing.T) {
	cert, pool := selfSigned(t)
	server := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	client := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}
	key := []byte("0123456789abcdef0123456789abcdef")
	start := func(name string, seeds ...string) (*Stack, *recorder) {
		r := &recorder{got: make(map[core.MessageID]int)}
		s, err := Start(context.Background(), Config{
			Name: name, Seeds: seeds, Preset: "local", SecretKey: key,
			ServerTLS: server, ClientTLS: client, Delegate: node.DeliverFunc(r.deliver),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.Stop(ctx, time.Second)
		})
		return s, r
	}
	a, ra := start("a")
	b, rb := start("b", a.Addr())
	// Each wait below takes well under a second on a quiet machine; a
	// minute each leaves room for a loaded one.
	const wait = time.Minute
	deadline := time.Now().Add(wait)
	for a.Membership.Stats().Alive != 1 || b.Membership.Stats().Alive != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not formed: %+v %+v", a.Membership.Stats(), b.Membership.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ida, err := a.Node.Broadcast(context.Background(), []byte("from a"))
	if err != nil {
		t.Fatal(err)
	}
	idb, err := b.Node.Broadcast(context.Background(), []byte("from b"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		r  *recorder
		id core.MessageID
	}{{ra, ida}, {ra, idb}, {rb, ida}, {rb, idb}} {
		deadline = time.Now().Add(wait)
		for c.r.count(c.id) != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("%v delivered %d times", c.id, c.r.count(c.id))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if st := a.Transport.Stats(); st.HandshakeFailures != 0 || st.StreamConns == 0 {
		t.Fatalf("transport stats %+v", st)
	}
	// The node tuner is fed and applied by the runtime: with no Graft
	// needed, the IHave interval moves from the preset's 100 ms to the
	// tuner's 400 ms (IHaves are only insurance on a healthy tree).
	deadline = time.Now().Add(wait)
	for a.Node.Tuning().IHaveInterval != 4*a.Protocol.IHaveInterval {
		if time.Now().After(deadline) {
			t.Fatalf("tuning %+v: the node tuner is not applied", a.Node.Tuning())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPresets(t *testing.T) {
	for _, name := range []string{"", "local", "lan", "wan", "large", "default"} {
		cfg, ml, err := Preset(name)
		if err != nil || ml == "" || cfg.Validate() != nil {
			t.Fatalf("%q: %v %q %v", name, err, ml, cfg.Validate())
		}
	}
	if _, _, err := Preset("moon"); err == nil {
		t.Fatal("unknown preset accepted")
	}
}
