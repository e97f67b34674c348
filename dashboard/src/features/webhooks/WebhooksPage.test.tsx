import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";

import { SESSION, fakeApi, renderWithQuery } from "../../test/render";
import { WebhooksPage } from "./WebhooksPage";

const HOOK = { url: "https://hooks.natsupply.example/vaultguard", created_at: "2026-12-01T10:00:00Z" };

describe("the webhooks page", () => {
  it("says in words how a test delivery went", async () => {
    fakeApi({
      "GET /auth/session": { body: SESSION },
      "GET /webhooks": { body: HOOK },
      "POST /webhooks/test": {
        body: { event_id: "evt_1", delivered: false, status_code: 503, error: "the receiver answered 503", duration_ms: 41.7 },
      },
    });
    const user = userEvent.setup();
    renderWithQuery(<WebhooksPage rest={[]} />);
    const current = await screen.findByRole("region", { name: "Current webhook" });
    await within(current).findByText(HOOK.url);
    await user.click(within(current).getByRole("button", { name: "Send a test delivery" }));
    expect(
      await within(current).findByText("Not delivered: the receiver answered 503 after 42 ms."),
    ).toBeTruthy();
    expect(within(current).getByRole("status").textContent).toMatch(/^Not delivered/);
  });

  it("refuses a URL that is not one before asking the API", async () => {
    const { calls } = fakeApi({ "GET /auth/session": { body: SESSION }, "GET /webhooks": { status: 404, body: { error: "not_found" } } });
    const user = userEvent.setup();
    renderWithQuery(<WebhooksPage rest={[]} />);
    expect(await screen.findByText(/No webhook is set/)).toBeTruthy();
    await user.type(screen.getByLabelText("Webhook URL"), "hooks.natsupply.example");
    await user.click(screen.getByRole("button", { name: "Save webhook" }));
    expect(screen.getByRole("alert").textContent).toBe("Enter a full URL that starts with https://.");
    expect(calls.filter((c) => c.method === "PUT")).toEqual([]);
  });
});
