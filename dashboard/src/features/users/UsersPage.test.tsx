import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";

import { SESSION, fakeApi, renderWithQuery } from "../../test/render";
import { UsersPage } from "./UsersPage";

const ME = {
  user_id: "usr_1",
  email: "admin@natsupply.example",
  name: "Nadia Admin",
  role: "admin",
  created_at: "2026-11-01T10:00:00Z",
  last_sign_in_at: "2026-12-01T09:00:00Z",
};
const AUDITOR = { ...ME, user_id: "usr_2", email: "auditor@natsupply.example", name: "Ada Auditor", role: "auditor", last_sign_in_at: null };
const LINK = "http://127.0.0.1:8000/auth/invitations/inv_once";

function api(extra: Parameters<typeof fakeApi>[0] = {}) {
  return fakeApi({
    "GET /auth/session": { body: SESSION },
    "GET /users": { body: { users: [ME, AUDITOR] } },
    ...extra,
  });
}

describe("the users page", () => {
  it("checks the invitation's email before asking, and shows the API's refusal", async () => {
    const { calls } = api({
      "POST /users/invitations": {
        status: 409,
        body: { error: "conflict", error_description: "Someone with this email already belongs to an organisation." },
      },
    });
    const user = userEvent.setup();
    renderWithQuery(<UsersPage rest={[]} />);
    const email = await screen.findByLabelText("Email");

    await user.click(screen.getByRole("button", { name: "Create invitation" }));
    expect(screen.getByRole("alert").textContent).toBe("Enter the person's email address.");
    await user.type(email, "not-an-address");
    await user.click(screen.getByRole("button", { name: "Create invitation" }));
    expect(screen.getByRole("alert").textContent).toBe("Enter an email address like name@example.com.");
    expect(email.getAttribute("aria-invalid")).toBe("true");
    expect(calls.filter((c) => c.method === "POST")).toEqual([]);

    await user.clear(email);
    await user.type(email, "taken@natsupply.example");
    await user.selectOptions(screen.getByLabelText("Role"), "auditor");
    await user.click(screen.getByRole("button", { name: "Create invitation" }));
    expect((await screen.findByRole("alert")).textContent).toBe(
      "No invitation was made: Someone with this email already belongs to an organisation.",
    );
    expect(email.getAttribute("aria-invalid")).toBeNull();
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ email: "taken@natsupply.example", role: "auditor" });
  });

  it("shows a new invitation's link once", async () => {
    api({
      "POST /users/invitations": {
        status: 201,
        body: { invitation_id: "inv_1", email: "new@natsupply.example", role: "approver", expires_at: "2030-01-01T00:00:00Z", invitation_url: LINK },
      },
    });
    const user = userEvent.setup();
    renderWithQuery(<UsersPage rest={[]} />);
    await user.type(await screen.findByLabelText("Email"), "new@natsupply.example");
    await user.click(screen.getByRole("button", { name: "Create invitation" }));
    const panel = await screen.findByRole("dialog", { name: "Send new@natsupply.example their invitation link" });
    expect(within(panel).getByText(LINK)).toBeTruthy();
    await user.click(within(panel).getByRole("button", { name: "Done" }));
    expect(document.body.textContent).not.toContain(LINK);
  });

  it("changes a role with the select and Save", async () => {
    const { calls } = api({ "PATCH /users/usr_2": (body) => ({ body: { ...AUDITOR, ...(body as object) } }) });
    const user = userEvent.setup();
    renderWithQuery(<UsersPage rest={[]} />);
    const save = await screen.findByRole("button", { name: "Save the role of auditor@natsupply.example" });
    expect((save as HTMLButtonElement).disabled).toBe(true);
    await user.selectOptions(screen.getByRole("combobox", { name: "Role of auditor@natsupply.example" }), "approver");
    await user.click(save);
    expect((await screen.findByText("Ada Auditor (auditor@natsupply.example) is now an approver.")).getAttribute("role")).toBe(
      "status",
    );
    expect(calls.find((c) => c.method === "PATCH")?.body).toEqual({ role: "approver" });
  });

  it("asks before an admin loses admin rights, and shows why the API refuses", async () => {
    api({
      "PATCH /users/usr_1": {
        status: 403,
        body: { error: "forbidden", error_description: "You cannot change your own role; ask another admin." },
      },
    });
    const user = userEvent.setup();
    renderWithQuery(<UsersPage rest={[]} />);
    await user.selectOptions(await screen.findByRole("combobox", { name: "Role of admin@natsupply.example" }), "auditor");
    await user.click(screen.getByRole("button", { name: "Save the role of admin@natsupply.example" }));
    const dialog = screen.getByRole("dialog", { name: "Make admin@natsupply.example an auditor?" });
    await user.click(within(dialog).getByRole("button", { name: "Change role" }));
    expect((await within(dialog).findByRole("alert")).textContent).toBe("You cannot change your own role; ask another admin.");
  });
});
