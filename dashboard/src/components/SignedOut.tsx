import { useEffect } from "react";

import { loginUrl } from "../api/client";
import { BASE } from "./router";

/** No session: one button to the identity provider, and back to the page asked for. */
export function SignedOut() {
  useEffect(() => {
    document.title = "Sign in · VaultGuard";
  }, []);
  const here = window.location.pathname.startsWith(BASE) ? window.location.pathname : BASE;
  return (
    <main className="signed-out">
      <h1>VaultGuard</h1>
      <p>Approve or reject what other organisations' agents ask of yours. Sign in with your organisation's account.</p>
      <button type="button" className="primary" onClick={() => window.location.assign(loginUrl(here))}>
        Sign in
      </button>
    </main>
  );
}
