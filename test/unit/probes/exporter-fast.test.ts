import { readFileSync } from "node:fs";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import {
  parseNodeExporter,
  readCanonical,
  wantedLines,
} from "../../../src/probes/transports/exporter-parse.js";

const fixture = readFileSync(
  new URL("../../fixtures/systemctl/node_exporter/metrics.txt", import.meta.url),
  "utf8",
);

/** What parseNodeExporter read from the maintained parser before: the last family of each name. */
function viaParser(text: string) {
  const families = parsePrometheusTextFormat(wantedLines(text).text);
  return new Map(families.map((f) => [f.name, { name: f.name, metrics: f.metrics }]));
}

/** A small deterministic generator (seeded), so a failure reproduces. */
function rng(seed: number) {
  let x = seed;
  return (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
}
const pick = <T>(r: (n: number) => number, xs: readonly T[]): T => xs[r(xs.length)] as T;
const FAMILIES = [
  "node_systemd_unit_state",
  "node_systemd_service_restart_total",
  "node_load1",
  "node_filesystem_size_bytes",
  "go_gc_duration_seconds",
];
const PIECES = ["a", ".", "@", " ", "{", "}", ",", "=", "-", "\\\\", '\\"', "\\n"];
function labelValue(r: (n: number) => number): string {
  let v = "";
  for (let i = r(8); i > 0; i--) v += pick(r, PIECES);
  return v;
}
function canonicalLine(r: (n: number) => number): string {
  const n = pick(r, FAMILIES);
  switch (r(7)) {
    case 0:
      return `# TYPE ${n} ${pick(r, ["gauge", "counter", "untyped"])}`;
    case 1:
      return `# HELP ${n} Some \\\\ help\\n text.`;
    case 2:
      return `${n}{name="${labelValue(r)}",state="${pick(r, ["active", "failed"])}",type="simple"} ${pick(r, ["0", "1", "2.5e+09"])}`;
    case 3:
      return `${n}{name="${labelValue(r)}"} ${pick(r, ["0", "1", "NaN"])}`;
    case 4:
      return `${n} ${pick(r, ["0", "0.25"])}`;
    case 5:
      return "# a comment";
    default:
      // Repeated series, and surrounding blanks (trimmed by the parser too).
      return r(2) ? ` ${n}{name="${pick(r, ["a", "b"])}"} ${r(3)}\t` : "";
  }
}
/** Forms outside the canonical one: the reader must decline, so the parser judges them. */
const ODD = [
  (n: string) => `${n}{name="a"} 1 1700000000000`,
  (n: string) => `${n}{name="a"}  1`,
  (n: string) => `${n}{name="a\\t"} 1`,
  (n: string) => `${n}{} 1`,
  (n: string) => `${n}{name=a} 1`,
  (n: string) => `# TYPE ${n} summary`,
  (n: string) => `# TYPE ${n} gauge extra`,
  (n: string) => `# HELP ${n}`,
  (n: string) => `${n}`,
];
const page = (r: (n: number) => number, max: number) =>
  Array.from({ length: r(max) }, () => canonicalLine(r));

describe("readCanonical", () => {
  it("reads the fixture without the parser, and parseNodeExporter's facts are unchanged", () => {
    const fast = readCanonical(fixture);
    expect(fast).toBeDefined();
    expect(fast?.byName).toEqual(viaParser(fixture));
    expect(fast?.inactiveStates).toBe(wantedLines(fixture).inactiveStates);
    expect(parseNodeExporter(fixture, ["mastodon-web.service"]).units["mastodon-web.service"]).toMatchObject({
      activeState: "active",
    });
  });

  it("gives what the parser gives on every canonical page (grouping, repeats, escapes)", () => {
    const r = rng(7);
    for (let run = 0; run < 2000; run++) {
      const text = `${page(r, 40).join("\n")}\n`;
      const fast = readCanonical(text);
      expect(fast, text).toBeDefined();
      expect(fast?.byName, text).toEqual(viaParser(text));
    }
  });

  it("declines any page with a wanted line outside the canonical form, so the parser judges it", () => {
    const r = rng(11);
    for (let run = 0; run < 2000; run++) {
      const lines = page(r, 20);
      const name = pick(r, FAMILIES);
      lines.splice(r(lines.length + 1), 0, pick(r, ODD)(name));
      const text = `${lines.join("\n")}\n`;
      const fast = readCanonical(text);
      if (name.startsWith("go_")) expect(fast?.byName, text).toEqual(viaParser(text));
      else expect(fast, text).toBeUndefined();
    }
  });
});
