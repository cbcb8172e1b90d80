import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  parseDf,
  parseLoadavg,
  parseNproc,
  parseProbeOutput,
  parseSections,
  parseSystemctlShow,
  parseTimestamp,
} from "../../../src/probes/systemd/parse.js";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/systemctl/show/${name}`, import.meta.url), "utf8");

const MIXED_UNITS = [
  "mastodon-web.service",
  "mastodon-init-db.service",
  "pixelfed-cron.timer",
  "extra.service",
  "peertube.service",
  "mastodon-sidekiq-all.service",
  "redis-mastodon.service",
  "garage.service",
  "pixelfed-data-setup.service",
  "phpfpm-pixelfed.service",
];

describe("parseSystemctlShow", () => {
  const units = parseSystemctlShow(fixture("mixed.txt"), MIXED_UNITS);

  it("reads every unit block in order, keyed by the requested name", () => {
    expect(Object.keys(units)).toEqual(MIXED_UNITS);
    expect(units["mastodon-web.service"]).toEqual({
      id: "mastodon-web.service",
      loadState: "loaded",
      activeState: "active",
      subState: "running",
      result: "success",
      nRestarts: 0,
      type: "simple",
      activeEnterTimestamp: 1763900000_000,
    });
  });

  it("reads a not-found unit with an empty timestamp", () => {
    expect(units["extra.service"]).toMatchObject({ loadState: "not-found", activeState: "inactive" });
    expect(units["extra.service"]!.activeEnterTimestamp).toBeUndefined();
  });

  it("reads a oneshot's Result and a timer without Type or NRestarts", () => {
    expect(units["mastodon-init-db.service"]).toMatchObject({
      type: "oneshot",
      result: "success",
      subState: "exited",
    });
    expect(units["pixelfed-data-setup.service"]).toMatchObject({ type: "oneshot", result: "exit-code" });
    expect(units["pixelfed-cron.timer"]).toMatchObject({ type: "", nRestarts: 0, subState: "waiting" });
  });

  it("reads activating, deactivating and reloading states", () => {
    expect(units["peertube.service"]).toMatchObject({
      activeState: "activating",
      subState: "auto-restart",
      nRestarts: 3,
    });
    expect(units["mastodon-sidekiq-all.service"]).toMatchObject({
      activeState: "deactivating",
      subState: "stop-sigterm",
    });
    expect(units["redis-mastodon.service"]).toMatchObject({ activeState: "reloading", subState: "reload" });
    expect(units["garage.service"]).toMatchObject({
      activeState: "failed",
      result: "exit-code",
      nRestarts: 5,
    });
  });

  it("keys by Id without a requested list", () => {
    expect(Object.keys(parseSystemctlShow(fixture("masked.txt")))).toEqual(["peertube.service"]);
  });

  it("matches an alias by position, not by the Id systemd reports", () => {
    const text = "Id=dbus-broker.service\nLoadState=loaded\nActiveState=active\nSubState=running\n";
    expect(parseSystemctlShow(text, ["dbus.service"])["dbus.service"]!.id).toBe("dbus-broker.service");
  });

  it("reads pretty timestamps in UTC and with a numeric offset", () => {
    const u = parseSystemctlShow(fixture("pretty-timestamps.txt"));
    expect(u["gotosocial.service"]!.activeEnterTimestamp).toBe(Date.parse("2025-11-23T10:00:00Z"));
    expect(u["garage.service"]!.activeEnterTimestamp).toBe(Date.parse("2025-11-23T10:30:05Z"));
  });

  it.each([
    ["a line without =", "Id=a.service\ngarbage\n"],
    ["a block without Id", "LoadState=loaded\nActiveState=active\nSubState=running\n"],
    [
      "a repeated property",
      "Id=a.service\nId=b.service\nLoadState=loaded\nActiveState=active\nSubState=running\n",
    ],
    [
      "a non-numeric NRestarts",
      "Id=a.service\nLoadState=loaded\nActiveState=active\nSubState=running\nNRestarts=x\n",
    ],
    [
      "an unknown time zone",
      "Id=a.service\nLoadState=loaded\nActiveState=active\nSubState=running\nActiveEnterTimestamp=Sun 2025-11-23 10:00:00 CET\n",
    ],
  ])("rejects %s", (_, text) => {
    expect(() => parseSystemctlShow(text)).toThrow(expect.objectContaining({ code: "PROBE_PARSE" }));
  });

  it("rejects fewer blocks than units requested", () => {
    expect(() => parseSystemctlShow(fixture("masked.txt"), ["a.service", "b.service"])).toThrow(
      /1 unit blocks for 2/,
    );
  });

  it("parses timestamps", () => {
    expect(parseTimestamp("")).toBeUndefined();
    expect(parseTimestamp("@0")).toBe(0);
    expect(() => parseTimestamp("yesterday")).toThrow();
  });
});

describe("parseDf", () => {
  it("reads two filesystems with df's capacity", () => {
    const d = parseDf(fixture("df-two-mounts.txt"));
    expect(d.map((x) => x.mount)).toEqual(["/", "/nix"]);
    expect(d[0]!.sizeBytes).toBe(107374182400);
    expect(d[0]!.usedFraction).toBeCloseTo(96636764160 / (96636764160 + 5368709120), 6);
    expect(d[1]!.usedFraction).toBeCloseTo(0.2, 6);
  });

  it("reports a filesystem once when / and /nix share it", () => {
    expect(parseDf(fixture("df-one-mount.txt"))).toHaveLength(1);
  });

  it("rejects a df without -P -B1 header or with odd lines", () => {
    expect(() => parseDf("Filesystem 1K-blocks Used Available Use% Mounted on\n")).toThrow(/header/);
    expect(() =>
      parseDf("Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/x 1 2 three 4% /\n"),
    ).toThrow(/unexpected line/);
  });
});

describe("loadavg and nproc", () => {
  it("reads /proc/loadavg", () => {
    expect(parseLoadavg("0.07 0.20 0.14 4/201 12199\n")).toEqual([0.07, 0.2, 0.14]);
    expect(() => parseLoadavg("0.07 0.20\n")).toThrow();
  });
  it("reads nproc", () => {
    expect(parseNproc("16\n")).toBe(16);
    expect(() => parseNproc("0\n")).toThrow();
  });
});

const STORE = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-mastodon-25.11";

function output(parts: Record<string, [string, number]>, done = true): string {
  const lines: string[] = [];
  for (const [name, [body, status]] of Object.entries(parts)) {
    lines.push(`::nixguard:begin ${name}::`);
    if (body) lines.push(body.replace(/\n$/, ""));
    lines.push(`::nixguard:end ${name} ${status}::`);
  }
  if (done) lines.push("::nixguard:done::");
  return `${lines.join("\n")}\n`;
}

describe("parseProbeOutput", () => {
  const good = {
    systemd: [fixture("masked.txt"), 0] as [string, number],
    "current-system": [STORE, 0] as [string, number],
    df: [fixture("df-two-mounts.txt"), 0] as [string, number],
    loadavg: ["1.00 2.00 3.00 1/100 42", 0] as [string, number],
    nproc: ["4", 0] as [string, number],
  };

  it("assembles host facts", () => {
    const f = parseProbeOutput(output(good), ["peertube.service"]);
    expect(f.units["peertube.service"]!.loadState).toBe("masked");
    expect(f.currentSystem).toBe(STORE);
    expect(f.disks).toHaveLength(2);
    expect(f.load).toEqual([1, 2, 3]);
    expect(f.cpus).toBe(4);
  });

  it("tolerates a missing /run/current-system and a df that found only /", () => {
    const f = parseProbeOutput(
      output({ ...good, "current-system": ["", 1], df: [fixture("df-one-mount.txt"), 1] }),
      ["peertube.service"],
    );
    expect(f.currentSystem).toBeUndefined();
    expect(f.disks).toHaveLength(1);
  });

  it("rejects truncated output, sections out of order and a failing systemctl", () => {
    expect(() => parseProbeOutput(output(good, false), ["peertube.service"])).toThrow(/truncated/);
    const { systemd, ...rest } = good;
    expect(() => parseSections(output({ ...rest, systemd }))).toThrow(/out of order/);
    expect(() => parseProbeOutput(output({ ...good, systemd: ["", 1] }), ["peertube.service"])).toThrow(
      expect.objectContaining({ code: "COMMAND_FAILED" }),
    );
  });

  it("rejects stray output between sections and a current-system that is not a store path", () => {
    expect(() => parseSections(`motd banner\n${output(good)}`)).toThrow(/outside a section/);
    expect(() =>
      parseProbeOutput(output({ ...good, "current-system": ["/etc/passwd", 0] }), ["peertube.service"]),
    ).toThrow(/current-system/);
  });
});
