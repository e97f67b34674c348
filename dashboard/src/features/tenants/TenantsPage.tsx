import { useId, useState, type FormEvent } from "react";

import { ConfirmDialog } from "../../components/ConfirmDialog";
import { failure } from "../../components/failure";
import { Announcer, FormFooter, Problem, QueryState } from "../../components/Feedback";
import type { PageProps } from "../../components/router";
import { ShowOnce, type OnceValue } from "../../components/ShowOnce";
import { formatTime } from "../../components/time";
import {
  useCreateTenant,
  useMetrics,
  useSetTenantStatus,
  useTenants,
  type CreatedTenant,
  figures,
  type Figure,
  type NewTenant,
  type Tenant,
} from "./api";
import "../../components/adminForms.css";

/** The platform operator's page: organisations (register, disable, enable) and platform totals. */
export function TenantsPage(_props: PageProps) {
  const tenants = useTenants();
  const setStatus = useSetTenantStatus();
  const [disabling, setDisabling] = useState<Tenant | null>(null);
  const [created, setCreated] = useState<CreatedTenant | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const [problem, setProblem] = useState<string | null>(null);

  async function enable(tenant: Tenant) {
    setProblem(null);
    try {
      await setStatus.mutateAsync({ tenantId: tenant.tenant_id, status: "ACTIVE" });
      setAnnouncement(`${tenant.name} is enabled.`);
    } catch (error) {
      setProblem(`${tenant.name} is still disabled: ${failure(error)}`);
    }
  }

  return (
    <main>
      <h1>Tenants</h1>
      <Announcer>{announcement}</Announcer>
      <Problem>{problem}</Problem>
      <QueryState query={tenants} subject="The organisations" loading="Loading the organisations…" />
      {tenants.isSuccess && (
        <table>
          <caption>Organisations ({tenants.data.tenants.length})</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Tenant id</th>
              <th scope="col">Audience</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {tenants.data.tenants.map((tenant) => (
              <tr key={tenant.tenant_id}>
                <th scope="row">{tenant.name}</th>
                <td>
                  <code>{tenant.tenant_id}</code>
                </td>
                <td>{tenant.audience ? <code>{tenant.audience}</code> : "—"}</td>
                <td>
                  <span className={`status ${tenant.status === "ACTIVE" ? "status-active" : "status-rejected"}`}>
                    {tenant.status === "ACTIVE" ? "Active" : "Disabled"}
                  </span>
                </td>
                <td>{formatTime(tenant.created_at)}</td>
                <td>
                  {tenant.status === "ACTIVE" ? (
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Disable ${tenant.name}`}
                      onClick={() => {
                        setAnnouncement("");
                        setDisabling(tenant);
                      }}
                    >
                      Disable
                    </button>
                  ) : (
                    <button
                      type="button"
                      aria-label={`Enable ${tenant.name}`}
                      disabled={setStatus.isPending}
                      onClick={() => void enable(tenant)}
                    >
                      Enable
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <NewTenantForm onCreated={setCreated} />
      <Metrics />

      {disabling && (
        <ConfirmDialog
          title={`Disable ${disabling.name}?`}
          confirm="Disable tenant"
          danger
          onConfirm={() => setStatus.mutateAsync({ tenantId: disabling.tenant_id, status: "DISABLED" })}
          onClose={(done) => {
            if (done) setAnnouncement(`${disabling.name} is disabled.`);
            setDisabling(null);
          }}
        >
          <p>
            Every request of {disabling.name}'s agents will be refused until you enable it again; its people cannot work
            in VaultGuard meanwhile.
          </p>
        </ConfirmDialog>
      )}
      {created && (
        <ShowOnce title={`Copy what ${created.name} needs now`} values={onceValues(created)} onClose={() => setCreated(null)}>
          {created.admin_invitation && (
            <p>
              Send the invitation link to {created.admin_invitation.email}: it makes them {created.name}'s first admin
              and works once, until {formatTime(created.admin_invitation.expires_at)}.
            </p>
          )}
          <p>
            The admin API client <code>{created.admin.client_id}</code> authenticates with the client secret.
          </p>
        </ShowOnce>
      )}
    </main>
  );
}

function onceValues(created: CreatedTenant): OnceValue[] {
  const values: OnceValue[] = [];
  if (created.admin_invitation) values.push({ label: "Invitation link", value: created.admin_invitation.invitation_url });
  values.push({ label: "Admin client secret", value: created.admin.client_secret });
  return values;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function NewTenantForm({ onCreated }: { onCreated: (tenant: CreatedTenant) => void }) {
  const create = useCreateTenant();
  const id = useId();
  const [name, setName] = useState("");
  const [audience, setAudience] = useState("");
  const [email, setEmail] = useState("");
  const [invalid, setInvalid] = useState<{ name?: string; email?: string }>({});
  const [problem, setProblem] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    const wrong: { name?: string; email?: string } = {};
    if (!name.trim()) wrong.name = "Enter the organisation's name.";
    if (!EMAIL.test(email.trim())) wrong.email = "Enter the first admin's email address, like name@example.com.";
    setInvalid(wrong);
    if (wrong.name || wrong.email) return;
    const body: NewTenant = { name: name.trim(), admin_email: email.trim() };
    if (audience.trim()) body.audience = audience.trim();
    try {
      const tenant = await create.mutateAsync(body);
      create.reset(); // the link and the secret stay in no cache
      setName("");
      setAudience("");
      setEmail("");
      onCreated(tenant);
    } catch (error) {
      setProblem(`No organisation was registered: ${failure(error)}`);
    }
  }

  return (
    <form className="admin-form" onSubmit={(event) => void submit(event)} noValidate aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>Register an organisation</h2>
      <label htmlFor={`${id}-name`}>Name</label>
      <input
        id={`${id}-name`}
        value={name}
        maxLength={100}
        required
        aria-invalid={invalid.name ? true : undefined}
        aria-describedby={invalid.name ? `${id}-name-invalid` : undefined}
        onChange={(event) => setName(event.target.value)}
      />
      <Problem id={`${id}-name-invalid`}>{invalid.name}</Problem>
      <label htmlFor={`${id}-audience`}>Token audience (optional)</label>
      <input
        id={`${id}-audience`}
        value={audience}
        maxLength={256}
        aria-describedby={`${id}-audience-hint`}
        onChange={(event) => setAudience(event.target.value)}
      />
      <p id={`${id}-audience-hint`} className="hint">
        The <code>aud</code> of the delegation tokens its API accepts; unique. Left empty: urn:vaultguard:tenant:&lt;id&gt;.
      </p>
      <label htmlFor={`${id}-email`}>First admin's email</label>
      <input
        id={`${id}-email`}
        type="email"
        autoComplete="off"
        value={email}
        required
        aria-invalid={invalid.email ? true : undefined}
        aria-describedby={invalid.email ? `${id}-email-invalid` : undefined}
        onChange={(event) => setEmail(event.target.value)}
      />
      <Problem id={`${id}-email-invalid`}>{invalid.email}</Problem>
      <FormFooter problem={problem} busy={create.isPending} submit="Register organisation" />
    </form>
  );
}

function Metrics() {
  const metrics = useMetrics();
  return (
    <section aria-labelledby="platform-metrics">
      <h2 id="platform-metrics">Platform metrics</h2>
      <QueryState query={metrics} subject="The totals" loading="Loading the totals…" />
      {metrics.isSuccess && (
        <dl className="figures">
          {figures(metrics.data).map((figure) => (
            <FigureRow key={figure.name} figure={figure} />
          ))}
        </dl>
      )}
    </section>
  );
}

function FigureRow({ figure: { name, count, parts } }: { figure: Figure }) {
  return (
    <>
      <dt>{name}</dt>
      <dd>
        {count}
        {parts.length > 0 && ` (${parts.map((part) => `${part.name} ${part.count}`).join(", ")})`}
      </dd>
    </>
  );
}
