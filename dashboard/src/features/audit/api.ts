/** GET /audit: the tenant's own log, newest first, a page at a time. */
import { keepPreviousData, useQuery } from "@tanstack/react-query";

import { call, query, type Ok } from "../../api/client";
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
