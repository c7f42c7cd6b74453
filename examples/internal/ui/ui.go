// Package ui is the example node's web UI: a live view of the cluster (the
// overlay graph, health and counters of every node) and the explanation of
// one broadcast (its propagation tree). Plain HTML, JavaScript and SVG,
// embedded in the binary: no CDN, no network beyond the node's own admin
// API, works offline. The pages read the explain routes
// (examples/internal/explain) and the admin API (/broadcast,
// /deliveries/recent) relative to /ui/.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Handler serves the UI's files; mount it under /ui with
// http.StripPrefix("/ui", Handler()).
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:")
		files.ServeHTTP(w, r)
	})
}
