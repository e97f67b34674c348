/** TanStack Query hooks, named after what they return; the only state the app keeps. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import {
  ApiError,
  decide,
  getSession,
  listDelegations,
  receivedAt,
  signOut,
  type Decision,
  type Delegation,
  type DelegationQuery,
  type Session,
  type SignedOut,
} from "./client";

/** The queue refreshes at least this often while the tab is visible (not in background tabs). */
export const QUEUE_REFRESH_MS = 4000;

export const keys = {
  session: ["session"] as const,
  signedOut: ["signed-out"] as const,
  pending: ["delegations", "pending"] as const,
  delegations: (q: DelegationQuery) => ["delegations", "list", q] as const,
};

/** The signed-in person, or null when signed out. */
export function useSession() {
  return useQuery<Session | null>({
    queryKey: keys.session,
    queryFn: async () => {
      try {
        return await getSession();
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return null;
        throw error;
      }
    },
    staleTime: 60_000,
    retry: false,
  });
}

/** The most pending requests the queue shows, and the most pages it reads to find them (each
 * request reads a bounded slice of the tenant's delegations and hands back a cursor). */
const QUEUE_MAX = 100;
const QUEUE_MAX_PAGES = 10;

/** Every pending request (up to QUEUE_MAX), and when the first page arrived: the countdowns
 * start then (a 304 hands back an earlier body whose `expires_in` counts from its arrival). */
export async function pendingRequests(): Promise<{ delegations: Delegation[]; receivedAt: number }> {
  const query: DelegationQuery = { direction: "inbound", status: "PENDING", limit: QUEUE_MAX };
  let page = await listDelegations(query);
  const started = receivedAt(page) ?? Date.now();
  const delegations = [...page.delegations];
  for (let n = 1; page.next_cursor && delegations.length < QUEUE_MAX && n < QUEUE_MAX_PAGES; n++) {
    page = await listDelegations({ ...query, cursor: page.next_cursor });
    delegations.push(...page.delegations);
  }
  return { delegations: delegations.slice(0, QUEUE_MAX), receivedAt: started };
}

/** Step-up requests waiting for a person of this tenant. */
export function usePendingQueue(enabled: boolean) {
  return useQuery({
    queryKey: keys.pending,
    queryFn: pendingRequests,
    enabled,
    refetchInterval: QUEUE_REFRESH_MS,
    refetchIntervalInBackground: false,
  });
}

export function useDelegations(query: DelegationQuery) {
  return useQuery({ queryKey: keys.delegations(query), queryFn: () => listDelegations(query) });
}

export function useDecision() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (v: { delegationId: string; decision: Decision; reason: string }) =>
      decide(v.delegationId, v.decision, v.reason),
    onSettled: () => client.invalidateQueries({ queryKey: ["delegations"] }),
  });
}

export function useSignOut() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: signOut,
    onSuccess: (answer) => {
      client.setQueryData(keys.signedOut, answer);
      client.setQueryData(keys.session, null);
      client.removeQueries({ queryKey: ["delegations"] });
    },
  });
}

/** What the last sign-out answered in this tab (the identity provider's end-session URL). */
export function useSignedOut(): SignedOut | undefined {
  return useQueryClient().getQueryData<SignedOut>(keys.signedOut);
}
