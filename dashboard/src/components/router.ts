/** A tiny history router: the dashboard has few pages, all under BASE. */
import { useEffect, useState } from "react";

export const BASE = "/dashboard/";

export type PageId =
  | "queue"
  | "delegations"
  | "graph"
  | "audit"
  | "policies"
  | "agents"
  | "webhooks"
  | "users"
  | "connections"
  | "tenants";

export const PAGES: Record<PageId, { path: string; label: string }> = {
  queue: { path: BASE, label: "Pending requests" },
  delegations: { path: `${BASE}delegations`, label: "Delegations" },
  graph: { path: `${BASE}graph`, label: "Trust graph" },
  audit: { path: `${BASE}audit`, label: "Audit log" },
  policies: { path: `${BASE}policies`, label: "Policies" },
  agents: { path: `${BASE}agents`, label: "Agents" },
  webhooks: { path: `${BASE}webhooks`, label: "Webhooks" },
  users: { path: `${BASE}users`, label: "Users" },
  connections: { path: `${BASE}connections`, label: "Connections" },
  tenants: { path: `${BASE}tenants`, label: "Tenants" },
};

/** What a page gets from the route: the path segments after its own ("/delegations/<id>"). */
export type PageProps = { rest: string[] };

/** Where the browser is: the path and its query parameters, updated on navigation. */
export type Location = { path: string; params: URLSearchParams };

function here(): Location {
  return { path: window.location.pathname, params: new URLSearchParams(window.location.search) };
}

export function useLocation(): Location {
  const [location, setLocation] = useState(here);
  useEffect(() => {
    const update = () => setLocation(here());
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return location;
}

/** Go to `to` (a path under BASE, with an optional query string) without reloading. */
export function navigate(to: string, { replace = false }: { replace?: boolean } = {}): void {
  if (to === window.location.pathname + window.location.search) return;
  if (replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

/** `path` with the non-empty `params` as its query string. */
export function withQuery(path: string, params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

/** The page a path names and what follows it ("/dashboard/delegations/dlg_1" -> delegations, ["dlg_1"]);
 * "/dashboard" and "/dashboard/" are home; null for a path that names no page. */
export function pageAt(path: string): { page: PageId | "home"; rest: string[] } | null {
  const trimmed = path.replace(/\/+$/, "");
  if (trimmed === "/dashboard") return { page: "home", rest: [] };
  if (!trimmed.startsWith(BASE)) return null;
  const [first, ...rest] = trimmed.slice(BASE.length).split("/").map(decodeURIComponent);
  const page = (Object.keys(PAGES) as PageId[]).find((id) => id === first);
  return page ? { page, rest } : null;
}

/** A link that navigates inside the app (a plain link for the browser and assistive technology). */
export function onNavigate(to: string) {
  return (event: { preventDefault: () => void; metaKey?: boolean; ctrlKey?: boolean; shiftKey?: boolean }) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey) return; // a new tab or window
    event.preventDefault();
    navigate(to);
  };
}
