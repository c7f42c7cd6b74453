package tcp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Keyring holds the keys that authenticate Plumtree connections and frames
// (see WithKeyring). *memberlist.Keyring implements it, so the gossip
// keyring of hashicorp/memberlist can be passed as is and one rotation
// covers both protocols.
type Keyring interface {
	// GetPrimaryKey returns the key this node proves itself and seals its
	// frames with (16, 24 or 32 bytes).
	GetPrimaryKey() []byte
	// GetKeys returns every key this node accepts, the primary included.
	GetKeys() [][]byte
}

// Sizes of the keyed handshake and of sealed frames.
const (
	nonceLen = 32 // random per hello
	macLen   = sha256.Size
	tagLen   = 16 // AES-GCM tag appended to every sealed frame
)

// Labels that separate the uses of a key: a proof made for one role or
// direction is useless for another.
const (
	labelAcceptor = "plumtree-tcp/1 acceptor proof"
	labelDialer   = "plumtree-tcp/1 dialer proof"
	labelD2A      = "plumtree-tcp/1 frames dialer to acceptor"
	labelA2D      = "plumtree-tcp/1 frames acceptor to dialer"
)

// errNotProven is why a keyed handshake failed: no key of this node's
// keyring verifies the peer's proof.
var errNotProven = errors.New("hello: the peer did not prove a key of the keyring")

func validKeyLen(n int) bool { return n == 16 || n == 24 || n == 32 }

// newNonce returns a random hello nonce.
func newNonce() (n [nonceLen]byte) {
	rand.Read(n[:]) // never fails (crypto/rand panics instead)
	return n
}

// transcript binds a handshake: both hellos as sent, with both ids, both
// incarnations and both nonces.
func transcript(dialerHello, acceptorHello []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(dialerHello)
	h.Write(acceptorHello)
	var th [sha256.Size]byte
	h.Sum(th[:0])
	return th
}

// keyedMAC is HMAC-SHA256(key, label | th).
func keyedMAC(key []byte, label string, th *[sha256.Size]byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write(th[:])
	return m.Sum(nil)
}

// verifyProof reports whether proof is the MAC of one of keys.
func verifyProof(keys [][]byte, label string, th *[sha256.Size]byte, proof []byte) bool {
	ok := false
	for _, k := range keys {
		if hmac.Equal(keyedMAC(k, label, th), proof) {
			ok = true
		}
	}
	return ok
}

// primaryKey returns kr's primary key or an error saying why it cannot be
// used.
func primaryKey(kr Keyring) ([]byte, error) {
	k := kr.GetPrimaryKey()
	if !validKeyLen(len(k)) {
		return nil, fmt.Errorf("keyring: primary key of %d bytes (want 16, 24 or 32)", len(k))
	}
	return k, nil
}

// frameAEAD returns the AES-256-GCM of one direction of one connection: its
// key is derived from a keyring key and the handshake transcript, so that
// it is fresh per connection and per direction and frame nonces can be a
// counter.
func frameAEAD(key []byte, label string, th *[sha256.Size]byte) cipher.AEAD {
	block, err := aes.NewCipher(keyedMAC(key, label, th))
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// sealer seals the frames of one connection in one direction, with the
// keyring's primary key at the time of each frame (a rotated primary is
// used from the next frame on). Owned by the connection's writer.
type sealer struct {
	kr    Keyring
	label string
	th    [sha256.Size]byte
	key   []byte
	aead  cipher.AEAD
	ctr   uint64
	nonce [12]byte
}

// seal appends the sealed f to dst.
func (s *sealer) seal(dst, f []byte) ([]byte, error) {
	if k := s.kr.GetPrimaryKey(); s.aead == nil || !bytes.Equal(k, s.key) {
		if !validKeyLen(len(k)) {
			return dst, fmt.Errorf("keyring: primary key of %d bytes (want 16, 24 or 32)", len(k))
		}
		s.key = bytes.Clone(k)
		s.aead = frameAEAD(k, s.label, &s.th)
	}
	binary.BigEndian.PutUint64(s.nonce[4:], s.ctr)
	s.ctr++
	return s.aead.Seal(dst, s.nonce[:], f, nil), nil
}

// opener opens the frames of one connection in one direction with any key
// of the keyring: the one that opened the last frame first, the others
// after it (the peer rotated its primary). A key removed from the keyring
// no longer opens anything. Owned by the connection's reader.
type opener struct {
	kr    Keyring
	label string
	th    [sha256.Size]byte
	keys  [][]byte // copies of the keyring's keys the aeads were made from
	aeads []cipher.AEAD
	last  int
	ctr   uint64
	nonce [12]byte
	// scratch keeps a sealed frame while several keys are tried.
	scratch []byte
}

// open authenticates and decrypts the sealed frame b in place and returns
// the frame; false if no key opens it.
func (o *opener) open(b []byte) ([]byte, bool) {
	if ks := o.kr.GetKeys(); !sameKeys(ks, o.keys) {
		o.keys, o.aeads, o.last = o.keys[:0], o.aeads[:0], 0
		for _, k := range ks {
			if validKeyLen(len(k)) {
				o.keys = append(o.keys, bytes.Clone(k))
				o.aeads = append(o.aeads, frameAEAD(k, o.label, &o.th))
			}
		}
	}
	binary.BigEndian.PutUint64(o.nonce[4:], o.ctr)
	src := b
	if len(o.aeads) > 1 {
		// A failed Open clears its output: keep the sealed frame for the
		// next key (only while the keyring holds several keys).
		o.scratch = append(o.scratch[:0], b...)
		src = o.scratch
	}
	for i := range o.aeads {
		j := (o.last + i) % len(o.aeads)
		if f, err := o.aeads[j].Open(b[:0], o.nonce[:], src, nil); err == nil {
			o.last = j
			o.ctr++
			return f, true
		}
	}
	return nil, false
}

// sameKeys reports whether the keyring's keys are still the ones the
// opener's ciphers were made from (skipping keys of an invalid length).
func sameKeys(ks, have [][]byte) bool {
	i := 0
	for _, k := range ks {
		if !validKeyLen(len(k)) {
			continue
		}
		if i == len(have) || !bytes.Equal(k, have[i]) {
			return false
		}
		i++
	}
	return i == len(have)
}

// readProof reads a peer's key proof.
func readProof(r io.Reader) ([]byte, error) {
	proof := make([]byte, macLen)
	if _, err := io.ReadFull(r, proof); err != nil {
		return nil, helloReadError(err)
	}
	return proof, nil
}
