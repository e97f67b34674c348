import { useId, useState, type FormEvent } from "react";

import { useSession } from "../../api/hooks";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { failure } from "../../components/failure";
import { Announcer, FormFooter, Problem, QueryState } from "../../components/Feedback";
import type { PageProps } from "../../components/router";
import { ShowOnce } from "../../components/ShowOnce";
import { formatTime } from "../../components/time";
import {
  TENANT_ROLES,
  useInvite,
  useRemoveUser,
  useSetRole,
  useUsers,
  type Invitation,
  type PersonRole,
  type User,
} from "./api";
import "../../components/adminForms.css";

const ARTICLE: Record<PersonRole, string> = { admin: "an admin", approver: "an approver", auditor: "an auditor", platform: "a platform operator" };

function who(user: User): string {
  return user.name ? `${user.name} (${user.email})` : user.email;
}

/** The tenant's people: invite one (the link shown once), change a role, remove someone. */
export function UsersPage(_props: PageProps) {
  const users = useUsers();
  const session = useSession();
  const setRole = useSetRole();
  const remove = useRemoveUser();
  const [drafts, setDrafts] = useState<Record<string, PersonRole>>({});
  const [demoting, setDemoting] = useState<{ user: User; role: PersonRole } | null>(null);
  const [removing, setRemoving] = useState<User | null>(null);
  const [invitation, setInvitation] = useState<Invitation | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const me = session.data?.user_id;

  async function changeRole(user: User, role: PersonRole) {
    const changed = await setRole.mutateAsync({ userId: user.user_id, role });
    setDrafts(({ [user.user_id]: _done, ...rest }) => rest);
    setAnnouncement(`${who(changed)} is now ${ARTICLE[changed.role]}.`);
  }

  async function save(user: User, role: PersonRole) {
    setProblem(null);
    setAnnouncement("");
    if (user.role === "admin" && role !== "admin") {
      setDemoting({ user, role }); // losing admin rights is confirmed first
      return;
    }
    try {
      await changeRole(user, role);
    } catch (error) {
      setProblem(`The role of ${user.email} is unchanged: ${failure(error)}`);
    }
  }

  return (
    <main>
      <h1>Users</h1>
      <p>The people of your organisation who sign in to this dashboard, and what each may do.</p>
      <Announcer>{announcement}</Announcer>
      <Problem>{problem}</Problem>
      <QueryState query={users} subject="The people" loading="Loading the people…" />
      {users.isSuccess && (
        <table>
          <caption>People ({users.data.users.length})</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Last sign-in</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {users.data.users.map((user) => {
              const draft = drafts[user.user_id] ?? user.role;
              return (
                <tr key={user.user_id}>
                  <th scope="row">
                    {user.name ?? "—"}
                    {user.user_id === me && " (you)"}
                  </th>
                  <td>{user.email}</td>
                  <td>
                    <div className="row-actions">
                      <select
                        aria-label={`Role of ${user.email}`}
                        value={draft}
                        onChange={(event) => {
                          const role = TENANT_ROLES.find((r) => r === event.target.value) ?? user.role;
                          setDrafts((all) => ({ ...all, [user.user_id]: role }));
                        }}
                      >
                        {(TENANT_ROLES.includes(user.role) ? TENANT_ROLES : [user.role, ...TENANT_ROLES]).map((role) => (
                          <option key={role} value={role}>
                            {role}
                          </option>
                        ))}
                      </select>
                      <button
                        type="button"
                        aria-label={`Save the role of ${user.email}`}
                        disabled={draft === user.role || setRole.isPending}
                        onClick={() => void save(user, draft)}
                      >
                        Save
                      </button>
                    </div>
                  </td>
                  <td>{user.last_sign_in_at ? formatTime(user.last_sign_in_at) : "Never"}</td>
                  <td>
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Remove ${user.email}`}
                      onClick={() => {
                        setAnnouncement("");
                        setRemoving(user);
                      }}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}

      <InviteForm onInvited={setInvitation} />

      {demoting && (
        <ConfirmDialog
          title={`Make ${demoting.user.email} ${ARTICLE[demoting.role]}?`}
          confirm="Change role"
          danger
          onConfirm={() => changeRole(demoting.user, demoting.role)}
          onClose={() => setDemoting(null)}
        >
          <p>
            {who(demoting.user)} loses the admin's rights at once: no more agents, policies, webhooks or people to
            manage.
          </p>
        </ConfirmDialog>
      )}
      {removing && (
        <ConfirmDialog
          title={`Remove ${removing.email}?`}
          confirm="Remove"
          danger
          onConfirm={() => remove.mutateAsync(removing.user_id)}
          onClose={(done) => {
            if (done) setAnnouncement(`${who(removing)} is removed.`);
            setRemoving(null);
          }}
        >
          <p>
            {who(removing)} loses access at once: every session of theirs ends. To give access back, invite them again.
          </p>
        </ConfirmDialog>
      )}
      {invitation && (
        <ShowOnce
          title={`Send ${invitation.email} their invitation link`}
          values={[{ label: "Invitation link", value: invitation.invitation_url }]}
          onClose={() => setInvitation(null)}
        >
          <p>
            The link signs {invitation.email} in once, as {ARTICLE[invitation.role]}; it expires{" "}
            {formatTime(invitation.expires_at)}.
          </p>
        </ShowOnce>
      )}
    </main>
  );
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Invite someone by email with a role; the API answers a one-time link, handed to `onInvited`. */
export function InviteForm({ onInvited }: { onInvited: (invitation: Invitation) => void }) {
  const create = useInvite();
  const id = useId();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<PersonRole>("approver");
  const [invalid, setInvalid] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    const address = email.trim();
    const wrong = !address ? "Enter the person's email address." : EMAIL.test(address) ? null : "Enter an email address like name@example.com.";
    setInvalid(wrong);
    if (wrong) return;
    try {
      const invitation = await create.mutateAsync({ email: address, role });
      create.reset(); // the link stays in no cache
      setEmail("");
      onInvited(invitation);
    } catch (error) {
      setProblem(`No invitation was made: ${failure(error)}`);
    }
  }

  return (
    <form className="admin-form" onSubmit={(event) => void submit(event)} noValidate aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>Invite someone</h2>
      <label htmlFor={`${id}-email`}>Email</label>
      <input
        id={`${id}-email`}
        type="email"
        autoComplete="off"
        value={email}
        required
        aria-invalid={invalid ? true : undefined}
        aria-describedby={invalid ? `${id}-invalid` : undefined}
        onChange={(event) => setEmail(event.target.value)}
      />
      <Problem id={`${id}-invalid`}>{invalid}</Problem>
      <label htmlFor={`${id}-role`}>Role</label>
      <select
        id={`${id}-role`}
        value={role}
        onChange={(event) => setRole(TENANT_ROLES.find((r) => r === event.target.value) ?? "approver")}
      >
        {TENANT_ROLES.map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
      <FormFooter problem={problem} busy={create.isPending} submit="Create invitation" />
    </form>
  );
}
