import type { Fleet } from "./fleet.js";
import type { Nixops4Sim, Step } from "./nixops4.js";
import type { RelayRequest } from "./relay.js";
import { Snippet } from "./relay.js";
import { hostShellStep } from "./remote-script.js";
import { df, loadavg, nproc, readlink } from "./render/coreutils.js";
import { nixEnv, systemdRun, systemdRunEnd } from "./render/nixos.js";
import type { CommandResult } from "./render/result.js";
import { systemctl } from "./render/systemctl.js";
import { connectHost, parseSshArgv } from "./ssh-argv.js";

/**
 * What each fake executable does, as bash snippets for its relay. Pure decisions over the
 * fleet; the HTTP plumbing is in server.ts.
 */

export const FAKE_REMOTE_COMMANDS = [
  "systemctl",
  "readlink",
  "df",
  "cat",
  "nproc",
  "nix-env",
  "systemd-run",
] as const;
export type FakeRemoteCommand = (typeof FAKE_REMOTE_COMMANDS)[number];

const HOST_KEY_CHANGED = (host: string, knownHosts: string) =>
  "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n" +
  "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n" +
  "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n" +
  "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\n" +
  "Someone could be eavesdropping on you right now (man-in-the-middle attack)!\r\n" +
  "It is also possible that a host key has just been changed.\r\n" +
  "The fingerprint for the ED25519 key sent by the remote host is\r\n" +
  "SHA256:4Vd0nV3V6J1uP0hWk3VnX2fP9a4mZc0bqkqH1pQ9m3E.\r\n" +
  "Please contact your system administrator.\r\n" +
  `Add correct host key in ${knownHosts} to get rid of this message.\r\n` +
  `Offending ED25519 key in ${knownHosts}:1\r\n` +
  `Host key for ${host} has changed and you have requested strict checking.\r\n` +
  "Host key verification failed.\r\n";

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

function durationSeconds(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

export function fakeSsh(fleet: Fleet, req: RelayRequest): string {
  const parsed = parseSshArgv(req.argv);
  const s = new Snippet();
  if (!parsed.ok) return s.err(parsed.stderr).exit(parsed.code);
  const inv = parsed.inv;
  if (inv.flags.has("V"))
    return s.err("OpenSSH_9.2p1 Debian-2+deb12u3 (nixguard-sim), OpenSSL 3.0.15 3 Sep 2024\r\n").exit(0);
  const target = connectHost(inv);
  const port = inv.port ?? 22;
  if (inv.controlCommand !== undefined) {
    // The fake keeps no master connection: every session is "fresh", as after ControlPersist ran out.
    const path = inv.options.get("controlpath") ?? "(none)";
    if (inv.controlCommand === "check" || inv.controlCommand === "exit" || inv.controlCommand === "stop")
      return s.err(`Control socket connect(${path}): No such file or directory\r\n`).exit(255);
    return s.err(`Invalid multiplex command.\r\n`).exit(255);
  }
  const host = fleet.host(target);
  if (!host) {
    if (IPV4.test(target) || target.includes(":"))
      return s.err(`ssh: connect to host ${target} port ${port}: Connection refused\r\n`).exit(255);
    return s.err(`ssh: Could not resolve hostname ${target}: Name or service not known\r\n`).exit(255);
  }
  const down = fleet.unreachable(host);
  if (down) {
    const mode = down.mode ?? "timeout";
    if (mode === "hang") return s.hang().end();
    if (mode === "refused")
      return s.err(`ssh: connect to host ${target} port ${port}: Connection refused\r\n`).exit(255);
    const wait = down.delayMs ?? (durationSeconds(inv.options.get("connecttimeout")) ?? 30) * 1000;
    return s
      .sleep(wait)
      .err(`ssh: connect to host ${target} port ${port}: Connection timed out\r\n`)
      .exit(255);
  }
  if (fleet.hostKeyChanged(host)) {
    const known = inv.options.get("userknownhostsfile") ?? "/root/.ssh/known_hosts";
    return s.err(HOST_KEY_CHANGED(target, known)).exit(255);
  }
  if (!inv.hasCommand) s.err("Pseudo-terminal will not be allocated because stdin is not a terminal.\r\n");
  const step = hostShellStep(host, inv.command);
  if (!step) return s.execRemote(host.def.name, inv.command).end();
  s.out(step.stdout).err(step.stderr);
  return step.rest === undefined ? s.exit(step.exit ?? 0) : s.execRemote(host.def.name, step.rest).end();
}

export function fakeRemote(fleet: Fleet, command: FakeRemoteCommand, req: RelayRequest): string {
  const s = new Snippet();
  const host = fleet.host(req.simHost);
  if (!host) {
    // Not started by the fake ssh: behave like the tool on a machine without systemd.
    if (command === "systemctl")
      return s
        .err(
          "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n",
        )
        .exit(1);
    return s.passthrough().end();
  }
  let r: CommandResult;
  switch (command) {
    case "systemctl":
      r = systemctl(fleet, host, req.argv);
      break;
    case "readlink":
      r = readlink(host, req.argv);
      break;
    case "df":
      r = df(host, req.argv);
      break;
    case "nproc":
      r = nproc(host);
      break;
    case "nix-env":
      r = nixEnv(host, req.argv);
      break;
    case "systemd-run":
      r = systemdRun(fleet, host, req.argv);
      break;
    case "cat":
      if (req.argv.length !== 1 || req.argv[0] !== "/proc/loadavg") return s.passthrough().end();
      r = { stdout: loadavg(host), stderr: "", code: 0 };
      break;
  }
  if (r.hang) return s.out(r.stdout).err(r.stderr).hang().end();
  if (r.resumes) return s.out(r.stdout).err(r.stderr).sleep(r.resumes.delayMs).call(r.resumes.endpoint).end();
  return s.out(r.stdout).err(r.stderr).exit(r.code);
}

/** The end of a `systemd-run --wait` of a switch (render/result.ts `resumes`): its summary and status. */
export function switchFinished(fleet: Fleet, rest: string): string {
  const r = systemdRunEnd(fleet, rest);
  return new Snippet().out(r.stdout).err(r.stderr).exit(r.code);
}

export function stepSnippet(step: Step): string {
  const s = new Snippet().err(step.stderr);
  switch (step.kind) {
    case "exit":
      return s.out(step.stdout ?? "").exit(step.code);
    case "hang":
      return s
        .out(step.stdout ?? "")
        .hang()
        .end();
    case "wait":
      return s
        .out(step.stdout ?? "")
        .sleep(step.delayMs)
        .call(`nixops4-finish/${step.finishId}`)
        .end();
  }
}

export function fakeNixops4(sim: Nixops4Sim, req: RelayRequest): string {
  if (req.argv.includes("--version") || req.argv.includes("-V"))
    return new Snippet().out("nixops4 0.1.0\n").exit(0);
  return stepSnippet(sim.begin(req.argv, req.cwd, req.pid, req.tty));
}
