// The sign-in and consent pages of a provider (`/interaction/<uid>[/login|confirm|abort]`),
// shared by the local IdP and local-google: the same people, the same form. `base` is the
// path the provider is mounted under ('' or '/google'), for the forms' actions.

import { consentPage, escapeHtml, loginPage, page } from './pages.mjs';

const MAX_FORM_BYTES = 16 * 1024;
const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;

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

/** Koa middleware for `provider.use`; `authenticate(email, password)` -> person or undefined. */
export function interactionRoutes(provider, { authenticate, log }) {
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

  return async (ctx, next) => {
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
  };
}
