package taapsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type verified struct {
	PoP         bool   `json:"pop"`
	EHTS        string `json:"ehts"`
	JTI         string `json:"jti"`
	AccessToken bool   `json:"accessToken"`
	IDToken     bool   `json:"idToken"`
	BodySigned  bool   `json:"bodySigned"`
	// Key is the fingerprint (KeyID) of the client key the PoP was signed with.
	Key string `json:"key"`
}

type echoResponse struct {
	Verified verified `json:"verified"`
	Method   string   `json:"method"`
	URI      string   `json:"uri"`
	Body     string   `json:"body"`
}

func (s *Server) handleResource(w http.ResponseWriter, r *http.Request) {
	scheme, at, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || at == "" {
		s.reject(w, r, http.StatusUnauthorized, "invalid_token", "missing Bearer access token")
		return
	}
	ac, err := s.verify(strings.TrimSpace(at), useAccess)
	if err != nil {
		s.reject(w, r, http.StatusUnauthorized, "invalid_token", "access token: "+err.Error())
		return
	}
	ic, err := s.verify(r.Header.Get(IDTokenHeader), useID)
	if err != nil {
		s.reject(w, r, http.StatusUnauthorized, "invalid_token", "id token ("+IDTokenHeader+"): "+err.Error())
		return
	}
	if ic.Subject != ac.Subject {
		s.reject(w, r, http.StatusUnauthorized, "invalid_token", "id token and access token belong to different clients")
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.reject(w, r, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	pc, code, desc := s.checkPoP(r, body)
	if code != "" {
		s.reject(w, r, popStatus(code), code, desc)
		return
	}
	v := verified{PoP: true, EHTS: strings.Join(pc.EHTS, ";"), JTI: pc.JTI, AccessToken: true, IDToken: true, BodySigned: len(body) > 0, Key: pc.keyID}
	if r.URL.Path == "/v1/stream" {
		s.stream(w, r, v)
		return
	}
	writeJSON(w, http.StatusOK, echoResponse{Verified: v, Method: r.Method, URI: r.URL.RequestURI(), Body: string(body)})
}

// stream writes n JSON lines, flushing after each, so a proxy that buffers
// responses is caught. delay (at most one second) spaces the chunks out.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, v verified) {
	q := r.URL.Query()
	n := 5
	if qs := q.Get("n"); qs != "" {
		var err error
		if n, err = strconv.Atoi(qs); err != nil || n < 1 || n > maxStreamChunks {
			s.reject(w, r, http.StatusBadRequest, "invalid_request", fmt.Sprintf("n must be an integer in 1..%d", maxStreamChunks))
			return
		}
	}
	var delay time.Duration
	if ds := q.Get("delay"); ds != "" {
		var err error
		if delay, err = time.ParseDuration(ds); err != nil || delay < 0 || delay > maxStreamDelay {
			s.reject(w, r, http.StatusBadRequest, "invalid_request", fmt.Sprintf("delay must be a duration in 0..%s", maxStreamDelay))
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	for i := range n {
		if i > 0 && delay > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(delay):
			}
		}
		if err := enc.Encode(struct {
			Chunk    int      `json:"chunk"`
			Of       int      `json:"of"`
			Verified verified `json:"verified"`
		}{i, n, v}); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
