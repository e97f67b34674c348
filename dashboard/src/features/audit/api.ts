/** GET /audit: the tenant's own log, newest first, a page at a time. */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useMemo } from "react";

import { call, query, type Ok } from "../../api/client";
import { getGraph } from "../graph/api";
import type { AuditQuery } from "./filters";

export type AuditPage = Ok<"/audit", "get">;
export type AuditEvent = AuditPage["events"][number];

export function searchAudit(params: AuditQuery): Promise<AuditPage> {
  return call<AuditPage>("GET", `/audit${query(params)}`);
}

export function useAuditEvents(params: AuditQuery) {
  return useQuery<AuditPage, Error>({
    queryKey: ["audit", "search", params],
    queryFn: () => searchAudit(params),
    placeholderData: keepPreviousData,
  });
}

/** The names of the tenants this one dealt with lately, by id (from GET /graph's nodes: audit
 * events carry ids only); empty while unknown or unavailable. */
export function useTenantNames(): ReadonlyMap<string, string> {
  const graph = useQuery({
    queryKey: ["graph", "names"],
    queryFn: () => getGraph({}),
    staleTime: 5 * 60_000,
    retry: false,
  });
  return useMemo(() => {
    const names = new Map<string, string>();
    if (graph.data) {
      names.set(graph.data.tenant.tenant_id, graph.data.tenant.name);
      for (const node of graph.data.nodes) if (node.name) names.set(node.tenant_id, node.name);
    }
    return names;
  }, [graph.data]);
}
