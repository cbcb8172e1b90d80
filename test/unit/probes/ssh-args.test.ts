import { describe, expect, it } from "vitest";
import { type SshSpec, sshArgs } from "../../../src/probes/transports/ssh.js";

const spec: SshSpec = {
  kind: "ssh",
  command: "ssh",
  address: "10.0.0.5",
  user: "root",
  port: 22,
  knownHostsFile: "/etc/nixguard/known_hosts",
  connectTimeoutMs: 10_000,
  controlPersistMs: 300_000,
};
const option = (args: string[], key: string) =>
  args.filter((a) => a.startsWith(`${key}=`)).map((a) => a.slice(key.length + 1));

describe("sshArgs", () => {
  it("watches a ControlMaster every 5 s and a persistent session every 60 s, with the same safety options", () => {
    const master = sshArgs(spec, "/run/nixguard/ssh-x");
    const session = sshArgs(spec, null);
    // A dead master hangs every probe until noticed; a dead session is replaced after one timeout,
    // and its keep-alives were most of its CPU at scale (bench/ssh-capacity.ts).
    expect(option(master, "ServerAliveInterval")).toEqual(["5"]);
    expect(option(session, "ServerAliveInterval")).toEqual(["60"]);
    expect(option(master, "ControlMaster")).toEqual(["auto"]);
    expect(option(session, "ControlMaster")).toEqual(["no"]);
    expect(option(session, "ControlPath")).toEqual(["none"]);
    for (const args of [master, session]) {
      expect(option(args, "BatchMode")).toEqual(["yes"]);
      expect(option(args, "StrictHostKeyChecking")).toEqual(["yes"]);
      expect(option(args, "UserKnownHostsFile")).toEqual(["/etc/nixguard/known_hosts"]);
      expect(option(args, "GlobalKnownHostsFile")).toEqual(["/dev/null"]);
      expect(option(args, "ServerAliveCountMax")).toEqual(["3"]);
    }
  });
});
