package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// registerHTML lets the docs pages (HTML) be checked, as strings.
var registerHTML sync.Once

// Client drives a public API in tests and checks every response it gets against
// the service's OpenAPI document: a response the document does not describe fails
// the test.
type Client struct {
	t      testing.TB
	base   string
	router routers.Router
	hc     *http.Client
}

// Response is what a request returned.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// NewClient returns a client for base checked against specYAML; pass nil to check
// nothing (for paths outside any document, such as the gateway's 404s).
func NewClient(t testing.TB, base string, specYAML []byte) *Client {
	t.Helper()
	registerHTML.Do(func() { openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder) })
	c := &Client{t: t, base: strings.TrimSuffix(base, "/"), hc: &http.Client{}}
	if specYAML != nil {
		doc, err := openapi3.NewLoader().LoadFromData(specYAML)
		if err != nil {
			t.Fatalf("openapi: %v", err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			t.Fatalf("openapi document is invalid: %v", err)
		}
		doc.Servers = openapi3.Servers{{URL: c.base}}
		if c.router, err = gorillamux.NewRouter(doc); err != nil {
			t.Fatalf("openapi router: %v", err)
		}
	}
	return c
}

// Do sends a request with a raw body (may be nil) and headers given as
// "Name: value" pairs, and returns the response after checking it against the document.
func (c *Client) Do(method, path string, body []byte, headers ...string) Response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
	c.check(req, r)
	return r
}

// JSON sends v as a JSON body.
func (c *Client) JSON(method, path string, v any, headers ...string) Response {
	c.t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.Do(method, path, body, headers...)
}

func (c *Client) check(req *http.Request, r Response) {
	c.t.Helper()
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		var p struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal(r.Body, &p); err != nil || p.Status != r.Status || !strings.HasPrefix(p.Type, "https://amancair.dev/problems/") || p.Title == "" {
			c.t.Errorf("%s %s: not a valid problem for status %d: %s", req.Method, req.URL.Path, r.Status, r.Body)
		}
	}
	if c.router == nil {
		return
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if r.Status != http.StatusNotFound && r.Status != http.StatusMethodNotAllowed {
			c.t.Errorf("%s %s answered %d but the OpenAPI document has no such operation", req.Method, req.URL.Path, r.Status)
		}
		return
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status:  r.Status,
		Header:  r.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	input.SetBodyBytes(r.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		c.t.Errorf("%s %s: response %d does not match the OpenAPI document: %v\nbody: %s", req.Method, req.URL.Path, r.Status, err, r.Body)
	}
}
