/** The tenant's step-up webhook (admins only) and its TanStack Query hooks. The signing secret
 * of a PUT answer goes to the page's state only (`gcTime: 0`, reset once read). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { ApiError, call, type BodyOf, type Ok } from "../../api/client";

export type Webhook = Ok<"/webhooks", "get">;
export type NewWebhook = BodyOf<"/webhooks", "put">;
export type WebhookWithSecret = Ok<"/webhooks", "put">;
export type TestDelivery = Ok<"/webhooks/test", "post">;

const WEBHOOK = ["webhook"] as const;

/** The webhook, or null when none is set (404). */
export async function getWebhook(): Promise<Webhook | null> {
  try {
    return await call<Webhook>("GET", "/webhooks");
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

export function putWebhook(body: NewWebhook): Promise<WebhookWithSecret> {
  return call<WebhookWithSecret>("PUT", "/webhooks", body);
}

export function deleteWebhook(): Promise<Ok<"/webhooks", "delete">> {
  return call<Ok<"/webhooks", "delete">>("DELETE", "/webhooks");
}

export function sendTestDelivery(): Promise<TestDelivery> {
  return call<TestDelivery>("POST", "/webhooks/test");
}

export function useWebhook() {
  return useQuery({ queryKey: WEBHOOK, queryFn: getWebhook });
}

export function useSetWebhook() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: putWebhook,
    gcTime: 0,
    onSettled: () => client.invalidateQueries({ queryKey: WEBHOOK }),
  });
}

export function useDeleteWebhook() {
  const client = useQueryClient();
  return useMutation({ mutationFn: deleteWebhook, onSettled: () => client.invalidateQueries({ queryKey: WEBHOOK }) });
}

export function useTestDelivery() {
  return useMutation({ mutationFn: sendTestDelivery });
}
