import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import type { Delegation } from "../../api/client";
import { PENDING_DELEGATION } from "../../test/fixtures";
import { RequestCard } from "./RequestCard";

const PENDING = {
  ...PENDING_DELEGATION,
  purpose: "<b>restock</b>",
  binding_message: "<img src=x onerror=alert(1)>",
  expires_in: 125,
} satisfies Delegation;

describe("a pending request", () => {
  it("shows who asks for what, and the binding message verbatim as text", () => {
    render(<RequestCard delegation={PENDING} fetchedAt={Date.now()} onDecide={() => undefined} />);
    expect(screen.getByRole("heading", { name: "MediCore asks for requisition.submit" })).toBeTruthy();
    expect(screen.getByText("<img src=x onerror=alert(1)>")).toBeTruthy();
    expect(screen.getByText("<b>restock</b>")).toBeTruthy();
    expect(document.querySelector("img, b")).toBeNull();
    expect(screen.getByText(/^Expires in 2:0[45]$/)).toBeTruthy();
  });

  it("asks for a decision with the keyboard", async () => {
    const onDecide = vi.fn();
    render(<RequestCard delegation={PENDING} fetchedAt={Date.now()} onDecide={onDecide} />);
    const user = userEvent.setup();
    await user.tab();
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Approve" }));
    await user.keyboard("{Enter}");
    await user.tab();
    await user.keyboard(" ");
    expect(onDecide.mock.calls).toEqual([["approve"], ["reject"]]);
  });

  it("cannot be decided once expired", () => {
    render(<RequestCard delegation={{ ...PENDING, expires_in: 0 }} fetchedAt={Date.now()} onDecide={() => undefined} />);
    expect(screen.getByText("Expired")).toBeTruthy();
    expect((screen.getByRole("button", { name: "Approve" }) as HTMLButtonElement).disabled).toBe(true);
  });
});
