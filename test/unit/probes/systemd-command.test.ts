import { describe, expect, it } from "vitest";
import { buildProbeCommand, buildRestartCommand } from "../../../src/probes/systemd/command.js";
import { HOSTILE_VALUES } from "../../helpers/hostile.js";

// The contract with every remote (see command.ts): these programs and nothing else. A persistent
// ssh session runs the probe line in its own shell, without a subshell (ssh-session.ts), which is
// safe only because every statement is one of these: no assignment, `cd`, `exit` or `set`.
const ALLOWED = new Set(["systemctl", "readlink", "df", "cat", "nproc", "echo"]);

function programs(line: string): string[] {
  return line
    .replace(/'[^']*'/g, "Q")
    .replace(/"[^"]*"/g, "Q")
    .split(";")
    .map((c) => c.trim().split(/\s+/)[0]!)
    .filter(Boolean);
}

describe("buildProbeCommand", () => {
  it("single-quotes every unit and uses only the agreed programs", () => {
    const line = buildProbeCommand(["mastodon-web.service", "getty@tty1.service", "pixelfed-cron.timer"]);
    expect(line).toContain("'mastodon-web.service' 'getty@tty1.service' 'pixelfed-cron.timer'");
    expect(line).toContain(
      "--property=Id,LoadState,ActiveState,SubState,Result,NRestarts,Type,ActiveEnterTimestamp",
    );
    for (const p of programs(line)) expect(ALLOWED, p).toContain(p);
    expect(line).not.toMatch(/sudo|&&|\|\||\$\(|`|\[\[/);
    expect(line.endsWith("echo '::nixguard:done::'")).toBe(true);
  });

  it("skips systemctl when there are no units", () => {
    expect(buildProbeCommand([])).not.toContain("systemctl");
  });

  it.each(HOSTILE_VALUES)("refuses hostile unit name %j", (value) => {
    expect(() => buildProbeCommand(["ok.service", value])).toThrow(
      expect.objectContaining({ code: "UNSAFE_VALUE" }),
    );
    expect(() => buildRestartCommand([value])).toThrow(expect.objectContaining({ code: "UNSAFE_VALUE" }));
  });
});

describe("buildRestartCommand", () => {
  it("restarts the quoted units", () => {
    expect(buildRestartCommand(["a.service", "b.service"])).toBe("systemctl restart 'a.service' 'b.service'");
  });
  it("refuses an empty list", () => {
    expect(() => buildRestartCommand([])).toThrow(/at least one/);
  });
});
