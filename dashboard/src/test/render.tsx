/** Rendering a component the way the app does (inside TanStack Query), with the API's `fetch`
 * replaced by a table of answers, so component tests see what the user would. */
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, type RenderResult } from "@testing-library/react";
import type { ReactElement } from "react";
import { vi } from "vitest";

import type { Session } from "../api/client";

export type Answer = { status?: number; body?: unknown; headers?: Record<string, string> };
/** "GET /delegations?..." (method, space, path with query) -> an answer, or a function of the request body. */
export type Routes = Record<string, Answer | ((body: unknown) => Answer)>;

/** Replace `fetch`: each call is matched by "METHOD path" (exact first, then by path prefix before "?");
 * an unmatched call fails the test loudly. Returns the calls made, for assertions. */
export function fakeApi(routes: Routes): { calls: { method: string; path: string; body: unknown }[] } {
  const calls: { method: string; path: string; body: unknown }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      const path = typeof input === "string" ? input : input.toString();
      const method = (init?.method ?? "GET").toUpperCase();
      const body: unknown = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
      calls.push({ method, path, body });
      const key = `${method} ${path}`;
      const route = routes[key] ?? routes[`${method} ${path.split("?")[0]}`];
      if (route === undefined) throw new Error(`unexpected call: ${key}`);
      const answer = typeof route === "function" ? route(body) : route;
      return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), {
        status: answer.status ?? 200,
        headers: { "Content-Type": "application/json", ...answer.headers },
      });
    }),
  );
  return { calls };
}

/** A signed-in session as GET /auth/session answers (writes need its csrf_token). */
export const SESSION: Session = {
  user_id: "usr_1",
  email: "admin@natsupply.example",
  name: "Nadia Admin",
  tenant_id: "natsupply",
  tenant_name: "NatSupply",
  role: "admin",
  csrf_token: "csrf-test",
  expires_at: "2030-01-01T00:00:00Z",
  idle_timeout_seconds: 1800,
};

export function renderWithQuery(ui: ReactElement): RenderResult {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  return render(<QueryClientProvider client={client}>{ui}</QueryClientProvider>);
}
