// CIBA poll mode as an Open Gateway operator runs it: login_hint is a tel: or
// ipport: URI, purpose (dpv:<purpose>#<scope>) may stand in for scope, the
// "authentication device" approves after a delay (so authorization_pending is
// observable first), configured hints are denied (access_denied) or unknown
// (unknown_user_id), and opaque hints (e-mail, user id) can be switched on.

import { isIP } from 'node:net';

import { errors } from 'oidc-provider';

import { GRANT_CIBA } from './config.mjs';

const TEL = /^tel:\+[1-9][0-9]{5,14}$/;
const PURPOSE = /^dpv:[A-Za-z0-9]+#(.+)$/;

function validIpport(value) {
  // ipport:80.90.34.2:16790, ipport:80.90.34.2, ipport:[2001:db8::1]:8080, ipport:[2001:db8::1]
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(value);
  if (v6) return isIP(v6[1]) === 6 && (v6[2] === undefined || +v6[2] <= 65535);
  const v4 = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(value);
  if (v4) return isIP(v4[1]) === 4 && (v4[2] === undefined || +v4[2] <= 65535);
  return false;
}

function openGatewayHint(loginHint) {
  return TEL.test(loginHint) || (loginHint.startsWith('ipport:') && validIpport(loginHint.slice('ipport:'.length)));
}

// loginHintProcessor maps a login_hint to the account id. With
// ciba.opaqueLoginHints any hint names an account (CIBA Core treats the hint
// as opaque: an e-mail address, a user id). Hints in ciba.unknownLoginHints
// are well formed but belong to nobody: oidc-provider then answers
// unknown_user_id (CIBA Core §13).
export function loginHintProcessor(cfg) {
  const unknown = new Set(cfg.ciba.unknownLoginHints ?? []);
  return (_ctx, loginHint) => {
    if (!cfg.ciba.opaqueLoginHints && !openGatewayHint(loginHint)) {
      throw new errors.InvalidRequest('login_hint must be tel:+<E.164 digits> or ipport:<IPv4 or [IPv6]>[:port]');
    }
    return unknown.has(loginHint) ? undefined : loginHint;
  };
}

export function cibaFeature(cfg) {
  const deny = new Set(cfg.ciba.denyLoginHints ?? []);
  return {
    enabled: true,
    deliveryModes: ['poll'],
    processLoginHint: loginHintProcessor(cfg),
    async processLoginHintToken() {
      throw new errors.InvalidRequest('login_hint_token is not supported by this server, use login_hint');
    },
    async validateBindingMessage(_ctx, bindingMessage) {
      if (bindingMessage !== undefined && !/^[a-zA-Z0-9-._+/!?#]{1,20}$/.test(bindingMessage)) {
        throw new errors.InvalidBindingMessage('binding_message must be 1-20 characters of [a-zA-Z0-9-._+/!?#]');
      }
    },
    async validateRequestContext() {},
    async verifyUserCode() {},
    async triggerAuthenticationDevice(ctx, request, account, client) {
      const { provider } = ctx.oidc;
      const decide = async () => {
        if (deny.has(account.accountId)) {
          await provider.backchannelResult(request, new errors.AccessDenied('the end-user denied the authorization request'));
          return;
        }
        const grant = new provider.Grant({ accountId: account.accountId, clientId: client.clientId });
        const scopes = request.scope ? request.scope.split(' ') : [];
        const oidc = scopes.filter((s) => s === 'openid' || s === 'offline_access');
        if (oidc.length) grant.addOIDCScope(oidc.join(' '));
        if (request.resource) {
          const rsScopes = scopes.filter((s) => cfg.resourceScopes.split(' ').includes(s));
          if (rsScopes.length) grant.addResourceScope(request.resource, rsScopes.join(' '));
        }
        await grant.save();
        await provider.backchannelResult(request, grant);
      };
      // The device answers later, like a subscriber tapping "approve" on a phone.
      setTimeout(() => {
        decide().catch((err) => console.error('ciba: deciding request failed:', err.message));
      }, cfg.ciba.approveDelayMs).unref();
    },
  };
}

// Open Gateway clients send purpose=dpv:<purpose>#<scope> instead of scope.
// oidc-provider requires scope, so derive "openid <scope>" from purpose when
// scope is absent. Applied to backchannel authentication request bodies.
export function purposeToScope(ctx, body) {
  if (ctx.path !== '/backchannel' || body.scope || typeof body.purpose !== 'string') return;
  const m = PURPOSE.exec(body.purpose);
  if (m) body.scope = `openid ${m[1]}`;
}

// Post-middleware for the token endpoint: oidc-provider does not enforce the
// CIBA polling interval, so answer slow_down when a client polls a pending
// request sooner than `interval` seconds after its previous poll (or after the
// request was created). Optional, so ordinary tests can poll freely.
export function cibaPolling(cfg) {
  const last = new Map();
  return async (ctx, next) => {
    const isBackchannel = ctx.method === 'POST' && ctx.path === '/backchannel';
    await next();
    if (isBackchannel && ctx.status === 200 && ctx.body?.auth_req_id) {
      ctx.body = { ...ctx.body, interval: cfg.ciba.interval };
      last.set(ctx.body.auth_req_id, Date.now());
      return;
    }
    if (!cfg.ciba.enforceInterval || ctx.oidc?.route !== 'token') return;
    const params = ctx.oidc.params;
    if (params?.grant_type !== GRANT_CIBA || typeof params.auth_req_id !== 'string') return;
    if (ctx.status !== 400 || ctx.body?.error !== 'authorization_pending') return;
    const now = Date.now();
    const prev = last.get(params.auth_req_id);
    last.set(params.auth_req_id, now);
    if (prev !== undefined && now - prev < cfg.ciba.interval * 1000) {
      ctx.body = { error: 'slow_down', error_description: `poll no more often than every ${cfg.ciba.interval}s` };
    }
  };
}
