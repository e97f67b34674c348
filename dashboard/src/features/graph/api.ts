/** GET /graph: the caller's tenant, its counterparts and the delegation outcomes between them. */
import { useQuery } from "@tanstack/react-query";

import { call, query, type Ok, type QueryOf } from "../../api/client";

export type TrustGraph = Ok<"/graph", "get">;
export type GraphEdge = TrustGraph["edges"][number];
export type GraphNode = TrustGraph["nodes"][number];
export type Outcome = keyof GraphEdge["counts"];
export type GraphQuery = QueryOf<"/graph", "get">;

export function getGraph(params: GraphQuery): Promise<TrustGraph> {
  return call<TrustGraph>("GET", `/graph${query(params)}`);
}

/** The trust graph counted from `since` (an ISO 8601 instant; the API counts from its UTC day). */
export function useTrustGraph(since: string) {
  return useQuery({ queryKey: ["graph", since], queryFn: () => getGraph({ since }) });
}
