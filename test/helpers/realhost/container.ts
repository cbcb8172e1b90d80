import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { descendants } from "../sshd.js";
import { killTree } from "./processes.js";

export interface Bind {
  source: string;
  target: string;
  readOnly?: boolean;
}

export interface ContainerOptions {
  rootfs: string;
  machine: string;
  hostname: string;
  netnsPath: string;
  binds: Bind[];
  /** nspawn's own output (not the container's console) is appended here. */
  logFile: string;
}

/** The systemd-nspawn command line booting one host (see ../../../shared realhost recipe). */
export function nspawnArgv(o: ContainerOptions): string[] {
  return [
    "-D",
    o.rootfs,
    "--boot",
    "--register=no",
    "--keep-unit",
    "-M",
    o.machine,
    `--hostname=${o.hostname}`,
    "--console=passive",
    `--network-namespace-path=${o.netnsPath}`,
    // Changes go to a tmpfs: the cached tree stays clean and every boot starts from it.
    "--volatile=overlay",
    ...o.binds.map((b) => `${b.readOnly ? "--bind-ro" : "--bind"}=${b.source}:${b.target}`),
  ];
}

/** systemd-nspawn's exit status when the container asked for a reboot. */
const REBOOT_EXIT = 133;

/**
 * One booted container: systemd as PID 1 under a systemd-nspawn this process started. A reboot
 * inside (`systemctl reboot`) ends nspawn with status 133; it is started again at once, as
 * systemd-nspawn@.service does. `boots` counts the starts.
 */
export class Container {
  private child: ChildProcess | undefined;
  private stopping = false;
  boots = 0;
  private exitWaiters: (() => void)[] = [];

  constructor(private readonly opts: ContainerOptions) {}

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** The container's init (systemd) as seen from here. */
  initPid(): number | undefined {
    const pid = this.pid;
    return pid === undefined ? undefined : descendants(pid)[0];
  }

  start(): void {
    if (this.pid !== undefined) throw new Error(`${this.opts.machine} is running already`);
    this.stopping = false;
    const log = openSync(this.opts.logFile, "a");
    const child = spawn("systemd-nspawn", nspawnArgv(this.opts), { stdio: ["ignore", log, log] });
    closeSync(log);
    this.child = child;
    this.boots++;
    child.once("exit", (code) => {
      if (this.child === child) this.child = undefined;
      if (code === REBOOT_EXIT && !this.stopping) this.start();
      else for (const w of this.exitWaiters.splice(0)) w();
    });
  }

  /** Resolves when nspawn exited for good (not on a reboot). */
  exited(): Promise<void> {
    if (this.pid === undefined) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /** Powers the container off (SIGTERM to nspawn); SIGKILL after `graceMs`. */
  async stop(graceMs = 20_000): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    this.stopping = true;
    const done = this.exited();
    process.kill(pid, "SIGTERM");
    const timer = setTimeout(() => this.kill(), graceMs);
    await done;
    clearTimeout(timer);
  }

  /** Synchronous, for exit handlers: SIGKILL the container's processes and nspawn. */
  kill(): void {
    const pid = this.pid;
    if (pid === undefined) return;
    this.stopping = true;
    killTree(pid);
  }
}
