package oauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestCleanServerText(t *testing.T) {
	tests := []struct {
		name, in string
		limit    int
		secrets  []string
		want     string
	}{
		{"plain", "bad client", 300, nil, "bad client"},
		{"controls", "a\r\nb\tc", 300, nil, "a  b c"},
		{"cut on a rune boundary", "ééééé", 5, nil, "éé…"},
		{"redacted before the cut", "xx-secret-value-yy", 12, []string{"secret-value"}, "xx-[redacted…"},
		{"short secrets are not redacted", "a b", 300, []string{"a"}, "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cleanServerText(tt.in, tt.limit, tt.secrets)
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("invalid UTF-8: %q", got)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-3", 0}, {"Wed, 21 Oct 2015 07:28:00 GMT", 0},
		{" 30 ", 30 * time.Second}, {"999999999999", 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSleepCtx(t *testing.T) {
	if err := sleepCtx(context.Background(), 0); err != nil {
		t.Errorf("zero sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled sleep = %v, want context.Canceled", err)
	}
}

func TestTokenValid(t *testing.T) {
	tests := []struct {
		name string
		tok  *Token
		want bool
	}{
		{"nil", nil, false},
		{"empty", &Token{}, false},
		{"no expiry", &Token{AccessToken: "a"}, true},
		{"future", &Token{AccessToken: "a", Expiry: testNow.Add(time.Second)}, true},
		{"at expiry", &Token{AccessToken: "a", Expiry: testNow}, false},
	}
	for _, tt := range tests {
		if got := tt.tok.Valid(testNow); got != tt.want {
			t.Errorf("%s: Valid = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A 401 whose WWW-Authenticate carries use_dpop_nonce (RFC 9449 §9 style)
// is also a nonce challenge, even without a JSON body.
func TestDPoPNonceChallengeInWWWAuthenticate(t *testing.T) {
	f := newFakeAS(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			w.Header().Set("DPoP-Nonce", "n1")
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="nonce required"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, okBody)
	})
	var nonces []string
	c := newTestClient(t, f, Options{DPoP: func(_, _, n string) (string, error) { nonces = append(nonces, n); return "p", nil }})
	if _, err := c.ClientCredentials(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if strings.Join(nonces, ",") != ",n1" {
		t.Errorf("nonces = %q, want [\"\" n1]", nonces)
	}
	failing := newTestClient(t, f, Options{DPoP: func(_, _, _ string) (string, error) { return "", errors.New("no key") }})
	if _, err := failing.ClientCredentials(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "DPoP proof: no key") {
		t.Errorf("err = %v", err)
	}
}

// Network failures while polling are ridden out a bounded number of times,
// so one blip does not force the subscriber to approve again.
func TestCIBAPollNetworkFailures(t *testing.T) {
	dead := newFakeAS(t, jsonReply(200, okBody))
	deadURL := dead.URL
	dead.Close()
	f := newFakeAS(t, jsonReply(200, `{"auth_req_id":"x","expires_in":300}`))
	clk := &fakeClock{now: testNow}
	c := newTestClient(t, f, Options{TokenURL: deadURL + "/token", Now: clk.Now, Sleep: clk.Sleep})
	_, err := c.CIBA(context.Background(), CIBARequest{AuthorizeURL: f.URL + "/bc-authorize", LoginHint: "tel:+34666666666"})
	if err == nil || !strings.Contains(err.Error(), "token endpoint: POST "+deadURL+"/token") {
		t.Fatalf("err = %v, want the transport error", err)
	}
	if len(clk.sleeps) != maxTransientPollFailures {
		t.Errorf("polled %d times, want %d", len(clk.sleeps), maxTransientPollFailures)
	}
}
