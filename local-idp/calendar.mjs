// local-google's calendar API: GET /calendar/v3/calendars/primary/events (under the /google
// mount), answering a few events for the person behind a bearer access token, shaped like
// Google Calendar's `events.list`. The token is checked in-process against the provider's own
// store (as introspection would): unknown, expired or revoked -> 401 invalid_token; without
// `calendar.readonly` -> 403 insufficient_scope (RFC 6750 section 3).

import crypto from 'node:crypto';

export const EVENTS_PATH = '/calendar/v3/calendars/primary/events';
export const CALENDAR_SCOPE = 'calendar.readonly';

const DAY_MS = 24 * 3600 * 1000;
// day offset from today (UTC), start hour:minute, minutes, summary
const AGENDA = [
  [1, 9, 0, 15, 'Morning stand-up'],
  [1, 14, 0, 30, 'Supplier call: NatSupply stock levels'],
  [2, 10, 30, 60, 'Ward round and requisitions review'],
];

/** A person's events: the same ids and summaries every time, on the next two days. */
export function eventsFor(user, now = new Date()) {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const prefix = crypto.createHash('sha256').update(user.sub).digest('hex').slice(0, 12);
  return AGENDA.map(([day, hour, minute, minutes, summary], i) => {
    const start = today + day * DAY_MS + (hour * 60 + minute) * 60000;
    return {
      kind: 'calendar#event',
      id: `${prefix}${i + 1}`,
      status: 'confirmed',
      summary,
      organizer: { email: user.email, self: true },
      start: { dateTime: new Date(start).toISOString(), timeZone: 'UTC' },
      end: { dateTime: new Date(start + minutes * 60000).toISOString(), timeZone: 'UTC' },
    };
  });
}

function refuse(ctx, status, challenge, message) {
  ctx.status = status;
  ctx.set('WWW-Authenticate', challenge);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = {
    error: {
      code: status,
      message,
      status: status === 401 ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED',
    },
  };
}

/** The access token behind `value`, if it is live and its grant still stands. */
async function liveAccessToken(provider, value, audience) {
  const token = await provider.AccessToken.find(value);
  if (!token || !token.isValid || token.aud !== audience) return undefined;
  const grant = token.grantId ? await provider.Grant.find(token.grantId) : undefined;
  if (!grant || grant.clientId !== token.clientId || grant.accountId !== token.accountId) return undefined;
  return token;
}

/** Koa middleware for `provider.use`; `audience` is the resource the tokens must be for. */
export function calendarApi(provider, { audience, usersBySub }) {
  const realm = 'realm="local-google"';
  return async (ctx, next) => {
    if (ctx.path !== EVENTS_PATH) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      ctx.throw(405);
    }
    const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(ctx.get('Authorization'));
    if (!match) {
      return refuse(ctx, 401, `Bearer ${realm}`, 'Request is missing required authentication credential.');
    }
    const token = await liveAccessToken(provider, match[1], audience);
    const user = token && usersBySub.get(token.accountId);
    if (!token || !user) {
      return refuse(ctx, 401, `Bearer ${realm}, error="invalid_token"`,
        'Request had invalid authentication credentials.');
    }
    if (!token.scopes.has(CALENDAR_SCOPE)) {
      return refuse(ctx, 403, `Bearer ${realm}, error="insufficient_scope", scope="${CALENDAR_SCOPE}"`,
        'Request had insufficient authentication scopes.');
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      kind: 'calendar#events',
      summary: user.email,
      timeZone: 'UTC',
      items: eventsFor(user),
    };
    return undefined;
  };
}
