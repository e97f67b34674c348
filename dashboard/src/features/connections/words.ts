/** A connection's status, its reason and the provider's way back, in words a person acts on. */
import type { Connection, ConnectionStatus } from "./api";

export const STATUS_LABEL: Record<ConnectionStatus, string> = {
  pending: "Waiting for consent",
  active: "Active",
  refresh_failing: "Refresh failing",
  needs_reauth: "Needs reconnecting",
  disabled: "Disabled",
  deleted: "Deleted",
  failed: "Failed",
  superseded: "Replaced",
};

/** The status's colour class (the label says the same in words). */
export const STATUS_TONE: Record<ConnectionStatus, string> = {
  pending: "status-pending",
  active: "status-active",
  refresh_failing: "status-pending",
  needs_reauth: "status-revoked",
  disabled: "status-expired",
  deleted: "status-expired",
  failed: "status-revoked",
  superseded: "status-expired",
};

/** Why a connect did not finish: the `error` of the callback's redirect, or a failed connection's reason. */
const CONNECT_FAILURES: Record<string, string> = {
  invalid_state:
    "The provider's answer could not be matched to a Connect you started: it was already used, took longer than 10 minutes, or the browser was not signed in as an admin of this organisation. Start again with Connect.",
  access_denied: "Consent was declined or cancelled at the provider, so nothing was connected.",
  iss_mismatch: "The answer did not come from the expected provider (its issuer did not match), so nothing was connected.",
  iss_missing: "The provider's answer did not say who issued it, so nothing was connected.",
  id_token_invalid: "The provider's identity token could not be verified, so nothing was connected.",
  token_error: "The provider refused to exchange the authorization code, so nothing was connected.",
  no_refresh_token:
    "The provider granted no offline access (no refresh token), so agents could not use the account. Try again and allow offline access.",
  no_code: "The provider sent no authorization code, so nothing was connected.",
  provider_unavailable: "The provider could not be reached or was busy. Try again in a few minutes.",
  conflict: "The connection changed at the same moment elsewhere. Reload the page and try again.",
};

/** What an admin should know (and do) about a connection's status and reason. */
const REASONS: Record<string, string> = {
  invalid_grant: "The account's access was revoked or expired at the provider; reconnect it.",
  invalid_rapt: "The provider wants the person to sign in again (a reauthentication policy); reconnect it.",
  admin_policy_enforced: "The provider's administrator blocked this app for the account; reconnect once they allow it.",
  provider_unavailable: "The provider is unavailable or throttling; VaultGuard keeps retrying and agents may be refused meanwhile.",
  disabled_by_admin: "An admin disabled it; agents cannot use it.",
  revoked_by_admin: "An admin deleted it and its access was revoked at the provider.",
  reconnected: "Another Connect of the same account replaced it.",
  connect_expired: "Consent was not given at the provider within 10 minutes; start again with Connect.",
  no_federated_identity: "Auth0's Token Vault holds no account for this connection any more; reconnect it.",
};

export function connectFailure(code: string): string {
  return CONNECT_FAILURES[code] ?? `The connection could not be finished (the provider or VaultGuard answered “${code}”).`;
}

/** The sentence under the status, or null when there is nothing to add. */
export function statusExplained(connection: Pick<Connection, "status" | "status_reason">): string | null {
  const reason = connection.status_reason;
  switch (connection.status) {
    case "active":
      return null;
    case "pending":
      return "Connect was started but the provider's consent has not come back (it expires after 10 minutes).";
    case "failed":
      return reason ? connectFailure(reason) : "The connect did not finish.";
    case "needs_reauth":
      return reason && REASONS[reason] ? REASONS[reason] : "The provider no longer accepts the stored grant; reconnect it.";
    case "refresh_failing":
      return REASONS[reason ?? "provider_unavailable"] ?? REASONS.provider_unavailable ?? null;
    default:
      return reason ? (REASONS[reason] ?? `Reason: ${reason}.`) : null;
  }
}

/** Statuses where a new consent brings the connection back (same id, same agents). */
export function canReconnect(status: ConnectionStatus): boolean {
  return status === "needs_reauth" || status === "refresh_failing";
}

/** Statuses where a forced refresh tells something (the provider is asked for a new access token). */
export function canCheck(status: ConnectionStatus): boolean {
  return status === "active" || status === "refresh_failing";
}

/** "local-google “Clinic calendar” (admin@medicore.example)": how a connection is named in sentences. */
export function connectionName(connection: Pick<Connection, "provider" | "label" | "provider_account">): string {
  const label = connection.label ? ` “${connection.label}”` : "";
  const email = connection.provider_account?.email;
  return `${connection.provider}${label}${email ? ` (${email})` : ""}`;
}
