package main

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the OpenAPI 3.1 document of the service: every route,
// parameter, body, problem and header. The end-to-end tests check every
// request they send and every response they get against it, and that it
// names exactly the routes of routeTable, so it cannot drift from the code.
//
//go:embed openapi.json
var openAPIDocument []byte

// serveOpenAPI serves openAPIDocument. It needs no token: the document is
// what a client reads before it has one. Like every route, it refuses query
// parameters it does not take (it takes none).
func (s *server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r, nil); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPIDocument)
}
