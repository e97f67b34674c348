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
import fs from 'node:fs';
import path from 'node:path';

import Provider from 'oidc-provider';

const HOST = '127.0.0.1';
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
const MAX_FORM_BYTES = 16 * 1024;

function log(message) {
  process.stdout.write(`[local-idp] ${message}\n`);
}

function fail(message) {
  process.stderr.write(`[local-idp] error: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Owner-only files, written atomically (the same rules as chalicelib/private_files.py).

function privateDir(dir) {
  fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  return dir;
}

function writePrivateJson(file, value) {
  privateDir(path.dirname(file));
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value), { mode: FILE_MODE, flag: 'wx' });
  fs.renameSync(tmp, file);
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    if (err instanceof SyntaxError) return undefined; // a torn file is treated as absent
    throw err;
  }
}

function removeFile(file) {
  fs.rmSync(file, { force: true });
}

/** Read `file`, or create it with `make()` (0600) on first start. */
function loadOrCreate(file, make) {
  const existing = readJson(file);
  if (existing !== undefined) return existing;
  const value = make();
  writePrivateJson(file, value);
  return value;
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

function sha256(value) {
  return crypto.createHash('sha256').update(String(value), 'utf8').digest();
}

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
// File-backed adapter: one JSON file per record under store/<Model>/, named by a hash of the
// id (so a directory listing shows no token), plus small indexes for session uids, user codes
// and the records of a grant. Synchronous I/O keeps each read-modify-write whole.

const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

const nowSeconds = () => Math.floor(Date.now() / 1000);
const fileFor = (kind, id) => path.join(STORE_DIR, kind, `${sha256(id).toString('hex')}.json`);

function readLive(file) {
  const record = readJson(file);
  if (!record) return undefined;
  if (record.expiresAt && record.expiresAt <= nowSeconds()) {
    removeFile(file);
    return undefined;
  }
  return record;
}

class FileAdapter {
  constructor(model) {
    this.model = model;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? nowSeconds() + expiresIn : undefined;
    writePrivateJson(fileFor(this.model, id), { payload, expiresAt });
    if (this.model === 'Session' && payload.uid) {
      writePrivateJson(fileFor('SessionUid', payload.uid), { id, expiresAt });
    }
    if (payload.userCode) {
      writePrivateJson(fileFor('UserCode', payload.userCode), { id, expiresAt });
    }
    if (GRANTABLE.has(this.model) && payload.grantId) {
      const indexFile = fileFor('Grant-records', payload.grantId);
      const index = readJson(indexFile) || { records: [] };
      index.records.push([this.model, id]);
      const expiries = [index.expiresAt, expiresAt].filter(Boolean);
      index.expiresAt = expiries.length ? Math.max(...expiries) : undefined;
      writePrivateJson(indexFile, index);
    }
  }

  async find(id) {
    return readLive(fileFor(this.model, id))?.payload;
  }

  async findByUid(uid) {
    const entry = readLive(fileFor('SessionUid', uid));
    return entry ? this.find(entry.id) : undefined;
  }

  async findByUserCode(userCode) {
    const entry = readLive(fileFor('UserCode', userCode));
    return entry ? this.find(entry.id) : undefined;
  }

  async consume(id) {
    const file = fileFor(this.model, id);
    const record = readLive(file);
    if (record) {
      record.payload.consumed = nowSeconds();
      writePrivateJson(file, record);
    }
  }

  async destroy(id) {
    removeFile(fileFor(this.model, id));
  }

  async revokeByGrantId(grantId) {
    const indexFile = fileFor('Grant-records', grantId);
    const index = readJson(indexFile);
    for (const [model, id] of index?.records || []) removeFile(fileFor(model, id));
    removeFile(indexFile);
  }
}

/** Expired records are dropped at start (and whenever one is read). */
function sweepExpired() {
  let removed = 0;
  for (const kind of fs.readdirSync(STORE_DIR)) {
    const dir = path.join(STORE_DIR, kind);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const name of fs.readdirSync(dir)) {
      const file = path.join(dir, name);
      if (name.endsWith('.tmp')) {
        removeFile(file);
      } else if (name.endsWith('.json') && !readLive(file)) {
        removed += 1;
      }
    }
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------
// Pages: plain HTML, no script.

const escapeHtml = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

const STYLE = `body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}
label{display:block;margin-top:1rem}input{display:block;width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1.2rem;padding:.5rem 1.2rem}.error{color:#a40000;border:1px solid #a40000;padding:.5rem}
.note{color:#555;font-size:.85rem}`;

function page(ctx, title, body, status = 200) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  ctx.set('X-Frame-Options', 'DENY');
  ctx.body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · local identity provider</title><style>${STYLE}</style></head>
<body><main>${body}
<p class="note">Local identity provider (node-oidc-provider) standing in for Auth0.</p>
</main></body></html>`;
}

function clientName(client) {
  return client?.clientName || client?.clientId || 'the application';
}

function loginPage(ctx, uid, client, { email = '', error = false } = {}) {
  const alert = error ? '<p class="error" role="alert">Wrong email or password.</p>' : '';
  page(ctx, 'Sign in', `<h1>Sign in</h1>
<p>to continue to <strong>${escapeHtml(clientName(client))}</strong></p>${alert}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required autofocus value="${escapeHtml(email)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort"><button type="submit">Cancel</button></form>`);
}

function consentPage(ctx, uid, client, details) {
  const scopes = (details.missingOIDCScope || []).filter((s) => s !== 'openid');
  const asks = scopes.length ? `<p>It asks for: ${escapeHtml(scopes.join(', '))}.</p>` : '';
  page(ctx, 'Continue', `<h1>Continue to ${escapeHtml(clientName(client))}?</h1>${asks}
<form method="post" action="/interaction/${escapeHtml(uid)}/confirm"><button type="submit">Continue</button></form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort"><button type="submit">Cancel</button></form>`);
}

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
  adapter: FileAdapter,
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
      async logoutSource(ctx, form) {
        // `form` is the provider's own form (with its xsrf field); the buttons go inside it.
        const buttons = `<button type="submit" name="logout" value="yes">Sign out</button>
<button type="submit">Stay signed in</button>`;
        page(ctx, 'Sign out', `<h1>Sign out?</h1>${form.replace('</form>', `${buttons}</form>`)}`);
      },
      async postLogoutSuccessSource(ctx) {
        page(ctx, 'Signed out', '<h1>You are signed out</h1>');
      },
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
  async renderError(ctx, out) {
    page(ctx, 'Error', `<h1>Sign-in failed</h1><p><code>${escapeHtml(out.error)}</code></p>
<p>${escapeHtml(out.error_description)}</p>`, ctx.status >= 400 ? ctx.status : 400);
  },
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

const swept = sweepExpired();
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
