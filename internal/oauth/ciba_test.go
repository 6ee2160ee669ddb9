package oauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const testAuthReqID = "1c266114-a1be-4252-8ad1-04986c5b9ac1"

// cibaServer answers the authorize call with authorizeBody and the n-th
// poll with polls[n] (status, body); it fails the test on extra polls.
func cibaServer(t *testing.T, authorizeBody string, polls []struct {
	status int
	body   string
}) *fakeAS {
	t.Helper()
	poll := 0
	return newFakeAS(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/bc-authorize" {
			_, _ = io.WriteString(w, authorizeBody)
			return
		}
		if poll >= len(polls) {
			t.Errorf("unexpected poll %d", poll)
			w.WriteHeader(500)
			return
		}
		p := polls[poll]
		poll++
		w.WriteHeader(p.status)
		_, _ = io.WriteString(w, p.body)
	})
}

type pollReply = struct {
	status int
	body   string
}

var (
	pending  = pollReply{400, `{"error":"authorization_pending"}`}
	slowDown = pollReply{400, `{"error":"slow_down"}`}
	approved = pollReply{200, `{"access_token":"` + testAccess + `","token_type":"Bearer","expires_in":3600,"id_token":"idt"}`}
)

func TestCIBAPollsWithIntervalAndSlowDown(t *testing.T) {
	tests := []struct {
		name       string
		authorize  string
		polls      []pollReply
		wantSleeps []time.Duration
	}{
		{
			name:       "default interval, slow_down adds 5s each time",
			authorize:  `{"auth_req_id":"` + testAuthReqID + `","expires_in":120}`,
			polls:      []pollReply{pending, slowDown, pending, slowDown, approved},
			wantSleeps: []time.Duration{5 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second, 15 * time.Second},
		},
		{
			name:       "server interval honoured",
			authorize:  `{"auth_req_id":"` + testAuthReqID + `","expires_in":"120","interval":2}`,
			polls:      []pollReply{pending, slowDown, approved},
			wantSleeps: []time.Duration{2 * time.Second, 2 * time.Second, 7 * time.Second},
		},
		{
			name:       "transient 503 is ridden out",
			authorize:  `{"auth_req_id":"` + testAuthReqID + `","expires_in":120}`,
			polls:      []pollReply{{503, ""}, pending, approved},
			wantSleeps: []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cibaServer(t, tt.authorize, tt.polls)
			clk := &fakeClock{now: testNow}
			c := newTestClient(t, f, Options{Now: clk.Now, Sleep: clk.Sleep, ExtraParams: map[string]string{"tenant": "t1"}})
			tok, err := c.CIBA(context.Background(), CIBARequest{
				AuthorizeURL: f.URL + "/bc-authorize",
				LoginHint:    "tel:+34666666666",
				Purpose:      "dpv:FraudPreventionAndDetection#sim-swap",
				Scopes:       []string{"sim-swap"},
				ExtraParams:  map[string]string{"acr_values": "2"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != testAccess || tok.IDToken != "idt" {
				t.Errorf("token = %+v", tok)
			}
			if !equalDurations(clk.sleeps, tt.wantSleeps) {
				t.Errorf("sleeps = %v, want %v", clk.sleeps, tt.wantSleeps)
			}
			reqs := f.requests()
			if len(reqs) != 1+len(tt.polls) {
				t.Fatalf("requests = %d, want %d", len(reqs), 1+len(tt.polls))
			}
			basic := BasicAuth(testClientID, testClientSecret)
			a := reqs[0]
			wantAuth := "acr_values=2&login_hint=tel%3A%2B34666666666&purpose=dpv%3AFraudPreventionAndDetection%23sim-swap&scope=openid+sim-swap"
			if a.Method != http.MethodPost || a.Path != "/bc-authorize" || a.Body != wantAuth || a.Header.Get("Authorization") != basic {
				t.Errorf("authorize request = %s %s %q auth=%q\nwant body %q", a.Method, a.Path, a.Body, a.Header.Get("Authorization"), wantAuth)
			}
			wantPoll := "auth_req_id=" + testAuthReqID + "&grant_type=urn%3Aopenid%3Aparams%3Agrant-type%3Aciba&tenant=t1"
			for i, p := range reqs[1:] {
				if p.Method != http.MethodPost || p.Path != "/token" || p.Body != wantPoll || p.Header.Get("Authorization") != basic {
					t.Errorf("poll %d = %s %s %q", i, p.Method, p.Path, p.Body)
				}
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCIBATerminalOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		authorize string
		polls     []pollReply
		wantCode  string
		wantPolls int
	}{
		{"access_denied", `{"auth_req_id":"x1","expires_in":120}`,
			[]pollReply{pending, {403, `{"error":"access_denied","error_description":"subscriber refused"}`}}, "access_denied", 2},
		{"server says expired_token", `{"auth_req_id":"x1","expires_in":120}`,
			[]pollReply{{400, `{"error":"expired_token"}`}}, "expired_token", 1},
		{"expires_in elapses locally", `{"auth_req_id":"x1","expires_in":12}`,
			[]pollReply{pending, pending}, "expired_token", 2},
		{"invalid_grant stops", `{"auth_req_id":"x1","expires_in":120}`,
			[]pollReply{{400, `{"error":"invalid_grant"}`}}, "invalid_grant", 1},
		{"persistent 503 gives up", `{"auth_req_id":"x1","expires_in":120}`,
			[]pollReply{{503, ""}, {503, ""}, {503, ""}}, "http_503", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cibaServer(t, tt.authorize, tt.polls)
			clk := &fakeClock{now: testNow}
			c := newTestClient(t, f, Options{Now: clk.Now, Sleep: clk.Sleep})
			_, err := c.CIBA(context.Background(), CIBARequest{AuthorizeURL: f.URL + "/bc-authorize", LoginHint: "ipport:80.90.34.2"})
			var oe *Error
			if !errors.As(err, &oe) || oe.Code != tt.wantCode {
				t.Fatalf("err = %v, want *Error %s", err, tt.wantCode)
			}
			if got := len(f.requests()) - 1; got != tt.wantPolls {
				t.Errorf("polls = %d, want %d", got, tt.wantPolls)
			}
		})
	}
}

func TestCIBAAuthorizeFailures(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"unknown user", 400, `{"error":"unknown_user_id","error_description":"no such subscriber"}`, "backchannel authentication endpoint: unknown_user_id (400): no such subscriber"},
		{"missing auth_req_id", 200, `{"expires_in":120}`, "missing auth_req_id"},
		{"missing expires_in", 200, `{"auth_req_id":"x"}`, "missing or zero expires_in"},
		{"bad interval", 200, `{"auth_req_id":"x","expires_in":60,"interval":"often"}`, "field interval must be a number"},
		{"HTML", 200, `<html>`, "body is HTML or XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAS(t, jsonReply(tt.status, tt.body))
			clk := &fakeClock{now: testNow}
			c := newTestClient(t, f, Options{Now: clk.Now, Sleep: clk.Sleep})
			_, err := c.CIBA(context.Background(), CIBARequest{AuthorizeURL: f.URL + "/bc-authorize", LoginHint: "tel:+34666666666"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("requests = %d, want only the authorize call", n)
			}
		})
	}
}

func TestCIBAContextCancelledWhileWaiting(t *testing.T) {
	f := cibaServer(t, `{"auth_req_id":"x","expires_in":120}`, nil)
	ctx, cancel := context.WithCancel(context.Background())
	c := newTestClient(t, f, Options{Sleep: func(context.Context, time.Duration) error { cancel(); return ctx.Err() }})
	_, err := c.CIBA(ctx, CIBARequest{AuthorizeURL: f.URL + "/bc-authorize", LoginHint: "tel:+34666666666"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestCIBARejectsBadLoginHintBeforeSending(t *testing.T) {
	f := newFakeAS(t, jsonReply(200, "{}"))
	c := newTestClient(t, f, Options{})
	_, err := c.CIBA(context.Background(), CIBARequest{AuthorizeURL: f.URL + "/bc-authorize", LoginHint: "tel:34666"})
	if !errors.Is(err, ErrInvalidLoginHint) {
		t.Fatalf("err = %v, want ErrInvalidLoginHint", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("sent %d requests", n)
	}
	if _, err := c.CIBA(context.Background(), CIBARequest{AuthorizeURL: "not a url", LoginHint: "tel:+34666666666"}); err == nil || !strings.Contains(err.Error(), "AuthorizeURL:") {
		t.Errorf("err = %v, want AuthorizeURL error", err)
	}
}

func TestCIBAScope(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, "openid"},
		{[]string{"a"}, "openid a"},
		{[]string{"a", "openid"}, "a openid"},
	}
	for _, tt := range tests {
		if got := cibaScope(tt.in); got != tt.want {
			t.Errorf("cibaScope(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidateLoginHint(t *testing.T) {
	tests := []struct {
		hint string
		want string // "" means valid
	}{
		{"tel:+34666666666", ""},
		{"tel:+14155550100", ""},
		{"ipport:80.90.34.2", ""},
		{"ipport:80.90.34.2:16790", ""},
		{"ipport:[2001:db8::1]", ""},
		{"ipport:[2001:db8::1]:8080", ""},

		{"tel:34666", "must be global E.164 starting with '+'"},
		{"tel:+34 666 666", "only digits after '+', without separators"},
		{"tel:+34-666", "only digits after '+', without separators"},
		{"tel:+3466", "8 to 15 digits, got 4"},
		{"tel:+1234567890123456", "8 to 15 digits, got 16"},
		{"tel:+0123456789", "must not start with 0"},
		{"ipport:999.1.1.1", "not a valid IPv4 address"},
		{"ipport:2001:db8::1", "IPv6 addresses must be in brackets"},
		{"ipport:1.2.3.4:99999", "port must be between 1 and 65535"},
		{"ipport:1.2.3.4:0", "port must be between 1 and 65535"},
		{"ipport:1.2.3.4:", "empty port"},
		{"ipport:1.2.3.4:+80", "port must be decimal digits"},
		{"ipport:[2001:db8::1", "missing ']'"},
		{"ipport:[2001:db8::1]8080", "unexpected text after ']'"},
		{"ipport:[1.2.3.4]", "not a valid IPv6 address inside brackets"},
		{"ipport:[fe80::1%eth0]", "not a valid IPv6 address inside brackets"},
		{"ipport:", "not a valid IPv4 address"},
		{"email:x", "unsupported identifier type"},
		{"", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.hint, func(t *testing.T) { checkHintError(t, ValidateLoginHint(tt.hint), tt.hint, tt.want) })
	}
}

// TestCIBAPurposeReplacesScope is a regression test: with a purpose and no
// configured scopes the authorize request carried scope=openid as well, and
// oidc-provider (like Open Gateway) then granted openid only, so the token
// lacked the purpose's scope (found by test/sidecar TestProviderCIBA).
func TestCIBAPurposeReplacesScope(t *testing.T) {
	tests := []struct {
		name    string
		purpose string
		scopes  []string
		want    string
	}{
		{"purpose only", "dpv:FraudPreventionAndDetection#sim-swap", nil,
			"login_hint=tel%3A%2B34666666666&purpose=dpv%3AFraudPreventionAndDetection%23sim-swap"},
		{"purpose and scopes", "dpv:FraudPreventionAndDetection#sim-swap", []string{"sim-swap"},
			"login_hint=tel%3A%2B34666666666&purpose=dpv%3AFraudPreventionAndDetection%23sim-swap&scope=openid+sim-swap"},
		{"scopes only", "", []string{"sim-swap"}, "login_hint=tel%3A%2B34666666666&scope=openid+sim-swap"},
		{"neither", "", nil, "login_hint=tel%3A%2B34666666666&scope=openid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cibaServer(t, `{"auth_req_id":"`+testAuthReqID+`","expires_in":120,"interval":1}`, []pollReply{approved})
			clk := &fakeClock{now: testNow}
			c := newTestClient(t, f, Options{Now: clk.Now, Sleep: clk.Sleep})
			if _, err := c.CIBA(context.Background(), CIBARequest{AuthorizeURL: f.URL + "/bc-authorize",
				LoginHint: "tel:+34666666666", Purpose: tt.purpose, Scopes: tt.scopes}); err != nil {
				t.Fatal(err)
			}
			if got := f.requests()[0].Body; got != tt.want {
				t.Errorf("authorize body = %q, want %q", got, tt.want)
			}
		})
	}
}

// A replica that takes over an authorization another one started polls its
// auth_req_id without a new backchannel request (no second consent prompt),
// waits the interval before its first poll, and stops at the original
// expiry rather than one counted from its own start.
func TestCIBAPollAnAuthorizationStartedElsewhere(t *testing.T) {
	tests := []struct {
		name       string
		auth       CIBAAuthorization
		polls      []pollReply
		wantErr    string
		wantSleeps []time.Duration
	}{
		{"approved", CIBAAuthorization{AuthReqID: testAuthReqID, Expiry: testNow.Add(time.Minute), Interval: 2 * time.Second},
			[]pollReply{pending, approved}, "", []time.Duration{2 * time.Second, 2 * time.Second}},
		{"expires at the stored expiry", CIBAAuthorization{AuthReqID: testAuthReqID, Expiry: testNow.Add(3 * time.Second), Interval: 2 * time.Second},
			[]pollReply{pending}, "expired_token", []time.Duration{2 * time.Second, 2 * time.Second}},
		{"sub-second interval is raised to one second", CIBAAuthorization{AuthReqID: testAuthReqID, Expiry: testNow.Add(time.Minute)},
			[]pollReply{approved}, "", []time.Duration{time.Second}},
		{"no auth_req_id", CIBAAuthorization{Expiry: testNow.Add(time.Minute)}, nil, "needs an auth_req_id", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cibaServer(t, `{"error":"must not be called"}`, tt.polls)
			clk := &fakeClock{now: testNow}
			c := newTestClient(t, f, Options{Now: clk.Now, Sleep: clk.Sleep})
			tok, err := c.CIBAPoll(context.Background(), &tt.auth)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil || tok.AccessToken != testAccess {
				t.Fatalf("CIBAPoll = %+v, %v", tok, err)
			}
			if !equalDurations(clk.sleeps, tt.wantSleeps) {
				t.Errorf("sleeps = %v, want %v", clk.sleeps, tt.wantSleeps)
			}
			for _, r := range f.requests() {
				if r.Path != "/token" || !strings.Contains(r.Body, "auth_req_id="+testAuthReqID) {
					t.Errorf("request %s %q, want only polls of the stored auth_req_id", r.Path, r.Body)
				}
			}
		})
	}
}

// CIBAAuthorize hands back what another replica needs to poll: the id, the
// absolute expiry and the interval.
func TestCIBAAuthorizeReturnsAPollableAuthorization(t *testing.T) {
	f := cibaServer(t, `{"auth_req_id":"`+testAuthReqID+`","expires_in":120,"interval":3}`, nil)
	clk := &fakeClock{now: testNow}
	c := newTestClient(t, f, Options{Now: clk.Now, Sleep: clk.Sleep})
	a, err := c.CIBAAuthorize(context.Background(), CIBARequest{AuthorizeURL: f.URL + "/bc-authorize", LoginHint: "tel:+34666666666", Scopes: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	want := CIBAAuthorization{AuthReqID: testAuthReqID, Expiry: testNow.Add(120 * time.Second), Interval: 3 * time.Second}
	if *a != want {
		t.Fatalf("authorization = %+v, want %+v", *a, want)
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d requests, want the authorize call only", n)
	}
}
