import type { Role } from "../api/client";
import type { PageId } from "./router";

/** Pages shown by role (the API enforces the same; this only keeps the menus honest). The first is home. */
export function pagesFor(role: Role): PageId[] {
  switch (role) {
    case "admin":
      return ["queue", "delegations", "graph", "audit", "policies", "agents", "webhooks", "users", "connections"];
    case "approver":
      return ["queue", "delegations"];
    case "auditor":
      return ["audit", "graph", "delegations"];
    case "platform":
      return ["tenants"];
  }
}
