import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";

import { PENDING_DELEGATION } from "../../test/fixtures";
import { SESSION, fakeApi, renderWithQuery } from "../../test/render";
import { DecisionDialog } from "./DecisionDialog";

describe("a decision someone else made first", () => {
  it("says who decided, and how", async () => {
    fakeApi({
      "GET /auth/session": { body: SESSION },
      "POST /delegations/dlg_1/approve": { status: 409, body: { error: "conflict", error_description: "Decided." } },
      "GET /delegations/dlg_1": {
        body: {
          ...PENDING_DELEGATION,
          status: "REJECTED",
          decided_by: "usr_olga",
          decided_at: "2026-03-01T10:01:00Z",
          decision_reason: "Duplicate of R-4413",
        },
      },
    });
    renderWithQuery(<DecisionDialog pending={{ delegation: PENDING_DELEGATION, decision: "approve" }} onClose={() => undefined} />);
    await userEvent.click(screen.getByRole("button", { name: "Confirm approval" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toMatch(/^Someone else decided first: this request was rejected by usr_olga at .+\./);
    expect(alert.textContent).toContain("Reason given: “Duplicate of R-4413”.");
  });
});
