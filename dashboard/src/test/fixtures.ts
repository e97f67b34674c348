/** Delegations as the API answers them, for component tests: spread one and change what the test is about. */
import type { Delegation } from "../api/client";

/** An active inbound delegation: MediCore's agent may write stock at NatSupply for an hour. */
export const ACTIVE_DELEGATION = {
  delegation_id: "dlg_1",
  direction: "inbound",
  requesting_tenant_id: "tnt_med",
  requesting_tenant_name: "MediCore",
  receiving_tenant_id: "tnt_nat",
  receiving_tenant_name: "NatSupply",
  agent_id: "agt_1",
  agent_name: "MediCore agent",
  action: "stock.write",
  decision: "ALLOW",
  status: "ACTIVE",
  purpose: null,
  binding_message: null,
  ttl_seconds: 3600,
  created_at: "2026-03-01T10:00:00Z",
  issued_at: "2026-03-01T10:00:00Z",
  expires_at: "2026-03-01T11:00:00Z",
  expires_in: 3000,
  revoked_at: null,
  revoked_by: null,
  revoked_by_tenant_id: null,
  decided_at: null,
  decided_by: null,
  decision_reason: null,
  auth_req_id: null,
  stepup_expires_at: null,
} satisfies Delegation;

/** A step-up request waiting for a person of NatSupply: nothing issued yet, two minutes left. */
export const PENDING_DELEGATION = {
  ...ACTIVE_DELEGATION,
  action: "requisition.submit",
  decision: "STEP_UP",
  status: "PENDING",
  binding_message: "Requisition R-4413",
  issued_at: null,
  expires_at: null,
  expires_in: 120,
  auth_req_id: "ar_1",
  stepup_expires_at: "2026-03-01T10:05:00Z",
} satisfies Delegation;
