package tcp

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

func TestTLSMutualAuth(t *testing.T) {
	ca := newCA(t, "test ca")
	a := newTransport(t, "a", mtls(ca, ca.issue(t, "a")), WithPeerIDFromCert(certCN))
	b := newTransport(t, "b", mtls(ca, ca.issue(t, "b")), WithPeerIDFromCert(certCN))
	a.SetPeerAddr("b", b.Addr().String())
	b.SetPeerAddr("a", a.Addr().String())
	const n = 50
	for i := range n {
		sendRetry(t, a, "b", testFrame(uint64(i), 1024), time.Second)
		sendRetry(t, b, "a", testFrame(uint64(i), 1024), time.Second)
	}
	for _, tr := range []*Transport{a, b} {
		got := recvN(t, tr, n, 30*time.Second)
		seen := map[uint64]bool{}
		for _, f := range got {
			seen[frameSeq(f.Data)] = true
		}
		if len(seen) != n {
			t.Fatalf("%s received %d distinct frames of %d", tr.Self(), len(seen), n)
		}
	}
	if s := a.Stats(); s.HandshakeFailures != 0 {
		t.Errorf("handshake failures: %d", s.HandshakeFailures)
	}

	// The connection is TLS 1.3 with the peer's certificate.
	c, err := tls.Dial("tcp", a.Addr().String(), &tls.Config{
		RootCAs: ca.pool, Certificates: []tls.Certificate{ca.issue(t, "probe")},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st := c.ConnectionState()
	if st.Version != tls.VersionTLS13 || st.PeerCertificates[0].Subject.CommonName != "a" {
		t.Errorf("version %x, server certificate %q", st.Version, st.PeerCertificates[0].Subject.CommonName)
	}
}

// tlsAttack dials addr with TLS config cfg, sends payload and reports how
// the connection ended.
func tlsAttack(addr string, cfg *tls.Config, payload []byte) func(t *testing.T) <-chan error {
	return func(t *testing.T) <-chan error {
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		closed := make(chan error, 1)
		go func() {
			c := tls.Client(raw, cfg)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if err := c.Handshake(); err != nil {
				closed <- err
				return
			}
			c.Write(payload)
			_, err := io.Copy(io.Discard, c)
			closed <- err
		}()
		return closed
	}
}

func TestTLSBadPeers(t *testing.T) {
	ca := newCA(t, "test ca")
	other := newCA(t, "another ca")
	aOpts := []Option{mtls(ca, ca.issue(t, "a")), WithPeerIDFromCert(certCN)}
	bOpts := []Option{mtls(ca, ca.issue(t, "b")), WithPeerIDFromCert(certCN)}
	hello := func(id string) []byte { return appendHello(nil, 7, peerID(id)) }
	for _, tc := range []struct {
		name   string
		cfg    *tls.Config // nil: plaintext
		reason string
	}{
		{"client certificate from an untrusted CA",
			&tls.Config{InsecureSkipVerify: true, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				c := other.issue(t, "mallory") // sent although the server asks for another CA
				return &c, nil
			}},
			"tls handshake: tls: failed to verify certificate"},
		{"client without a certificate",
			&tls.Config{ServerName: "127.0.0.1", RootCAs: ca.pool},
			"tls handshake: tls: client didn't provide a certificate"},
		{"TLS 1.2 client",
			&tls.Config{ServerName: "127.0.0.1", RootCAs: ca.pool, MaxVersion: tls.VersionTLS12, Certificates: []tls.Certificate{ca.issue(t, "old")}},
			"tls handshake: tls: client offered only unsupported versions"},
		{"trusted certificate, another peer's id",
			&tls.Config{ServerName: "127.0.0.1", RootCAs: ca.pool, Certificates: []tls.Certificate{ca.issue(t, "mallory")}},
			`certificate binding: hello says peer \"b\" but its certificate says \"mallory\"`}, // as quoted by slog
		{"plaintext hello to a TLS listener", nil, "plaintext hello but TLS is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newBadInputEnv(t, aOpts, bOpts)
			attack := rawAttack(e.a.Addr().String(), hello("b"), nil, false)
			if tc.cfg != nil {
				attack = tlsAttack(e.a.Addr().String(), tc.cfg, hello("b"))
			}
			e.expectBad(t, attack, handshakeFailures, tc.reason)
		})
	}
}

// The dialer checks the acceptor's certificate too: a peer that answers
// under id "c" with a certificate for "mallory" is refused.
func TestTLSDialerChecksCertificate(t *testing.T) {
	ca := newCA(t, "test ca")
	logs := &logBuffer{}
	a := newTransport(t, "a", mtls(ca, ca.issue(t, "a")), WithPeerIDFromCert(certCN),
		WithLogger(newLogger(logs)), WithBackoff(time.Millisecond, 10*time.Millisecond))
	m := newTransport(t, "c", mtls(ca, ca.issue(t, "mallory"))) // no binding on its side
	a.SetPeerAddr("c", m.Addr().String())
	a.Send("c", testFrame(1, 100))
	// The failure is counted before it is logged: wait for both.
	const why = `certificate binding: hello says peer \"c\" but its certificate says \"mallory\"`
	eventually(t, 30*time.Second, "the dial to fail, counted and logged", func() bool {
		return a.Stats().HandshakeFailures >= 1 && logs.contains(why)
	})
	select {
	case f := <-m.Receive():
		t.Fatalf("impostor received a frame: %v", f.Data)
	default:
	}
}
