import { createHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { TransportSpec } from "../../config/desired.js";
import { absolutePath, hostAddress, sshUser } from "../../config/grammar.js";
import { CommandError, NixGuardError, ProbeError } from "../../errors.js";
import type { Abortable } from "../cancel.js";
import { buildProbeCommand, buildRestartCommand } from "../systemd/command.js";
import {
  buildListGenerationsCommand,
  buildSwitchCommand,
  type GenerationListing,
  parseGenerations,
} from "../systemd/generations.js";
import { parseProbeOutput } from "../systemd/parse.js";
import type { HostFacts, Transport } from "../types.js";
import { CAN_RESTART } from "./capabilities.js";
import { runCommand, stderrTail } from "./run.js";
import { type SessionResult, SshSession, SshSessionPool, sessionStderr } from "./ssh-session.js";

/** Same cap as the per-probe path (run.ts): a remote flooding output is an error, not an OOM. */
const SESSION_MAX_BUFFER = 4 * 1024 * 1024;

export type SshSpec = Extract<TransportSpec, { kind: "ssh" }>;

export interface SshTransportOptions {
  runtimeDir: string;
  /** Overrides spec.command (tests, the simulator's fake ssh). */
  sshCommand?: string;
}

// sun_path is 108 bytes; ssh creates the master socket as PATH.XXXXXXXXXXXXXXXX, then renames it.
const SUN_PATH_MAX = 107 - 17;

const seconds = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

/**
 * ServerAliveInterval. A ControlMaster whose peer vanished hangs every probe sent over it until
 * it is noticed dead: within ~3 × 5 s. A persistent session needs no such watch: a request on a
 * dead one times out, which kills the session, and the next request opens a new one. Its
 * keep-alives only cost (both ends wake per keep-alive: at 5 s, six per host per 30 s probe
 * were most of the session's CPU at 1,000 hosts, bench/ssh-capacity.ts); at 60 s none is sent
 * while probes come more often, since any traffic from the server resets ssh's timer.
 */
const MASTER_ALIVE_INTERVAL_S = 5;
const SESSION_ALIVE_INTERVAL_S = 60;

function check(problem: string | undefined, what: string, value: string): void {
  if (problem) throw new NixGuardError("UNSAFE_VALUE", `ssh ${what} ${JSON.stringify(value)}: ${problem}`);
}

/** Control socket path: one master per distinct connection setting, so a reload never reuses a stale one. */
export function controlPathFor(spec: SshSpec, runtimeDir: string, command: string): string {
  const id = createHash("sha256")
    .update(
      JSON.stringify([command, spec.address, spec.user, spec.port, spec.identityFile, spec.knownHostsFile]),
    )
    .digest("hex")
    .slice(0, 20);
  const path = join(runtimeDir, `ssh-${id}`);
  if (Buffer.byteLength(path) > SUN_PATH_MAX) {
    throw new NixGuardError(
      "UNSAFE_VALUE",
      `ssh control socket path ${path} is too long for a unix socket (max ${SUN_PATH_MAX} bytes): use a shorter runtime directory`,
    );
  }
  return path;
}

/**
 * The ssh options, built only from validated values. Everything is `-o KEY=VALUE` or a fixed flag;
 * the destination follows `--` so nothing after it is read as an option.
 */
export function sshArgs(spec: SshSpec, controlPath: string | null): string[] {
  check(hostAddress(spec.address), "address", spec.address);
  check(sshUser(spec.user), "user", spec.user);
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) {
    throw new NixGuardError("UNSAFE_VALUE", `ssh port ${spec.port} out of range`);
  }
  const args = [
    "-T",
    "-o",
    "BatchMode=yes",
    "-o",
    `ConnectTimeout=${seconds(spec.connectTimeoutMs)}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "UpdateHostKeys=no",
    "-o",
    "CheckHostIP=no",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ClearAllForwardings=yes",
    // null: a persistent session (ssh-session.ts) is its own long-lived connection, no master.
    ...(controlPath === null
      ? ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
      : [
          "-o",
          "ControlMaster=auto",
          "-o",
          `ControlPath=${controlPath}`,
          "-o",
          `ControlPersist=${seconds(spec.controlPersistMs)}`,
        ]),
    "-o",
    `ServerAliveInterval=${controlPath === null ? SESSION_ALIVE_INTERVAL_S : MASTER_ALIVE_INTERVAL_S}`,
    "-o",
    "ServerAliveCountMax=3",
  ];
  if (spec.knownHostsFile) {
    check(absolutePath(spec.knownHostsFile), "knownHostsFile", spec.knownHostsFile);
    // The configured file is the only authority on host keys.
    args.push("-o", `UserKnownHostsFile=${spec.knownHostsFile}`, "-o", "GlobalKnownHostsFile=/dev/null");
  }
  if (spec.identityFile) {
    check(absolutePath(spec.identityFile), "identityFile", spec.identityFile);
    args.push("-o", `IdentityFile=${spec.identityFile}`, "-o", "IdentitiesOnly=yes");
  }
  args.push("-p", String(spec.port), "-l", spec.user);
  return args;
}

/** Classifies an ssh failure (exit 255) from its stderr: OpenSSH has no machine-readable errors. */
export function sshFailure(stderr: string, address: string): ProbeError {
  const tail = stderrTail(stderr);
  const last =
    tail
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .at(-1) ?? "no error output";
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED/.test(tail)) {
    return new ProbeError(
      "HOST_KEY_MISMATCH",
      `${address}: host key does not match known_hosts (refused; if the host was reinstalled, update known_hosts)`,
    );
  }
  if (/Host key verification failed|host key is known|No .* host key is known/.test(tail)) {
    return new ProbeError("HOST_KEY_MISMATCH", `${address}: host key not in known_hosts (refused): ${last}`);
  }
  if (/Permission denied/.test(tail)) {
    return new ProbeError("PROBE_UNREACHABLE", `${address}: ssh authentication failed: ${last}`);
  }
  return new ProbeError("PROBE_UNREACHABLE", `${address}: ${last}`);
}

export class SshTransport implements Transport {
  readonly kind = "ssh" as const;
  readonly canRestart = CAN_RESTART.ssh;
  private readonly command: string;
  private readonly controlPath: string;
  private readonly args: string[];
  /** Set when spec.session is "persistent": requests go over long-lived sessions, no spawn each. */
  private readonly sessions: SshSessionPool | undefined;

  constructor(
    private readonly spec: SshSpec,
    private readonly opts: SshTransportOptions,
  ) {
    this.command = opts.sshCommand ?? spec.command;
    this.controlPath = controlPathFor(spec, opts.runtimeDir, this.command);
    this.args = sshArgs(spec, this.controlPath);
    if (spec.session === "persistent") {
      const sessionArgs = sshArgs(spec, null);
      this.sessions = new SshSessionPool(
        () => new SshSession(this.command, sessionArgs, spec.address, SESSION_MAX_BUFFER),
      );
    }
  }

  /** The argv (without the ssh command) that runs `remote` on the host. */
  argv(remote: string): string[] {
    return [...this.args, "--", this.spec.address, remote];
  }

  /** PIDs of the persistent sessions' ssh processes (empty in per-probe mode). */
  sessionPids(): number[] {
    return this.sessions?.pids() ?? [];
  }

  private ensureRuntimeDir(): void {
    mkdirSync(this.opts.runtimeDir, { recursive: true, mode: 0o700 });
  }

  /**
   * Runs a line on the host: its output and exit status; ssh's own failures as ProbeError.
   * `isolate` false only for lines that cannot change a shell's state (SshSession.run).
   */
  private async exec(
    remote: string,
    signal: Abortable,
    isolate = true,
  ): Promise<SessionResult & { argv: string[] }> {
    if (this.sessions) {
      try {
        return {
          ...(await this.sessions.run(remote, signal, isolate)),
          argv: [this.command, ...this.argv(remote)],
        };
      } catch (e) {
        const stderr = sessionStderr(e);
        if (stderr !== undefined && /\S/.test(stderr)) throw sshFailure(stderr, this.spec.address);
        throw e;
      }
    }
    this.ensureRuntimeDir();
    const argv = this.argv(remote);
    const r = await runCommand(this.command, argv, { signal });
    if (r.exitCode === 255) throw sshFailure(r.stderr, this.spec.address);
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, argv: [this.command, ...argv] };
  }

  async fetch(units: readonly string[], signal: Abortable): Promise<HostFacts> {
    // The probe line runs only programs and echo (command.ts): a persistent session runs it in its
    // shell without a subshell of its own.
    const r = await this.exec(buildProbeCommand(units), signal, false);
    try {
      return parseProbeOutput(r.stdout, units);
    } catch (e) {
      if (r.exitCode !== 0 && e instanceof ProbeError && e.code === "PROBE_PARSE") {
        throw new ProbeError(
          "PROBE_PARSE",
          `${this.spec.address}: remote probe exited ${r.exitCode}: ${stderrTail(r.stderr) || e.message}`,
          { cause: e },
        );
      }
      throw e;
    }
  }

  async restart(units: readonly string[], signal: Abortable): Promise<void> {
    await this.runRemote(buildRestartCommand(units), `systemctl restart ${units.join(" ")}`, signal);
  }

  async generations(signal: Abortable): Promise<GenerationListing> {
    return parseGenerations(await this.runRemote(buildListGenerationsCommand(), "list generations", signal));
  }

  async switchSystem(path: string, unit: string, signal: Abortable): Promise<void> {
    await this.runRemote(buildSwitchCommand(path, unit), `switch to ${path}`, signal);
  }

  /** Runs a line on the host; stdout, or CommandError carrying the remote exit status. */
  private async runRemote(remote: string, what: string, signal: Abortable): Promise<string> {
    const r = await this.exec(remote, signal);
    if (r.exitCode !== 0) {
      throw new CommandError("COMMAND_FAILED", `${this.spec.address}: ${what} exited ${r.exitCode}`, {
        argv: r.argv,
        exitCode: r.exitCode,
        stderrTail: stderrTail(r.stderr),
      });
    }
    return r.stdout;
  }

  /** Stops the shared connection (the ControlPersist master, or the persistent sessions). */
  async close(): Promise<void> {
    if (this.sessions) await this.sessions.close();
    if (!existsSync(this.controlPath)) return;
    const signal = AbortSignal.timeout(5000);
    try {
      await runCommand(this.command, [...this.args, "-O", "exit", "--", this.spec.address], { signal });
    } catch {
      // Best effort: a master that does not answer dies on its own after ControlPersist.
    }
  }
}
