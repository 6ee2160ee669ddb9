// RFC 8705 mutual-TLS client authentication (tls_client_auth). Only active
// when the harness passes a `tls` block: the server then listens over HTTPS,
// asks every client for a certificate but lets the handshake through without
// one, so the token endpoint (not the TLS layer) decides and answers
// invalid_client the way RFC 8705 §2 expects.

import { X509Certificate } from 'node:crypto';

function peerCertificate(ctx) {
  const socket = ctx.socket;
  if (typeof socket?.getPeerCertificate !== 'function') return undefined;
  const c = socket.getPeerCertificate();
  return c && c.raw ? c.raw : undefined;
}

function toPEM(raw) {
  return `-----BEGIN CERTIFICATE-----\n${raw.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----`;
}

// subjectDN renders the subject as RFC 4514 does for the simple names the
// tests use (one attribute per RDN): most specific first, comma-separated.
// X509Certificate.subject lists RDNs in certificate order, one per line.
function subjectDN(raw) {
  return new X509Certificate(raw).subject.split('\n').reverse().join(',');
}

// clientAuthMethods is oidc-provider's default list, plus tls_client_auth
// when the server speaks TLS.
export function clientAuthMethods(cfg) {
  const methods = ['client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'private_key_jwt', 'none'];
  return cfg.tls ? [...methods, 'tls_client_auth'] : methods;
}

export function mtlsFeature(cfg) {
  if (!cfg.tls) return { enabled: false };
  return {
    enabled: true,
    tlsClientAuth: true,
    getCertificate(ctx) {
      const raw = peerCertificate(ctx);
      return raw ? toPEM(raw) : undefined;
    },
    certificateAuthorized(ctx) {
      return ctx.socket?.authorized === true;
    },
    certificateSubjectMatches(ctx, property, expected) {
      const raw = peerCertificate(ctx);
      if (!raw || property !== 'tls_client_auth_subject_dn') return false;
      return subjectDN(raw) === expected;
    },
  };
}
