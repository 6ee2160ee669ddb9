// Package signing holds the per-request credential steps of the sidecar's
// pipeline (DESIGN.md §4, steps 5 and 6): placing an access token on the
// outgoing request (RFC 6750 §2), and signing the request with a MAC token
// (draft-ietf-oauth-v2-http-mac-01), an OAuth 1.0a signature (RFC 5849) or a
// DPoP proof (RFC 9449).
//
// Everything here is a pure function of its inputs: no I/O and no package
// state. The clock and the nonce source are fields (Now, Nonce) so tests can
// pin them to the published vectors; when they are nil the real clock and
// crypto/rand are used. No error returned by this package contains a
// secret, a key or a token value.
package signing
