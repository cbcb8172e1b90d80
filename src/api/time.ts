import { parseDuration } from "../config/duration.js";

/**
 * An ISO 8601 time or a duration relative to now (`direction` +1: from now, for `until`;
 * -1: ago, for `since`). The value already passed the `timeOrDuration` grammar.
 */
export function toEpochMs(value: string, direction: 1 | -1, now = Date.now()): number {
  const ms = parseDuration(value);
  return ms !== undefined ? now + direction * ms : Date.parse(value);
}
