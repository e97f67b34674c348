import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";

import { Pager, useCursorPages } from "./Pager";

/** A listing whose API hands out cursor "c<n>" for the page after page n, and no cursor after page 3. */
function Listing() {
  const pages = useCursorPages();
  return (
    <>
      <p>
        Page {pages.page}, fetched with {pages.cursor ?? "no cursor"}
      </p>
      <Pager pages={pages} next={pages.page < 3 ? `c${pages.page}` : null} />
    </>
  );
}

describe("cursor paging", () => {
  it("walks forward with each page's cursor and back to the cursors before", async () => {
    const user = userEvent.setup();
    render(<Listing />);
    expect(screen.getByText("Page 1, fetched with no cursor")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Previous page" })).toBeNull();
    await user.click(screen.getByRole("button", { name: "Next page" }));
    await user.click(screen.getByRole("button", { name: "Next page" }));
    expect(screen.getByText("Page 3, fetched with c2")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Next page" })).toBeNull();
    await user.click(screen.getByRole("button", { name: "Previous page" }));
    expect(screen.getByText("Page 2, fetched with c1")).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "Previous page" }));
    expect(screen.getByText("Page 1, fetched with no cursor")).toBeTruthy();
  });
});
