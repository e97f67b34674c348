import type { Session } from "../api/client";
import { useSignOut } from "../api/hooks";
import { PAGES, onNavigate, type PageId } from "./router";
import { formatTime } from "./time";

type Props = { session: Session; pages: PageId[]; current: PageId | null };

export function Header({ session, pages, current }: Props) {
  const signOut = useSignOut();
  return (
    <header className="shell-header">
      <p className="brand">VaultGuard</p>
      {pages.length > 0 && (
        <nav aria-label="Pages">
          <ul>
            {pages.map((id) => (
              <li key={id}>
                <a
                  href={PAGES[id].path}
                  aria-current={id === current ? "page" : undefined}
                  onClick={onNavigate(PAGES[id].path)}
                >
                  {PAGES[id].label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      )}
      <section className="who" aria-label="Your session">
        <span>
          Signed in as <strong>{session.name ?? session.email}</strong>
          {session.name && ` (${session.email})`}
        </span>
        <span>Organisation: {session.tenant_name ?? "VaultGuard platform"}</span>
        <span>Role: {session.role}</span>
        <span>
          Session ends <time dateTime={session.expires_at}>{formatTime(session.expires_at)}</time>
        </span>
        <button type="button" onClick={() => signOut.mutate()} disabled={signOut.isPending}>
          Sign out
        </button>
      </section>
    </header>
  );
}
