import { useSession } from "./api/hooks";
import { Header } from "./components/Header";
import { SignedOut } from "./components/SignedOut";
import { pagesFor } from "./components/roles";
import { PAGES, navigate, pageAt, usePath, type PageId } from "./components/router";
import { DelegationsPage } from "./features/delegations/DelegationsPage";
import { QueuePage } from "./features/queue/QueuePage";

export function App() {
  const session = useSession();
  const path = usePath();
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
  const asked = pageAt(path);
  const current: PageId | null = asked === "home" ? (pages[0] ?? null) : asked;
  const allowed = current !== null && pages.includes(current);
  return (
    <>
      <Header session={session.data} pages={pages} current={allowed ? current : null} />
      {allowed && current === "queue" && <QueuePage />}
      {allowed && current === "delegations" && <DelegationsPage />}
      {!allowed && <NothingHere hasPages={pages.length > 0} known={asked !== null} />}
    </>
  );
}

function NothingHere({ hasPages, known }: { hasPages: boolean; known: boolean }) {
  return (
    <main>
      <h1>{known ? "Not available to your role" : "Page not found"}</h1>
      {hasPages ? (
        <p>
          <a
            href={PAGES.queue.path}
            onClick={(event) => {
              event.preventDefault();
              navigate(PAGES.queue.path);
            }}
          >
            Go to your home page
          </a>
        </p>
      ) : (
        <p>The platform pages (tenants and metrics) are not part of this dashboard yet.</p>
      )}
    </main>
  );
}
