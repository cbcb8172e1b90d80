import type { TransportSpec } from "../../config/desired.js";

export type TransportKind = TransportSpec["kind"];

/**
 * What each transport can do. The transports declare theirs from here, and the reconciler (pure,
 * it sees specs, not transports) plans by it: a restart is never planned through a transport that
 * cannot restart — node_exporter is read-only — the ladder goes straight to its next rung.
 */
export const CAN_RESTART: Readonly<Record<TransportKind, boolean>> = {
  ssh: true,
  local: true,
  exporter: false,
};

/**
 * It can list the system profile's generations and switch to one (a rollback): it runs commands
 * on the host. The exporter only reads metrics.
 */
export const CAN_SWITCH: Readonly<Record<TransportKind, boolean>> = {
  ssh: true,
  local: true,
  exporter: false,
};
