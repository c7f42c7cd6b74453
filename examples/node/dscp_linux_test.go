package main

import (
	"bytes"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// -bulk-dscp marks the connection that carries a large message's chunks:
// after a large broadcast from n2 (-bulk-dscp le) to n1, one of n2's
// connections to n1 carries TOS 0x04 (DSCP 1 in the upper six bits), read
// back with ss. (Without the flag reaching the transport, none does and the
// wait times out.)
func TestBulkDSCPMarksTheChunksConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes; skipped with -short")
	}
	ss, err := exec.LookPath("ss")
	if err != nil {
		t.Skip("ss (iproute2) not found: it reads the sockets' TOS back")
	}
	bin := buildNode(t)
	n1 := startProc(t, bin, "n1", "-bind", "127.0.0.1:0")
	n2 := startProc(t, bin, "n2", "-bind", "127.0.0.1:0", "-join", n1.addr, "-bulk-dscp", "le")
	waitFor(t, formWait, "the cluster to form", func() bool {
		return n1.alivePeers(t) == 1 && n2.alivePeers(t) == 1
	}, n1, n2)
	_, port, err := net.SplitHostPort(n1.addr)
	if err != nil {
		t.Fatal(err)
	}
	// Above max_message_size (64 KiB): the admin API sends it with
	// BroadcastLarge, in chunks over the bulk lane.
	body := bytes.Repeat([]byte("x"), 200<<10)
	resp, err := http.Post(n2.admin+"/broadcast", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("large broadcast: %s", resp.Status)
	}
	var last string
	waitFor(t, deliverWait, "a connection to n1 marked TOS 0x4", func() bool {
		out, err := exec.Command(ss, "-tnH", "--tos", "state", "established", "( dport = :"+port+" )").Output()
		if err != nil {
			t.Fatalf("ss: %v", err)
		}
		last = string(out)
		return strings.Contains(last, "tos:0x4 ")
	}, n1, n2)
	t.Logf("n2's connections to n1:\n%s", last)
}
