import type { Delegation } from "../../api/client";

/** "<agent> of <organisation> asks for <action>": for headings, announcements and dialogs. */
export function describe(d: Delegation): string {
  const who = d.agent_name ?? d.agent_id;
  const from = d.requesting_tenant_name ?? d.requesting_tenant_id;
  return `${who} of ${from} asks for ${d.action}`;
}
