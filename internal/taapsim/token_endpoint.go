package taapsim

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	IDToken     string `json:"id_token"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	s.tokenRequests.Add(1)
	if s.down.Load() {
		w.Header().Set("Retry-After", "1")
		s.reject(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", "simulated outage")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.reject(w, r, http.StatusMethodNotAllowed, "invalid_request", "token endpoint requires POST")
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.reject(w, r, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if _, code, desc := s.checkPoP(r, body); code != "" {
		s.reject(w, r, popStatus(code), code, desc)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		s.reject(w, r, http.StatusBadRequest, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.reject(w, r, http.StatusBadRequest, "invalid_request", "body is not a valid form")
		return
	}
	id, secret, code, desc := clientCredentials(r, form)
	if code != "" {
		status := http.StatusBadRequest
		if code == "invalid_client" {
			status = http.StatusUnauthorized
		}
		s.reject(w, r, status, code, desc)
		return
	}
	if !s.credentialsMatch(id, secret) {
		w.Header().Set("WWW-Authenticate", `Basic realm="taapsim"`)
		s.reject(w, r, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	if gt := form.Get("grant_type"); gt != "client_credentials" {
		s.reject(w, r, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported; want client_credentials", gt))
		return
	}
	now, ttl := s.now(), time.Duration(s.ttl.Load())
	at, err := s.issue(useAccess, id, now, ttl)
	if err != nil {
		s.reject(w, r, http.StatusInternalServerError, "server_error", "could not sign access token")
		return
	}
	idt, err := s.issue(useID, id, now, ttl)
	if err != nil {
		s.reject(w, r, http.StatusInternalServerError, "server_error", "could not sign id token")
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second), IDToken: idt})
}

func popStatus(code string) int {
	if code == "temporarily_unavailable" {
		return http.StatusServiceUnavailable
	}
	return http.StatusUnauthorized
}

// clientCredentials extracts the client id and secret from HTTP Basic
// (RFC 6749 §2.3.1: both form-url-encoded before base64) or from the form.
// Using both at once is an error, as the RFC requires.
func clientCredentials(r *http.Request, form url.Values) (id, secret, code, desc string) {
	authz := r.Header.Get("Authorization")
	_, inForm := form["client_id"]
	if authz == "" {
		if !inForm {
			return "", "", "invalid_client", "no client credentials (HTTP Basic or client_id/client_secret)"
		}
		return form.Get("client_id"), form.Get("client_secret"), "", ""
	}
	if inForm {
		return "", "", "invalid_request", "client authenticated with both HTTP Basic and form fields"
	}
	scheme, b64, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", "invalid_client", "Authorization must use the Basic scheme"
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return "", "", "invalid_client", "Basic credentials are not valid base64"
	}
	eid, esecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", "invalid_client", "Basic credentials have no ':'"
	}
	if id, err = url.QueryUnescape(eid); err != nil {
		return "", "", "invalid_client", "Basic client id is not form-url-encoded"
	}
	if secret, err = url.QueryUnescape(esecret); err != nil {
		return "", "", "invalid_client", "Basic client secret is not form-url-encoded"
	}
	return id, secret, "", ""
}

func (s *Server) credentialsMatch(id, secret string) bool {
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.clientID))
	secretOK := 0
	for _, want := range *s.secrets.Load() {
		secretOK |= subtle.ConstantTimeCompare([]byte(secret), []byte(want))
	}
	return idOK&secretOK == 1
}
