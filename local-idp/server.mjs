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
//
// The same server also plays "local-google" under /google when the config has
// "google_redirect_uri" (see google.mjs): a second provider with the same people.

import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';

import Provider, { errors } from 'oidc-provider';

import { fileAdapter, sweepExpired } from './file-adapter.mjs';
import { createGoogle, GOOGLE_PATH } from './google.mjs';
import { interactionRoutes } from './interactions.mjs';
import { loadOrCreateSigningKey } from './keys.mjs';
import { errorPage, logoutPage, signedOutPage } from './pages.mjs';
import {
  loadOrCreate, privateDir, readJson, sha256, writePrivateJson,
} from './private-files.mjs';

const HOST = '127.0.0.1';

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

const signingKey = loadOrCreateSigningKey(path.join(IDP_DIR, 'signing-key.json'));

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

// ---------------------------------------------------------------------------------------------
// Resource servers (APIs): `resource_servers` maps a resource indicator (RFC 8707) to
// {scope?, audience?, ttl?}. A client allowed `client_credentials` that names one gets an RS256
// JWT access token for it (RFC 9068 profile, `sub` = `client_id` = the client), as an Auth0 M2M
// application does for an API; any other resource is refused (invalid_target).

const resourceServers = config.resource_servers || {};
for (const [indicator, rs] of Object.entries(resourceServers)) {
  if (typeof rs !== 'object' || rs === null) fail(`resource server ${indicator} must be an object`);
}

async function getResourceServerInfo(ctx, indicator) {
  const rs = Object.hasOwn(resourceServers, indicator) ? resourceServers[indicator] : undefined;
  if (!rs) throw new errors.InvalidTarget();
  return {
    scope: rs.scope || '',
    audience: rs.audience || indicator,
    accessTokenTTL: rs.ttl || 300,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
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
    clientCredentials: { enabled: true }, // only for clients whose grant_types allow it
    resourceIndicators: { enabled: true, getResourceServerInfo },
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

provider.use(interactionRoutes(provider, { authenticate, log }));

// ---------------------------------------------------------------------------------------------
// local-google, mounted under /google of the same server (node-oidc-provider finds its mount
// path from req.originalUrl, as when mounted in a connect/express app).

const google = createGoogle({
  issuer,
  idpDir: IDP_DIR,
  config,
  people: { authenticate, findAccount, usersBySub },
  cookieKeys,
  log,
  fail,
});
const handleRoot = provider.callback();
const handleGoogle = google?.provider.callback();

function route(req, res) {
  const url = req.url || '/';
  if (handleGoogle && (url === GOOGLE_PATH || /^\/google[/?]/.test(url))) {
    req.originalUrl = url;
    req.url = url.slice(GOOGLE_PATH.length) || '/';
    if (req.url.startsWith('?')) req.url = `/${req.url}`;
    return handleGoogle(req, res);
  }
  return handleRoot(req, res);
}

const swept = sweepExpired(STORE_DIR);
const server = http.createServer(route);
server.listen(port, HOST, () => {
  if (google) log(`local-google on ${google.summary}`);
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
