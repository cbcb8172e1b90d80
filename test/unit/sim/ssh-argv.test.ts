import { describe, expect, it } from "vitest";
import { parseSshArgv } from "../../../src/sim/ssh-argv.js";

const ok = (argv: string[]) => {
  const r = parseSshArgv(argv);
  if (!r.ok) throw new Error(r.stderr);
  return r.inv;
};

describe("ssh argv parsing (OpenSSH getopt rules)", () => {
  it("reads the argv a production transport builds", () => {
    const inv = ok([
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=10",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "UserKnownHostsFile=/etc/nixguard/known_hosts",
      "-o",
      "ControlMaster=auto",
      "-o",
      "ControlPath=/run/nixguard/%C",
      "-o",
      "ControlPersist=300",
      "-i",
      "/run/key",
      "-p",
      "2222",
      "-l",
      "root",
      "127.10.0.2",
      "--",
      "systemctl show 'a.service'; echo x",
    ]);
    expect(inv.host).toBe("127.10.0.2");
    expect(inv.user).toBe("root");
    expect(inv.port).toBe(2222);
    expect(inv.identityFiles).toEqual(["/run/key"]);
    expect(inv.options.get("connecttimeout")).toBe("10");
    expect(inv.options.get("controlpath")).toBe("/run/nixguard/%C");
    expect(inv.command).toBe("systemctl show 'a.service'; echo x");
  });

  it("handles attached values, combined flags, user@host, options after the destination", () => {
    const inv = ok(["-Tq", "-p22", "-oBatchMode=yes", "admin@h1", "-o", "Port=99", "uptime", "-p", "x"]);
    expect(inv.flags).toEqual(new Set(["T", "q"]));
    expect([inv.user, inv.host, inv.port]).toEqual(["admin", "h1", 22]);
    expect(inv.options.get("batchmode")).toBe("yes");
    // After the first command word nothing is an option any more.
    expect(inv.command).toBe("uptime -p x");
  });

  it("lets the first value win and -l beat user@ (ssh's first-match rule)", () => {
    const inv = ok(["-l", "first", "-o", "User=second", "third@h", "cmd"]);
    expect(inv.user).toBe("first");
    expect(ok(["-o", "Port=1", "-o", "Port=2", "h", "x"]).port).toBe(1);
  });

  it("parses ssh:// URIs and joins several command words with spaces", () => {
    const inv = ok(["ssh://root@[::1]:2200", "echo", "a", "b"]);
    expect([inv.user, inv.host, inv.port, inv.command]).toEqual(["root", "::1", 2200, "echo a b"]);
  });

  it("refuses unknown options and missing arguments like ssh (exit 255, usage)", () => {
    const bad = parseSshArgv(["-Z", "h"]);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.stderr).toMatch(/^unknown option -- Z\nusage: ssh/);
    const missing = parseSshArgv(["h", "-p"]);
    expect(missing.ok).toBe(false);
    if (!missing.ok)
      expect([missing.code, missing.stderr.split("\n")[0]]).toEqual([
        255,
        "option requires an argument -- p",
      ]);
  });
});
