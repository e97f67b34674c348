/** TanStack Query hooks, named after what they return; the only state the app keeps. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import {
  ApiError,
  decide,
  getSession,
  listDelegations,
  signOut,
  type Decision,
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

/** Step-up requests waiting for a person of this tenant (the page, so that `receivedAt` knows
 * when its countdowns started). */
export function usePendingQueue(enabled: boolean) {
  return useQuery({
    queryKey: keys.pending,
    queryFn: () => listDelegations({ direction: "inbound", status: "PENDING", limit: 100 }),
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
