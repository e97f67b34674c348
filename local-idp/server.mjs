// The local OpenID Connect provider that stands in for Auth0 under `make run`.
//
//   node local-idp/server.mjs <config.json>      (or LOCAL_IDP_CONFIG=<config.json>)
//
// node-oidc-provider with: discovery, JWKS, authorization code + PKCE S256 (required), refresh
// tokens, RP-initiated logout, RFC 9207 `iss` in the authorization response, RS256 ID tokens
// carrying sub, email, email_verified and name. Everything it keeps (sessions, grants, tokens,
// its signing key, its cookie keys) lives in owner-only JSON files under `<state_dir>/idp/`, so
// a restart keeps people signed in and earlier tokens verifiable. Listens on 127.0.0.1 only.
// Never logs a password, a secret or a token.

import crypto from 'node:crypto';
import path from 'node:path';

import Provider from 'oidc-provider';

import { fileAdapter, sweepExpired } from './file-adapter.mjs';
import {
  consentPage, errorPage, escapeHtml, loginPage, logoutPage, page, signedOutPage,
} from './pages.mjs';
import {
  loadOrCreate, privateDir, readJson, sha256, writePrivateJson,
} from './private-files.mjs';

const HOST = '127.0.0.1';
const MAX_FORM_BYTES = 16 * 1024;

function log(message) {
  process.stdout.write(`[local-idp] ${message}\n`);
}

function fail(message) {
  process.stderr.write(`[local-idp] error: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Configuration.

const configPath = process.argv[2] || process.env.LOCAL_IDP_CONFIG;
if (!configPath) fail('usage: node server.mjs <config.json> (or LOCAL_IDP_CONFIG)');
const config = readJson(configPath);
if (!config) fail(`cannot read the configuration ${configPath}`);

const { issuer, port } = config;
if (typeof issuer !== 'string' || !Number.isInteger(port)) fail('config needs "issuer" and "port"');
if (typeof config.state_dir !== 'string') fail('config needs "state_dir"');
process.umask(0o077);
const IDP_DIR = privateDir(path.join(path.resolve(config.state_dir), 'idp'));
const STORE_DIR = privateDir(path.join(IDP_DIR, 'store'));

// ---------------------------------------------------------------------------------------------
// Keys: an RS256 signing key and cookie keys, generated on first start and kept.

function jwkThumbprint(jwk) {
  // RFC 7638: SHA-256 over the required members in lexicographic order.
  const canonical = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  return crypto.createHash('sha256').update(canonical).digest('base64url');
}

const signingKey = loadOrCreate(path.join(IDP_DIR, 'signing-key.json'), () => {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: jwkThumbprint(jwk), alg: 'RS256', use: 'sig' };
});

const cookieKeys = loadOrCreate(path.join(IDP_DIR, 'cookie-keys.json'), () => ({
  keys: [crypto.randomBytes(32).toString('base64url')],
})).keys;

// ---------------------------------------------------------------------------------------------
// People. A person without a `sub` gets a random one on first start, kept in subjects.json
// (by email), so their identifier never changes across restarts.

const normaliseEmail = (email) => String(email).trim().toLowerCase();
const subjectsFile = path.join(IDP_DIR, 'subjects.json');
const subjects = readJson(subjectsFile) || {};
let subjectsChanged = false;

const usersByEmail = new Map();
const usersBySub = new Map();
for (const raw of config.users || []) {
  if (typeof raw.email !== 'string' || typeof raw.password !== 'string' || !raw.password) {
    fail('every user needs a string "email" and a non-empty "password"');
  }
  const email = normaliseEmail(raw.email);
  let sub = raw.sub ?? subjects[email];
  if (sub === undefined) {
    sub = crypto.randomUUID();
    subjects[email] = sub;
    subjectsChanged = true;
  }
  if (usersByEmail.has(email)) fail(`two users share the email ${email}`);
  if (usersBySub.has(String(sub))) fail('two users share a sub');
  const user = {
    sub: String(sub),
    email: raw.email,
    email_verified: raw.email_verified ?? true,
    name: raw.name ?? raw.email,
    passwordDigest: sha256(raw.password),
  };
  usersByEmail.set(email, user);
  usersBySub.set(user.sub, user);
}
if (subjectsChanged) writePrivateJson(subjectsFile, subjects);

const NO_ONE = sha256(crypto.randomBytes(32).toString('hex'));

/** The person with this email and password, or undefined; the same work either way. */
function authenticate(email, password) {
  const user = usersByEmail.get(normaliseEmail(email));
  const matches = crypto.timingSafeEqual(user ? user.passwordDigest : NO_ONE, sha256(password));
  return user && matches ? user : undefined;
}

async function findAccount(ctx, sub) {
  const user = usersBySub.get(sub);
  if (!user) return undefined;
  return {
    accountId: user.sub,
    async claims() {
      return {
        sub: user.sub, email: user.email, email_verified: user.email_verified, name: user.name,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Clients. Each entry is node-oidc-provider client metadata plus `skip_consent` (default true:
// the local IdP serves first-party clients, so consent is granted without a screen unless the
// request says prompt=consent).

const firstParty = new Set();
const clients = (config.clients || []).map((raw) => {
  const { skip_consent: skipConsent = true, ...metadata } = raw;
  if (typeof metadata.client_id !== 'string') fail('every client needs a "client_id"');
  if (skipConsent) firstParty.add(metadata.client_id);
  return {
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    require_auth_time: true, // the BFF checks how old a sign-in is before an approval
    ...metadata,
  };
});

async function readForm(ctx) {
  if (!ctx.is('application/x-www-form-urlencoded')) return new URLSearchParams();
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) ctx.throw(413, 'form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// ---------------------------------------------------------------------------------------------
// The provider.

async function autoGrant(ctx) {
  // The default (the grant this session already holds) ...
  const { oidc } = ctx;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  // ... and for first-party clients, consent to what is asked without a screen.
  if (firstParty.has(oidc.client.clientId) && oidc.session.accountId) {
    grant ||= new oidc.provider.Grant({
      clientId: oidc.client.clientId, accountId: oidc.session.accountId,
    });
    grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    grant.addOIDCClaims([...oidc.requestParamClaims]);
    await grant.save();
  }
  return grant;
}

const provider = new Provider(issuer, {
  adapter: fileAdapter(STORE_DIR),
  clients,
  findAccount,
  jwks: { keys: [signingKey] },
  cookies: {
    names: {
      session: 'idp_session', interaction: 'idp_interaction', resume: 'idp_interaction_resume',
    },
    long: { httpOnly: true, sameSite: 'lax', signed: true },
    short: { httpOnly: true, sameSite: 'lax', signed: true },
    keys: cookieKeys,
  },
  claims: {
    openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  conformIdTokenClaims: false, // email, email_verified and name in the ID token, as Auth0 does
  responseTypes: ['code'],
  pkce: { methods: ['S256'], required: () => true },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
  enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
  // Like Auth0: a refresh token for every client allowed the grant; with offline_access (and
  // prompt=consent) it outlives the IdP session, otherwise it ends with it.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  loadExistingGrant: autoGrant,
  interactions: { url: async (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: logoutPage,
      postLogoutSuccessSource: signedOutPage,
    },
  },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    Grant: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
    RefreshToken: 14 * 24 * 3600,
  },
  renderError: errorPage,
});

provider.on('server_error', (ctx, err) => log(`server error: ${err.name}: ${err.message}`));

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;

provider.use(async (ctx, next) => {
  const match = INTERACTION.exec(ctx.path);
  if (!match) return next();
  try {
    return await interaction(ctx, match[1], match[2]);
  } catch (err) {
    const status = err.status || err.statusCode || 500;
    if (status >= 500) log(`interaction error: ${err.name}: ${err.message}`);
    const why = status >= 500 ? 'Something went wrong.'
      : 'This sign-in has expired or was opened in another browser. Start again from the application.';
    return page(ctx, 'Error', `<h1>Sign-in failed</h1><p>${escapeHtml(why)}</p>`, status);
  }
});

async function interaction(ctx, uid, action) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
  const client = await provider.Client.find(details.params.client_id);
  const prompt = details.prompt.name;

  if (ctx.method === 'GET' && !action) {
    if (prompt === 'login') return loginPage(ctx, uid, client, { email: details.params.login_hint });
    if (prompt === 'consent') return consentPage(ctx, uid, client, details.prompt.details);
    ctx.throw(400, 'unknown interaction');
  }
  if (ctx.method !== 'POST' || !action) ctx.throw(405);

  const form = await readForm(ctx);
  if (action === 'abort') {
    return provider.interactionFinished(ctx.req, ctx.res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }
  if (action === 'login') {
    if (prompt !== 'login') ctx.throw(400, 'no sign-in pending');
    const email = form.get('email') || '';
    const user = authenticate(email, form.get('password') || '');
    if (!user) return loginPage(ctx, uid, client, { email, error: true });
    return provider.interactionFinished(ctx.req, ctx.res, {
      login: { accountId: user.sub },
    }, { mergeWithLastSubmission: false });
  }
  // confirm
  if (prompt !== 'consent') ctx.throw(400, 'no consent pending');
  const { accountId } = details.session;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return provider.interactionFinished(ctx.req, ctx.res, {
    consent: { grantId },
  }, { mergeWithLastSubmission: true });
}

const swept = sweepExpired(STORE_DIR);
const server = provider.listen(port, HOST, () => {
  log(`listening on ${issuer} (state ${IDP_DIR}, ${usersBySub.size} people, `
    + `${clients.length} clients, ${swept} expired records dropped)`);
});
server.on('error', (err) => fail(`cannot listen on ${HOST}:${port}: ${err.message}`));

// Started by VaultGuard's local stack: end with it, even if it was killed outright.
if (config.exit_with_parent) {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1000).unref();
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
