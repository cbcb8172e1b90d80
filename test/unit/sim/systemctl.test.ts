import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Fleet } from "../../../src/sim/fleet.js";
import { simLayout } from "../../../src/sim/layout.js";
import { systemctl, systemdTimestamp } from "../../../src/sim/render/systemctl.js";

const golden = (name: string) =>
  readFileSync(new URL(`../../fixtures/golden/systemctl/${name}`, import.meta.url), "utf8");
const PROPS = "--property=Id,LoadState,ActiveState,SubState,Result,NRestarts,Type,ActiveEnterTimestamp";

function fleet() {
  const f = new Fleet(simLayout("fediversity"), { now: () => Date.UTC(2026, 10, 23, 12, 0, 0) });
  const mastodon = f.host("mastodon")!;
  Object.assign(mastodon.units.get("mastodon-web.service")!, {
    activeState: "failed",
    subState: "failed",
    result: "exit-code",
    nRestarts: 3,
  });
  return f;
}

describe("fake systemctl show", () => {
  it("matches the golden output for loaded, failed, oneshot and not-found units", () => {
    const f = fleet();
    const units = [
      "mastodon-web.service",
      "mastodon-sidekiq-all.service",
      "mastodon-init-db.service",
      "missing.service",
    ];
    const r = systemctl(f, f.host("mastodon")!, ["show", PROPS, ...units]);
    expect(r).toEqual({ stdout: golden("show-mixed.txt"), stderr: "", code: 0 });
  });

  it("prints a timer without service properties", () => {
    const f = fleet();
    const r = systemctl(f, f.host("pixelfed")!, ["show", PROPS, "pixelfed-cron.timer"]);
    expect(r.stdout).toBe(golden("show-timer.txt"));
  });

  it("orders properties as systemd does, whatever order they are asked in, with -p repeated too", () => {
    const f = fleet();
    const host = f.host("mastodon")!;
    const a = systemctl(f, host, ["show", "-p", "Type,Id", "--property=ActiveState", "mastodon-web"]).stdout;
    expect(a).toBe("Type=simple\nId=mastodon-web.service\nActiveState=failed\n");
    expect(systemctl(f, host, ["show", "--value", "-p", "ActiveState", "mastodon-web.service"]).stdout).toBe(
      "failed\n",
    );
    expect(systemctl(f, host, ["show", "-p", "NoSuchProperty", "mastodon-web.service"]).stdout).toBe("");
  });

  it("formats timestamps as TIMESTAMP_PRETTY in UTC", () => {
    expect(systemdTimestamp(Date.UTC(2026, 10, 23, 10, 0, 0))).toBe("Mon 2026-11-23 10:00:00 UTC");
    expect(systemdTimestamp(undefined)).toBe("");
  });
});

describe("fake systemctl restart", () => {
  it("brings a failed unit back and resets NRestarts", () => {
    const f = fleet();
    const host = f.host("mastodon")!;
    expect(systemctl(f, host, ["restart", "mastodon-web.service"])).toEqual({
      stdout: "",
      stderr: "",
      code: 0,
    });
    const u = host.units.get("mastodon-web.service")!;
    expect([u.activeState, u.subState, u.result, u.nRestarts]).toEqual(["active", "running", "success", 0]);
    expect(u.activeEnterAt).toBe(Date.UTC(2026, 10, 23, 12, 0, 0));
  });

  it("fails like systemd for a missing unit (exit 5) and a unit that keeps failing (exit 1)", () => {
    const f = fleet();
    const host = f.host("mastodon")!;
    f.inject({ kind: "unit-fail", host: "mastodon", unit: "redis-mastodon.service", keepFailing: true });
    const r = systemctl(f, host, ["restart", "nope.service", "redis-mastodon.service"]);
    expect(r.code).toBe(5);
    expect(r.stderr).toBe(
      "Failed to restart nope.service: Unit nope.service not found.\n" +
        "Job for redis-mastodon.service failed because the control process exited with error code.\n" +
        'See "systemctl status redis-mastodon.service" and "journalctl -xeu redis-mastodon.service" for details.\n',
    );
    expect(host.units.get("redis-mastodon.service")!.activeState).toBe("failed");
  });

  it("rejects an unknown verb", () => {
    const f = fleet();
    expect(systemctl(f, f.host("mastodon")!, ["frobnicate"])).toEqual({
      stdout: "",
      stderr: "Unknown command verb 'frobnicate'.\n",
      code: 1,
    });
  });
});

describe("crash loops and hung stops (faults as real systemd shows them)", () => {
  const PROBE = [
    "show",
    "--timestamp=unix",
    "--property=ActiveState,SubState,Result,NRestarts,ExecMainCode,ExecMainStatus",
  ];
  const UNIT = "mastodon-web.service";

  it("a crash loop alternates running and auto-restart with NRestarts climbing; a restart starts it over; a deploy ends it", () => {
    let now = Date.UTC(2026, 10, 23, 12, 0, 0);
    const f = new Fleet(simLayout("fediversity"), { now: () => now });
    const host = f.host("mastodon")!;
    f.inject({
      kind: "crash-loop",
      host: "mastodon",
      unit: UNIT,
      upMs: 2000,
      restartSecMs: 5000,
      exitCode: 3,
    });
    const show = () =>
      systemctl(f, host, [...PROBE, UNIT])
        .stdout.trim()
        .split("\n")
        .join(" ");
    const at = (ms: number) => {
      now = Date.UTC(2026, 10, 23, 12, 0, 0) + ms;
      return show();
    };
    expect(at(1000)).toBe(
      "Result=success NRestarts=0 ExecMainCode=0 ExecMainStatus=0 ActiveState=active SubState=running",
    );
    expect(at(3000)).toBe(
      "Result=exit-code NRestarts=0 ExecMainCode=1 ExecMainStatus=3 ActiveState=activating SubState=auto-restart",
    );
    expect(at(7500)).toBe(
      "Result=success NRestarts=1 ExecMainCode=0 ExecMainStatus=0 ActiveState=active SubState=running",
    );
    expect(at(7 * 10 + 70_000 + 3000)).toContain(
      "NRestarts=10 ExecMainCode=1 ExecMainStatus=3 ActiveState=activating",
    );
    // NixGuard's restart: NRestarts back to 0, the loop goes on from now.
    expect(systemctl(f, host, ["restart", UNIT]).code).toBe(0);
    expect(show()).toContain("NRestarts=0");
    expect(at(7 * 10 + 70_000 + 3000 + 7000 + 3000)).toContain(
      "NRestarts=1 ExecMainCode=1 ExecMainStatus=3 ActiveState=activating",
    );
    f.applyDeploy(host);
    expect(show()).toBe(
      "Result=success NRestarts=0 ExecMainCode=0 ExecMainStatus=0 ActiveState=active SubState=running",
    );
  });

  it("a restart of a unit whose stop hangs never returns and leaves it deactivating with its job", () => {
    const f = fleet();
    const host = f.host("mastodon")!;
    f.inject({ kind: "hung-stop", host: "mastodon", unit: UNIT });
    const r = systemctl(f, host, ["restart", UNIT]);
    expect(r.hang).toBe(true);
    const shown = systemctl(f, host, ["show", "-p", "ActiveState,SubState,Job", UNIT]).stdout;
    expect(shown).toMatch(/^ActiveState=deactivating\nSubState=stop\nJob=\d+\n$/);
    // A second restart merges into the job: same job, still hanging.
    expect(systemctl(f, host, ["restart", UNIT]).hang).toBe(true);
    expect(systemctl(f, host, ["show", "-p", "ActiveState,SubState,Job", UNIT]).stdout).toBe(shown);
  });

  it("refuses a crash loop of a oneshot or a timer", () => {
    const f = fleet();
    expect(() =>
      f.inject({ kind: "crash-loop", host: "mastodon", unit: "mastodon-init-db.service" }),
    ).toThrow(/long-running service/);
  });
});
