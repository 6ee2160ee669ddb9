// A protected resource on the provider's own origin (/resource and below). It
// looks presented access tokens up in the provider's token store and checks
// DPoP proofs per RFC 9449 §7, so end-to-end tests can prove that the token a
// sidecar attached was really accepted.

import { hash } from 'node:crypto';

import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';

const DPOP_ALGS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];
const IAT_WINDOW = 60;
const HIDDEN_HEADERS = new Set(['authorization', 'dpop', 'cookie']);

function challenge(ctx, status, error, description) {
  ctx.status = status;
  const params = error ? `, error="${error}", error_description="${description}"` : '';
  ctx.set('WWW-Authenticate', `Bearer realm="resource"${params}, DPoP algs="${DPOP_ALGS.join(' ')}"${params}`);
  ctx.body = error ? { error, error_description: description } : { error: 'invalid_request', error_description: description };
}

async function findToken(provider, value) {
  return (await provider.AccessToken.find(value)) || (await provider.ClientCredentials.find(value));
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > 1024 * 1024) break;
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export function resourceEndpoint(provider, cfg, issuer) {
  const seenJti = new Map();

  async function checkProof(ctx, proof, token, value) {
    let jwt;
    try {
      jwt = await jwtVerify(proof, EmbeddedJWK, { algorithms: DPOP_ALGS, typ: 'dpop+jwt' });
    } catch {
      return 'DPoP proof signature or header is invalid';
    }
    const { payload, protectedHeader } = jwt;
    if (payload.htm !== ctx.method) return 'DPoP proof htm does not match the request method';
    const expected = new URL(ctx.path, issuer).href;
    const actual = URL.parse(String(payload.htu ?? ''));
    if (!actual) return 'DPoP proof htu is not a URL';
    actual.search = '';
    actual.hash = '';
    if (actual.href !== expected) return 'DPoP proof htu does not match the request URL';
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > IAT_WINDOW) return 'DPoP proof iat is not recent';
    if (typeof payload.jti !== 'string' || !payload.jti) return 'DPoP proof jti is missing';
    if (payload.ath !== hash('sha256', value, 'base64url')) return 'DPoP proof ath does not match the access token';
    if ((await calculateJwkThumbprint(protectedHeader.jwk)) !== token.jkt) return 'DPoP proof key does not match the token binding (cnf.jkt)';
    for (const [k, exp] of seenJti) if (exp < now) seenJti.delete(k);
    if (seenJti.has(payload.jti)) return 'DPoP proof jti was already used';
    seenJti.set(payload.jti, now + IAT_WINDOW);
    return null;
  }

  return async (ctx, next) => {
    if (ctx.path !== '/resource' && !ctx.path.startsWith('/resource/')) {
      await next();
      return;
    }
    const authz = ctx.get('Authorization');
    const m = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(authz);
    if (!m) {
      challenge(ctx, 401, authz ? 'invalid_request' : undefined, 'missing or malformed Authorization header');
      return;
    }
    const scheme = m[1].toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    const value = m[2];
    const token = await findToken(provider, value);
    if (!token) {
      challenge(ctx, 401, 'invalid_token', 'access token is unknown or expired');
      return;
    }
    if (token.aud !== undefined && ![].concat(token.aud).includes(cfg.resource)) {
      challenge(ctx, 401, 'invalid_token', 'access token audience is not this resource');
      return;
    }
    if (token.jkt && scheme !== 'DPoP') {
      challenge(ctx, 401, 'invalid_token', 'DPoP-bound access token presented with the Bearer scheme');
      return;
    }
    if (scheme === 'DPoP') {
      if (!token.jkt) {
        challenge(ctx, 401, 'invalid_token', 'access token is not DPoP-bound');
        return;
      }
      const proof = ctx.get('DPoP');
      const problem = proof ? await checkProof(ctx, proof, token, value) : 'DPoP proof header is missing';
      if (problem) {
        challenge(ctx, 401, 'invalid_dpop_proof', problem);
        return;
      }
    }
    const body = await readBody(ctx.req);
    const headers = Object.fromEntries(
      Object.entries(ctx.headers).filter(([k]) => !HIDDEN_HEADERS.has(k)),
    );
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      ok: true,
      client_id: token.clientId,
      scheme,
      sub: token.accountId ?? null,
      scope: token.scope ?? null,
      gty: token.gty ?? 'client_credentials',
      method: ctx.method,
      path: ctx.path,
      query: ctx.querystring,
      headers,
      body_sha256: hash('sha256', body, 'hex'),
      body_length: body.length,
    };
  };
}
