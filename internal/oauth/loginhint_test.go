package oauth

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestLoginHintFormats(t *testing.T) {
	long := strings.Repeat("u", MaxOpaqueLoginHintBytes)
	tests := []struct {
		name   string
		format LoginHintFormat
		hint   string
		want   string // "" means valid
	}{
		{"default is Open Gateway: tel", "", "tel:+34666666666", ""},
		{"default is Open Gateway: e-mail refused", "", "alice@example.com", "unsupported identifier type"},
		{"open_gateway: e-mail refused", LoginHintOpenGateway, "alice@example.com", "unsupported identifier type"},
		{"opaque: e-mail", LoginHintOpaque, "alice@example.com", ""},
		{"opaque: user id", LoginHintOpaque, "user-42", ""},
		{"opaque: tel still fine", LoginHintOpaque, "tel:+34666666666", ""},
		{"opaque: not E.164 is fine", LoginHintOpaque, "tel:34666", ""},
		{"opaque: non-ASCII", LoginHintOpaque, "josé@example.es", ""},
		{"opaque: at the limit", LoginHintOpaque, long, ""},
		{"opaque: empty", LoginHintOpaque, "", "empty"},
		{"opaque: over the limit", LoginHintOpaque, long + "u", "longer than 256 bytes"},
		{"opaque: newline", LoginHintOpaque, "alice\n@example.com", "control character"},
		{"opaque: tab", LoginHintOpaque, "alice\t", "control character"},
		{"opaque: NUL", LoginHintOpaque, "alice\x00", "control character"},
		{"opaque: DEL", LoginHintOpaque, "alice\x7f", "control character"},
		{"opaque: C1 control", LoginHintOpaque, "alice\u0085", "control character"},
		{"opaque: invalid UTF-8", LoginHintOpaque, "alice\xff", "not valid UTF-8"},
		{"unknown format", "email", "alice@example.com", `unknown login hint format "email"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkHintError(t, tt.format.Validate(tt.hint), tt.hint, tt.want) })
	}
}

// checkHintError checks a login hint validation result: nil when want is
// empty, otherwise ErrInvalidLoginHint saying want without repeating the
// hint (a subscriber's phone number or address).
func checkHintError(t *testing.T, err error, hint, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("err = %v, want valid", err)
		}
		return
	}
	if !errors.Is(err, ErrInvalidLoginHint) || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want ErrInvalidLoginHint saying %q", err, want)
	}
	if len(hint) > 8 && strings.Contains(err.Error(), hint) {
		t.Errorf("error repeats the hint: %v", err)
	}
}

// TestCIBAOpaqueLoginHintIsSent: with the opaque format an e-mail hint goes
// to the backchannel endpoint verbatim; with the default it is refused before
// anything is sent.
func TestCIBAOpaqueLoginHintIsSent(t *testing.T) {
	f := cibaServer(t, `{"auth_req_id":"`+testAuthReqID+`","expires_in":120}`, []pollReply{approved})
	clk := &fakeClock{now: testNow}
	c := newTestClient(t, f, Options{Now: clk.Now, Sleep: clk.Sleep})
	req := CIBARequest{AuthorizeURL: f.URL + "/bc-authorize", LoginHint: "alice@example.com", Scopes: []string{"read"}}
	if _, err := c.CIBA(context.Background(), req); !errors.Is(err, ErrInvalidLoginHint) {
		t.Fatalf("default format: err = %v, want ErrInvalidLoginHint", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("default format sent %d requests", n)
	}
	req.LoginHintFormat = LoginHintOpaque
	if _, err := c.CIBA(context.Background(), req); err != nil {
		t.Fatalf("opaque format: %v", err)
	}
	form, err := url.ParseQuery(f.requests()[0].Body)
	if err != nil || form.Get("login_hint") != "alice@example.com" {
		t.Fatalf("authorize body %q: login_hint = %q, %v", f.requests()[0].Body, form.Get("login_hint"), err)
	}
}
