package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
	"github.com/google/go-cmp/cmp"
)

// TestOpenAPIServed: GET /openapi.json serves the embedded document,
// without a token, and it is a valid OpenAPI 3.1 document.
func TestOpenAPIServed(t *testing.T) {
	api := newTestServer(t)
	resp, err := api.http.Get(api.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(body, openAPIDocument) {
		t.Errorf("GET /openapi.json = %d %q, %d bytes; want 200 application/json, the %d bytes of openapi.json",
			resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(openAPIDocument))
	}
	if doc := mustContract(t).doc; doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi.json is OpenAPI %s; want 3.1.0", doc.OpenAPI)
	}
	var p problem
	if status, _ := api.call("GET", "/openapi.json?format=yaml", "", "", nil, &p); status != http.StatusBadRequest || !strings.Contains(p.Detail, "format") {
		t.Errorf("GET /openapi.json?format=yaml = %d %+v; want 400 naming format", status, p)
	}
}

// TestOpenAPIRoutes: openapi.json has an operation for every route of the
// server, and a route for every operation.
func TestOpenAPIRoutes(t *testing.T) {
	var routes, operations []string
	for _, rt := range (&server{}).routeTable() {
		routes = append(routes, rt.pattern)
	}
	for path, item := range mustContract(t).doc.Paths.Map() {
		for method := range item.Operations() {
			operations = append(operations, method+" "+path)
		}
	}
	slices.Sort(routes)
	slices.Sort(operations)
	if diff := cmp.Diff(routes, operations); diff != "" {
		t.Errorf("routes (-) and openapi.json's operations (+) differ:\n%s", diff)
	}
}

// names returns String() of every value of a library enumeration from 1 up
// to the first that has no name (which String writes as "Type(n)").
func names[E ~uint8](String func(E) string) []any {
	var out []any
	for e := E(1); !strings.Contains(String(e), "("); e++ {
		out = append(out, String(e))
	}
	return out
}

// TestOpenAPIEnums: the states and kinds openapi.json lists are the
// library's, and its problem types are those the server writes, each under
// the status the server writes it with.
func TestOpenAPIEnums(t *testing.T) {
	schemas := mustContract(t).doc.Components.Schemas
	enum := func(schema, property string) []any { return schemas[schema].Value.Properties[property].Value.Enum }
	for _, tc := range []struct {
		name      string
		doc, want []any
	}{
		{"Card.state", enum("Card", "state"), names(giftcard.State.String)},
		{"Order.state", enum("Order", "state"), names(checkout.State.String)},
		{"Entry.kind", enum("Entry", "kind"), names(wallet.EntryKind.String)},
		{"ActivityRecord.kind", enum("ActivityRecord", "kind"), names(activity.Kind.String)},
		{"Actor.kind", enum("Actor", "kind"), append(names(giftkit.ActorKind.String), giftkit.ActorKind(0).String())},
		{"Subject.kind", enum("Subject", "kind"), names(activity.SubjectKind.String)},
		{"LiabilityLine.class", enum("LiabilityLine", "class"), names(giftkit.ValueClass.String)},
		{"Cohort.class", enum("Cohort", "class"), names(giftkit.ValueClass.String)},
	} {
		if diff := cmp.Diff(tc.want, tc.doc); diff != "" {
			t.Errorf("openapi.json's %s (+) differs from the library's (-):\n%s", tc.name, diff)
		}
	}

	// The server writes the problems of failures, and these.
	written := map[string]int{"unauthorized": 401, "forbidden": 403, "too-large": 413, "invalid-code": 422, "internal": 500, "not-found": 404, "method-not-allowed": 405}
	for _, f := range failures {
		written[f.slug] = f.status
	}
	var want []any
	for slug := range written {
		want = append(want, problemTypeBase+slug)
	}
	got := enum("Problem", "type")
	less := func(a, b any) int { return strings.Compare(a.(string), b.(string)) }
	slices.SortFunc(want, less)
	slices.SortFunc(got, less)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("openapi.json's problem types (+) differ from those the server writes (-):\n%s", diff)
	}
	byStatus := problemTypesByStatus(t, mustContract(t).doc)
	for slug, status := range written {
		if status != 405 && !slices.Contains(byStatus[status], any(problemTypeBase+slug)) {
			t.Errorf("openapi.json's %d response does not list the problem %s, which the server answers with %d", status, slug, status)
		}
	}
}

// problemTypesByStatus reads, from each problem response of the document's
// components, its status and the problem types it lists.
func problemTypesByStatus(t *testing.T, doc *openapi3.T) map[int][]any {
	out := map[int][]any{}
	for name, r := range doc.Components.Responses {
		media := r.Value.Content.Get("application/problem+json")
		if media == nil || len(media.Schema.Value.AllOf) != 2 {
			t.Errorf("openapi.json: response %s is not a problem of allOf Problem and its type and status", name)
			continue
		}
		props := media.Schema.Value.AllOf[1].Value.Properties
		status, ok := props["status"].Value.Const.(float64)
		if !ok {
			t.Errorf("openapi.json: response %s has no const status", name)
			continue
		}
		out[int(status)] = props["type"].Value.Enum
	}
	return out
}

// TestContractCatchesMismatches: the contract transport reports a response
// that the document does not describe, and a request that it refuses but
// the server accepts; it reports nothing for an exchange that matches.
func TestContractCatchesMismatches(t *testing.T) {
	balance := `{"balance":{"amount":"1.00","currency":"EUR"},"held":{"amount":"0.00","currency":"EUR"},"available":{"amount":"1.00","currency":"EUR"}}`
	for _, tc := range []struct {
		name, method, path, key string
		status                  int
		contentType, body       string
		noRequestID, wantReport bool
	}{
		{name: "a documented answer", method: "GET", path: "/accounts/alice/balance", status: 200, contentType: "application/json", body: balance},
		{name: "a member missing", method: "GET", path: "/accounts/alice/balance", status: 200, contentType: "application/json",
			body: `{"balance":{"amount":"1.00","currency":"EUR"}}`, wantReport: true},
		{name: "an amount as a number", method: "GET", path: "/accounts/alice/balance", status: 200, contentType: "application/json",
			body: strings.Replace(balance, `"1.00"`, `1.00`, 1), wantReport: true},
		{name: "an undocumented status", method: "GET", path: "/accounts/alice/balance", status: 418, contentType: "application/json", body: `{}`, wantReport: true},
		{name: "no X-Request-ID", method: "GET", path: "/accounts/alice/balance", status: 200, contentType: "application/json", body: balance,
			noRequestID: true, wantReport: true},
		{name: "a problem of another status", method: "GET", path: "/accounts/alice/orders/o1", status: 404, contentType: "application/problem+json",
			body: `{"type":"https://giftkit.example/problems/forbidden","title":"Not Found","status":404,"detail":"x","instance":"/"}`, wantReport: true},
		{name: "a refused request accepted", method: "POST", path: "/accounts/alice/redeem", status: 200, contentType: "application/json",
			body: `{"card_id":"c","amount":{"amount":"1.00","currency":"EUR"},"balance":` + balance + `}`, wantReport: true},
		{name: "an undocumented route", method: "GET", path: "/accounts/alice", status: 200, contentType: "application/json", body: `{}`, wantReport: true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !tc.noRequestID {
				w.Header().Set("X-Request-ID", "r1")
			}
			w.Header().Set("Content-Type", tc.contentType)
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		}))
		var reports []string
		report := func(format string, args ...any) { reports = append(reports, fmt.Sprintf(format, args...)) }
		api := &apiClient{base: srv.URL, http: &http.Client{Transport: &contractTransport{report: report, c: mustContract(t), next: http.DefaultTransport}}}
		var body any
		if tc.method == "POST" {
			body = map[string]string{"code": "1G06-02M06R-1GGZ1"}
		}
		if _, err := api.call(tc.method, tc.path, aliceToken, tc.key, body, nil); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		if got := len(reports) > 0; got != tc.wantReport {
			t.Errorf("%s: reports %q; want a report: %v", tc.name, reports, tc.wantReport)
		}
	}
}
