import { useEffect } from "react";

import { loginUrl } from "../api/client";
import { useSignedOut } from "../api/hooks";
import { BASE } from "./router";

/** No session: one button to the identity provider, and back to the page asked for. */
export function SignedOut() {
  useEffect(() => {
    document.title = "Sign in · VaultGuard";
  }, []);
  const signedOut = useSignedOut();
  const here = window.location.pathname.startsWith(BASE) ? window.location.pathname : BASE;
  return (
    <main className="signed-out">
      <h1>VaultGuard</h1>
      {signedOut && (
        <p role="status">
          You are signed out of VaultGuard.
          {signedOut.end_session_url && (
            <>
              {" "}
              <a href={signedOut.end_session_url}>Sign out of your identity provider too</a>
            </>
          )}
        </p>
      )}
      <p>Approve or reject what other organisations' agents ask of yours. Sign in with your organisation's account.</p>
      <button type="button" className="primary" onClick={() => window.location.assign(loginUrl(here))}>
        Sign in
      </button>
    </main>
  );
}
