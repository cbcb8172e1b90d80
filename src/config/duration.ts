import { z } from "zod";
import { DURATION_RE, parseDuration } from "./duration-text.js";

export { DURATION_RE, formatDuration, parseDuration } from "./duration-text.js";

/** A duration string in config; parsed to milliseconds by the schema so code never sees the string. */
export const Duration = z
  .string()
  .regex(DURATION_RE, { message: 'expected a duration such as "30s", "5m", "1h" (units ms, s, m, h, d)' })
  .transform((s) => parseDuration(s) as number)
  .meta({ description: 'Duration: number + unit (ms, s, m, h, d), e.g. "30s", "1h30m"' });
