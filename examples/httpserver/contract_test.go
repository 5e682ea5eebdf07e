package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// The contract: every request an end-to-end test sends goes through a
// contractTransport, which checks it, and the answer, against openapi.json
// with kin-openapi, and fails the test on any mismatch:
//
//   - a request to a method and path that the document has no operation for;
//   - a response whose status the operation does not list, or whose headers
//     (X-Request-ID, Retry-After, WWW-Authenticate) or body do not match what
//     it says for that status;
//   - a request that the document refuses (a missing header, a body or
//     parameter outside its schema) and that the server accepts with a 2xx
//     or 3xx: what the document forbids, the server must refuse.
//
// Requests the document allows may still be refused by the server (a card
// that was redeemed, a code whose check fails): the document cannot know,
// and the answer must then be a problem the operation lists.

// contract is openapi.json, loaded and validated, with a router that finds
// the operation of a request as the server's http.ServeMux does: its
// patterns are the document's paths, whose {name} segments mean the same in
// both.
type contract struct {
	doc *openapi3.T
	mux *http.ServeMux
}

// loadContract loads openapi.json once for the package's tests.
var loadContract = sync.OnceValues(func() (*contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
	}
	c := &contract{doc: doc, mux: http.NewServeMux()}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			c.mux.Handle(method+" "+path, operationMatch{&routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}})
		}
	}
	return c, nil
})

// mustContract returns the contract, failing the test if openapi.json does
// not load.
func mustContract(t testing.TB) *contract {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A match is what operationMatch found for a request.
type match struct {
	route  *routers.Route
	params map[string]string
}

type matchKey struct{}

// operationMatch is the contract mux's handler of one operation: it records
// the operation and the values of its path parameters in the request's
// match.
type operationMatch struct{ route *routers.Route }

// ServeHTTP implements http.Handler.
func (o operationMatch) ServeHTTP(_ http.ResponseWriter, r *http.Request) {
	m := r.Context().Value(matchKey{}).(*match)
	m.route, m.params = o.route, map[string]string{}
	params := append(openapi3.Parameters{}, o.route.PathItem.Parameters...)
	for _, p := range append(params, o.route.Operation.Parameters...) {
		if p.Value.In == openapi3.ParameterInPath {
			m.params[p.Value.Name] = r.PathValue(p.Value.Name)
		}
	}
}

// find returns the operation of req and its path parameters; nil if the
// document has none for its method and path.
func (c *contract) find(req *http.Request) (*routers.Route, map[string]string) {
	m := &match{}
	probe := req.Clone(context.WithValue(req.Context(), matchKey{}, m))
	probe.Body = http.NoBody
	c.mux.ServeHTTP(httptest.NewRecorder(), probe)
	return m.route, m.params
}

// contractOptions are kin-openapi's: a response status that the operation
// does not list is a mismatch, and a bearer token is present if the
// Authorization header has one (whether the server knows it, the document
// cannot tell).
var contractOptions = &openapi3filter.Options{
	IncludeResponseStatus: true,
	AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
		token, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			return errors.New("no bearer token")
		}
		return nil
	},
}

// checkRequest returns why the document refuses req (whose body is body),
// or nil, with the validation input that checkResponse needs.
func (c *contract) checkRequest(req *http.Request, body []byte) (*openapi3filter.RequestValidationInput, error) {
	route, params := c.find(req)
	if route == nil {
		return nil, fmt.Errorf("openapi.json has no operation for %s %s", req.Method, req.URL.EscapedPath())
	}
	clone := req.Clone(req.Context())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: clone, PathParams: params, Route: route, Options: contractOptions}
	return in, openapi3filter.ValidateRequest(req.Context(), in)
}

// contractTransport is an http.RoundTripper that checks every request and
// response against the contract (see above) and reports each mismatch.
type contractTransport struct {
	report func(format string, args ...any) // such as t.Errorf
	c      *contract
	next   http.RoundTripper
}

// contractClient returns an HTTP client whose every exchange is checked
// against openapi.json; a mismatch fails t.
func contractClient(t testing.TB) *http.Client {
	return &http.Client{Transport: &contractTransport{report: t.Errorf, c: mustContract(t), next: http.DefaultTransport}}
}

// RoundTrip implements http.RoundTripper.
func (ct *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	in, reqErr := ct.c.checkRequest(req, body)
	send := req.Clone(req.Context())
	send.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := ct.next.RoundTrip(send)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("%s %s -> %d", req.Method, req.URL.RequestURI(), resp.StatusCode)
	if in == nil {
		ct.report("%s: %v", what, reqErr)
		return resp, nil
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: contractOptions}
	out.SetBodyBytes(data)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		ct.report("%s: the response does not match openapi.json: %v\nbody: %s", what, err, data)
	}
	if reqErr != nil && resp.StatusCode < 400 {
		ct.report("%s: openapi.json refuses this request, but the server accepted it: %v", what, reqErr)
	}
	return resp, nil
}
