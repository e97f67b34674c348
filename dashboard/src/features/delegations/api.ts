/** A delegation's own calls: read one, its audit timeline, revoke it. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { ApiError, call, getDelegation, query, type Delegation, type Ok } from "../../api/client";

export type Revoked = Ok<"/delegations/{delegation_id}/revoke", "post">;
export type AuditEvent = Ok<"/audit", "get">["events"][number];

export const delegationKeys = {
  one: (id: string) => ["delegations", "one", id] as const,
  timeline: (id: string) => ["audit", "delegation", id] as const,
};

export function revokeDelegation(delegationId: string): Promise<Revoked> {
  return call<Revoked>("POST", `/delegations/${encodeURIComponent(delegationId)}/revoke`);
}

/** What happened to one delegation, oldest first (the API answers newest first). */
export async function getTimeline(delegationId: string): Promise<AuditEvent[]> {
  const page = await call<Ok<"/audit", "get">>("GET", `/audit${query({ delegation_id: delegationId, limit: 200 })}`);
  return [...page.events].reverse();
}

export function useDelegation(delegationId: string) {
  return useQuery<Delegation, Error>({
    queryKey: delegationKeys.one(delegationId),
    queryFn: () => getDelegation(delegationId),
  });
}

export function useTimeline(delegationId: string) {
  return useQuery<AuditEvent[], Error>({
    queryKey: delegationKeys.timeline(delegationId),
    queryFn: () => getTimeline(delegationId),
  });
}

/** Revoke at once; the detail shows the answer, the lists and the timeline are read again. */
export function useRevoke(delegationId: string) {
  const client = useQueryClient();
  return useMutation<Revoked, Error>({
    mutationFn: () => revokeDelegation(delegationId),
    onSuccess: (revoked) => client.setQueryData(delegationKeys.one(delegationId), revoked),
    onSettled: async () => {
      await client.invalidateQueries({ queryKey: ["delegations"] });
      await client.invalidateQueries({ queryKey: delegationKeys.timeline(delegationId) });
    },
  });
}

export function isForbidden(error: unknown): boolean {
  return error instanceof ApiError && error.status === 403;
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}
