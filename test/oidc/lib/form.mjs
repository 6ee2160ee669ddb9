// Pre-processing of form bodies before oidc-provider sees them. The body is
// read here, adjusted by the given transforms and handed over through
// req.body, which oidc-provider's parser uses when the stream was consumed.

import * as querystring from 'node:querystring';

import { errors } from 'oidc-provider';

const BODY_LIMIT = 56 * 1024;
const PATHS = new Set(['/token', '/backchannel', '/token/introspection', '/token/revocation']);

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new errors.InvalidRequest('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function formPreprocessor(...transforms) {
  return async (ctx, next) => {
    if (ctx.method === 'POST' && PATHS.has(ctx.path) && ctx.is('application/x-www-form-urlencoded')) {
      try {
        const body = querystring.parse(await readForm(ctx.req));
        for (const transform of transforms) transform(ctx, body);
        ctx.req.body = querystring.stringify(body);
      } catch (err) {
        // Thrown here, outside oidc-provider's routes, an error would not be
        // rendered as an OAuth error response; render it the same way.
        if (!(err instanceof errors.OIDCProviderError)) throw err;
        // As oidc-provider does, invalid_client is a 401 (RFC 6749 §5.2).
        ctx.status = err.error === 'invalid_client' ? 401 : err.statusCode;
        if (ctx.status === 401) ctx.set('WWW-Authenticate', 'Basic realm="token"');
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: err.error, error_description: err.error_description };
        return;
      }
    }
    await next();
  };
}

function basicClientId(header) {
  const m = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  try {
    return decodeURIComponent(decoded.slice(0, i).replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

// oidc-provider treats client_secret_basic and client_secret_post as
// interchangeable. Real authorization servers often do not, and a lenient test
// server would hide a client that sends its secret the wrong way, so insist
// on the registered method.
export function strictSecretTransport(cfg) {
  const methods = new Map(cfg.clients.map((c) => [c.client_id, c.token_endpoint_auth_method ?? 'client_secret_basic']));
  return (ctx, body) => {
    const fromHeader = basicClientId(ctx.get('Authorization'));
    if (fromHeader !== undefined && methods.has(fromHeader) && methods.get(fromHeader) !== 'client_secret_basic') {
      throw new errors.InvalidClient(`client is registered for ${methods.get(fromHeader)}, not client_secret_basic`);
    }
    if (typeof body.client_secret === 'string' && methods.has(body.client_id) && methods.get(body.client_id) !== 'client_secret_post') {
      throw new errors.InvalidClient(`client is registered for ${methods.get(body.client_id)}, not client_secret_post`);
    }
  };
}
