import { afterEach, describe, expect, it, vi } from "vitest";

import { listDelegations, receivedAt } from "./client";

afterEach(() => vi.useRealTimers());

describe("GETs revalidated with the answer's ETag", () => {
  it("a 304 hands back the earlier body, with the time that body arrived", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-12-03T10:00:00Z"));
    const page = { delegations: [{ delegation_id: "dlg_1", expires_in: 120 }], next_cursor: null };
    const sent: (string | null)[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (_path: string, init: RequestInit) => {
        const tag = new Headers(init.headers).get("If-None-Match");
        sent.push(tag);
        if (tag === 'W/"q1"') return new Response(null, { status: 304, headers: { ETag: 'W/"q1"' } });
        return new Response(JSON.stringify(page), { status: 200, headers: { ETag: 'W/"q1"' } });
      }),
    );
    const first = await listDelegations({ direction: "inbound", status: "PENDING" });
    vi.setSystemTime(new Date("2026-12-03T10:00:08Z"));
    const second = await listDelegations({ direction: "inbound", status: "PENDING" });

    expect(sent).toEqual([null, 'W/"q1"']);
    expect(second).toBe(first);
    expect(receivedAt(second)).toBe(Date.parse("2026-12-03T10:00:00Z")); // countdowns start then
  });
});
