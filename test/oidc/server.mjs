// A real OpenID provider (panva's oidc-provider) configured for the
// oauth-injector tests: client_credentials, password, refresh_token, the
// authorization code grant with PKCE for clients registered with
// redirect_uris (with oidc-provider's own login and consent pages when
// devInteractions is set), CIBA poll mode, RFC 8693 and Tapkey token
// exchange, the RFC 7523 JWT bearer grant, DPoP with optional nonces, and a
// /resource endpoint that validates the tokens it issued.
//
// Start: OIDC_CONFIG=/path/config.json node server.mjs
// When ready it prints exactly one JSON line on stdout with the endpoints;
// everything else (oidc-provider notices included) goes to stderr.

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createTLSServer } from 'node:https';

import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

import { cibaFeature, cibaPolling, purposeToScope } from './lib/ciba.mjs';
import { formPreprocessor, strictSecretTransport } from './lib/form.mjs';
import {
  loadConfig, GRANT_CIBA, GRANT_JWT_BEARER, GRANT_PASSWORD, GRANT_TAPKEY, GRANT_TOKEN_EXCHANGE,
} from './lib/config.mjs';
import { FIXED_TTL, NO_REFRESH, registerCustomGrants } from './lib/grants.mjs';
import { clientAuthMethods, mtlsFeature } from './lib/mtls.mjs';
import { resourceEndpoint } from './lib/resource.mjs';

// oidc-provider prints its notices with console.info; stdout is reserved for
// the ready line the harness parses.
console.info = (...args) => console.error(...args);

function clientMetadata(c) {
  const confidential = c.token_endpoint_auth_method !== 'none';
  const grantTypes = confidential
    ? ['client_credentials', 'refresh_token', GRANT_PASSWORD, GRANT_TOKEN_EXCHANGE, GRANT_TAPKEY, GRANT_CIBA, GRANT_JWT_BEARER]
    : ['refresh_token', GRANT_PASSWORD, GRANT_TOKEN_EXCHANGE, GRANT_TAPKEY, GRANT_JWT_BEARER];
  return {
    grant_types: grantTypes,
    response_types: [],
    redirect_uris: [],
    ...(confidential ? { backchannel_token_delivery_mode: 'poll' } : {}),
    ...c,
  };
}

async function main() {
  const cfg = loadConfig();

  // Listen first: with port 0 the issuer (which embeds the port) is only known
  // once the socket is bound.
  let handler = (_req, res) => { res.statusCode = 503; res.end(); };
  const listener = (req, res) => handler(req, res);
  // With cfg.tls the server speaks HTTPS and requests (but does not require)
  // a client certificate; tls_client_auth decides per request.
  const server = cfg.tls
    ? createTLSServer({
      cert: cfg.tls.cert, key: cfg.tls.key, ca: cfg.tls.clientCA, requestCert: true, rejectUnauthorized: false,
    }, listener)
    : createServer(listener);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, resolve);
  });
  const { port } = server.address();
  const issuer = `${cfg.tls ? 'https' : 'http'}://${cfg.host}:${port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'test-rs256' };
  const resourceScopes = new Set(cfg.resourceScopes.split(' '));

  const provider = new Provider(issuer, {
    clients: cfg.clients.map(clientMetadata),
    clientAuthMethods: clientAuthMethods(cfg),
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    async findAccount(_ctx, sub) {
      return { accountId: sub, async claims() { return { sub }; } };
    },
    scopes: ['openid', 'offline_access'],
    features: {
      // The development login and consent pages: any login name, no
      // password check. Only the consent tests (authorization code) need them.
      devInteractions: { enabled: cfg.devInteractions === true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      dPoP: {
        enabled: true,
        nonceSecret: randomBytes(32),
        requireNonce: () => cfg.dpop.requireNonce === true,
      },
      ciba: cibaFeature(cfg),
      mTLS: mtlsFeature(cfg),
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? cfg.resource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (indicator !== cfg.resource) {
            throw new errors.InvalidTarget(`unknown resource indicator, this server only knows ${cfg.resource}`);
          }
          return { scope: [...resourceScopes].join(' '), accessTokenFormat: 'opaque', accessTokenTTL: cfg.accessTokenTTL };
        },
      },
    },
    async issueRefreshToken(ctx, client, source) {
      if (!client.grantTypeAllowed('refresh_token') || source[NO_REFRESH] === true) return false;
      // As oidc-provider's default: a code grant earns a refresh token only
      // with offline_access, which the authorization endpoint keeps only
      // together with prompt=consent.
      return ctx.oidc.params.grant_type !== 'authorization_code' || source.scopes.has('offline_access');
    },
    rotateRefreshToken: cfg.rotateRefreshToken === true,
    ttl: {
      AccessToken(ctx) { return ctx?.[FIXED_TTL] ?? cfg.accessTokenTTL; },
      ClientCredentials() { return cfg.accessTokenTTL; },
      RefreshToken() { return cfg.refreshTokenTTL; },
      Grant() { return cfg.refreshTokenTTL * 2; },
      IdToken() { return 3600; },
      BackchannelAuthenticationRequest(ctx) {
        const requested = Number(ctx?.oidc?.params?.requested_expiry);
        return Number.isSafeInteger(requested) && requested > 0
          ? Math.min(requested, cfg.ciba.requestTTL) : cfg.ciba.requestTTL;
      },
      Session: 3600,
      Interaction: 600,
    },
    // Test tokens are short-lived; do not spend time on clock-skew tolerance.
    clockTolerance: 5,
  });

  registerCustomGrants(provider, cfg);
  provider.use(resourceEndpoint(provider, cfg, issuer));
  provider.use(formPreprocessor(strictSecretTransport(cfg), purposeToScope));
  provider.use(cibaPolling(cfg));
  provider.on('server_error', (_ctx, err) => console.error('server_error:', err));

  handler = provider.callback();

  process.stdout.write(`${JSON.stringify({
    issuer,
    port,
    token_endpoint: `${issuer}/token`,
    backchannel_authentication_endpoint: `${issuer}/backchannel`,
    introspection_endpoint: `${issuer}/token/introspection`,
    revocation_endpoint: `${issuer}/token/revocation`,
    jwks_uri: `${issuer}/jwks`,
    resource_endpoint: `${issuer}/resource`,
  })}\n`);

  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error('oidc test server failed to start:', err.message);
  process.exit(1);
});
