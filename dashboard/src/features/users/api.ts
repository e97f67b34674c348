/** The people of the tenant (admins only) and their TanStack Query hooks. An invitation's
 * one-time link goes to the page's state only (`gcTime: 0`, reset once read). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { call, type BodyOf, type Ok } from "../../api/client";

export type UserList = Ok<"/users", "get">;
export type User = UserList["users"][number];
export type PersonRole = User["role"];
export type NewInvitation = BodyOf<"/users/invitations", "post">;
export type Invitation = Ok<"/users/invitations", "post">;
export type RemovedUser = Ok<"/users/{user_id}", "delete">;

/** The roles a tenant's admin gives (the platform role belongs to VaultGuard's operators). */
export const TENANT_ROLES: readonly PersonRole[] = ["admin", "approver", "auditor"];

const USERS = ["users"] as const;

function userPath(userId: string): string {
  return `/users/${encodeURIComponent(userId)}`;
}

export function listUsers(): Promise<UserList> {
  return call<UserList>("GET", "/users");
}

export function invite(body: NewInvitation): Promise<Invitation> {
  return call<Invitation>("POST", "/users/invitations", body);
}

export function setRole(userId: string, role: PersonRole): Promise<User> {
  const body: BodyOf<"/users/{user_id}", "patch"> = { role };
  return call<User>("PATCH", userPath(userId), body);
}

export function removeUser(userId: string): Promise<RemovedUser> {
  return call<RemovedUser>("DELETE", userPath(userId));
}

export function useUsers() {
  return useQuery({ queryKey: USERS, queryFn: listUsers });
}

export function useInvite() {
  const client = useQueryClient();
  return useMutation({ mutationFn: invite, gcTime: 0, onSettled: () => client.invalidateQueries({ queryKey: USERS }) });
}

export function useSetRole() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (v: { userId: string; role: PersonRole }) => setRole(v.userId, v.role),
    onSettled: () => client.invalidateQueries({ queryKey: USERS }),
  });
}

export function useRemoveUser() {
  const client = useQueryClient();
  return useMutation({ mutationFn: removeUser, onSettled: () => client.invalidateQueries({ queryKey: USERS }) });
}
