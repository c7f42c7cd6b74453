package main

import (
	"encoding/base64"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

func TestParseConfig(t *testing.T) {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c config)
		wantErr bool
	}{
		{name: "defaults", check: func(t *testing.T, c config) {
			if c.Bind != defaultBind || c.AdminAddr != defaultAdminAddr || c.MetricsAddr != defaultMetricsAddr ||
				c.Preset != "lan" || c.Tracing != "off" || c.LeaveTimeout != 5*time.Second || c.Name == "" {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "env", env: map[string]string{"PLUMTREE_NAME": "e", "PLUMTREE_JOIN": "a:1, b", "PLUMTREE_PORT": "8000", "PLUMTREE_ENCRYPT_KEY": key},
			check: func(t *testing.T, c config) {
				if c.Name != "e" || !slices.Equal(c.Join, []string{"a:1", "b"}) || c.Bind != "0.0.0.0:8000" || len(c.EncryptKey) != 16 {
					t.Fatalf("%+v", c)
				}
			}},
		{name: "flag beats env", args: []string{"-name", "f", "-admin-addr", "off"}, env: map[string]string{"PLUMTREE_NAME": "e"},
			check: func(t *testing.T, c config) {
				if c.Name != "f" || enabled(c.AdminAddr) {
					t.Fatalf("%+v", c)
				}
			}},
		{name: "bad key", args: []string{"-encrypt-key", "c2hvcnQ="}, wantErr: true},
		{name: "bad port", args: []string{"-port", "x"}, wantErr: true},
		{name: "tls half", args: []string{"-tls-cert", "c.pem"}, wantErr: true},
		{name: "bad tracing", args: []string{"-tracing", "jaeger"}, wantErr: true},
		{name: "bad level", env: map[string]string{"PLUMTREE_LOG_LEVEL": "loud"}, wantErr: true},
		{name: "extra args", args: []string{"x"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestHubRecent(t *testing.T) {
	h := newHub()
	ch, _ := h.subscribe()
	for i := range recentDeliveries + 5 {
		h.Deliver(testDelivery(i))
	}
	recs, total := h.recent(3)
	if total != recentDeliveries+5 || len(recs) != 3 || recs[2].Seq != recentDeliveries+4 || recs[0].Seq != recentDeliveries+2 {
		t.Fatalf("total %d recs %+v", total, recs)
	}
	if got := len(ch); got != subscriberBuffer {
		t.Fatalf("stream buffered %d", got)
	}
	if _, dropped := h.counts(); dropped != recentDeliveries+5-subscriberBuffer {
		t.Fatalf("dropped %d", dropped)
	}
	h.close()
	if _, ok := h.subscribe(); ok {
		t.Fatal("subscribe after close")
	}
}

func testDelivery(i int) core.Delivery {
	return core.Delivery{ID: core.MessageID{Origin: "o", Seq: uint64(i)}, From: "o", Payload: []byte("x")}
}
