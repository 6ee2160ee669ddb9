// Custom grant types registered with provider.registerGrantType: the resource
// owner password grant, RFC 8693 token exchange, Tapkey's token exchange and
// the RFC 7523 §2.1 JWT bearer grant.
//
// They reuse oidc-provider's own grant helpers (deep imports, which is safe
// because package.json pins an exact version) so DPoP binding, DPoP nonces,
// resource indicators and refresh-token issuance behave exactly as they do for
// the built-in grants.

import { timingSafeEqual, createHash } from 'node:crypto';

import { createLocalJWKSet, jwtVerify, errors as joseErrors } from 'jose';
import { errors } from 'oidc-provider';
import * as grantHelpers from 'oidc-provider/lib/helpers/grants.js';
import { issueTokens } from 'oidc-provider/lib/helpers/grant_common.js';

import {
  GRANT_JWT_BEARER, GRANT_PASSWORD, GRANT_TAPKEY, GRANT_TOKEN_EXCHANGE,
} from './config.mjs';

const { InvalidGrant, InvalidRequest, InvalidTarget } = errors;

const TOKEN_TYPE_ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
const TOKEN_TYPE_ID = 'urn:ietf:params:oauth:token-type:id_token';

// Marks a token request whose refresh token must not be issued; read by the
// issueRefreshToken configuration function.
export const NO_REFRESH = Symbol('no refresh token');
// Carries a fixed access-token lifetime (Tapkey) to the ttl.AccessToken function.
export const FIXED_TTL = Symbol('fixed access token ttl');

function digest(s) {
  return createHash('sha256').update(String(s)).digest();
}

// Constant-time comparison over digests so lengths do not leak either.
function secretEquals(a, b) {
  return timingSafeEqual(digest(a), digest(b));
}

function required(ctx, ...names) {
  const missing = names.filter((n) => typeof ctx.oidc.params[n] !== 'string' || ctx.oidc.params[n] === '');
  if (missing.length) {
    throw new InvalidRequest(`missing required parameter(s) ${missing.join(',')}`);
  }
}

// Builds the grant and the "source" object issueTokens expects (the shape of a
// persisted authorization code / CIBA request), then issues the tokens.
async function issueForAccount(provider, helpers, ctx, accountId, gty, { noRefresh = false } = {}) {
  const dPoP = await helpers.validateDpop(ctx);
  helpers.checkDpopRequired(ctx, dPoP);

  const resourceServers = await helpers.resolveRequestedResources(ctx);
  if (resourceServers.length > 1) {
    throw new InvalidTarget('only a single resource indicator value is supported for this grant type');
  }
  const [rs] = resourceServers;
  const requested = [...helpers.validateClientScope(ctx)];
  const oidcStatics = new Set(['openid', 'offline_access']);

  const grant = new provider.Grant({ accountId, clientId: ctx.oidc.client.clientId });
  const oidcScopes = requested.filter((s) => oidcStatics.has(s));
  if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));

  let scope = oidcScopes;
  if (rs) {
    // No scope asked for: grant everything the resource server offers, as the
    // built-in client_credentials grant does when scope is absent.
    const rsScopes = requested.length
      ? requested.filter((s) => rs.scopes.has(s))
      : [...rs.scopes];
    if (rsScopes.length) grant.addResourceScope(rs.identifier(), rsScopes.join(' '));
    scope = [...oidcScopes, ...rsScopes];
  }
  const grantId = await grant.save();

  const scopeString = scope.join(' ');
  const source = {
    accountId,
    grantId,
    gty,
    scope: scopeString || undefined,
    scopes: new Set(scope),
    resource: rs?.identifier(),
    resourceIndicators: new Set(rs ? [rs.identifier()] : []),
    claims: {},
    expiresWithSession: false,
    [NO_REFRESH]: noRefresh,
  };

  ctx.oidc.entity('Grant', grant);
  await issueTokens(provider, helpers, ctx, source, grant, {
    gty, entityLabel: gty, cert: undefined, dPoP,
  });
}

function describeJoseError(err, what = 'subject_token') {
  if (err instanceof joseErrors.JWTExpired) return `${what} is expired (${err.claim})`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return `${what} signature verification failed`;
  if (err instanceof joseErrors.JWKSNoMatchingKey) return `${what} is not signed by a trusted key`;
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `${what} claim ${err.claim} is invalid (${err.reason})`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return `${what} uses an algorithm that is not allowed`;
  return `${what} is not a valid JWT`;
}

async function verifySubjectToken(jwks, token, { issuer, audience }) {
  try {
    const { payload } = await jwtVerify(token, jwks, {
      issuer,
      audience,
      algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'],
      requiredClaims: ['exp', 'sub'],
    });
    return payload;
  } catch (err) {
    throw new InvalidGrant(describeJoseError(err));
  }
}

// Allowed clock skew on assertion times, as the provider's clockTolerance.
const ASSERTION_CLOCK_TOLERANCE = 5;

// verifyBearerAssertion applies RFC 7523 §3 to a JWT bearer grant assertion:
// signed (by a key in the client's registered jwks, with an asymmetric alg),
// iss = the client (the only issuer this server trusts for it), a non-empty
// sub, aud naming this server (issuer or token endpoint), exp present, not
// passed and at most maxLifetime ahead, iat present and not in the future,
// nbf honoured, and a jti never seen before. Every failure is invalid_grant
// (§3.1).
async function verifyBearerAssertion(provider, jwks, client, assertion, { maxLifetime }) {
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, jwks, {
      algorithms: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'],
      issuer: client.clientId,
      audience: [provider.issuer, `${provider.issuer}/token`],
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
      maxTokenAge: maxLifetime,
      clockTolerance: ASSERTION_CLOCK_TOLERANCE,
    }));
  } catch (err) {
    throw new InvalidGrant(describeJoseError(err, 'assertion'));
  }
  const now = Math.floor(Date.now() / 1000);
  if (payload.exp - now > maxLifetime + ASSERTION_CLOCK_TOLERANCE) {
    throw new InvalidGrant(`assertion exp is more than ${maxLifetime} seconds ahead`);
  }
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    throw new InvalidGrant('assertion sub must be a non-empty string');
  }
  if (typeof payload.jti !== 'string' || payload.jti === '') {
    throw new InvalidGrant('assertion jti must be a non-empty string');
  }
  const unique = await provider.ReplayDetection.unique(
    `jwt-bearer:${payload.iss}`,
    payload.jti,
    payload.exp + ASSERTION_CLOCK_TOLERANCE,
  );
  if (!unique) {
    throw new InvalidGrant('assertion jti was already used');
  }
  return payload;
}

export function registerCustomGrants(provider, cfg) {
  // The same helpers the built-in grants receive, bound to this provider.
  const helpers = Object.fromEntries(
    Object.entries(grantHelpers).map(([name, fn]) => [name, fn.bind(undefined, provider)]),
  );

  const users = new Map(cfg.users.map((u) => [u.username, u.password]));

  provider.registerGrantType(GRANT_PASSWORD, async (ctx) => {
    required(ctx, 'username', 'password');
    const { username, password } = ctx.oidc.params;
    const expected = users.get(username);
    // Compare even for unknown users so timing does not reveal which exist.
    const ok = secretEquals(password, expected ?? '\0unknown') && expected !== undefined;
    if (!ok) {
      throw new InvalidGrant('invalid resource owner credentials');
    }
    await issueForAccount(provider, helpers, ctx, username, GRANT_PASSWORD);
  }, ['username', 'password', 'scope', 'resource'], ['resource']);

  const teJWKS = createLocalJWKSet(cfg.tokenExchange.jwks);
  provider.registerGrantType(GRANT_TOKEN_EXCHANGE, async (ctx) => {
    required(ctx, 'subject_token', 'subject_token_type');
    const p = ctx.oidc.params;
    if (![TOKEN_TYPE_JWT, TOKEN_TYPE_ID].includes(p.subject_token_type)) {
      throw new InvalidRequest(`subject_token_type must be ${TOKEN_TYPE_JWT} or ${TOKEN_TYPE_ID}`);
    }
    if (p.requested_token_type !== undefined && p.requested_token_type !== TOKEN_TYPE_ACCESS) {
      throw new InvalidRequest(`requested_token_type must be ${TOKEN_TYPE_ACCESS}`);
    }
    if (p.actor_token !== undefined) {
      throw new InvalidRequest('actor_token (delegation) is not supported by this server');
    }
    const audiences = [].concat(p.audience ?? []);
    const allowed = new Set(cfg.tokenExchange.allowedAudiences ?? [cfg.resource]);
    for (const aud of audiences) {
      if (!allowed.has(aud)) throw new InvalidTarget('audience is not a known target service');
    }
    const claims = await verifySubjectToken(teJWKS, p.subject_token, cfg.tokenExchange);
    await issueForAccount(provider, helpers, ctx, claims.sub, GRANT_TOKEN_EXCHANGE, { noRefresh: true });
    ctx.body.issued_token_type = TOKEN_TYPE_ACCESS;
  }, ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'resource', 'scope', 'actor_token', 'actor_token_type'], ['audience', 'resource']);

  const tkJWKS = createLocalJWKSet(cfg.tapkey.jwks);
  provider.registerGrantType(GRANT_TAPKEY, async (ctx) => {
    required(ctx, 'provider', 'scope', 'subject_token_type', 'subject_token');
    const p = ctx.oidc.params;
    if (p.provider !== cfg.tapkey.provider) {
      throw new InvalidRequest('provider is not a registered identity provider');
    }
    if (p.subject_token_type !== 'jwt') {
      throw new InvalidRequest('subject_token_type must be jwt');
    }
    // Tapkey documents audience as optional, but its endpoint refuses an
    // exchange without it (issue 8): the stand-in is as strict as the server.
    if (p.audience !== 'tapkey_api') {
      throw new InvalidRequest('audience is required and must be tapkey_api');
    }
    if (p.requested_token_type !== undefined && p.requested_token_type !== 'access_token') {
      throw new InvalidRequest('requested_token_type, when present, must be access_token');
    }
    const claims = await verifySubjectToken(tkJWKS, p.subject_token, cfg.tapkey);
    // Tapkey: "The access token's lifetime will match the lifetime requested in
    // the external token."
    const remaining = claims.exp - Math.floor(Date.now() / 1000);
    if (remaining < 1) throw new InvalidGrant('subject_token is expired');
    ctx[FIXED_TTL] = remaining;
    await issueForAccount(provider, helpers, ctx, claims.sub, GRANT_TAPKEY, { noRefresh: true });
    ctx.body.issued_token_type = 'access_token';
  }, ['provider', 'scope', 'subject_token_type', 'subject_token', 'audience', 'requested_token_type']);

  // RFC 7523 §2.1. The assertion is verified against the authenticated (or,
  // for a public client, identified) client's own registered jwks: the
  // client vouches for the subject with its key.
  const clientJWKS = new Map(cfg.clients
    .filter((c) => c.jwks?.keys?.length)
    .map((c) => [c.client_id, createLocalJWKSet(c.jwks)]));
  const unknownSubjects = new Set(cfg.jwtBearer.unknownSubjects);
  provider.registerGrantType(GRANT_JWT_BEARER, async (ctx) => {
    required(ctx, 'assertion');
    const { client } = ctx.oidc;
    const jwks = clientJWKS.get(client.clientId);
    if (!jwks) {
      throw new InvalidGrant('the client has no registered jwks to verify the assertion with');
    }
    const claims = await verifyBearerAssertion(provider, jwks, client, ctx.oidc.params.assertion, cfg.jwtBearer);
    if (unknownSubjects.has(claims.sub)) {
      throw new InvalidGrant('assertion sub is not a known subject');
    }
    await issueForAccount(provider, helpers, ctx, claims.sub, GRANT_JWT_BEARER, { noRefresh: true });
  }, ['assertion', 'scope', 'resource'], ['resource']);
}
