package sidecar

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/refresher"
)

// TestClassifyTokenErrors pins what the app sees for each way a token fetch
// can fail. The fetch error reaches classify wrapped in the refresher's
// UnavailableError, as it does in the pipeline.
func TestClassifyTokenErrors(t *testing.T) {
	oauthErr := func(status int, code string) error {
		return &refresher.UnavailableError{RetryAfter: 7 * time.Second,
			Cause: fmt.Errorf("fetch: %w", &oauth.Error{StatusCode: status, Code: code, Description: "from the server"})}
	}
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantRetry  bool
	}{
		// Permanent: asking again with the same configuration and subject
		// cannot succeed, so no Retry-After. Statuses as RFC 6749 §5.2 and
		// CIBA Core §13 give them, except invalid_client (see
		// permanentOAuthErrors).
		{"unknown_user_id", oauthErr(400, "unknown_user_id"), 400, "unknown_user_id", false},
		{"invalid_request", oauthErr(400, "invalid_request"), 400, "invalid_request", false},
		{"invalid_scope", oauthErr(400, "invalid_scope"), 400, "invalid_scope", false},
		{"invalid_grant", oauthErr(400, "invalid_grant"), 400, "invalid_grant", false},
		{"unauthorized_client", oauthErr(400, "unauthorized_client"), 400, "unauthorized_client", false},
		{"unsupported_grant_type", oauthErr(400, "unsupported_grant_type"), 400, "unsupported_grant_type", false},
		{"invalid_binding_message", oauthErr(400, "invalid_binding_message"), 400, "invalid_binding_message", false},
		{"expired_login_hint_token", oauthErr(400, "expired_login_hint_token"), 400, "expired_login_hint_token", false},
		{"missing_user_code", oauthErr(400, "missing_user_code"), 400, "missing_user_code", false},
		{"invalid_user_code", oauthErr(400, "invalid_user_code"), 400, "invalid_user_code", false},
		{"invalid_client with 401", oauthErr(401, "invalid_client"), 403, "invalid_client", false},
		{"invalid_client with 400", oauthErr(400, "invalid_client"), 403, "invalid_client", false},
		{"access_denied", oauthErr(403, "access_denied"), 403, "access_denied", false},
		{"expired_token", oauthErr(400, "expired_token"), 504, "authorization_expired", false},
		{"access_denied unwrapped", &oauth.Error{StatusCode: 403, Code: "access_denied"}, 403, "access_denied", false},

		// Transient: the same request may succeed later.
		{"temporarily_unavailable", oauthErr(503, "temporarily_unavailable"), 503, "token_unavailable", true},
		{"server_error", oauthErr(500, "server_error"), 503, "token_unavailable", true},
		{"slow_down", oauthErr(400, "slow_down"), 503, "token_unavailable", true},
		{"authorization_pending", oauthErr(400, "authorization_pending"), 503, "token_unavailable", true},
		{"permanent code with a 5xx status", oauthErr(500, "invalid_request"), 503, "token_unavailable", true},
		{"permanent code with a 429", oauthErr(429, "invalid_request"), 503, "token_unavailable", true},
		{"non-JSON 400", oauthErr(400, "http_400"), 503, "token_unavailable", true},
		{"unknown code", oauthErr(400, "use_dpop_nonce"), 503, "token_unavailable", true},
		{"network", &refresher.UnavailableError{RetryAfter: 2 * time.Second, Cause: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, 503, "token_unavailable", true},
		{"still pending after maxWait", &refresher.UnavailableError{RetryAfter: time.Second, Pending: true}, 503, "authorization_pending", true},
		{"pending table full", &refresher.PendingLimitError{Limit: 8, RetryAfter: 5 * time.Second}, http.StatusTooManyRequests, "too_many_pending_authorizations", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := classify(tt.err)
			if pe.status != tt.wantStatus || pe.code != tt.wantCode {
				t.Fatalf("classify = %d %q, want %d %q (detail %q)", pe.status, pe.code, tt.wantStatus, tt.wantCode, pe.detail)
			}
			if got := pe.retryAfter > 0; got != tt.wantRetry {
				t.Errorf("retryAfter = %s, want one: %v", pe.retryAfter, tt.wantRetry)
			}
			if pe.detail == "" {
				t.Error("empty detail")
			}
		})
	}
}
