/** A tiny history router: the dashboard has few pages, all under BASE. */
import { useEffect, useState } from "react";

export const BASE = "/dashboard/";

export type PageId = "queue" | "delegations";

export const PAGES: Record<PageId, { path: string; label: string }> = {
  queue: { path: BASE, label: "Pending requests" },
  delegations: { path: `${BASE}delegations`, label: "Delegations" },
};

export function usePath(): string {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const update = () => setPath(window.location.pathname);
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return path;
}

export function navigate(to: string): void {
  if (to === window.location.pathname) return;
  window.history.pushState(null, "", to);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

/** The page a path names, if any ("/dashboard" and "/dashboard/" are home). */
export function pageAt(path: string): PageId | "home" | null {
  const trimmed = path.replace(/\/+$/, "");
  if (trimmed === "/dashboard") return "home";
  if (trimmed === PAGES.delegations.path) return "delegations";
  if (trimmed === `${BASE}queue`) return "queue";
  return null;
}
