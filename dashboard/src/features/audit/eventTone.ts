/** How an audit event type is coloured: one place, so the audit table and a delegation's
 * timeline agree. Colour is never the only signal: the type's text and a word go with it. */

export type Tone = "bad" | "good" | "waiting" | "neutral";

const BAD = new Set(["blocked", "rejected", "revoked", "failed", "disabled"]);
const GOOD = new Set(["allowed", "approved", "issued", "verified", "connected", "joined"]);
const WAITING = new Set(["requested", "stepup_required", "expired"]);

/** The tone of `type` ("delegation.revoked" -> bad), by what happened (the part after the dot). */
export function toneOf(type: string): Tone {
  const what = type.slice(type.lastIndexOf(".") + 1);
  if (BAD.has(what)) return "bad";
  if (GOOD.has(what)) return "good";
  if (WAITING.has(what)) return "waiting";
  return "neutral";
}

/** The word said with the colour (for screen readers and anyone who cannot tell the colours). */
export const TONE_WORDS: Record<Tone, string> = {
  bad: "refused or ended",
  good: "granted",
  waiting: "waiting or lapsed",
  neutral: "change",
};
