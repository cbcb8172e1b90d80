import { generationName } from "./generations.js";

/**
 * A host NixGuard rolled back holds at the generation it went back to: the generation that broke
 * it is not deployed again automatically (a redeploy of the same flake would bring it back), and
 * drift on the held host is NixGuard's own doing. Ends when a deploy brings another generation
 * (the fix) or an operator releases it.
 */
export interface HoldEntry {
  deployment: string;
  host: string;
  /** The generation that broke the host. */
  bad: string;
  /** Where NixGuard put it. */
  to: string;
  since: number;
  /** What failed on `bad`. */
  reason: string;
  /** The apply that brought `bad` (generations.ts causeFor). */
  cause?: string;
  actor: string;
}

/** Pure: does the host's running system end its hold? Any system other than the two it names. */
export function holdEndedBy(hold: HoldEntry, currentSystem: string | undefined): boolean {
  return currentSystem !== undefined && currentSystem !== hold.to && currentSystem !== hold.bad;
}

export function describeHold(h: HoldEntry): string {
  return `${generationName(h.bad)} broke ${h.reason} on ${h.deployment}/${h.host}; held at ${generationName(h.to)}`;
}
