package explain

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Routes are the admin routes of explain, for a node named self whose
// delivery record is lookup and whose grafted messages are grafts (nil: no
// graft information; every non-origin delivery then counts as tree):
//
//	GET /explain/record?id=  this node's Record of one message
//	GET /explain?id=         the Report, gathered from g's targets
//	GET /explain/cluster     the Cluster view, gathered from g's targets
//
// Each is registered with the pattern and handler passed to add (for
// example node.WithExtraRoute).
func Routes(self string, lookup Lookup, grafts *GraftLog, g *Gatherer, add func(pattern string, h http.Handler)) {
	add("GET /explain/record", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msgID := r.URL.Query().Get("id")
		id, err := parseMsgID(msgID)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		d, found, held, bound, oldest := lookup(msgID)
		rec := Record{Node: self, MsgID: msgID, Delivered: found, Held: held, Bound: bound, Oldest: oldest}
		if found {
			rec.From, rec.Hops, rec.Time = d.From, d.Hops, d.Time
			switch {
			case string(id.Origin) == self && d.Hops == 0:
				rec.Via = ViaOrigin
			case grafts != nil && grafts.Grafted(id):
				rec.Via = ViaGraft
			default:
				rec.Via = ViaTree
			}
		}
		rec.Now = time.Now()
		writeJSON(w, http.StatusOK, rec)
	}))
	add("GET /explain", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, err := g.Explain(r.Context(), r.URL.Query().Get("id"))
		switch {
		case errors.Is(err, ErrNoAnswers):
			writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error(), "report": rep})
		case err != nil:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusOK, rep)
		}
	}))
	add("GET /explain/cluster", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, g.Cluster(r.Context()))
	}))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
