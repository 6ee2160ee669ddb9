package sidecar

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/refresher"
)

// permanentOAuthErrors are the OAuth error codes for which asking the
// authorization server again, with the same configuration and subject,
// cannot succeed. The app gets the code itself and no Retry-After, instead of
// a 503 that invites it to retry forever. The statuses are those RFC 6749
// §5.2 and CIBA Core §13 give the authorization server, with one exception:
// invalid_client is 403, not 401, because a 401 must carry a
// WWW-Authenticate challenge the app could answer, and the refused
// credentials are the sidecar's (its Secret), not the app's.
//
// Any other code, and any of these sent with a 5xx or 429 status, stays a
// 503 token_unavailable with Retry-After: temporarily_unavailable,
// server_error, slow_down, authorization_pending, network failures and
// unparseable answers may pass.
var permanentOAuthErrors = map[string]int{
	// RFC 6749 §5.2.
	"invalid_request":        http.StatusBadRequest,
	"invalid_client":         http.StatusForbidden,
	"invalid_grant":          http.StatusBadRequest, // refresh token, password, subject token or auth_req_id refused
	"unauthorized_client":    http.StatusBadRequest,
	"unsupported_grant_type": http.StatusBadRequest,
	"invalid_scope":          http.StatusBadRequest,
	// CIBA Core §13 (backchannel authentication endpoint).
	"unknown_user_id":          http.StatusBadRequest,
	"expired_login_hint_token": http.StatusBadRequest,
	"missing_user_code":        http.StatusBadRequest,
	"invalid_user_code":        http.StatusBadRequest,
	"invalid_binding_message":  http.StatusBadRequest,
	"access_denied":            http.StatusForbidden, // the subscriber refused
}

// classifyTokenError maps a token fetch's final outcome, or the refusal to
// start one, onto what the app sees; nil leaves err to classify.
func classifyTokenError(err error) *proxyError {
	var pl *refresher.PendingLimitError
	if errors.As(err, &pl) {
		// 429, not 503: the token endpoint is fine, the app asked for too
		// many subscribers at once.
		return &proxyError{status: http.StatusTooManyRequests, code: "too_many_pending_authorizations",
			detail: fmt.Sprintf("%v (grant.ciba.maxPending)", pl), retryAfter: pl.RetryAfter}
	}
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Retryable() {
		return nil
	}
	if oe.Code == "expired_token" {
		// CIBA: nobody approved in time. A new request starts a new
		// authorization, so this is not permanent, but not a 503 either.
		return newProxyError(http.StatusGatewayTimeout, "authorization_expired", oe.Error())
	}
	if status, ok := permanentOAuthErrors[oe.Code]; ok {
		return newProxyError(status, oe.Code, oe.Error())
	}
	return nil
}
