import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { ApiError } from "../api/client";
import { renderWithQuery } from "../test/render";
import { ConfirmDialog } from "./ConfirmDialog";

describe("a confirmation", () => {
  it("closes as done once the action succeeded", async () => {
    const onClose = vi.fn();
    const onConfirm = vi.fn(async () => ({}));
    renderWithQuery(
      <ConfirmDialog title="Revoke this delegation?" confirm="Revoke" danger onConfirm={onConfirm} onClose={onClose}>
        <p>MediCore's token stops working at once.</p>
      </ConfirmDialog>,
    );
    expect(screen.getByRole("dialog", { name: "Revoke this delegation?" })).toBeTruthy();
    await userEvent.click(screen.getByRole("button", { name: "Revoke" }));
    expect(onConfirm).toHaveBeenCalledOnce();
    expect(onClose).toHaveBeenCalledWith(true);
  });

  it("shows the API's refusal and stays open", async () => {
    const onClose = vi.fn();
    const refuse = async () => {
      throw new ApiError(409, { error: "conflict", error_description: "The delegation is already revoked." });
    };
    renderWithQuery(
      <ConfirmDialog title="Revoke this delegation?" confirm="Revoke" onConfirm={refuse} onClose={onClose}>
        <p>…</p>
      </ConfirmDialog>,
    );
    await userEvent.click(screen.getByRole("button", { name: "Revoke" }));
    expect((await screen.findByRole("alert")).textContent).toBe("The delegation is already revoked.");
    expect(onClose).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(onClose).toHaveBeenCalledWith(false);
  });
});
