/**
 * The runbook is what an alert's runbook_url lands on: every alert needs its section,
 * under the anchor GitHub derives from the heading (the lowercase alert name).
 */
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../../", import.meta.url);
const operations = readFileSync(new URL("docs/operations.md", root), "utf8");

const ALERTS = [
  "NixGuardDown",
  "NixGuardNoLeader",
  "HostUnhealthy",
  "HostUnreachable",
  "RemediationQuarantined",
  "CircuitBreakerOpen",
  "DeployFailing",
  "QueueStuck",
  "HostDrift",
  "TLSCertExpiringSoon",
];

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to dashes. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (m)
      out.add(
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, "")
          .replace(/\s/g, "-"),
      );
  }
  // Explicit anchors: <a id="..."></a>
  for (const m of markdown.matchAll(/<a id="([\w-]+)"><\/a>/g)) out.add(m[1]!);
  return out;
}

const sections = anchors(operations);

describe("docs/operations.md", () => {
  it("never needs curl: every step is a nixguard command (issue 19)", () => {
    const readme = readFileSync(new URL("README.md", root), "utf8");
    expect(operations).not.toMatch(/\bcurl\b/);
    expect(readme).not.toMatch(/\bcurl\b/);
  });

  it.each(ALERTS)("has a runbook section for %s with a meaning and an action", (alert) => {
    expect(sections).toContain(alert.toLowerCase());
    const body = operations.split(`### ${alert}\n`)[1]?.split(/\n#{1,3} /)[0] ?? "";
    expect(body).toMatch(/\*\*Means:\*\*/);
    expect(body).toMatch(/\*\*Do:\*\*/);
  });

  it("has no link to a missing section of itself", () => {
    const links = [...operations.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(5);
    for (const link of links) expect(sections, `#${link}`).toContain(link);
  });

  it("links only to docs that exist", () => {
    const files = [...operations.matchAll(/\]\(([\w./-]+\.md)(#[^)]*)?\)/g)].map((m) => m[1]!);
    for (const file of files) expect(existsSync(new URL(`docs/${file}`, root)), file).toBe(true);
  });

  const alertsFile = new URL("contrib/prometheus/alerts.yml", root);
  it.runIf(existsSync(alertsFile))(
    "covers every alert of contrib/prometheus/alerts.yml and its runbook_url",
    () => {
      const rules = readFileSync(alertsFile, "utf8");
      const names = [...rules.matchAll(/^\s*-?\s*alert:\s*["']?([A-Za-z0-9_]+)/gm)].map((m) => m[1]!);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) expect(sections, name).toContain(name.toLowerCase());
      for (const m of rules.matchAll(/runbook_url:\s*["']?\S*operations\.md#([\w-]+)/g)) {
        expect(sections, `runbook_url #${m[1]}`).toContain(m[1]);
      }
    },
  );
});
