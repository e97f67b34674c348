import type { PageProps } from "../../components/router";

/** Placeholder while the page is being built. */
export function TenantsPage(_props: PageProps) {
  return (
    <main>
      <h1>Tenants</h1>
      <p>This page is not built yet.</p>
    </main>
  );
}
