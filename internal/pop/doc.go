// Package pop builds and validates proof-of-possession tokens: T-Mobile's
// TAAP PoP tokens (an RS256 JWT whose "ehts" claim lists the signed request
// parts and whose "edts" claim is a SHA-256 digest over their values), and
// loads the private keys that sign them.
//
// The TAAP rules follow T-Mobile's published builder and validator
// (github.com/tmobile/tmobile-api-security-lib). Minting sits on the
// sidecar's per-request hot path, so Builder precomputes everything that does
// not depend on the request and costs little more than the RSA signature.
//
// Apart from LoadPrivateKey, which reads the two files it is given, the
// package does no I/O.
package pop
