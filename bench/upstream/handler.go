package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
)

// BenchToken is the bearer token /token hands out. It is a fixed,
// non-secret benchmark value.
const BenchToken = "bench-access-token-0123456789abcdef"

// TokenTTL is the lifetime /token announces: a day, so no refresh happens
// during a run and every measured request uses the cached token.
const TokenTTL = 86400

// body is the resource response: small, like a typical partner JSON answer.
var body = []byte(`{"status":"ok","items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}]}` + "\n")

// Handler serves the resource, /token and /stats. /stats reports how many
// token requests arrived, so the load script can show the token was cached.
type Handler struct {
	tokenCalls    atomic.Int64
	resourceCalls atomic.Int64
}

// NewHandler returns a ready Handler.
func NewHandler() *Handler { return &Handler{} }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Drain the body so the connection can be reused for the next request.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	switch r.URL.Path {
	case "/token":
		h.token(w, r)
	case "/stats":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"tokenCalls":%d,"resourceCalls":%d}`+"\n", h.tokenCalls.Load(), h.resourceCalls.Load())
	default:
		h.resourceCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}
}

func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, `{"error":"invalid_request","error_description":"method must be GET or POST"}`, http.StatusMethodNotAllowed)
		return
	}
	h.tokenCalls.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":%d}`+"\n", BenchToken, TokenTTL)
}
