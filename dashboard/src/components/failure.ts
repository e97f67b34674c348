import { ApiError } from "../api/client";

/** Why a change failed, for a person: the API's own words, or `unreachable` when no answer came. */
export function failure(error: unknown, unreachable = "VaultGuard could not be reached; nothing changed."): string {
  return error instanceof ApiError ? error.message : unreachable;
}
