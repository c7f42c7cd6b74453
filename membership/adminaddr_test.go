package membership

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func TestMetaAdminAddr(t *testing.T) {
	plain, _ := Meta{Version: ProtocolVersion, Addr: "10.0.0.1:7946", Leaving: true}.MarshalBinary()
	b, err := Meta{Version: ProtocolVersion, Addr: "10.0.0.1:7946", Leaving: true, AdminAddr: "10.0.0.1:7947"}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Without an admin address the encoding is unchanged; with one, it
	// only appends after the flags byte, which earlier decoders ignore.
	if !bytes.HasPrefix(b, plain) || len(b) == len(plain) {
		t.Fatalf("admin address not appended after the flags: %x vs %x", b, plain)
	}
	m, err := ParseMeta(b)
	if err != nil || m.AdminAddr != "10.0.0.1:7947" || m.Addr != "10.0.0.1:7946" || !m.Leaving {
		t.Fatalf("ParseMeta = %+v, %v", m, err)
	}
	// A malformed admin address costs the admin address, not the member.
	for _, tail := range [][]byte{
		{0x80},                       // bad varint
		{5, 'h', 'o'},                // truncated
		append([]byte{4}, "host"...), // no port
	} {
		m, err := ParseMeta(append(append([]byte(nil), plain...), tail...))
		if err != nil || m.AdminAddr != "" || m.Addr != "10.0.0.1:7946" {
			t.Errorf("tail %x: %+v, %v", tail, m, err)
		}
	}
	if err := WithAdminAddr("no-port")(&options{}); err == nil {
		t.Error("WithAdminAddr accepted an address without a port")
	}
}

// A node that opts in advertises its admin address; the others list it in
// Members. A node that does not, advertises none.
func TestMembersAdminAddr(t *testing.T) {
	a := startMember(t, "a", WithAdminAddr("0.0.0.0:7947"))
	b := startMember(t, "b", WithSeeds(a.m.AdvertiseAddr()))
	host := a.m.AdvertiseAddr()[:bytes.LastIndexByte([]byte(a.m.AdvertiseAddr()), ':')]
	eventually(t, 10*time.Second, func() string {
		got := map[string]string{}
		for _, mb := range b.m.Members() {
			got[mb.Name] = mb.AdminAddr
		}
		if want := (map[string]string{"a": host + ":7947", "b": ""}); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Sprintf("b's members' admin addresses %v, want %v", got, want)
		}
		return ""
	})
}
