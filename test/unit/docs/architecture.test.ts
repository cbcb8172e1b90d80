/** docs/architecture.md maps ideas to files: every file it names must exist. */
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../../", import.meta.url);
const doc = readFileSync(new URL("docs/architecture.md", root), "utf8");

/** `src/...` paths as written, and `policy/x.ts` / `health/x.ts` shorthands under src/controller. */
function namedFiles(text: string): string[] {
  const spans = [...text.matchAll(/`([^`\s]+\.(?:ts|nix))`/g)].map((m) => m[1]!);
  return spans.flatMap((p) => {
    if (p.startsWith("src/") || p.startsWith("nix/")) return [p];
    if (/^(policy|health)\//.test(p)) return [`src/controller/${p}`];
    return [];
  });
}

describe("docs/architecture.md", () => {
  const files = [...new Set(namedFiles(doc))];

  it("names the main parts of src/", () => {
    expect(files.length).toBeGreaterThan(30);
    for (const dir of ["config", "probes", "controller", "queue", "exec", "redis", "api", "cli", "sim"]) {
      expect(
        files.some((f) => f.startsWith(`src/${dir}/`)),
        dir,
      ).toBe(true);
    }
  });

  it.each(files)("%s exists", (file) => {
    expect(existsSync(new URL(file, root))).toBe(true);
  });

  it("lists every policy gate file", () => {
    const gates = ["mode", "pause", "maintenance", "breaker", "inflight", "backoff", "budget", "quarantine"];
    for (const g of gates) expect(doc).toContain(`\`policy/${g}.ts\``);
  });
});
