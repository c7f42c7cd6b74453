package node_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/core/node"
)

// POST /broadcast streams a body above max_message_size with a
// Content-Length through BroadcastLarge; above max_large_message_size it
// answers 413 naming both sizes, and a body of unknown length above
// max_message_size is refused with an error that asks for its
// Content-Length.
func TestAdminBroadcastLarge(t *testing.T) {
	c := startCluster(t, clusterOpts{size: 3, seed: 31, cfg: largeConfig})
	n := c.nodes[0]
	h := node.AdminHandler(n)
	payload := randomPayload(9, 1<<20+3)

	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("POST", "/broadcast", bytes.NewReader(payload)))
	if rr.Code != http.StatusOK {
		t.Fatalf("%d %s", rr.Code, rr.Body)
	}
	rep := decode[node.BroadcastReport](t, httpResult{rr.Code, rr.Header(), rr.Body.Bytes()})
	if rep.Size != len(payload) {
		t.Fatalf("report %+v", rep)
	}
	waitFor(t, time.Minute, "every node to deliver the large broadcast", func() bool {
		for _, r := range c.recs {
			if r.distinct() != 1 {
				return false
			}
		}
		return true
	})
	for i, r := range c.recs {
		r.mu.Lock()
		for _, p := range r.payloads {
			if sha256.Sum256(p) != sha256.Sum256(payload) {
				t.Errorf("%s delivered other bytes", peerName(i))
			}
		}
		r.mu.Unlock()
	}

	// GET /health reports the large messages being assembled: none left
	// once every node delivered, and the budget of the configuration.
	for i, nd := range c.nodes {
		r := do(t, node.AdminHandler(nd), "GET", "/health", "")
		hv := decode[node.HealthView](t, r)
		if hv.Large == nil || hv.Large.InFlight != 0 || hv.Large.AssemblyBytes != 0 || hv.Large.Utilization != 0 ||
			hv.Large.AssemblyBudget != int64(nd.Config().LargeAssemblyBytes) || hv.Large.DigestFailures != 0 {
			t.Errorf("%s: health %s", peerName(i), r.body)
		}
	}

	limit := n.Config().MaxLargeMessageSize
	req := httptest.NewRequest("POST", "/broadcast", io.LimitReader(zeros{}, int64(limit)+1))
	req.ContentLength = int64(limit) + 1
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rr.Body.String(), "max_large_message_size") {
		t.Fatalf("above the large limit: %d %s", rr.Code, rr.Body)
	}

	req = httptest.NewRequest("POST", "/broadcast", io.LimitReader(zeros{}, int64(n.Config().MaxMessageSize)+1))
	req.ContentLength = -1
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rr.Body.String(), "Content-Length") {
		t.Fatalf("unknown length: %d %s", rr.Code, rr.Body)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}
