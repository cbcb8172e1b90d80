import type { HostSpec } from "../../config/desired.js";
import type { StreamResult } from "../../metrics.js";
import { type StreamedObservation, specFingerprint } from "./observation-stream.js";

/**
 * Which of a batch of streamed observations the leader takes into its health book. Pure. Two
 * members may probe one host for a moment (a hand-over) and entries arrive in the order they
 * were added, not observed, so only the newest per host by observation time counts, and only if
 * newer than what the book already has: hysteresis never sees an older probe after a newer one.
 * An observation older than the health age (issue 18) is dropped; so is one of a host the
 * leader does not know, or made under another config (its fingerprint differs: a reload that
 * reached the prober first or last).
 */
export interface IngestContext {
  spec(key: string): HostSpec | undefined;
  /** Observations started before this are too old to act on (now - probes.maxHealthAge). */
  oldest: number;
  /** When the book's latest observation of the host started, if it has one. */
  lastAt(spec: HostSpec): number | undefined;
}

export interface Ingested {
  accepted: { spec: HostSpec; entry: StreamedObservation }[];
  counts: Record<StreamResult, number>;
}

export function ingestBatch(entries: readonly StreamedObservation[], ctx: IngestContext): Ingested {
  const counts: Record<StreamResult, number> = { accepted: 0, old: 0, duplicate: 0, unknown: 0 };
  const newest = new Map<string, StreamedObservation>();
  for (const e of entries) {
    const seen = newest.get(e.key);
    if (seen) counts.duplicate++;
    if (!seen || e.at > seen.at) newest.set(e.key, e);
  }
  const accepted: Ingested["accepted"] = [];
  for (const entry of newest.values()) {
    const spec = ctx.spec(entry.key);
    if (!spec || specFingerprint(spec) !== entry.fingerprint) counts.unknown++;
    else if (entry.at < ctx.oldest) counts.old++;
    else if (entry.at <= (ctx.lastAt(spec) ?? Number.NEGATIVE_INFINITY)) counts.duplicate++;
    else {
      counts.accepted++;
      accepted.push({ spec, entry });
    }
  }
  return { accepted, counts };
}
