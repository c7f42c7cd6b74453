package metricsprom

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// The alert and recording rules and the Grafana dashboard of
// docs/observability are validated with Prometheus' own rule-file and PromQL
// parsers (github.com/prometheus/prometheus, a test-only dependency): the
// checks `promtool check rules` runs, plus "every series a rule or panel
// reads is exported by this module or recorded by a rule".

const observabilityDir = docsDir + "/observability"

var promqlParser = parser.NewParser(parser.Options{})

// selectorNames returns the metric names of every vector selector in expr.
func selectorNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		t.Errorf("parse %q: %v", expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				t.Errorf("%q: selector %s has no metric name", expr, vs)
			}
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

func parseRuleFile(t *testing.T, name string) *rulefmt.RuleGroups {
	t.Helper()
	path := filepath.Join(observabilityDir, name)
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, promqlParser, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Errorf("%s: %v", name, err)
	}
	if groups == nil {
		t.Fatalf("%s: no rule groups", name)
	}
	return groups
}

// recordedNames returns the series the recording rules define.
func recordedNames(t *testing.T) map[string]bool {
	recorded := map[string]bool{}
	for _, g := range parseRuleFile(t, "recording-rules.yml").Groups {
		for _, r := range g.Rules {
			if r.Record == "" {
				t.Errorf("recording-rules.yml: group %s holds alert %s", g.Name, r.Alert)
			}
			recorded[r.Record] = true
		}
	}
	return recorded
}

func checkReferences(t *testing.T, where, expr string, known ...map[string]bool) {
	t.Helper()
	for _, n := range selectorNames(t, expr) {
		ok := false
		for _, k := range known {
			ok = ok || k[n]
		}
		if !ok {
			t.Errorf("%s: %s is neither exported nor recorded", where, n)
		}
	}
}

func TestRecordingRules(t *testing.T) {
	exported := exportedNames(t)
	groups := parseRuleFile(t, "recording-rules.yml")
	recorded := map[string]string{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			checkReferences(t, "record "+r.Record, r.Expr, exported)
			recorded[r.Record] = r.Expr
		}
	}
	// The guide's queries each have a recording rule.
	for rec, want := range map[string]string{
		"plumtree:duplicate_percent:rate5m":         "plumtree_messages_duplicate_total",
		"plumtree:graft_success_ratio:rate5m":       "plumtree_graft_success_total",
		"plumtree:graft_latency_seconds:p99_5m":     "plumtree_graft_latency_seconds_bucket",
		"plumtree:message_hops:p99_5m":              "plumtree_message_hops_bucket",
		"plumtree:cache_utilization:ratio":          "plumtree_cache_capacity",
		"plumtree:messages_delivered:rate5m":        "plumtree_messages_delivered_total",
		"job:plumtree_message_hops:p99_5m":          "plumtree_message_hops_bucket",
		"job:plumtree_graft_latency_seconds:p99_5m": "plumtree_graft_latency_seconds_bucket",
	} {
		expr, ok := recorded[rec]
		if !ok {
			t.Errorf("recording rule %s missing", rec)
			continue
		}
		if !strings.Contains(expr, want) {
			t.Errorf("recording rule %s = %q does not read %s", rec, expr, want)
		}
	}
}

func TestAlertRules(t *testing.T) {
	exported := exportedNames(t)
	recorded := recordedNames(t)
	alerts := map[string]bool{}
	for _, g := range parseRuleFile(t, "alerts.yml").Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("alerts.yml: group %s holds recording rule %s", g.Name, r.Record)
				continue
			}
			alerts[r.Alert] = true
			checkReferences(t, "alert "+r.Alert, r.Expr, exported, recorded)
			if r.Labels["severity"] == "" {
				t.Errorf("alert %s has no severity label", r.Alert)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s needs a summary and a description", r.Alert)
			}
		}
	}
	// The conditions of the operations guide.
	for _, a := range []string{
		"PlumtreeNoEagerPeers",
		"PlumtreeHighGraftFailureRate",
		"PlumtreeHighDuplicateRate",
		"PlumtreeCacheNearCapacity",
		"PlumtreePartitionSuspected",
		"PlumtreeNodeIsolated",
		"PlumtreeKeyMismatch",
	} {
		if !alerts[a] {
			t.Errorf("alert %s missing", a)
		}
	}
}

// The operations guide's PromQL queries, verbatim: each parses and reads
// exported series only.
func TestGuideQueriesParse(t *testing.T) {
	exported := exportedNames(t)
	for _, q := range []string{
		`rate(plumtree_graft_failed_total[5m])`,
		`plumtree_eager_peers`,
		`plumtree_lazy_peers`,
		`plumtree_messages_partitioned_total`,
		"100 * rate(plumtree_messages_duplicate_total[5m]) /\n      rate(plumtree_messages_delivered_total[5m])",
		`rate(plumtree_prune_sent_total[5m])`,
		`plumtree_cache_size / plumtree_cache_capacity`,
		`rate(plumtree_messages_delivered_total[5m])`,
		`histogram_quantile(0.99, rate(plumtree_graft_latency_seconds_bucket[5m]))`,
		`histogram_quantile(0.99, rate(plumtree_message_hops_bucket[5m]))`,
		`plumtree_messages_delivered_total`,
		`rate(plumtree_repair_received_total[5m])`,
		`rate(plumtree_age_refused_total[5m]) > 0`,
		`rate(plumtree_transport_receive_dropped_frames_total[5m]) > 0`,
		`sum by (reason) (rate(plumtree_membership_streams_refused_total[5m]))`,
	} {
		checkReferences(t, "guide query", q, exported)
	}
}

// grafanaVar matches the Grafana variables a dashboard query may use.
var grafanaVar = regexp.MustCompile(`\$(__rate_interval|__interval|__range|\{[a-z_]+\}|[a-z_]+)`)

// substituteGrafana replaces Grafana variables with PromQL that parses.
func substituteGrafana(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		switch v {
		case "$__rate_interval", "$__interval", "$__range":
			return "5m"
		}
		return ".*" // label value variables appear inside =~"..."
	})
}

type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"` // collapsed rows
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func TestGrafanaDashboard(t *testing.T) {
	exported := exportedNames(t)
	b, err := os.ReadFile(filepath.Join(observabilityDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Error("dashboard needs a title and a uid")
	}
	var titles []string
	queries := 0
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			titles = append(titles, p.Title)
			walk(p.Panels)
			if p.Type != "row" && p.Type != "text" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				queries++
				checkReferences(t, "panel "+p.Title, substituteGrafana(tg.Expr), exported)
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			v.Query = q["query"]
		}
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			// label_values(metric, label)
			m := regexp.MustCompile(`label_values\((plumtree_[a-z_]+)`).FindStringSubmatch(q)
			if m == nil || !exported[m[1]] {
				t.Errorf("template variable %s: query %q does not read an exported metric", v.Name, q)
			}
		}
	}
	if queries == 0 {
		t.Fatal("dashboard has no queries")
	}
	// The panels of the operations guide.
	sort.Strings(titles)
	joined := strings.ToLower(strings.Join(titles, "|"))
	for _, want := range []string{"message rates", "duplicate", "peer topology", "tree repair", "hops", "cache utilization"} {
		if !strings.Contains(joined, want) {
			t.Errorf("dashboard has no %q panel (panels: %v)", want, titles)
		}
	}
}
