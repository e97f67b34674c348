import type { ReactNode } from "react";

/** A problem to fix or a refusal to read, announced at once (role="alert"); nothing when there is none.
 * `id` lets a field point at it with aria-describedby. */
export function Problem({ id, children }: { id?: string | undefined; children: ReactNode }) {
  if (children === null || children === undefined || children === false || children === "") return null;
  return (
    <p id={id} role="alert" className="problem">
      {children}
    </p>
  );
}

/** The page's polite status region: what just happened ("X is disabled."), read out when it changes
 * and hidden while empty. */
export function Announcer({ children }: { children: ReactNode }) {
  return (
    <div className="announcer" role="status" aria-live="polite" aria-atomic="true">
      {children}
    </div>
  );
}

/** What a query's lines need to say: loading, or why it failed. */
type Loadable = { isPending: boolean; isError: boolean; error: Error | null };

/** A query's loading line (when `loading` is given) and its failure (role="alert"):
 * "`subject` could not be loaded: <the error>". `live` makes the loading line a role="status" region. */
export function QueryState({
  query,
  subject,
  loading,
  live = false,
}: {
  query: Loadable;
  subject: string;
  loading?: string;
  live?: boolean;
}) {
  return (
    <>
      {loading !== undefined && query.isPending && (live ? <p role="status">{loading}</p> : <p>{loading}</p>)}
      {query.isError && query.error && (
        <p role="alert">
          {subject} could not be loaded: {query.error.message}
        </p>
      )}
    </>
  );
}

/** A form's last rows: the problem that stopped it, if any, then its submit button (disabled while
 * `busy`) and any other buttons given as children. */
export function FormFooter({
  problem,
  busy,
  submit,
  children,
}: {
  problem: string | null;
  busy: boolean;
  submit: ReactNode;
  children?: ReactNode;
}) {
  return (
    <>
      <Problem>{problem}</Problem>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {submit}
        </button>
        {children}
      </div>
    </>
  );
}
