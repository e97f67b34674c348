import { useId, useState, type FormEvent } from "react";

import { failure } from "../../components/failure";
import { FormFooter, QueryState } from "../../components/Feedback";
import type { Agent } from "../agents/api";
import { goToProvider, useProviders, useStartConnect, type NewConnection, type Provider } from "./api";
import { Checkboxes } from "./Checkboxes";

/** Scopes that only say who the account is: asked for by default, so the page can show the account's email. */
const IDENTITY_SCOPES = ["openid", "email"];

/** Connect a provider account: the provider, the scopes to ask for, a label and the agents allowed to use it.
 * On success the browser leaves for the provider's consent page and comes back to this page. */
export function ConnectForm({ agents, onLeaving }: { agents: Agent[]; onLeaving: (message: string) => void }) {
  const providers = useProviders();
  const start = useStartConnect();
  const id = useId();
  const [chosen, setChosen] = useState<Provider["provider"] | null>(null);
  const [scopes, setScopes] = useState<string[] | null>(null);
  const [label, setLabel] = useState("");
  const [agentIds, setAgentIds] = useState<string[]>([]);
  const [invalid, setInvalid] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const offered = providers.data?.providers ?? [];
  const provider = offered.find((p) => p.provider === chosen) ?? offered[0];
  const picked = scopes ?? provider?.scopes.filter((s) => IDENTITY_SCOPES.includes(s)) ?? [];

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    if (!provider) return;
    if (picked.length === 0) {
      setInvalid("Choose at least one scope to ask for.");
      return;
    }
    setInvalid(null);
    const body: NewConnection = { provider: provider.provider, scopes: picked, agent_ids: agentIds };
    if (label.trim()) body.label = label.trim();
    try {
      const started = await start.mutateAsync(body);
      onLeaving(`Opening ${provider.provider} to ask for your consent…`);
      goToProvider(started.authorize_url);
    } catch (error) {
      setProblem(`Nothing was connected: ${failure(error, "VaultGuard could not be reached.")}`);
    }
  }

  return (
    <form className="admin-form" onSubmit={(event) => void submit(event)} noValidate aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>Connect an account</h2>
      <p className="hint">
        You will be sent to the provider to sign in with the account and consent. VaultGuard keeps its refresh token
        encrypted; agents only ever get short-lived access tokens.
      </p>
      <QueryState query={providers} subject="The providers" loading="Loading the providers…" />
      {providers.isSuccess && offered.length === 0 && <p>No provider is available to your organisation.</p>}
      {provider && (
        <>
          <label htmlFor={`${id}-provider`}>Provider</label>
          <select
            id={`${id}-provider`}
            value={provider.provider}
            onChange={(event) => {
              setChosen(offered.find((p) => p.provider === event.target.value)?.provider ?? null);
              setScopes(null);
            }}
          >
            {offered.map((p) => (
              <option key={p.provider} value={p.provider}>
                {p.provider}
                {p.client === "tenant" ? " (your OAuth client)" : ""}
              </option>
            ))}
          </select>
          <Checkboxes
            legend="Scopes to ask for"
            options={provider.scopes.map((s) => ({ value: s, label: s }))}
            checked={picked}
            onChange={setScopes}
            problem={invalid}
          />
          <label htmlFor={`${id}-label`}>Label (optional)</label>
          <input id={`${id}-label`} value={label} maxLength={100} onChange={(event) => setLabel(event.target.value)} />
          <Checkboxes
            legend="Agents allowed to use it"
            options={agents.filter((a) => a.status === "ACTIVE").map((a) => ({ value: a.agent_id, label: a.name }))}
            checked={agentIds}
            onChange={setAgentIds}
            empty="No agent is registered yet; you can allow agents later."
          />
          <FormFooter problem={problem} busy={start.isPending} submit={`Connect ${provider.provider}`} />
        </>
      )}
    </form>
  );
}
