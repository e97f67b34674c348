import type { PageProps } from "../../components/router";

/** Placeholder while the page is being built. */
export function GraphPage(_props: PageProps) {
  return (
    <main>
      <h1>Trust graph</h1>
      <p>This page is not built yet.</p>
    </main>
  );
}
