/** The agent registry's calls (admins only) and their TanStack Query hooks. Secrets that the
 * API answers (create, rotate) go to the caller's component state only: the mutations keep
 * nothing in the cache (`gcTime: 0`, and the page resets them once it has the answer). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { call, type BodyOf, type Ok } from "../../api/client";

export type AgentList = Ok<"/agents", "get">;
export type Agent = AgentList["agents"][number];
export type NewAgent = BodyOf<"/agents", "post">;
/** What POST /agents answers: a secret-based agent with its secret, or a key-only agent. */
export type RegisteredAgent = Ok<"/agents", "post">;
export type AgentWithSecret = Extract<RegisteredAgent, { client_secret: string }>;
export type DisabledAgent = Ok<"/agents/{agent_id}", "delete">;
export type KeysBody = BodyOf<"/agents/{agent_id}/keys", "put">;

const AGENTS = ["agents"] as const;

function agentPath(agentId: string): string {
  return `/agents/${encodeURIComponent(agentId)}`;
}

export function listAgents(): Promise<AgentList> {
  return call<AgentList>("GET", "/agents");
}

/** A rotation always answers the new secret. */
function withSecret(answer: RegisteredAgent): AgentWithSecret {
  if (!("client_secret" in answer)) throw new Error("VaultGuard answered without a client secret.");
  return answer;
}

/** A secret-based agent comes back with its secret (shown once); a key-only one without. */
export function createAgent(body: NewAgent): Promise<RegisteredAgent> {
  return call<RegisteredAgent>("POST", "/agents", body);
}

/** PUT /agents/{id}/keys: a secret-based agent moves to keys (its secret stops working). */
export function replaceAgentKeys({ agentId, body }: { agentId: string; body: KeysBody }): Promise<Agent> {
  return call<Agent>("PUT", `${agentPath(agentId)}/keys`, body);
}

export async function rotateAgentSecret(agentId: string): Promise<AgentWithSecret> {
  return withSecret(await call<RegisteredAgent>("POST", `${agentPath(agentId)}/rotate-secret`));
}

export function disableAgent(agentId: string): Promise<DisabledAgent> {
  return call<DisabledAgent>("DELETE", agentPath(agentId));
}


export function useAgents() {
  return useQuery({ queryKey: AGENTS, queryFn: listAgents });
}

export function useCreateAgent() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: createAgent,
    gcTime: 0,
    onSettled: () => client.invalidateQueries({ queryKey: AGENTS }),
  });
}

export function useRotateAgentSecret() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: rotateAgentSecret,
    gcTime: 0,
    onSettled: () => client.invalidateQueries({ queryKey: AGENTS }),
  });
}

export function useReplaceAgentKeys() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: replaceAgentKeys,
    onSettled: () => client.invalidateQueries({ queryKey: AGENTS }),
  });
}

export function useDisableAgent() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: disableAgent,
    onSettled: () => client.invalidateQueries({ queryKey: AGENTS }),
  });
}
