import type { ActionRequest, EnqueueResult } from "../action.js";

export type QueueState = "waiting" | "active" | "delayed" | "failed" | "completed";

export interface ActionQueue {
  enqueue(req: ActionRequest): Promise<EnqueueResult>;
  /** A job of this key is waiting, delayed or active. */
  isInFlight(key: string): Promise<boolean>;
  counts(): Promise<Record<"waiting" | "active" | "delayed" | "failed", number>>;
  /** Config reload removed a host: drop its waiting jobs. Returns how many. */
  cancelForHost(deployment: string, host: string): Promise<number>;
  close(): Promise<void>;
}
