import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";

/** The issues parseConfig refuses `raw` with; none when it is accepted. */
export function issuesOf(raw: unknown) {
  try {
    parseConfig(raw);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  return [];
}
