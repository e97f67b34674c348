import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";

import type { Delegation } from "../../api/client";
import { SESSION, fakeApi, renderWithQuery } from "../../test/render";
import { DecisionDialog } from "./DecisionDialog";

const PENDING = {
  delegation_id: "dlg_1",
  direction: "inbound",
  requesting_tenant_id: "tnt_med",
  requesting_tenant_name: "MediCore",
  receiving_tenant_id: "tnt_nat",
  receiving_tenant_name: "NatSupply",
  agent_id: "agt_1",
  agent_name: "MediCore agent",
  action: "requisition.submit",
  decision: "STEP_UP",
  status: "PENDING",
  purpose: null,
  binding_message: "Requisition R-4413",
  ttl_seconds: 3600,
  created_at: "2026-03-01T10:00:00Z",
  issued_at: null,
  expires_at: null,
  expires_in: 120,
  revoked_at: null,
  revoked_by: null,
  revoked_by_tenant_id: null,
  decided_at: null,
  decided_by: null,
  decision_reason: null,
  auth_req_id: "ar_1",
  stepup_expires_at: "2026-03-01T10:05:00Z",
} satisfies Delegation;

describe("a decision someone else made first", () => {
  it("says who decided, and how", async () => {
    fakeApi({
      "GET /auth/session": { body: SESSION },
      "POST /delegations/dlg_1/approve": { status: 409, body: { error: "conflict", error_description: "Decided." } },
      "GET /delegations/dlg_1": {
        body: {
          ...PENDING,
          status: "REJECTED",
          decided_by: "usr_olga",
          decided_at: "2026-03-01T10:01:00Z",
          decision_reason: "Duplicate of R-4413",
        },
      },
    });
    renderWithQuery(<DecisionDialog pending={{ delegation: PENDING, decision: "approve" }} onClose={() => undefined} />);
    await userEvent.click(screen.getByRole("button", { name: "Confirm approval" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toMatch(/^Someone else decided first: this request was rejected by usr_olga at .+\./);
    expect(alert.textContent).toContain("Reason given: “Duplicate of R-4413”.");
  });
});
