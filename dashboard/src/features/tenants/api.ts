/** The platform's organisations and totals (platform operators only), with their TanStack
 * Query hooks. A new tenant's one-time values (its first admin's invitation link, its admin
 * client's secret) go to the page's state only (`gcTime: 0`, reset once read). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { call, type BodyOf, type Ok } from "../../api/client";

export type TenantList = Ok<"/tenants", "get">;
export type Tenant = TenantList["tenants"][number];
export type TenantStatus = Tenant["status"];
export type NewTenant = BodyOf<"/tenants", "post">;
export type CreatedTenant = Ok<"/tenants", "post">;

const TENANTS = ["tenants"] as const;
const METRICS = ["metrics"] as const;

export function listTenants(): Promise<TenantList> {
  return call<TenantList>("GET", "/tenants");
}

export function createTenant(body: NewTenant): Promise<CreatedTenant> {
  return call<CreatedTenant>("POST", "/tenants", body);
}

export function setTenantStatus(tenantId: string, status: TenantStatus): Promise<Tenant> {
  const body: BodyOf<"/tenants/{tenant_id}", "patch"> = { status };
  return call<Tenant>("PATCH", `/tenants/${encodeURIComponent(tenantId)}`, body);
}

export type Metrics = Ok<"/metrics", "get">;

export function getMetrics(): Promise<Metrics> {
  return call<Metrics>("GET", "/metrics");
}

/** A platform total in words: its count, and the counts by status worth showing. */
export type Figure = { name: string; count: number; parts: { name: string; count: number }[] };

/** GET /metrics as figures: tenants by every status, delegations by the statuses that have any. */
export function figures(metrics: Metrics): Figure[] {
  const { tenants, delegations } = metrics;
  const byStatus = Object.entries(delegations).map(([status, count]) => ({ name: status.toLowerCase(), count }));
  return [
    {
      name: "Tenants",
      count: tenants.total,
      parts: [
        { name: "active", count: tenants.ACTIVE },
        { name: "disabled", count: tenants.DISABLED },
      ],
    },
    { name: "Agents", count: metrics.agents, parts: [] },
    { name: "Policies", count: metrics.policies, parts: [] },
    {
      name: "Delegations",
      count: byStatus.reduce((sum, part) => sum + part.count, 0),
      parts: byStatus.filter((part) => part.count > 0),
    },
    { name: "Audit events", count: metrics.audit_events, parts: [] },
  ];
}

export function useTenants() {
  return useQuery({ queryKey: TENANTS, queryFn: listTenants });
}

export function useMetrics() {
  return useQuery({ queryKey: METRICS, queryFn: getMetrics });
}

export function useCreateTenant() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: createTenant,
    gcTime: 0,
    onSettled: () => Promise.all([client.invalidateQueries({ queryKey: TENANTS }), client.invalidateQueries({ queryKey: METRICS })]),
  });
}

export function useSetTenantStatus() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (v: { tenantId: string; status: TenantStatus }) => setTenantStatus(v.tenantId, v.status),
    onSettled: () => Promise.all([client.invalidateQueries({ queryKey: TENANTS }), client.invalidateQueries({ queryKey: METRICS })]),
  });
}
