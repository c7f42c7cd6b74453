package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaultAddr is the admin address of examples/node (its -admin-addr).
const defaultAddr = "127.0.0.1:7947"

// defaultPort is used for an address given as a bare host ("node-1").
const defaultPort = "7947"

// maxBody bounds what plumctl reads from one answer (GET /deliveries/recent
// can hold 1000 payloads of up to 64 KiB).
const maxBody = 128 << 20

// baseURL turns an operator's address into the base URL of an admin API:
// "127.0.0.1:7947", ":7947" (this host), "node-1" (port 7947),
// "http://node-1:7947" or "https://host/plumtree" (a handler mounted under a
// prefix).
func baseURL(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	switch addr {
	case "":
		return "", errors.New("empty admin address")
	case "off":
		return "", errors.New(`admin address is "off" (the node's admin API is disabled)`)
	}
	schemeGiven := strings.Contains(addr, "://")
	if !schemeGiven {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("admin address %q: %v", strings.TrimPrefix(addr, "http://"), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("admin address %q: scheme %q, want http or https", addr, u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" && port == "" {
		return "", fmt.Errorf("admin address %q: no host or port", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" && !schemeGiven {
		port = defaultPort
	}
	if port != "" {
		u.Host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		u.Host = "[" + host + "]"
	} else {
		u.Host = host
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment, u.User = "", "", "", nil
	return u.String(), nil
}

// client talks to the admin API of one node. It is safe for concurrent use.
type client struct {
	base    string // from baseURL
	hc      *http.Client
	timeout time.Duration // per request; streams are bounded by their context
}

// newHTTPClient returns the HTTP client shared by every node of a run. It
// has no overall timeout, so that streams can stay open; connecting and
// waiting for the response headers are bounded by timeout.
func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
	}}
}

// unreachableError: no HTTP answer at all (connection refused, DNS, timeout).
type unreachableError struct {
	url     string
	timeout time.Duration
	err     error
}

func (e *unreachableError) Error() string {
	var ne net.Error
	if errors.Is(e.err, context.DeadlineExceeded) || (errors.As(e.err, &ne) && ne.Timeout()) {
		return fmt.Sprintf("cannot reach %s: no answer within %v", e.url, e.timeout)
	}
	cause := e.err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err
	}
	return fmt.Sprintf("cannot reach %s: %v (is the node running, with its admin API on this address?)", e.url, cause)
}

func (e *unreachableError) Unwrap() error { return e.err }

// badAnswerError: an HTTP answer that is not what the admin API sends (not
// JSON, or JSON of another shape): probably not a plumtree admin address.
type badAnswerError struct {
	url    string
	status int
	ctype  string
	body   []byte
	err    error // the decoding error, if the body is JSON
}

func (e *badAnswerError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("unexpected answer from %s (HTTP %d): %v", e.url, e.status, e.err)
	}
	ct := e.ctype
	if ct == "" {
		ct = "no Content-Type"
	}
	return fmt.Sprintf("answer from %s is not JSON (HTTP %d, %s): %s (is this a plumtree admin API address?)",
		e.url, e.status, ct, snippet(e.body))
}

// apiError: the admin API answered with an HTTP error.
type apiError struct {
	method, url string
	status      int
	msg         string // the {"error": ...} of the admin API, or the body
	hint        string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%s %s: HTTP %d %s", e.method, e.url, e.status, http.StatusText(e.status))
	if e.msg != "" {
		s += ": " + e.msg
	}
	if e.hint != "" {
		s += " (" + e.hint + ")"
	}
	return s
}

// isUnreachable reports whether err means the node could not be asked or
// its answer could not be understood (exit code 3).
func isUnreachable(err error) bool {
	var u *unreachableError
	var b *badAnswerError
	return errors.As(err, &u) || errors.As(err, &b)
}

// snippet quotes the start of a body for an error message.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if s == "" {
		return "empty body"
	}
	const max = 60
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "..."
	}
	return strconv.Quote(s)
}

// answer is one HTTP answer, read whole.
type answer struct {
	url    string
	status int
	ctype  string
	header http.Header
	body   []byte
}

// do sends one request bounded by c.timeout and reads the answer.
func (c *client) do(ctx context.Context, method, path string, body io.Reader) (*answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base + path
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &unreachableError{url: u, timeout: c.timeout, err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, &unreachableError{url: u, timeout: c.timeout, err: err}
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("answer from %s is larger than %d MiB", u, maxBody>>20)
	}
	return &answer{url: u, status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), header: resp.Header, body: b}, nil
}

// call sends a request and decodes the JSON answer into out (unless out is
// nil). A status outside 2xx and ok is an *apiError; hint is added to a 404.
func (c *client) call(ctx context.Context, method, path string, body io.Reader, out any, hint string, ok ...int) (*answer, error) {
	a, err := c.do(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	if (a.status < 200 || a.status > 299) && !slices.Contains(ok, a.status) {
		return a, httpError(method, a, hint)
	}
	if out != nil {
		if err := decodeStrict(a, out); err != nil {
			return a, err
		}
	}
	return a, nil
}

// httpError explains an answer with an error status: an *apiError when it
// comes from the admin API (its {"error": ...} JSON, or the "404 page not
// found" of its ServeMux), a *badAnswerError otherwise (a proxy, another
// service).
func httpError(method string, a *answer, hint string) error {
	var je struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(a.body, &je) == nil && je.Error != "" {
		e := &apiError{method: method, url: a.url, status: a.status, msg: je.Error}
		if ra := a.header.Get("Retry-After"); ra != "" {
			e.hint = "retry after " + ra + "s"
		}
		return e
	}
	body := strings.TrimSpace(string(a.body))
	if (a.status == http.StatusNotFound && body == "404 page not found") ||
		(a.status == http.StatusMethodNotAllowed && body == "Method Not Allowed") {
		return &apiError{method: method, url: a.url, status: a.status, hint: hint}
	}
	return &badAnswerError{url: a.url, status: a.status, ctype: a.ctype, body: a.body,
		err: fmt.Errorf("not an answer of the admin API: %s (is this a plumtree admin API address?)", snippet(a.body))}
}

// decodeStrict decodes a JSON object answer into out.
func decodeStrict(a *answer, out any) error {
	body := bytes.TrimSpace(a.body)
	if !json.Valid(body) {
		return &badAnswerError{url: a.url, status: a.status, ctype: a.ctype, body: a.body}
	}
	if len(body) == 0 || body[0] != '{' {
		return &badAnswerError{url: a.url, status: a.status, ctype: a.ctype, body: a.body,
			err: fmt.Errorf("want a JSON object, got %s", snippet(body))}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return &badAnswerError{url: a.url, status: a.status, ctype: a.ctype, body: a.body, err: err}
	}
	return nil
}

// requireKeys checks that a JSON object answer has every key, so that the
// answer of some other JSON service is not read as an all-zero report.
func requireKeys(a *answer, keys ...string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(a.body, &m); err != nil {
		return &badAnswerError{url: a.url, status: a.status, ctype: a.ctype, body: a.body, err: err}
	}
	var missing []string
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			missing = append(missing, strconv.Quote(k))
		}
	}
	if len(missing) > 0 {
		return &badAnswerError{url: a.url, status: a.status, ctype: a.ctype, body: a.body,
			err: fmt.Errorf("no %s field (is this a plumtree admin API address?)", strings.Join(missing, ", "))}
	}
	return nil
}

// indentJSON re-indents a JSON answer for -json output.
func indentJSON(w io.Writer, a *answer) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(a.body), "", "  "); err != nil {
		return &badAnswerError{url: a.url, status: a.status, ctype: a.ctype, body: a.body}
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
