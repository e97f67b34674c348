// "local-google": the stand-in for Google's OAuth server that the token vault is tested
// against. A second node-oidc-provider in the same process, mounted under /google (issuer
// `<idp>/google`), with its own signing key, stores and cookies under `<state_dir>/idp/google/`
// and the same people and sign-in form as the local IdP.
//
// Like Google: authorization code + PKCE S256, `iss` in the authorization response (RFC 9207),
// refresh tokens only for `offline_access` granted with prompt=consent, no rotation unless
// `google_rotate_refresh_tokens`, down-scoping on refresh (`scope` narrower than granted),
// opaque access tokens for the APIs (`calendar.readonly`, `gmail.readonly`) that live
// `google_access_token_ttl` seconds, one authorization per (client, person) that revoking any
// of its tokens ends (RFC 7009), and a calendar API. One confidential client, VaultGuard's
// vault (`vaultguard-vault-local`), whose secret is generated on first start and kept in
// `vault-client.json` (owner-only) for the Python side to read.

import crypto from 'node:crypto';
import path from 'node:path';

import Provider, { errors } from 'oidc-provider';

import { calendarApi } from './calendar.mjs';
import { fileAdapter, sweepExpired } from './file-adapter.mjs';
import { interactionRoutes } from './interactions.mjs';
import { loadOrCreateSigningKey } from './keys.mjs';
import { errorPage } from './pages.mjs';
import {
  loadOrCreate, privateDir, readJson, writePrivateJson,
} from './private-files.mjs';

export const GOOGLE_PATH = '/google';
export const VAULT_CLIENT_ID = 'vaultguard-vault-local';
const API_SCOPES = 'calendar.readonly gmail.readonly';
const DEFAULT_ACCESS_TOKEN_TTL = 3600;
const LONG_TTL = 180 * 24 * 3600; // refresh tokens and grants: Google's live until revoked

function accessTokenTtl(config, fail) {
  const ttl = config.google_access_token_ttl ?? DEFAULT_ACCESS_TOKEN_TTL;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86400) {
    fail('"google_access_token_ttl" must be an integer number of seconds (1..86400)');
  }
  return ttl;
}

/**
 * One authorization per (client, person), as Google keeps one per (project, user): a second
 * connect adds to it, and revoking any of its refresh tokens ends every one of them.
 */
function grantIndex(file) {
  const key = (clientId, accountId) => `${clientId} ${accountId}`;
  return {
    get: (clientId, accountId) => (readJson(file) || {})[key(clientId, accountId)],
    set(clientId, accountId, grantId) {
      const index = readJson(file) || {};
      if (index[key(clientId, accountId)] === grantId) return;
      index[key(clientId, accountId)] = grantId;
      writePrivateJson(file, index);
    },
  };
}

/**
 * The local-google provider; `issuer` is the local IdP's (the root of the same server).
 * Returns { provider, issuer, summary } or undefined when the config names no redirect URI.
 */
export function createGoogle({
  issuer: rootIssuer, idpDir, config, people, cookieKeys, log, fail,
}) {
  const redirectUri = config.google_redirect_uri;
  if (redirectUri === undefined) return undefined;
  if (typeof redirectUri !== 'string') fail('"google_redirect_uri" must be a string');
  const rotate = config.google_rotate_refresh_tokens ?? false;
  if (typeof rotate !== 'boolean') fail('"google_rotate_refresh_tokens" must be true or false');
  const ttl = accessTokenTtl(config, fail);

  const issuer = `${rootIssuer}${GOOGLE_PATH}`;
  const apis = `${issuer}/apis`; // the resource (audience) of every access token it issues
  const dir = privateDir(path.join(idpDir, 'google'));
  const storeDir = privateDir(path.join(dir, 'store'));
  const signingKey = loadOrCreateSigningKey(path.join(dir, 'signing-key.json'));
  const vaultClient = loadOrCreate(path.join(dir, 'vault-client.json'), () => ({
    client_id: VAULT_CLIENT_ID,
    client_secret: crypto.randomBytes(32).toString('base64url'),
  }));
  const grants = grantIndex(path.join(dir, 'grants.json'));

  async function loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const { clientId } = oidc.client;
    const { accountId } = oidc.session;
    const consented = oidc.result?.consent?.grantId;
    if (consented && accountId) grants.set(clientId, accountId, consented);
    const grantId = consented || (accountId && grants.get(clientId, accountId))
      || oidc.session.grantIdFor(clientId);
    return grantId ? oidc.provider.Grant.find(grantId) : undefined;
  }

  const provider = new Provider(issuer, {
    adapter: fileAdapter(storeDir),
    clients: [{
      client_id: vaultClient.client_id,
      client_secret: vaultClient.client_secret,
      client_name: 'VaultGuard token vault (make run)',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    findAccount: people.findAccount,
    jwks: { keys: [signingKey] },
    cookies: {
      names: {
        session: 'google_session',
        interaction: 'google_interaction',
        resume: 'google_interaction_resume',
      },
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
      keys: cookieKeys,
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    scopes: ['openid', 'email', 'offline_access'],
    conformIdTokenClaims: false, // email in the ID token, as Google puts it
    responseTypes: ['code'],
    pkce: { methods: ['S256'], required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    extraParams: ['access_type', 'include_granted_scopes'], // Google's; accepted and ignored
    rotateRefreshToken: () => rotate,
    loadExistingGrant,
    interactions: { url: async (ctx, interaction) => `${GOOGLE_PATH}/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // The APIs are the only resource: asked for or not, access tokens are for them.
        defaultResource: async () => apis,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resource) => {
          if (resource !== apis) throw new errors.InvalidTarget();
          return { scope: API_SCOPES, accessTokenFormat: 'opaque', accessTokenTTL: ttl };
        },
      },
    },
    ttl: {
      AccessToken: ttl,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Grant: LONG_TTL,
      Session: 14 * 24 * 3600,
      RefreshToken: LONG_TTL,
    },
    renderError: errorPage,
  });

  const site = { base: GOOGLE_PATH, standsInFor: 'Google' };
  provider.use(async (ctx, next) => {
    ctx.state.site = site;
    await next();
    if (ctx.oidc?.route === 'discovery' && ctx.body?.scopes_supported) {
      ctx.body.scopes_supported = [...ctx.body.scopes_supported, ...API_SCOPES.split(' ')];
    }
    // Google's token response names every scope granted (openid and email included), or those
    // a refresh asked for; node-oidc-provider's names only the access token's (API) scopes.
    if (ctx.oidc?.route === 'token' && ctx.status === 200 && ctx.body?.access_token) {
      const { params, entities } = ctx.oidc;
      const granted = params.scope || (entities.AuthorizationCode ?? entities.RefreshToken)?.scope;
      if (granted) ctx.body.scope = granted;
    }
    // Google: revoking an access token also revokes the authorization behind it.
    const revoked = ctx.oidc?.route === 'revocation' ? ctx.oidc.entities.AccessToken : undefined;
    if (revoked?.grantId && ctx.status === 200) {
      await provider.AccessToken.adapter.revokeByGrantId(revoked.grantId);
      await provider.Grant.adapter.destroy(revoked.grantId);
    }
  });
  provider.use(interactionRoutes(provider, { authenticate: people.authenticate, log }));
  provider.use(calendarApi(provider, { audience: apis, usersBySub: people.usersBySub }));
  provider.on('server_error', (ctx, err) => log(`google: server error: ${err.name}: ${err.message}`));
  // One line per token issued (no token in it), so tests can count refreshes at the provider.
  provider.on('grant.success', (ctx) => {
    log(`google: token issued (${ctx.oidc.params.grant_type}) to ${ctx.oidc.client.clientId}`);
  });
  provider.on('grant.revoked', () => log('google: grant revoked'));

  const swept = sweepExpired(storeDir);
  const summary = `${issuer} (refresh-token rotation ${rotate ? 'on' : 'off'}, `
    + `access tokens ${ttl} s, ${swept} expired records dropped)`;
  return { provider, issuer, summary };
}
