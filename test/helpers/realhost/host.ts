import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SshSpec } from "../../../src/probes/transports/ssh.js";
import { SshTransport } from "../../../src/probes/transports/ssh.js";
import { Container } from "./container.js";
import { type Generation, GUEST_DIR, type SystemSpec, setProfile, writeSystem } from "./generation.js";
import { destroyNetwork } from "./network.js";
import { type Disposable, track, untrack } from "./registry.js";
import { ensureRootfs } from "./rootfs.js";
import { allocateSlot } from "./slots.js";
import { type ExecResult, sshExec } from "./ssh-exec.js";

export interface BootOptions {
  /** Host name (the container's hostname, part of its store paths). Default `host<slot>`. */
  name?: string;
  /** The first system, active at boot (default: no units of its own). */
  system?: SystemSpec;
  /** Deadline for sshd to answer and systemd to finish starting up. */
  bootTimeoutMs?: number;
}

export const DEFAULT_BOOT_TIMEOUT_MS = 90_000;

function keygen(path: string): string {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "nixguard-realhost", "-f", path]);
  const [type, key] = readFileSync(`${path}.pub`, "utf8").trim().split(" ");
  return `${type} ${key}`;
}

/**
 * A real systemd host in a container (see index.ts for the guide). Reached at `address` port 22
 * with `identityFile`, its host key pinned in `knownHostsFile`.
 */
export class RealHost implements Disposable {
  readonly generations: Generation[] = [];
  private destroyed = false;
  private readonly generationListeners = new Set<(g: Generation) => void>();

  private constructor(
    readonly name: string,
    readonly machine: string,
    readonly slot: number,
    readonly dir: string,
    readonly netns: string,
    readonly rootLink: string,
    readonly rootAddress: string,
    readonly address: string,
    readonly identityFile: string,
    readonly knownHostsFile: string,
    private readonly container: Container,
    private readonly bootTimeoutMs: number,
  ) {}

  static async boot(opts: BootOptions = {}): Promise<RealHost> {
    const rootfs = await ensureRootfs();
    const s = await allocateSlot();
    const name = opts.name ?? `host${s.slot}`;
    const dir = s.dir;
    let host: RealHost | undefined;
    try {
      rmSync(dir, { recursive: true, force: true });
      for (const d of ["nix/store", "nix/var/nix/profiles", "ssh", "run"])
        mkdirSync(join(dir, d), { recursive: true });
      chmodSync(dir, 0o755);
      const hostKey = keygen(join(dir, "ssh/ssh_host_ed25519_key"));
      const clientKey = keygen(join(dir, "client_ed25519"));
      writeFileSync(join(dir, "ssh/authorized_keys"), `${clientKey}\n`);
      writeFileSync(join(dir, "known_hosts"), `${s.network.address} ${hostKey}\n`);
      // systemd takes the hostname from /etc/hostname (the tree's says the build machine's).
      writeFileSync(join(dir, "hostname"), `${name}\n`);
      writeFileSync(
        join(dir, "sshd.conf"),
        [
          "HostKey /etc/ssh/nixguard/ssh_host_ed25519_key",
          "AuthorizedKeysFile /etc/ssh/nixguard/authorized_keys",
          "PasswordAuthentication no",
          "PermitRootLogin prohibit-password",
          "MaxSessions 100",
          "MaxStartups 100",
          "",
        ].join("\n"),
      );
      const container = new Container({
        rootfs,
        machine: s.machine,
        hostname: name,
        netnsPath: s.network.netnsPath,
        logFile: join(dir, "nspawn.log"),
        binds: [
          { source: join(dir, "nix"), target: "/nix" },
          { source: join(dir, "hostname"), target: "/etc/hostname", readOnly: true },
          { source: join(dir, "ssh"), target: "/etc/ssh/nixguard", readOnly: true },
          { source: join(dir, "sshd.conf"), target: "/etc/ssh/sshd_config.d/nixguard.conf", readOnly: true },
          {
            source: join(GUEST_DIR, "nixos-activation"),
            target: "/etc/systemd/system-generators/nixos-activation",
            readOnly: true,
          },
        ],
      });
      host = new RealHost(
        name,
        s.machine,
        s.slot,
        dir,
        s.network.netns,
        s.network.rootLink,
        s.network.rootAddress,
        s.network.address,
        join(dir, "client_ed25519"),
        join(dir, "known_hosts"),
        container,
        opts.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS,
      );
      track(host);
      const first = host.addGeneration(opts.system ?? { units: {} });
      setProfile(join(dir, "nix"), first.toplevel);
      container.start();
      await host.waitReady();
      return host;
    } catch (e) {
      if (host) await host.destroy();
      else {
        destroyNetwork(s.network.netns, s.network.rootLink);
        rmSync(dir, { recursive: true, force: true });
      }
      throw e;
    }
  }

  /** A transport spec for NixGuard's ssh transport (kind ssh, port 22, this host's keys). */
  spec(overrides: Partial<SshSpec> = {}): SshSpec {
    return {
      kind: "ssh",
      command: "ssh",
      address: this.address,
      user: "root",
      port: 22,
      identityFile: this.identityFile,
      knownHostsFile: this.knownHostsFile,
      connectTimeoutMs: 5000,
      controlPersistMs: 60_000,
      ...overrides,
    };
  }

  /** NixGuard's own ssh transport to this host; its control socket lives in the host's directory. */
  transport(overrides: Partial<SshSpec> = {}): SshTransport {
    return new SshTransport(this.spec(overrides), { runtimeDir: join(this.dir, "run") });
  }

  /**
   * Runs a shell line on the host over ssh (a fresh connection each time). ssh is killed at
   * `timeoutMs` or when `signal` aborts (exitCode null): the remote session dies with it.
   */
  exec(command: string, timeoutMs = 30_000, signal?: AbortSignal): Promise<ExecResult> {
    return sshExec(this, command, timeoutMs, signal);
  }

  /** Like exec, but rejects unless the command exits 0; resolves to its stdout. */
  async run(command: string, timeoutMs = 30_000): Promise<string> {
    const r = await this.exec(command, timeoutMs);
    if (r.exitCode !== 0) {
      throw new Error(`${this.name}: \`${command}\` exited ${r.exitCode}: ${r.stderr.trim().slice(-1000)}`);
    }
    return r.stdout;
  }

  /** `readlink /run/current-system` on the host. */
  async currentSystem(): Promise<string> {
    return (await this.run("readlink /run/current-system")).trim();
  }

  /**
   * Writes a new system into the host's store (visible inside at once); it becomes active only when
   * switched to (`switchTo`, or the nixops4 stand-in).
   */
  addGeneration(spec: SystemSpec): Generation {
    const g = writeSystem(join(this.dir, "nix"), this.name, this.generations.length + 1, spec);
    this.generations.push(g);
    for (const l of this.generationListeners) l(g);
    return g;
  }

  /** Calls `listener` with every generation added from now on; returns what stops that. */
  onGeneration(listener: (g: Generation) => void): () => void {
    this.generationListeners.add(listener);
    return () => this.generationListeners.delete(listener);
  }

  /** `<toplevel>/bin/apply ACTION` over ssh, as nixops4-nixos runs it; `signal` cuts the session. */
  switchTo(
    g: Generation,
    action: "switch" | "boot" | "test" = "switch",
    timeoutMs = 120_000,
    signal?: AbortSignal,
  ): Promise<ExecResult> {
    return this.exec(`${g.toplevel}/bin/apply ${action}`, timeoutMs, signal);
  }

  /**
   * Polls (no fixed sleep) until sshd answers and systemd has finished starting up
   * (`is-system-running --wait` → running or degraded), or the boot deadline passes.
   */
  async waitReady(timeoutMs = this.bootTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      if (this.container.pid === undefined) {
        throw new Error(`${this.name}: systemd-nspawn exited during boot: ${this.nspawnLog()}`);
      }
      const left = deadline - Date.now();
      const r = await this.exec("systemctl is-system-running --wait", Math.max(1000, left));
      const state = r.stdout.trim();
      if (state === "running" || state === "degraded") return;
      last = `${state} ${r.stderr.trim()}`.trim();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${this.name}: not up within ${timeoutMs} ms (last: ${last || "no answer"})`);
  }

  /** `systemctl reboot` inside; resolves when the host is up again (a new boot). */
  async reboot(): Promise<void> {
    const before = this.container.boots;
    await this.exec("systemctl reboot", 10_000);
    const deadline = Date.now() + this.bootTimeoutMs;
    while (this.container.boots === before) {
      if (Date.now() > deadline) throw new Error(`${this.name}: did not reboot: ${this.nspawnLog()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await this.waitReady();
  }

  /** Powers the container off (the host is down: ssh times out or is refused). */
  async stop(): Promise<void> {
    await this.container.stop();
  }

  /** Boots it again after stop(), from the profile's system, and waits until it is up. */
  async start(): Promise<void> {
    this.container.start();
    await this.waitReady();
  }

  /** Counts nspawn starts: 1 after boot, +1 per reboot or start. */
  get boots(): number {
    return this.container.boots;
  }

  /** PIDs of systemd-nspawn and the container's init while running. */
  pids(): { nspawn?: number; init?: number } {
    const nspawn = this.container.pid;
    const init = this.container.initPid();
    return { ...(nspawn !== undefined ? { nspawn } : {}), ...(init !== undefined ? { init } : {}) };
  }

  nspawnLog(): string {
    try {
      return readFileSync(join(this.dir, "nspawn.log"), "utf8").slice(-2000);
    } catch {
      return "";
    }
  }

  /** Powers off and removes everything of the host: container, namespace, link, directory. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await this.transport()
      .close()
      .catch(() => {});
    await this.container.stop(10_000);
    this.disposeSync();
  }

  disposeSync(): void {
    this.destroyed = true;
    this.container.kill();
    destroyNetwork(this.netns, this.rootLink);
    rmSync(this.dir, { recursive: true, force: true });
    untrack(this);
  }
}

export const bootHost = (opts?: BootOptions) => RealHost.boot(opts);
