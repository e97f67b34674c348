import { useId, useState, type FormEvent } from "react";

import { ConfirmDialog } from "../../components/ConfirmDialog";
import { failure } from "../../components/failure";
import { FormFooter, Problem, QueryState } from "../../components/Feedback";
import type { PageProps } from "../../components/router";
import { ShowOnce } from "../../components/ShowOnce";
import { formatTime } from "../../components/time";
import {
  useDeleteWebhook,
  useSetWebhook,
  useTestDelivery,
  useWebhook,
  type TestDelivery,
  type WebhookWithSecret,
} from "./api";
import "../../components/adminForms.css";

/** How a test delivery went, in words (the outcome never rests on colour alone). */
export function describeDelivery(result: TestDelivery): string {
  const took = `${Math.round(result.duration_ms)} ms`;
  if (result.delivered) return `Delivered: the receiver answered ${result.status_code ?? "2xx"} in ${took}.`;
  if (result.status_code !== null) return `Not delivered: the receiver answered ${result.status_code} after ${took}.`;
  return `Not delivered: no answer after ${took}${result.error ? ` (${result.error})` : ""}.`;
}

/** The tenant's step-up webhook: see it, set or replace it (its signing secret shown once),
 * delete it, and send it a test delivery. */
export function WebhooksPage(_props: PageProps) {
  const webhook = useWebhook();
  const remove = useDeleteWebhook();
  const test = useTestDelivery();
  const [issued, setIssued] = useState<WebhookWithSecret | null>(null);
  const [deleting, setDeleting] = useState(false);
  const [outcome, setOutcome] = useState<{ text: string; ok: boolean } | null>(null);
  const current = webhook.data ?? null;

  async function sendTest() {
    setOutcome(null);
    try {
      const result = await test.mutateAsync();
      setOutcome({ text: describeDelivery(result), ok: result.delivered });
    } catch (error) {
      setOutcome({
        text: `The test could not be sent: ${failure(error, "VaultGuard could not be reached.")}`,
        ok: false,
      });
    }
  }

  return (
    <main>
      <h1>Webhooks</h1>
      <p>
        When a request waits for a person's decision, VaultGuard sends a signed event to your webhook, so your own
        tools can call someone.
      </p>
      <section aria-labelledby="current-webhook">
        <h2 id="current-webhook">Current webhook</h2>
        <QueryState query={webhook} subject="The webhook" loading="Loading the webhook…" />
        {webhook.isSuccess && current === null && <p>No webhook is set: nobody is told when a request waits.</p>}
        {current && (
          <>
            <dl className="facts">
              <dt>URL</dt>
              <dd>
                <code>{current.url}</code>
              </dd>
              <dt>Set</dt>
              <dd>{formatTime(current.created_at)}</dd>
            </dl>
            <div className="actions">
              <button type="button" className="primary" onClick={() => void sendTest()} disabled={test.isPending}>
                Send a test delivery
              </button>
              <button type="button" className="danger" onClick={() => setDeleting(true)}>
                Delete webhook
              </button>
            </div>
          </>
        )}
        <p role="status" className={`outcome ${outcome ? (outcome.ok ? "ok" : "failed") : ""}`}>
          {test.isPending ? "Sending a test delivery…" : (outcome?.text ?? "")}
        </p>
      </section>

      <WebhookForm
        currentUrl={current?.url ?? null}
        onSaved={(answer) => {
          setOutcome(null);
          setIssued(answer);
        }}
      />

      {deleting && current && (
        <ConfirmDialog
          title="Delete the webhook?"
          confirm="Delete webhook"
          danger
          onConfirm={() => remove.mutateAsync()}
          onClose={(done) => {
            setDeleting(false);
            if (done) setOutcome({ text: "The webhook is deleted.", ok: true });
          }}
        >
          <p>
            VaultGuard stops sending events to <code>{current.url}</code> at once; nobody is told when a request waits
            until you set a webhook again.
          </p>
        </ConfirmDialog>
      )}
      {issued && (
        <ShowOnce
          title="Copy the webhook's signing secret now"
          values={[{ label: "Signing secret", value: issued.secret }]}
          onClose={() => setIssued(null)}
        >
          <p>
            Events to <code>{issued.url}</code> are signed with this secret; your receiver checks each signature with
            it.
          </p>
        </ShowOnce>
      )}
    </main>
  );
}

function WebhookForm({ currentUrl, onSaved }: { currentUrl: string | null; onSaved: (answer: WebhookWithSecret) => void }) {
  const save = useSetWebhook();
  const id = useId();
  const [url, setUrl] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);

  async function put() {
    const answer = await save.mutateAsync({ url: url.trim() });
    save.reset(); // the signing secret stays in no cache
    setUrl("");
    onSaved(answer);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    const problemWithUrl = checkUrl(url.trim());
    setInvalid(problemWithUrl);
    if (problemWithUrl) return;
    if (currentUrl !== null) {
      setConfirming(true);
      return;
    }
    try {
      await put();
    } catch (error) {
      setProblem(failure(error, "VaultGuard could not be reached; the webhook is unchanged."));
    }
  }

  return (
    <form className="admin-form" onSubmit={(event) => void submit(event)} noValidate aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>{currentUrl === null ? "Set the webhook" : "Replace the webhook"}</h2>
      <label htmlFor={`${id}-url`}>Webhook URL</label>
      <input
        id={`${id}-url`}
        type="url"
        value={url}
        required
        aria-invalid={invalid ? true : undefined}
        aria-describedby={`${id}-hint${invalid ? ` ${id}-invalid` : ""}`}
        onChange={(event) => setUrl(event.target.value)}
      />
      <p id={`${id}-hint`} className="hint">
        An https URL on a public address. You get a new signing secret each time you save.
      </p>
      <Problem id={`${id}-invalid`}>{invalid}</Problem>
      <FormFooter problem={problem} busy={save.isPending} submit="Save webhook" />
      {confirming && currentUrl !== null && (
        <ConfirmDialog
          title="Replace the webhook?"
          confirm="Replace webhook"
          onConfirm={put}
          onClose={() => setConfirming(false)}
        >
          <p>
            Events go to <code>{url.trim()}</code> instead of <code>{currentUrl}</code>, signed with a new secret: the
            current secret stops being used at once.
          </p>
        </ConfirmDialog>
      )}
    </form>
  );
}

function checkUrl(text: string): string | null {
  if (!text) return "Enter the webhook's URL.";
  try {
    const parsed = new URL(text);
    if (parsed.protocol === "https:" || parsed.protocol === "http:") return null;
  } catch {
    // not a URL at all
  }
  return "Enter a full URL that starts with https://.";
}
