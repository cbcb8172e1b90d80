import { beforeEach } from "vitest";
import { ALL_LINES } from "../helpers/fault-daemon.js";

/**
 * When a test that ran real daemons fails, print what those daemons said last: a failure seen
 * only in CI, under load, is otherwise a bare "expected false to be true". Warnings and errors,
 * controller events and leadership changes only, so the tail stays readable in a CI log; the
 * daemons' logs are already redacted, and the fault suite audits them for secrets.
 */
const TAIL = 40;
const telling = (raw: string, level: number | undefined): boolean =>
  (level ?? 0) >= 40 || /controller event|leader|lease|breaker|fenc|redis/i.test(raw);

beforeEach(({ onTestFailed }) => {
  const from = ALL_LINES.length;
  onTestFailed(() => {
    const lines = ALL_LINES.slice(from).filter((l) => telling(l.raw, l.json?.level));
    if (lines.length === 0) return;
    const out = lines.slice(-TAIL).map((l) => `  ${new Date(l.at).toISOString()} ${l.raw.slice(0, 300)}`);
    console.error(
      `daemon log, last ${out.length} telling lines of ${ALL_LINES.length - from}:\n${out.join("\n")}`,
    );
  });
});
