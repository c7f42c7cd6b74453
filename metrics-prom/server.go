package metricsprom

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultAddr is the metrics address the operations guide assumes
// (`curl -s localhost:9090/metrics | grep plumtree_`).
const DefaultAddr = ":9090"

// Handler returns an http.Handler serving the metrics gathered by g in the
// Prometheus exposition formats (promhttp). Errors while gathering are
// served as HTTP 500.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// Server serves /metrics over HTTP until Shutdown.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan error
}

// ServerOption configures a Server.
type ServerOption func(*http.ServeMux)

// WithHandler also serves h under pattern (http.ServeMux syntax), for example
// an admin handler on the metrics port.
func WithHandler(pattern string, h http.Handler) ServerOption {
	return func(m *http.ServeMux) { m.Handle(pattern, h) }
}

// Listen listens on addr (":9090", "127.0.0.1:0", ...) and serves the
// metrics gathered by g under /metrics in a background goroutine. Call
// Shutdown to stop it.
func Listen(addr string, g prometheus.Gatherer, opts ...ServerOption) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return Serve(ln, g, opts...), nil
}

// Serve serves the metrics gathered by g under /metrics on ln in a
// background goroutine. The Server owns ln from then on.
func Serve(ln net.Listener, g prometheus.Gatherer, opts ...ServerOption) *Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", Handler(g))
	for _, o := range opts {
		o(mux)
	}
	s := &Server{
		ln:   ln,
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s
}

// Addr returns the address the Server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops accepting connections, waits for the scrapes in flight to
// finish (or ctx to end, then closes them) and for the serving goroutine to
// return. It returns the error that stopped the server, if any.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	if serr := <-s.done; serr != nil && err == nil {
		err = serr
	}
	return err
}

// ListenAndServe serves the metrics gathered by g on addr until ctx is
// done, then shuts the server down gracefully (waiting up to five seconds
// for scrapes in flight). It returns nil after a shutdown caused by ctx.
func ListenAndServe(ctx context.Context, addr string, g prometheus.Gatherer, opts ...ServerOption) error {
	s, err := Listen(addr, g, opts...)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-s.done:
		s.done <- err // let Shutdown see it
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}
