// The provider's pages: plain HTML, no script, every value escaped.

export const escapeHtml = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

const STYLE = `body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}
label{display:block;margin-top:1rem}input{display:block;width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1.2rem;padding:.5rem 1.2rem}.error{color:#a40000;border:1px solid #a40000;padding:.5rem}
.note{color:#555;font-size:.85rem}`;

// Which provider a page belongs to: the path it is mounted under and whom it stands in for
// (local-google sets ctx.state.site before its routes run).
const DEFAULT_SITE = { base: '', standsInFor: 'Auth0' };
const siteOf = (ctx) => ctx.state?.site ?? DEFAULT_SITE;

export function page(ctx, title, body, status = 200) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  ctx.set('X-Frame-Options', 'DENY');
  ctx.body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · local identity provider</title><style>${STYLE}</style></head>
<body><main>${body}
<p class="note">Local identity provider (node-oidc-provider) standing in for ${escapeHtml(siteOf(ctx).standsInFor)}.</p>
</main></body></html>`;
}

function clientName(client) {
  return client?.clientName || client?.clientId || 'the application';
}

export function loginPage(ctx, uid, client, { email = '', error = false } = {}) {
  const { base } = siteOf(ctx);
  const alert = error ? '<p class="error" role="alert">Wrong email or password.</p>' : '';
  page(ctx, 'Sign in', `<h1>Sign in</h1>
<p>to continue to <strong>${escapeHtml(clientName(client))}</strong></p>${alert}
<form method="post" action="${escapeHtml(base)}/interaction/${escapeHtml(uid)}/login">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required autofocus value="${escapeHtml(email)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<form method="post" action="${escapeHtml(base)}/interaction/${escapeHtml(uid)}/abort"><button type="submit">Cancel</button></form>`);
}

export function consentPage(ctx, uid, client, details) {
  const { base } = siteOf(ctx);
  const resourceScopes = Object.values(details.missingResourceScopes || {}).flat();
  const scopes = [...(details.missingOIDCScope || []), ...resourceScopes].filter((s) => s !== 'openid');
  const asks = scopes.length ? `<p>It asks for: ${escapeHtml(scopes.join(', '))}.</p>` : '';
  page(ctx, 'Continue', `<h1>Continue to ${escapeHtml(clientName(client))}?</h1>${asks}
<form method="post" action="${escapeHtml(base)}/interaction/${escapeHtml(uid)}/confirm"><button type="submit">Continue</button></form>
<form method="post" action="${escapeHtml(base)}/interaction/${escapeHtml(uid)}/abort"><button type="submit">Cancel</button></form>`);
}

export async function logoutPage(ctx, form) {
  // `form` is the provider's own form (with its xsrf field); the buttons go inside it.
  const buttons = `<button type="submit" name="logout" value="yes">Sign out</button>
<button type="submit">Stay signed in</button>`;
  page(ctx, 'Sign out', `<h1>Sign out?</h1>${form.replace('</form>', `${buttons}</form>`)}`);
}

export async function signedOutPage(ctx) {
  page(ctx, 'Signed out', '<h1>You are signed out</h1>');
}

export async function errorPage(ctx, out) {
  page(ctx, 'Error', `<h1>Sign-in failed</h1><p><code>${escapeHtml(out.error)}</code></p>
<p>${escapeHtml(out.error_description)}</p>`, ctx.status >= 400 ? ctx.status : 400);
}
