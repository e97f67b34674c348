import { useId, useState, type FormEvent } from "react";

import { ConfirmDialog } from "../../components/ConfirmDialog";
import { failure } from "../../components/failure";
import { Announcer, FormFooter, Problem, QueryState } from "../../components/Feedback";
import type { PageProps } from "../../components/router";
import { ShowOnce } from "../../components/ShowOnce";
import { formatTime } from "../../components/time";
import {
  useAgents,
  useCreateAgent,
  useDisableAgent,
  useRotateAgentSecret,
  type Agent,
  type AgentWithSecret,
  type NewAgent,
} from "./api";
import { Choice, KeyInput } from "./KeyFields";
import { checkKeys, signInOf, type SignIn } from "./keys";
import { KEY_KINDS, MoveToKeys } from "./MoveToKeys";
import "../../components/adminForms.css";
import "./agents.css";

const SIGN_INS = [["secret", "A client secret (shown once)"], ...KEY_KINDS] as const;

type Confirming = { kind: "rotate" | "disable"; agent: Agent };
/** What the show-once panel holds: in this page's state only, dropped when it closes. */
type Issued = { title: string; agent: AgentWithSecret };

/** The tenant's agents: register one (its secret shown once), rotate a secret, disable. */
export function AgentsPage(_props: PageProps) {
  const agents = useAgents();
  const rotate = useRotateAgentSecret();
  const disable = useDisableAgent();
  const [issued, setIssued] = useState<Issued | null>(null);
  const [confirming, setConfirming] = useState<Confirming | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const [moving, setMoving] = useState<Agent | null>(null);

  return (
    <main>
      <h1>Agents</h1>
      <p>
        Agents call VaultGuard with a client id and either a secret, shown once when the agent is registered or its
        secret rotated, or a private key whose public part VaultGuard knows (no shared secret at all).
      </p>
      <Announcer>{announcement}</Announcer>
      <NewAgentForm
        onCreated={(agent) => setIssued({ title: `Copy the secret of “${agent.name}” now`, agent })}
        onKeyed={(agent) =>
          setAnnouncement(`${agent.name} is registered; it signs in with its key as client ${agent.client_id}.`)
        }
      />

      <QueryState query={agents} subject="The agents" loading="Loading the agents…" />
      {agents.isSuccess && (
        <table className="agents">
          <caption>Registered agents ({agents.data.agents.length})</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Description</th>
              <th scope="col">Client id</th>
              <th scope="col">Signs in with</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {agents.data.agents.length === 0 && (
              <tr>
                <td colSpan={8}>No agent is registered yet.</td>
              </tr>
            )}
            {agents.data.agents.map((agent) => (
              <tr key={agent.agent_id}>
                <th scope="row">{agent.name}</th>
                <td>{agent.description ?? "—"}</td>
                <td>
                  <code>{agent.client_id}</code>
                </td>
                <td>{signInOf(agent)}</td>
                <td>
                  <span className={`status ${agent.status === "ACTIVE" ? "status-active" : "status-expired"}`}>
                    {agent.status === "ACTIVE" ? "Active" : "Disabled"}
                  </span>
                </td>
                <td>{formatTime(agent.created_at)}</td>
                <td>{agent.last_used_at ? formatTime(agent.last_used_at) : "Never"}</td>
                <td>
                  {agent.status === "ACTIVE" && (
                    <div className="row-actions">
                      {agent.token_endpoint_auth_method === "client_secret_basic" && (
                        <>
                          <button
                            type="button"
                            aria-label={`Rotate secret of ${agent.name}`}
                            onClick={() => setConfirming({ kind: "rotate", agent })}
                          >
                            Rotate secret
                          </button>
                          <button
                            type="button"
                            aria-label={`Move to keys: ${agent.name}`}
                            onClick={() => setMoving(agent)}
                          >
                            Move to keys
                          </button>
                        </>
                      )}
                      <button
                        type="button"
                        className="danger"
                        aria-label={`Disable ${agent.name}`}
                        onClick={() => setConfirming({ kind: "disable", agent })}
                      >
                        Disable
                      </button>
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      {moving && (
        <MoveToKeys
          key={moving.agent_id}
          agent={moving}
          onMoved={(agent) => {
            setMoving(null);
            setAnnouncement(`${agent.name} now signs in with its key; its client secret no longer works.`);
          }}
          onCancel={() => setMoving(null)}
        />
      )}
      {confirming?.kind === "rotate" && (
        <ConfirmDialog
          title={`Rotate the secret of “${confirming.agent.name}”?`}
          confirm="Rotate secret"
          onConfirm={async () => {
            const agent = await rotate.mutateAsync(confirming.agent.agent_id);
            rotate.reset();
            setIssued({ title: `Copy the new secret of “${agent.name}” now`, agent });
          }}
          onClose={() => setConfirming(null)}
        >
          <p>
            A new secret replaces the current one: the current secret stops working at once, and the agent needs the
            new one before its next token request.
          </p>
        </ConfirmDialog>
      )}
      {confirming?.kind === "disable" && (
        <ConfirmDialog
          title={`Disable “${confirming.agent.name}”?`}
          confirm="Disable agent"
          danger
          onConfirm={async () => {
            const agent = await disable.mutateAsync(confirming.agent.agent_id);
            const revoked = agent.revoked_delegations;
            setAnnouncement(
              `${agent.name} is disabled; ${revoked === 1 ? "1 live delegation was" : `${revoked} live delegations were`} revoked.`,
            );
          }}
          onClose={() => setConfirming(null)}
        >
          <p>
            Its secret and its access tokens stop working at once, and its live delegations are revoked. This cannot be
            undone: register a new agent to take its place.
          </p>
        </ConfirmDialog>
      )}
      {issued && (
        <ShowOnce
          title={issued.title}
          values={[{ label: "Client secret", value: issued.agent.client_secret }]}
          onClose={() => setIssued(null)}
        >
          <p>
            The agent “{issued.agent.name}” signs in with client id <code>{issued.agent.client_id}</code> and this
            secret.
          </p>
        </ShowOnce>
      )}
    </main>
  );
}

type FormProps = { onCreated: (agent: AgentWithSecret) => void; onKeyed: (agent: Agent) => void };

function NewAgentForm({ onCreated, onKeyed }: FormProps) {
  const create = useCreateAgent();
  const nameHint = useId();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [signIn, setSignIn] = useState<SignIn>("secret");
  const [keys, setKeys] = useState("");
  const [keysInvalid, setKeysInvalid] = useState<string | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    const checkedKeys = signIn === "secret" ? null : checkKeys(signIn, keys);
    setInvalid(name.trim() ? null : "Give the agent a name.");
    setKeysInvalid(checkedKeys && "error" in checkedKeys ? checkedKeys.error : null);
    if (!name.trim() || (checkedKeys && "error" in checkedKeys)) return;
    const body: NewAgent = {
      name: name.trim(),
      ...(description.trim() ? { description: description.trim() } : {}),
      ...(checkedKeys ? checkedKeys.body : {}),
    };
    try {
      const agent = await create.mutateAsync(body);
      create.reset(); // the answer (with its secret) stays in no cache
      setName("");
      setDescription("");
      setKeys("");
      if ("client_secret" in agent) onCreated(agent);
      else onKeyed(agent);
    } catch (error) {
      setProblem(failure(error, "VaultGuard could not be reached; no agent was registered."));
    }
  }

  return (
    <form className="admin-form" onSubmit={(event) => void submit(event)} noValidate aria-labelledby={`${nameHint}-h`}>
      <h2 id={`${nameHint}-h`}>Register an agent</h2>
      <label htmlFor={`${nameHint}-name`}>Name</label>
      <input
        id={`${nameHint}-name`}
        value={name}
        maxLength={100}
        required
        aria-invalid={invalid ? true : undefined}
        aria-describedby={invalid ? nameHint : undefined}
        onChange={(event) => setName(event.target.value)}
      />
      <Problem id={nameHint}>{invalid}</Problem>
      <label htmlFor={`${nameHint}-description`}>Description (optional)</label>
      <input
        id={`${nameHint}-description`}
        value={description}
        maxLength={500}
        onChange={(event) => setDescription(event.target.value)}
      />
      <Choice legend="Signs in with" name={`${nameHint}-sign-in`} value={signIn} options={SIGN_INS} onChange={setSignIn} />
      {signIn !== "secret" && <KeyInput kind={signIn} text={keys} onText={setKeys} error={keysInvalid} />}
      <FormFooter problem={problem} busy={create.isPending} submit="Register agent" />
    </form>
  );
}
