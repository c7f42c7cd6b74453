package membership

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
)

func TestMetaRoundTrip(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:7946", "[2001:db8::1]:7946", "host.example:1"} {
		b, err := Meta{Version: ProtocolVersion, Addr: addr}.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > memberlist.MetaMaxSize {
			t.Fatalf("meta is %d bytes", len(b))
		}
		m, err := ParseMeta(b)
		if err != nil || m.Addr != addr || m.Version != ProtocolVersion || m.Leaving {
			t.Fatalf("ParseMeta(%x) = %+v, %v", b, m, err)
		}
		b, _ = Meta{Version: ProtocolVersion, Addr: addr, Leaving: true}.MarshalBinary()
		if m, err := ParseMeta(b); err != nil || !m.Leaving {
			t.Fatalf("leaving flag lost: %+v %v", m, err)
		}
	}
}

func TestParseMetaErrors(t *testing.T) {
	good, _ := Meta{Version: ProtocolVersion, Addr: "127.0.0.1:1"}.MarshalBinary()
	other, _ := Meta{Version: ProtocolVersion + 1, Addr: "127.0.0.1:1"}.MarshalBinary()
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrNoMeta},
		{"foreign", []byte(`{"role":"web"}`), ErrNoMeta},
		{"short", []byte{'P', 1}, ErrBadMeta},
		{"format", []byte{'P', 9, ProtocolVersion, 1, 'x'}, ErrVersionMeta},
		{"version", other, ErrVersionMeta},
		{"truncated", good[:len(good)-2], ErrBadMeta},
		{"zero length", []byte{'P', 1, ProtocolVersion, 0}, ErrBadMeta},
		{"bad varint", []byte{'P', 1, ProtocolVersion, 0xff, 0xff, 0xff}, ErrBadMeta},
		{"no port", append([]byte{'P', 1, ProtocolVersion, 4}, "host"...), ErrBadMeta},
		{"trailing ok", append(append([]byte(nil), good...), 1, 2, 3), nil},
		{"no flags ok", good[:len(good)-1], nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMeta(tc.in)
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := (Meta{Addr: strings.Repeat("a", 300) + ":1"}).MarshalBinary(); err == nil {
		t.Fatal("oversized address accepted")
	}
}

func FuzzParseMeta(f *testing.F) {
	good, _ := Meta{Version: ProtocolVersion, Addr: "127.0.0.1:7946"}.MarshalBinary()
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{'P', 1, 1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMeta(b)
		if err != nil {
			return
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("valid meta %+v does not re-encode: %v", m, err)
		}
		m2, err := ParseMeta(again)
		if err != nil || m2 != m {
			t.Fatalf("re-encoding %x decodes to %+v, %v; want %+v", again, m2, err, m)
		}
		// Up to the flags byte (whose unknown bits are dropped), the
		// re-encoding is the input.
		base, _ := Meta{Version: m.Version, Addr: m.Addr}.MarshalBinary()
		if !bytes.HasPrefix(b, base[:len(base)-1]) {
			t.Fatalf("re-encoding %x does not match %x", again, b)
		}
	})
}
