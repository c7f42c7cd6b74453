package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	tcp "github.com/plumtree-go/plumtree/transport-tcp"
)

// config is the node's configuration. Every flag has an environment
// variable; a flag given on the command line wins over the variable, which
// wins over the default.
type config struct {
	Name        string
	Bind        string
	Port        int
	Advertise   string
	Join        []string
	Preset      string
	EncryptKey  []byte
	TLSCert     string
	TLSKey      string
	TLSCA       string
	MetricsAddr string
	AdminAddr   string
	// AdvertiseAdmin puts the admin address in the node's membership
	// metadata, so that plumctl finds every node from one.
	AdvertiseAdmin bool
	PeerFile       string
	StateDir       string
	Tracing        string
	LogLevel       slog.Level
	LeaveTimeout   time.Duration
	// BulkDSCP is the DSCP of the connections that carry large messages'
	// chunks (transport-tcp's WithBulkTOS), or -1 to leave the system's.
	BulkDSCP int
	UI       uiConfig // ui.go
}

// envVars maps each flag to its environment variable (documented in the
// README and in -help).
var envVars = map[string]string{
	"name":            "PLUMTREE_NAME",
	"bind":            "PLUMTREE_BIND",
	"port":            "PLUMTREE_PORT",
	"advertise":       "PLUMTREE_ADVERTISE",
	"join":            "PLUMTREE_JOIN",
	"preset":          "PLUMTREE_PRESET",
	"encrypt-key":     "PLUMTREE_ENCRYPT_KEY",
	"tls-cert":        "PLUMTREE_TLS_CERT",
	"tls-key":         "PLUMTREE_TLS_KEY",
	"tls-ca":          "PLUMTREE_TLS_CA",
	"metrics-addr":    "PLUMTREE_METRICS_ADDR",
	"admin-addr":      "PLUMTREE_ADMIN_ADDR",
	"advertise-admin": "PLUMTREE_ADVERTISE_ADMIN",
	"peer-file":       "PLUMTREE_PEER_FILE",
	"state-dir":       "PLUMTREE_STATE_DIR",
	"tracing":         "PLUMTREE_TRACING",
	"log-level":       "PLUMTREE_LOG_LEVEL",
	"leave-timeout":   "PLUMTREE_LEAVE_TIMEOUT",
	"bulk-dscp":       "PLUMTREE_BULK_DSCP",
	"ui":              "PLUMTREE_UI",
	"explain-peers":   "PLUMTREE_EXPLAIN_PEERS",
}

// Defaults.
const (
	defaultBind        = "0.0.0.0:7946"
	defaultMetricsAddr = ":9090"
	defaultAdminAddr   = "127.0.0.1:7947"
)

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(flagName, def string) string {
		if v := getenv(envVars[flagName]); v != "" {
			return v
		}
		return def
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "plumtree-node"
	}
	var (
		c            config
		join, key    string
		port         string
		level, leave string
		dscp         string
	)
	usage := func(flagName, text string) string {
		return text + " (env " + envVars[flagName] + ")"
	}
	fs.StringVar(&c.Name, "name", env("name", host), usage("name", "node name, unique in the cluster"))
	fs.StringVar(&c.Bind, "bind", env("bind", defaultBind), usage("bind", "address of the node's port: memberlist (UDP+TCP) and Plumtree (TCP) share it"))
	fs.StringVar(&port, "port", env("port", ""), usage("port", "port to bind, overriding the port of -bind"))
	fs.StringVar(&c.Advertise, "advertise", env("advertise", ""), usage("advertise", "address other nodes use to reach this one (ip or ip:port)"))
	fs.StringVar(&join, "join", env("join", ""), usage("join", "comma-separated seed addresses (host:port, or host for 7946)"))
	fs.StringVar(&c.Preset, "preset", env("preset", "lan"), usage("preset", "timing preset: lan, wan, large, default or local"))
	fs.StringVar(&key, "encrypt-key", env("encrypt-key", ""), usage("encrypt-key", "base64 gossip encryption key (16, 24 or 32 bytes)"))
	fs.StringVar(&c.TLSCert, "tls-cert", env("tls-cert", ""), usage("tls-cert", "PEM certificate for Plumtree connections (enables TLS)"))
	fs.StringVar(&c.TLSKey, "tls-key", env("tls-key", ""), usage("tls-key", "PEM private key of -tls-cert"))
	fs.StringVar(&c.TLSCA, "tls-ca", env("tls-ca", ""), usage("tls-ca", "PEM CA bundle: verifies peers, and requires client certificates (mTLS)"))
	fs.StringVar(&c.MetricsAddr, "metrics-addr", env("metrics-addr", defaultMetricsAddr), usage("metrics-addr", "Prometheus /metrics address; \"off\" disables"))
	fs.StringVar(&c.AdminAddr, "admin-addr", env("admin-addr", defaultAdminAddr), usage("admin-addr", "admin HTTP API address; \"off\" disables"))
	advDefault, advErr := strconv.ParseBool(env("advertise-admin", "false"))
	fs.BoolVar(&c.AdvertiseAdmin, "advertise-admin", advDefault, usage("advertise-admin", "advertise the admin address to the cluster (plumctl finds every node from one; the admin API can broadcast, so only where every member may reach it)"))
	fs.StringVar(&c.PeerFile, "peer-file", env("peer-file", ""), usage("peer-file", "file where known members are saved and reloaded at start"))
	fs.StringVar(&c.StateDir, "state-dir", env("state-dir", ""), usage("state-dir", "directory where the delivered-message summaries are saved, so a restart delivers nothing twice and catches up what it missed"))
	fs.StringVar(&c.Tracing, "tracing", env("tracing", "off"), usage("tracing", "OpenTelemetry tracing: off, stdout, or otlp (configured by the standard OTEL_EXPORTER_OTLP_* variables)"))
	fs.StringVar(&level, "log-level", env("log-level", "info"), usage("log-level", "debug, info, warn or error"))
	fs.StringVar(&leave, "leave-timeout", env("leave-timeout", "5s"), usage("leave-timeout", "how long to wait for the leave announcement at shutdown"))
	fs.StringVar(&dscp, "bulk-dscp", env("bulk-dscp", "off"), usage("bulk-dscp", "DSCP of the connections that carry large messages' chunks, for networks that honour it: le (lower effort, RFC 8622), cs1, a number 0-63, or off"))
	uiDone := uiFlags(fs, &c.UI, env, usage)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := uiDone(); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.Name == "" {
		return c, errors.New("-name must not be empty")
	}
	if port != "" {
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return c, fmt.Errorf("-port %q: not a port number", port)
		}
		c.Port = p
		h, _, err := net.SplitHostPort(c.Bind)
		if err != nil {
			h = c.Bind
		}
		c.Bind = net.JoinHostPort(h, strconv.Itoa(p))
	}
	for _, s := range strings.Split(join, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.Join = append(c.Join, s)
		}
	}
	if key != "" {
		b, err := base64.StdEncoding.DecodeString(key)
		if err != nil {
			return c, fmt.Errorf("-encrypt-key: not base64: %w", err)
		}
		if n := len(b); n != 16 && n != 24 && n != 32 {
			return c, fmt.Errorf("-encrypt-key: %d bytes, want 16, 24 or 32", n)
		}
		c.EncryptKey = b
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, errors.New("-tls-cert and -tls-key go together")
	}
	if c.TLSCA != "" && c.TLSCert == "" {
		return c, errors.New("-tls-ca needs -tls-cert and -tls-key")
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return c, fmt.Errorf("-log-level %q: %w", level, err)
	}
	if advErr != nil {
		return c, fmt.Errorf("%s %q: want true or false", envVars["advertise-admin"], getenv(envVars["advertise-admin"]))
	}
	if c.AdvertiseAdmin && !enabled(c.AdminAddr) {
		return c, errors.New("-advertise-admin needs the admin API (-admin-addr is off)")
	}
	if c.PeerFile != "" {
		if err := checkWritable(c.PeerFile); err != nil {
			return c, fmt.Errorf("-peer-file %s: %w", c.PeerFile, err)
		}
	}
	d, err := time.ParseDuration(leave)
	if err != nil || d < 0 {
		return c, fmt.Errorf("-leave-timeout %q: not a duration", leave)
	}
	c.LeaveTimeout = d
	if c.BulkDSCP, err = parseDSCP(dscp); err != nil {
		return c, fmt.Errorf("-bulk-dscp: %w", err)
	}
	if c.UI.Enabled && !enabled(c.AdminAddr) {
		return c, errors.New("-ui needs the admin API (-admin-addr)")
	}
	switch c.Tracing {
	case "off", "stdout", "otlp":
	default:
		return c, fmt.Errorf("-tracing %q: want off, stdout or otlp", c.Tracing)
	}
	return c, nil
}

// parseDSCP reads -bulk-dscp: off (-1), le (1), cs1 (8) or a number
// 0-63.
func parseDSCP(s string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "":
		return -1, nil
	case "le":
		return 1, nil
	case "cs1":
		return 8, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 63 {
		return 0, fmt.Errorf("%q: want le, cs1, a number 0-63, or off", s)
	}
	return v, nil
}

// tcpOptions are the transport options the flags ask for.
func (c *config) tcpOptions() []tcp.Option {
	if c.BulkDSCP < 0 {
		return nil
	}
	// The TOS byte carries the DSCP in its upper six bits.
	return []tcp.Option{tcp.WithBulkTOS(c.BulkDSCP << 2)}
}

// tlsConfigs builds the server and client TLS configurations, or nils when
// TLS is off.
func (c *config) tlsConfigs() (server, client *tls.Config, err error) {
	if c.TLSCert == "" {
		return nil, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	client = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, nil, fmt.Errorf("tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("tls: no certificate in %s", c.TLSCA)
		}
		server.ClientCAs = pool
		server.ClientAuth = tls.RequireAndVerifyClientCert
		client.RootCAs = pool
	}
	return server, client, nil
}

func enabled(addr string) bool { return addr != "" && addr != "off" }

// checkWritable reports whether the peer file can be written: membership
// writes it atomically (a temporary file in the same directory, then a
// rename), so the directory must exist and be writable. Found at start, not
// at the first save half a minute later.
func checkWritable(path string) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return errors.New("is a directory")
	}
	f, err := os.CreateTemp(dir, ".peer-file-check-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
