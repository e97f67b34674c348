import type { Role } from "../api/client";
import type { PageId } from "./router";

/** Pages shown by role: deciders get the queue; auditors read delegations; platform has its own pages (later). */
export function pagesFor(role: Role): PageId[] {
  switch (role) {
    case "admin":
    case "approver":
      return ["queue", "delegations"];
    case "auditor":
      return ["delegations"];
    case "platform":
      return [];
  }
}
