/** The token vault's calls for admins (providers, connecting, the tenant's connections) and
 * their TanStack Query hooks. Nothing here ever holds a token: the API answers none. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { call, type BodyOf, type Ok } from "../../api/client";

export type ProviderList = Ok<"/vault/providers", "get">;
export type Provider = ProviderList["providers"][number];
export type ConnectionList = Ok<"/vault/connections", "get">;
export type Connection = ConnectionList["connections"][number];
export type ConnectionStatus = Connection["status"];
export type NewConnection = BodyOf<"/vault/connect", "post">;
export type ConnectStarted = Ok<"/vault/connect", "post">;
export type ConnectionChange = BodyOf<"/vault/connections/{connection_id}", "patch">;
export type DeletedConnection = Ok<"/vault/connections/{connection_id}", "delete">;
export type CheckedConnection = Ok<"/vault/connections/{connection_id}/check", "post">;

const CONNECTIONS = ["vault", "connections"] as const;
const PROVIDERS = ["vault", "providers"] as const;

function connectionPath(connectionId: string): string {
  return `/vault/connections/${encodeURIComponent(connectionId)}`;
}

export function listProviders(): Promise<ProviderList> {
  return call<ProviderList>("GET", "/vault/providers");
}

export function listConnections(): Promise<ConnectionList> {
  return call<ConnectionList>("GET", "/vault/connections");
}

/** A pending connection and the provider's authorization URL to send the browser to. */
export function startConnect(body: NewConnection): Promise<ConnectStarted> {
  return call<ConnectStarted>("POST", "/vault/connect", body);
}

export function updateConnection(connectionId: string, body: ConnectionChange): Promise<Connection> {
  return call<Connection>("PATCH", connectionPath(connectionId), body);
}

export function deleteConnection(connectionId: string): Promise<DeletedConnection> {
  return call<DeletedConnection>("DELETE", connectionPath(connectionId));
}

/** Refresh the connection's access at the provider now; the connection as it is afterwards. */
export function checkConnection(connectionId: string): Promise<CheckedConnection> {
  return call<CheckedConnection>("POST", `${connectionPath(connectionId)}/check`);
}

/** Leave the dashboard for the provider's consent page (a full navigation: the provider
 * sends the browser back to /vault/callback, which ends on this page). */
export function goToProvider(url: string): void {
  window.location.assign(url);
}

export function useConnections() {
  return useQuery({ queryKey: CONNECTIONS, queryFn: listConnections });
}

export function useProviders() {
  return useQuery({ queryKey: PROVIDERS, queryFn: listProviders, staleTime: 60_000 });
}

export function useStartConnect() {
  const client = useQueryClient();
  return useMutation({ mutationFn: startConnect, onSettled: () => client.invalidateQueries({ queryKey: CONNECTIONS }) });
}

export function useUpdateConnection() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (v: { connectionId: string; change: ConnectionChange }) => updateConnection(v.connectionId, v.change),
    onSettled: () => client.invalidateQueries({ queryKey: CONNECTIONS }),
  });
}

export function useDeleteConnection() {
  const client = useQueryClient();
  return useMutation({ mutationFn: deleteConnection, onSettled: () => client.invalidateQueries({ queryKey: CONNECTIONS }) });
}

export function useCheckConnection() {
  const client = useQueryClient();
  return useMutation({ mutationFn: checkConnection, onSettled: () => client.invalidateQueries({ queryKey: CONNECTIONS }) });
}
