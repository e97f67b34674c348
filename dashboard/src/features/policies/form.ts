/** The policy form's checks, the same the API makes (chalicelib/api/policies.py and
 * chalicelib/domain/delegation.py), so that a person learns of a mistake before sending. Pure. */
import type { Effect, EvaluationBody, Policy, PolicyBody } from "./api";

export const TTL = { min: 60, max: 86_400, default: 3600 } as const;
export const STEPUP_EXPIRY = { min: 30, max: 3600, default: 300 } as const;
const ACTION = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/;
const ACTION_PATTERN = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*(\.\*)?$/;
const MAX_ACTION_LENGTH = 128;
const TENANT_ID = /^tnt_[0-9a-f]{20}$/;

export type Draft = {
  action: string;
  effect: Effect;
  anyRequester: boolean;
  requester: string;
  ttl: string;
  stepupExpiry: string;
  requireDpop: boolean;
  requirePrivateKeyJwt: boolean;
};
export type DraftErrors = Partial<Record<"action" | "requester" | "ttl" | "stepupExpiry", string>>;

export const EMPTY_DRAFT: Draft = {
  action: "",
  effect: "STEP_UP",
  anyRequester: false,
  requester: "",
  ttl: String(TTL.default),
  stepupExpiry: String(STEPUP_EXPIRY.default),
  requireDpop: false,
  requirePrivateKeyJwt: false,
};

export function draftOf(policy: Policy): Draft {
  return {
    action: policy.action,
    effect: policy.effect,
    anyRequester: policy.requesting_tenant_id === null,
    requester: policy.requesting_tenant_id ?? "",
    ttl: String(policy.ttl_seconds),
    stepupExpiry: String(policy.stepup_expiry_seconds),
    requireDpop: policy.require_dpop,
    requirePrivateKeyJwt: policy.require_private_key_jwt,
  };
}

function seconds(text: string, range: { min: number; max: number }, what: string): [number | null, string | null] {
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || value < range.min || value > range.max) {
    return [null, `${what} must be a whole number of seconds from ${range.min} to ${range.max}.`];
  }
  return [value, null];
}

export function tenantIdProblem(text: string): string | null {
  return TENANT_ID.test(text.trim()) ? null : "Enter a tenant id: tnt_ followed by 20 hexadecimal digits.";
}

/** The PUT /policies body, or what is wrong with the draft, field by field. */
export function checkDraft(draft: Draft): { body: PolicyBody } | { errors: DraftErrors } {
  const errors: DraftErrors = {};
  const action = draft.action.trim();
  if (action.length > MAX_ACTION_LENGTH || !ACTION_PATTERN.test(action)) {
    errors.action = "Enter an action such as stock.write, or stock.* for every action under stock.";
  }
  const requester = draft.requester.trim();
  if (!draft.anyRequester) {
    const problem = tenantIdProblem(requester);
    if (problem) errors.requester = problem;
  }
  const [ttl, ttlProblem] = seconds(draft.ttl, TTL, "The maximum token lifetime");
  if (ttlProblem) errors.ttl = ttlProblem;
  const [stepup, stepupProblem] = seconds(draft.stepupExpiry, STEPUP_EXPIRY, "The step-up expiry");
  if (stepupProblem) errors.stepupExpiry = stepupProblem;
  if (Object.keys(errors).length > 0 || ttl === null || stepup === null) return { errors };
  return {
    body: {
      action,
      effect: draft.effect,
      requesting_tenant_id: draft.anyRequester ? null : requester,
      ttl_seconds: ttl,
      stepup_expiry_seconds: stepup,
      require_dpop: draft.requireDpop,
      require_private_key_jwt: draft.requirePrivateKeyJwt,
    },
  };
}

/** The POST /policies/evaluate body, or what is wrong with the question. */
export function checkQuestion(
  requester: string,
  action: string,
): { body: EvaluationBody } | { errors: Partial<Record<"requester" | "action", string>> } {
  const errors: Partial<Record<"requester" | "action", string>> = {};
  const tenantProblem = tenantIdProblem(requester);
  if (tenantProblem) errors.requester = tenantProblem;
  if (action.trim().length > MAX_ACTION_LENGTH || !ACTION.test(action.trim())) {
    errors.action = "Enter an action such as stock.write (a request names one action, no wildcard).";
  }
  if (Object.keys(errors).length > 0) return { errors };
  return { body: { requesting_tenant_id: requester.trim(), action: action.trim() } };
}

/** What a policy asks of the requesting agent, in words ("None" when nothing). */
export function requirements(policy: Pick<Policy, "require_dpop" | "require_private_key_jwt">): string {
  const wanted = [
    policy.require_private_key_jwt ? "Keys only (no client secret)" : null,
    policy.require_dpop ? "DPoP-bound" : null,
  ].filter((text): text is string => text !== null);
  return wanted.length > 0 ? wanted.join("; ") : "None";
}

/** "stock.* from any organisation" / "stock.write from tnt_…". */
export function describePolicy(policy: Pick<Policy, "action" | "requesting_tenant_id">): string {
  return `${policy.action} from ${policy.requesting_tenant_id ?? "any organisation"}`;
}
