package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
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
				c.Preset != "lan" || c.Tracing != "off" || c.LeaveTimeout != 5*time.Second || c.Name == "" ||
				c.BulkDSCP != -1 || len(c.tcpOptions()) != 0 {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "bulk dscp le", args: []string{"-bulk-dscp", "le"}, check: func(t *testing.T, c config) {
			if c.BulkDSCP != 1 || len(c.tcpOptions()) != 1 {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "bulk dscp cs1 from env", env: map[string]string{"PLUMTREE_BULK_DSCP": "CS1"}, check: func(t *testing.T, c config) {
			if c.BulkDSCP != 8 {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "bulk dscp number", args: []string{"-bulk-dscp", "63"}, check: func(t *testing.T, c config) {
			if c.BulkDSCP != 63 {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "bulk dscp above 63", args: []string{"-bulk-dscp", "64"}, wantErr: true},
		{name: "bulk dscp unknown", args: []string{"-bulk-dscp", "ef"}, wantErr: true},
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
		{name: "advertise admin", args: []string{"-advertise-admin=true"}, check: func(t *testing.T, c config) {
			if !c.AdvertiseAdmin {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "advertise admin from env", env: map[string]string{"PLUMTREE_ADVERTISE_ADMIN": "true"}, check: func(t *testing.T, c config) {
			if !c.AdvertiseAdmin {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "bad advertise admin", env: map[string]string{"PLUMTREE_ADVERTISE_ADMIN": "maybe"}, wantErr: true},
		{name: "advertise admin without admin", args: []string{"-advertise-admin", "-admin-addr", "off"}, wantErr: true},
		{name: "peer file in a writable folder", args: []string{"-peer-file", filepath.Join(t.TempDir(), "peers.json")}},
		// Reported at start, not at the first save.
		{name: "peer file in a missing folder", args: []string{"-peer-file", filepath.Join(t.TempDir(), "missing", "peers.json")}, wantErr: true},
		{name: "peer file is a folder", args: []string{"-peer-file", t.TempDir()}, wantErr: true},
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

func TestRecentLimit(t *testing.T) {
	h := newHub()
	defer h.close()
	for i := range 5 {
		h.Deliver(testDelivery(i))
	}
	srv := recentHandler(h)
	for _, tc := range []struct {
		query string
		code  int
		n     int
	}{
		{"", http.StatusOK, 5},
		{"?limit=2", http.StatusOK, 2},
		{"?limit=100000", http.StatusOK, 5},
		{"?limit=abc", http.StatusBadRequest, 0},
		{"?limit=-5", http.StatusBadRequest, 0},
		{"?limit=0", http.StatusBadRequest, 0},
		{"?limit=", http.StatusBadRequest, 0},
	} {
		rr := httptest.NewRecorder()
		srv.ServeHTTP(rr, httptest.NewRequest("GET", "/deliveries/recent"+tc.query, nil))
		if rr.Code != tc.code {
			t.Errorf("%q: %d %s, want %d", tc.query, rr.Code, rr.Body, tc.code)
			continue
		}
		if tc.code != http.StatusOK {
			if !strings.Contains(rr.Body.String(), "positive integer") {
				t.Errorf("%q: %s", tc.query, rr.Body)
			}
			continue
		}
		var r struct {
			Deliveries []deliveryRecord `json:"deliveries"`
		}
		if err := json.Unmarshal(rr.Body.Bytes(), &r); err != nil || len(r.Deliveries) != tc.n {
			t.Errorf("%q: %d deliveries (%v), want %d", tc.query, len(r.Deliveries), err, tc.n)
		}
	}
}
