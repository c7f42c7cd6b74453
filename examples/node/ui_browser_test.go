package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plumtree-go/plumtree/examples/internal/explain"
)

// The browser tests load /ui/ in headless Chromium (Debian's chromium
// package) and read the page it drew. They run only under `make ui-test`
// (UI_BROWSER_TEST=1); elsewhere they skip at once. Chromium is driven
// from the command line (--dump-dom, --screenshot) rather than through the
// DevTools protocol: no new module dependency, and the same two commands
// reproduce a failure by hand. --virtual-time-budget lets the page's
// timers run (the cluster view polls) until the budget is spent; network
// fetches pause virtual time, so a slow machine only makes the run longer.
//
// Screenshots go to UI_ARTIFACTS (default: a directory under the system's
// temporary directory, printed by the test).

// chromium returns the path of a headless-capable Chromium, installing
// Debian's package with apt-get when it is missing and we are root; it
// skips the test when neither works.
func chromium(t *testing.T) string {
	t.Helper()
	if os.Getenv("UI_BROWSER_TEST") == "" {
		t.Skip("browser test: run with `make ui-test` (UI_BROWSER_TEST=1)")
	}
	find := func() string {
		for _, name := range []string{"chromium", "chromium-browser", "chromium-headless-shell", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				return p
			}
		}
		return ""
	}
	if p := find(); p != "" {
		return p
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("browser test: no chromium on PATH, and cannot install it (needs apt-get as root): apt-get install chromium")
	}
	t.Log("installing chromium from the Debian packages (apt-get install chromium)")
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "chromium"}} {
		cmd := exec.Command(apt, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("browser test: apt-get %s failed (%v); install chromium and rerun:\n%s", args[0], err, tail(out, 2000))
		}
	}
	if p := find(); p != "" {
		return p
	}
	t.Skip("browser test: chromium installed but not found on PATH")
	return ""
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func artifacts(t *testing.T) string {
	dir := os.Getenv("UI_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "plumtree-ui-test")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// headless runs chromium on url with extra (--dump-dom or --screenshot=F)
// and returns its standard output.
func headless(t *testing.T, ctx context.Context, bin, url string, budget time.Duration, extra ...string) string {
	t.Helper()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--hide-scrollbars", "--window-size=1400,1000", "--user-data-dir=" + t.TempDir(),
		fmt.Sprintf("--virtual-time-budget=%d", budget.Milliseconds())}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, tail(errb.Bytes(), 3000))
	}
	return out.String()
}

// svgAttrs returns the attributes of the <svg id="id"> start tag of a
// dumped DOM.
func svgAttrs(dom, id string) map[string]string {
	tag := regexp.MustCompile(`<svg id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(dom)
	attrs := map[string]string{}
	for _, m := range regexp.MustCompile(`([a-zA-Z-]+)="([^"]*)"`).FindAllStringSubmatch(tag, -1) {
		attrs[m[1]] = m[2]
	}
	return attrs
}

// svgBody returns the markup inside <svg id="id">.
func svgBody(dom, id string) string {
	i := strings.Index(dom, `<svg id="`+id+`"`)
	if i < 0 {
		return ""
	}
	j := strings.Index(dom[i:], "</svg>")
	if j < 0 {
		return ""
	}
	return dom[i : i+j]
}

// TestBrowserClusterView loads /ui/ of a 5-node cluster, waits for the
// graph, saves a screenshot and checks that the drawn nodes and links are
// those /topology reports.
func TestBrowserClusterView(t *testing.T) {
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	nodes := startUICluster(t, ctx, 5)
	for i := range 20 {
		postBroadcast(t, nodes[i%5].admin, fmt.Sprintf("warm-up %d", i))
	}
	url := nodes[0].admin + "/ui/"
	var dom string
	var want []explain.Link
	budget := 5 * time.Second
	waitUntil(t, ctx, "the drawn graph to match /topology", func() (bool, string) {
		before := topologyLinks(t, nodes)
		dom = headless(t, ctx, bin, url, budget, "--dump-dom")
		after := topologyLinks(t, nodes)
		if !slices.Equal(before, after) {
			return false, "the overlay changed while the page loaded"
		}
		want = before
		attrs := svgAttrs(dom, "graph")
		if attrs["data-ready"] != "1" {
			budget = min(2*budget, time.Minute) // a slow machine: give the page more (virtual) time
			return false, "graph not drawn yet"
		}
		return true, ""
	})
	body := svgBody(dom, "graph")
	drawnNodes := regexp.MustCompile(`<g class="node" data-name="([^"]+)"`).FindAllStringSubmatch(body, -1)
	drawnLinks := regexp.MustCompile(`<line [^>]*class="link (eager|lazy)[^"]*" data-a="([^"]+)" data-b="([^"]+)"`).FindAllStringSubmatch(body, -1)
	var names []string
	for _, m := range drawnNodes {
		names = append(names, m[1])
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"node-1", "node-2", "node-3", "node-4", "node-5"}) {
		t.Errorf("drawn nodes %v", names)
	}
	if len(drawnLinks) != len(want) {
		t.Errorf("drew %d links, /topology reports %d: %v", len(drawnLinks), len(want), want)
	}
	for i, m := range drawnLinks {
		if i < len(want) && (m[1] != want[i].Kind || m[2] != want[i].A || m[3] != want[i].B) {
			t.Errorf("link %d drawn %s %s-%s, /topology: %+v", i, m[1], m[2], m[3], want[i])
		}
	}
	attrs := svgAttrs(dom, "graph")
	if attrs["data-nodes"] != "5" || attrs["data-links"] != strconv.Itoa(len(want)) {
		t.Errorf("graph attributes %v", attrs)
	}
	shot := filepath.Join(artifacts(t), "ui-cluster.png")
	headless(t, ctx, bin, url, budget, "--screenshot="+shot)
	checkPNG(t, shot)
	t.Logf("5 nodes, %d links drawn; screenshot %s", len(want), shot)
}

// TestBrowserExplain broadcasts, opens the explain view of the message and
// checks the tree's node count.
func TestBrowserExplain(t *testing.T) {
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	nodes := startUICluster(t, ctx, 5)
	for i := range 10 {
		postBroadcast(t, nodes[i%5].admin, fmt.Sprintf("warm-up %d", i))
	}
	id := postBroadcast(t, nodes[2].admin, "explain me")
	explainUntil(t, ctx, nodes[0].admin, id, func(r explain.Report) (bool, string) {
		return r.Delivered == 5, fmt.Sprintf("%d delivered", r.Delivered)
	})
	url := nodes[0].admin + "/ui/#explain=" + id
	dom := headless(t, ctx, bin, url, 5*time.Second, "--dump-dom")
	attrs := svgAttrs(dom, "tree")
	if attrs["data-ready"] != "1" || attrs["data-msgid"] != id {
		t.Fatalf("tree not drawn: %v\n%s", attrs, tail([]byte(dom), 3000))
	}
	drawn := regexp.MustCompile(`<g class="tnode (origin|tree|graft)" data-name="([^"]+)"`).FindAllStringSubmatch(svgBody(dom, "tree"), -1)
	if len(drawn) != 5 || attrs["data-nodes"] != "5" || attrs["data-missing"] != "0" {
		t.Fatalf("tree: %d nodes drawn, attributes %v", len(drawn), attrs)
	}
	if edges := strings.Count(svgBody(dom, "tree"), `class="tedge`); edges != 4 {
		t.Errorf("%d tree edges drawn, want 4", edges)
	}
	shot := filepath.Join(artifacts(t), "ui-explain.png")
	headless(t, ctx, bin, url, 5*time.Second, "--screenshot="+shot)
	checkPNG(t, shot)
	t.Logf("explain of %s: 5 nodes drawn; screenshot %s", id, shot)
}

func topologyLinks(t *testing.T, nodes []*uiNode) []explain.Link {
	var cn []explain.ClusterNode
	for _, un := range nodes {
		cn = append(cn, topologyNode(t, un.admin))
	}
	return explain.Links(cn)
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 1000 || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s: not a PNG screenshot (%d bytes)", path, len(b))
	}
}
