import { Suspense, lazy, type ComponentType } from "react";

import { useSession } from "./api/hooks";
import { Header } from "./components/Header";
import { SignedOut } from "./components/SignedOut";
import { pagesFor } from "./components/roles";
import { PAGES, onNavigate, pageAt, useLocation, type PageId, type PageProps } from "./components/router";
import { QueuePage } from "./features/queue/QueuePage";

// The home page of deciders is in the first bundle; every other page loads when first shown.
const PAGE_COMPONENTS: Record<PageId, ComponentType<PageProps>> = {
  queue: QueuePage,
  delegations: lazy(() => import("./features/delegations/DelegationsPage").then((m) => ({ default: m.DelegationsPage }))),
  graph: lazy(() => import("./features/graph/GraphPage").then((m) => ({ default: m.GraphPage }))),
  audit: lazy(() => import("./features/audit/AuditPage").then((m) => ({ default: m.AuditPage }))),
  policies: lazy(() => import("./features/policies/PoliciesPage").then((m) => ({ default: m.PoliciesPage }))),
  agents: lazy(() => import("./features/agents/AgentsPage").then((m) => ({ default: m.AgentsPage }))),
  webhooks: lazy(() => import("./features/webhooks/WebhooksPage").then((m) => ({ default: m.WebhooksPage }))),
  users: lazy(() => import("./features/users/UsersPage").then((m) => ({ default: m.UsersPage }))),
  connections: lazy(() => import("./features/connections/ConnectionsPage").then((m) => ({ default: m.ConnectionsPage }))),
  tenants: lazy(() => import("./features/tenants/TenantsPage").then((m) => ({ default: m.TenantsPage }))),
};

export function App() {
  const session = useSession();
  const location = useLocation();
  if (session.isPending) {
    return <p role="status">Loading…</p>;
  }
  if (session.isError) {
    return (
      <main>
        <h1>VaultGuard</h1>
        <p role="alert">The dashboard cannot reach VaultGuard: {session.error.message}</p>
      </main>
    );
  }
  if (session.data === null) return <SignedOut />;

  const pages = pagesFor(session.data.role);
  const asked = pageAt(location.path);
  const current: PageId | null = asked === null ? null : asked.page === "home" ? (pages[0] ?? null) : asked.page;
  const allowed = current !== null && pages.includes(current);
  const Page = allowed ? PAGE_COMPONENTS[current] : null;
  return (
    <>
      <Header session={session.data} pages={pages} current={allowed ? current : null} />
      {Page ? (
        <Suspense fallback={<p role="status">Loading…</p>}>
          <Page rest={asked?.rest ?? []} />
        </Suspense>
      ) : (
        <NothingHere home={pages[0] ?? null} known={asked !== null} />
      )}
    </>
  );
}

function NothingHere({ home, known }: { home: PageId | null; known: boolean }) {
  return (
    <main>
      <h1>{known ? "Not available to your role" : "Page not found"}</h1>
      {home && (
        <p>
          <a href={PAGES[home].path} onClick={onNavigate(PAGES[home].path)}>
            Go to your home page
          </a>
        </p>
      )}
    </main>
  );
}
