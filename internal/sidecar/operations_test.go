package sidecar

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// scopedTokenServer issues "AT-<scope>" for a client_credentials request
// from client-1 (HTTP Basic, as RFC 6749 §2.3.1 has it) and records the
// scope of every call.
type scopedTokenServer struct {
	mu     sync.Mutex
	scopes []string
	gen    atomic.Int64
}

func (s *scopedTokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if err := r.ParseForm(); err != nil || !ok || id != "client-1" || secret != "very-secret-value" || r.PostForm.Get("grant_type") != "client_credentials" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
		return
	}
	scope := r.PostForm.Get("scope")
	s.mu.Lock()
	s.scopes = append(s.scopes, scope)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "AT-" + scope + "-" + string(rune('0'+s.gen.Add(1))), "token_type": "Bearer", "expires_in": 3600, "scope": scope})
}

func (s *scopedTokenServer) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.scopes)
}

// TestOperationsPickTheToken: each request carries the token of its
// operation, operations with one scope set share one, an unused own grant
// (unmatched: deny) is never fetched, a 401 drops and replaces the
// operation's token (not the binding's), and the sidecar's refusals are
// JSON with X-OAuth-Injector-Error.
func TestOperationsPickTheToken(t *testing.T) {
	ts := &scopedTokenServer{}
	tok := httptest.NewServer(ts)
	t.Cleanup(tok.Close)
	var rejectOnce atomic.Bool
	rejectOnce.Store(true)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/revoked") && rejectOnce.CompareAndSwap(true, false) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, r.Header.Get("Authorization"))
	}))
	t.Cleanup(up.Close)
	cfg := bearerBinding(t, tok.URL, up.URL, func(b *config.Binding) {
		b.Grant.Scopes = []string{"never-used"}
		b.Unmatched = config.UnmatchedDeny
		b.Operations = []config.Operation{
			{Name: "read", Methods: []string{"GET"}, Path: "/v1/items/{id}", Scopes: []string{"items:read"}},
			{Name: "admin", Path: "/v1/admin/**", Scopes: []string{"admin", "items:read"}},
			{Name: "admin-too", Path: "/v1/manage/**", Scopes: []string{"items:read", "admin", "admin"}},
			{Name: "revoked", Path: "/v1/revoked", Scopes: []string{"r"}},
		}
	})
	sc := startSidecar(t, cfg)
	eventually(t, "the operations' tokens", func() bool { return len(ts.calls()) == 3 })

	tests := []struct {
		method, path string
		status       int
		body         string // upstream: the Authorization prefix; sidecar: the error code
	}{
		{"GET", "/v1/items/1", 200, "Bearer AT-items:read-"},
		{"POST", "/v1/admin/users", 200, "Bearer AT-admin items:read-"},
		{"DELETE", "/v1/manage/users/1", 200, "Bearer AT-admin items:read-"},
		{"GET", "/v1/revoked", 200, "Bearer AT-r-"},
		{"POST", "/v1/items/1", 403, "operation_not_allowed"},
		{"GET", "/v1/other", 403, "operation_not_allowed"},
		{"GET", "/v1/items/%2e%2e/admin", 400, "invalid_path"},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, sc.url+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s: status %d (%s), want %d", tt.method, tt.path, resp.StatusCode, raw, tt.status)
			continue
		}
		if tt.status == 200 {
			if !strings.HasPrefix(string(raw), tt.body) {
				t.Errorf("%s %s: upstream saw %q, want %s...", tt.method, tt.path, raw, tt.body)
			}
			continue
		}
		var e struct{ Error, Detail, Binding string }
		if err := json.Unmarshal(raw, &e); err != nil || e.Error != tt.body || e.Binding != "partner" || resp.Header.Get(ErrorHeader) != tt.body {
			t.Errorf("%s %s: want JSON error %s for binding partner, got %s (%s: %q)", tt.method, tt.path, tt.body, raw, ErrorHeader, resp.Header.Get(ErrorHeader))
		}
	}
	want := []string{"admin items:read", "items:read", "r", "r"} // r twice: the 401 replaced it
	if got := ts.calls(); !slices.Equal(sorted(got), want) {
		t.Errorf("token requests for scopes %q, want %q (never the unused own grant's)", got, want)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestOperationCacheKeys: a scope set is a set, and a CIBA purpose or
// another provider makes another token.
func TestOperationCacheKeys(t *testing.T) {
	ciba := func(purpose string) *config.CIBAGrant { return &config.CIBAGrant{Purpose: purpose} }
	tests := []struct {
		name string
		a, b sourceKey
		same bool
	}{
		{"order", keyOf("", config.Grant{Scopes: []string{"a", "b"}}), keyOf("", config.Grant{Scopes: []string{"b", "a"}}), true},
		{"duplicates", keyOf("", config.Grant{Scopes: []string{"a", "a"}}), keyOf("", config.Grant{Scopes: []string{"a"}}), true},
		{"other scopes", keyOf("", config.Grant{Scopes: []string{"a"}}), keyOf("", config.Grant{Scopes: []string{"a", "b"}}), false},
		{"purpose", keyOf("", config.Grant{CIBA: ciba("dpv:X#sim-swap")}), keyOf("", config.Grant{CIBA: ciba("dpv:X#device-location")}), false},
		{"provider", keyOf("", config.Grant{Scopes: []string{"a"}}), keyOf("other", config.Grant{Scopes: []string{"a"}}), false},
	}
	for _, tt := range tests {
		if (tt.a == tt.b) != tt.same {
			t.Errorf("%s: %+v and %+v same = %v, want %v", tt.name, tt.a, tt.b, tt.a == tt.b, tt.same)
		}
	}
	// withOperation leaves the provider's grant alone.
	g := config.Grant{Scopes: []string{"x"}, CIBA: ciba("dpv:X#a")}
	_ = withOperation(g, config.Operation{Scopes: []string{"y"}, Purpose: "dpv:X#b"})
	if g.Scopes[0] != "x" || g.CIBA.Purpose != "dpv:X#a" {
		t.Errorf("withOperation changed the grant it was given: %+v", g)
	}
}
