import { describe, expect, it } from "vitest";

import { EVENT_TYPES } from "./filters";
import { TONE_WORDS, toneOf } from "./eventTone";

describe("an audit event type's colour", () => {
  it("is red for refusals and endings, green for grants, amber for what waits", () => {
    for (const type of ["delegation.blocked", "delegation.rejected", "delegation.revoked", "auth.failed"]) {
      expect(toneOf(type), type).toBe("bad");
    }
    for (const type of ["delegation.allowed", "delegation.approved", "token.issued"]) {
      expect(toneOf(type), type).toBe("good");
    }
    for (const type of ["delegation.requested", "delegation.stepup_required"]) {
      expect(toneOf(type), type).toBe("waiting");
    }
    expect(toneOf("policy.upserted")).toBe("neutral");
    expect(toneOf("something.unheard_of")).toBe("neutral");
  });

  it("goes with a word for every type the API lists", () => {
    for (const type of EVENT_TYPES) expect(TONE_WORDS[toneOf(type)]).toMatch(/\w/);
  });
});
