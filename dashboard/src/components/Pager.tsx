import { useState } from "react";

/** Cursor paging: the cursors of the pages walked through so far, so "Previous page" goes back. */
export type CursorPages = {
  /** The cursor that fetches the current page (undefined for the first). */
  cursor: string | undefined;
  /** The current page's number, from 1. */
  page: number;
  previous: () => void;
  next: (cursor: string) => void;
};

export function useCursorPages(): CursorPages {
  const [cursors, setCursors] = useState<string[]>([]);
  return {
    cursor: cursors[cursors.length - 1],
    page: cursors.length + 1,
    previous: () => setCursors((all) => all.slice(0, -1)),
    next: (cursor) => setCursors((all) => [...all, cursor]),
  };
}

/** "Previous page" (after the first) and "Next page" (while the API gives a `next` cursor). */
export function Pager({ pages, next }: { pages: CursorPages; next: string | null }) {
  return (
    <div className="actions">
      {pages.page > 1 && (
        <button type="button" onClick={pages.previous}>
          Previous page
        </button>
      )}
      {next && (
        <button type="button" onClick={() => pages.next(next)}>
          Next page
        </button>
      )}
    </div>
  );
}
