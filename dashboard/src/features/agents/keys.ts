/** Key-based agents (private_key_jwt): what a person pastes or names, checked before sending,
 * and how each agent signs in, in words. Pure. */
import type { Agent, KeysBody } from "./api";

export type KeyKind = "jwks" | "uri";
/** How a new agent signs in: a client secret (shown once), public keys pasted, or a key set URL. */
export type SignIn = "secret" | KeyKind;

type Jwk = { kty: "RSA" | "EC" | "OKP" } & Record<string, unknown>;
const KTY = new Set(["RSA", "EC", "OKP"]);
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
const MAX_KEYS = 5;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isJwk(value: unknown): value is Jwk {
  return isRecord(value) && typeof value.kty === "string" && KTY.has(value.kty);
}

/** The request body for public keys pasted as a JWK or a JWK set, or for a key set URL; or
 * what is wrong with it. A private key is refused here: it must never leave the agent. */
export function checkKeys(kind: KeyKind, text: string): { body: KeysBody } | { error: string } {
  const trimmed = text.trim();
  if (kind === "uri") {
    if (!/^https?:\/\/\S+$/.test(trimmed)) return { error: "Enter the https URL where the agent publishes its JWK set." };
    return { body: { jwks_uri: trimmed } };
  }
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return { error: "Paste the agent's public key as JSON: one JWK, or a JWK set {\"keys\": [...]}." };
  }
  const keys: unknown = isRecord(value) && "kty" in value ? [value] : isRecord(value) ? value.keys : undefined;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_KEYS) {
    return { error: `Paste one JWK, or a JWK set {"keys": [...]} of 1 to ${MAX_KEYS} keys.` };
  }
  const jwks: Jwk[] = [];
  for (const key of keys) {
    if (!isJwk(key)) return { error: "Each key needs a kty of RSA, EC or OKP." };
    if (PRIVATE_MEMBERS.some((member) => member in key)) {
      return { error: "This is a private key. Paste only the public key; the private key stays with the agent." };
    }
    jwks.push(key);
  }
  return { body: { jwks: { keys: jwks } } };
}

/** How the agent signs in, in words (never by colour alone). */
export function signInOf(agent: Pick<Agent, "token_endpoint_auth_method" | "jwks_uri">): string {
  switch (agent.token_endpoint_auth_method) {
    case "private_key_jwt":
      return agent.jwks_uri ? "Keys at a URL" : "Registered keys";
    case "none":
      return "Federated identity";
    default:
      return "Client secret";
  }
}
