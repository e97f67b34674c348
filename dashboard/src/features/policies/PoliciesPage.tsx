import { useEffect, useRef, useState } from "react";

import { ConfirmDialog } from "../../components/ConfirmDialog";
import { Announcer, QueryState } from "../../components/Feedback";
import type { PageProps } from "../../components/router";
import { formatTime } from "../../components/time";
import { useDeletePolicy, usePolicies, type Evaluation, type Policy } from "./api";
import { EvaluatePanel } from "./EvaluatePanel";
import { describePolicy, requirements } from "./form";
import { PolicyForm } from "./PolicyForm";
import "./policies.css";

/** The receiving side's rules: who may ask this organisation for what, and what happens then. */
export function PoliciesPage(_props: PageProps) {
  const policies = usePolicies();
  const remove = useDeletePolicy();
  const [editing, setEditing] = useState<Policy | null>(null);
  const [deleting, setDeleting] = useState<Policy | null>(null);
  const [evaluation, setEvaluation] = useState<Evaluation | null>(null);
  const [message, setMessage] = useState("");
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    document.title = "Policies · VaultGuard";
    return () => {
      document.title = "VaultGuard";
    };
  }, []);

  const deciding = evaluation?.policy?.policy_id ?? null;
  const rows = policies.data ?? [];
  return (
    <main className="policies-page">
      <h1 ref={heading} tabIndex={-1}>
        Policies
      </h1>
      <p>
        What an agent of another organisation gets when it asks this one for an action: the most specific policy
        decides (one organisation over any, an exact action over a longer prefix over a shorter one); without a
        match, the request is blocked.
      </p>
      <Announcer>{message}</Announcer>
      <QueryState query={policies} subject="The policies" />
      <table className="policies">
        <caption>Policies of this organisation</caption>
        <thead>
          <tr>
            <th scope="col">Action</th>
            <th scope="col">Requesting organisation</th>
            <th scope="col">Effect</th>
            <th scope="col">Max token lifetime</th>
            <th scope="col">Step-up expiry</th>
            <th scope="col">Agent requirements</th>
            <th scope="col">Changed</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((p) => (
            <tr key={p.policy_id} className={p.policy_id === deciding ? "deciding" : undefined}>
              <th scope="row">
                <code>{p.action}</code>
                {p.policy_id === deciding && <span className="deciding-mark">Decides the evaluated request</span>}
              </th>
              <td>{p.requesting_tenant_id ? <code>{p.requesting_tenant_id}</code> : "Any"}</td>
              <td>
                <span className={`effect effect-${p.effect.toLowerCase()}`}>{p.effect}</span>
              </td>
              <td>{p.ttl_seconds} s</td>
              <td>{p.stepup_expiry_seconds} s</td>
              <td>{requirements(p)}</td>
              <td>{formatTime(p.updated_at ?? p.created_at)}</td>
              <td className="row-actions">
                <button type="button" onClick={() => setEditing(p)} aria-label={`Edit ${describePolicy(p)}`}>
                  Edit
                </button>
                <button
                  type="button"
                  className="danger"
                  onClick={() => setDeleting(p)}
                  aria-label={`Delete ${describePolicy(p)}`}
                >
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {policies.isPending && <p role="status">Loading the policies…</p>}
      {policies.isSuccess && rows.length === 0 && <p>No policies: every request is blocked.</p>}
      <div className="policy-panels">
        <PolicyForm
          key={editing?.policy_id ?? "new"}
          editing={editing}
          onSaved={(saved) => {
            setEditing(null);
            setMessage(`Saved: ${describePolicy(saved)} → ${saved.effect}.`);
          }}
          onCancel={() => setEditing(null)}
        />
        <EvaluatePanel onAnswer={setEvaluation} />
      </div>
      {deleting && (
        <ConfirmDialog
          title="Delete this policy?"
          confirm="Delete policy"
          danger
          onConfirm={() => remove.mutateAsync(deleting.policy_id)}
          onClose={(done) => {
            if (done) {
              setMessage(`Deleted: ${describePolicy(deleting)}.`);
              if (editing?.policy_id === deleting.policy_id) setEditing(null);
            }
            setDeleting(null);
            heading.current?.focus();
          }}
        >
          <p>
            <code>{describePolicy(deleting)}</code> ({deleting.effect}) stops applying at once: requests it decided
            fall to a less specific policy, or are blocked.
          </p>
        </ConfirmDialog>
      )}
    </main>
  );
}
