// Loads the test provider's configuration. The Go harness (test/oidctest)
// writes it as a JSON file named by OIDC_CONFIG; a few scalar knobs can be
// overridden with environment variables so the server is also usable by hand.

import { readFileSync } from 'node:fs';

export const GRANT_PASSWORD = 'password';
export const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const GRANT_TAPKEY = 'http://tapkey.net/oauth/token_exchange';
export const GRANT_CIBA = 'urn:openid:params:grant-type:ciba';
export const GRANT_JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

const defaults = {
  host: '127.0.0.1',
  port: 0,
  resource: 'https://api.partner.example/',
  resourceScopes: 'api:read api:write sim-swap read:user',
  accessTokenTTL: 10,
  refreshTokenTTL: 600,
  rotateRefreshToken: true,
  clients: [
    { client_id: 'basic-client', client_secret: 'basic-secret', token_endpoint_auth_method: 'client_secret_basic' },
    { client_id: 'post-client', client_secret: 'post-secret', token_endpoint_auth_method: 'client_secret_post' },
  ],
  users: [{ username: 'alice', password: 'wonderland' }],
  ciba: {
    approveDelayMs: 3000,
    denyLoginHints: ['tel:+34000000000'],
    unknownLoginHints: ['tel:+34999999999'],
    opaqueLoginHints: false,
    interval: 1,
    enforceInterval: false,
    requestTTL: 120,
  },
  dpop: { requireNonce: false },
  devInteractions: false,
  tokenExchange: { jwks: { keys: [] }, issuer: 'https://idp.example', audience: 'oauth-injector-test' },
  tapkey: { provider: 'idp.example', jwks: { keys: [] }, issuer: 'https://idp.example', audience: 'tapkey' },
  // RFC 7523 §2.1: assertions are verified with the client's registered
  // jwks; subjects listed here are unknown (invalid_grant).
  jwtBearer: { maxLifetime: 300, unknownSubjects: ['tel:+34999999999'] },
};

function envInt(name) {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`environment variable ${name} must be a non-negative integer`);
  }
  return n;
}

function envBool(name) {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new Error(`environment variable ${name} must be true or false`);
}

export function loadConfig() {
  let file = {};
  if (process.env.OIDC_CONFIG) {
    try {
      file = JSON.parse(readFileSync(process.env.OIDC_CONFIG, 'utf8'));
    } catch (err) {
      throw new Error(`OIDC_CONFIG: cannot read ${process.env.OIDC_CONFIG}: ${err.message}`);
    }
  }
  const cfg = {
    ...defaults,
    ...file,
    ciba: { ...defaults.ciba, ...file.ciba },
    dpop: { ...defaults.dpop, ...file.dpop },
    tokenExchange: { ...defaults.tokenExchange, ...file.tokenExchange },
    tapkey: { ...defaults.tapkey, ...file.tapkey },
    jwtBearer: { ...defaults.jwtBearer, ...file.jwtBearer },
  };

  cfg.port = envInt('PORT') ?? cfg.port;
  cfg.accessTokenTTL = envInt('ACCESS_TOKEN_TTL') ?? cfg.accessTokenTTL;
  cfg.ciba.approveDelayMs = envInt('CIBA_APPROVE_DELAY_MS') ?? cfg.ciba.approveDelayMs;
  cfg.dpop.requireNonce = envBool('DPOP_NONCE_REQUIRED') ?? cfg.dpop.requireNonce;

  for (const [name, value] of [['accessTokenTTL', cfg.accessTokenTTL], ['refreshTokenTTL', cfg.refreshTokenTTL], ['ciba.interval', cfg.ciba.interval]]) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new Error(`config ${name} must be a positive integer number of seconds`);
    }
  }
  if (!Array.isArray(cfg.clients) || cfg.clients.length === 0) {
    throw new Error('config clients must be a non-empty array');
  }
  cfg.clients.forEach((c, i) => {
    if (typeof c.client_id !== 'string' || !c.client_id) {
      throw new Error(`config clients[${i}].client_id must be a non-empty string`);
    }
  });
  return cfg;
}
