/** Receiving-side policies (admins): list, create or replace, delete, and the dry run. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { call, type BodyOf, type Ok } from "../../api/client";

export type Policy = Ok<"/policies", "get">["policies"][number];
export type PolicyBody = BodyOf<"/policies", "put">;
export type Effect = Policy["effect"];
export type EvaluationBody = BodyOf<"/policies/evaluate", "post">;
export type Evaluation = Ok<"/policies/evaluate", "post">;
export type Deleted = Ok<"/policies/{policy_id}", "delete">;

export const EFFECTS: readonly Effect[] = ["ALLOW", "STEP_UP", "BLOCK"];

const KEY = ["policies"] as const;

export function listPolicies(): Promise<Policy[]> {
  return call<Ok<"/policies", "get">>("GET", "/policies").then((answer) => answer.policies);
}

/** PUT /policies: creates the policy for (action, requesting tenant) or replaces it. */
export function savePolicy(body: PolicyBody): Promise<Policy> {
  return call<Policy>("PUT", "/policies", body);
}

export function deletePolicy(policyId: string): Promise<Deleted> {
  return call<Deleted>("DELETE", `/policies/${encodeURIComponent(policyId)}`);
}

export function evaluatePolicies(body: EvaluationBody): Promise<Evaluation> {
  return call<Evaluation>("POST", "/policies/evaluate", body);
}

export function usePolicies() {
  return useQuery({ queryKey: KEY, queryFn: listPolicies });
}

export function useSavePolicy() {
  const client = useQueryClient();
  return useMutation({ mutationFn: savePolicy, onSettled: () => client.invalidateQueries({ queryKey: KEY }) });
}

export function useDeletePolicy() {
  const client = useQueryClient();
  return useMutation({ mutationFn: deletePolicy, onSettled: () => client.invalidateQueries({ queryKey: KEY }) });
}

export function useEvaluation() {
  return useMutation({ mutationFn: evaluatePolicies });
}
