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

/** A platform total: a count, or counts by kind or status. */
export type Figure = { name: string; count: number | null; parts: { name: string; count: number }[] };

/** GET /metrics as figures, whatever kinds it counts ({"agents": 3, "tenants": {"total": 2, ...}}). */
export async function getMetrics(): Promise<Figure[]> {
  const totals: Record<string, unknown> = await call<Ok<"/metrics", "get">>("GET", "/metrics");
  return Object.entries(totals).map(([name, value]) => {
    if (typeof value === "number") return { name, count: value, parts: [] };
    const parts = typeof value === "object" && value !== null ? Object.entries(value) : [];
    const counts = parts.flatMap(([part, n]) => (typeof n === "number" ? [{ name: part, count: n }] : []));
    const total = counts.find((p) => p.name === "total");
    return { name, count: total ? total.count : null, parts: counts.filter((p) => p.name !== "total") };
  });
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
