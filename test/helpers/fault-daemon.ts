import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./redis.js";

/**
 * A real NixGuard daemon for the fault suite: `node --import tsx src/main.ts serve`, the same
 * code path as `tsx src/main.ts serve` but without tsx's wrapper process, so the PID we SIGKILL
 * or SIGTERM is NixGuard itself. Every line it prints (stdout and stderr) is kept, in the order
 * printed, for the assertions and for the suite-wide "no secret in any log line" audit.
 */

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const MAIN = join(ROOT, "src/main.ts");

export interface LogLine {
  /** Parsed pino line, or undefined for a non-JSON line (a stack trace, redis-server output). */
  json?: Record<string, unknown> & { msg?: string; level?: number; time?: string };
  raw: string;
  /** When we received it (ms). */
  at: number;
  stream: "stdout" | "stderr";
}

export interface Daemon {
  name: string;
  pid: number;
  child: ChildProcess;
  /** http://127.0.0.1:PORT of its API (when it has the api role). */
  url: string;
  lines: LogLine[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  alive(): boolean;
  /** Resolves with the first line (already printed or future) that matches, or rejects at the timeout. */
  waitLog(match: (l: LogLine) => boolean, timeoutMs?: number, fromIndex?: number): Promise<LogLine>;
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL if still alive and wait for the exit (idempotent; for finally blocks). */
  kill(): Promise<void>;
}

/**
 * How much slower than an idle machine this one runs now: load average per core, at least 1.
 * A busy machine gives each process a share of the cores, so CPU-bound steps (a daemon's start,
 * a probe's ssh, a pass) stretch by about that much. Read when a wait starts.
 */
export function loadFactor(): number {
  return Math.max(1, (loadavg()[0] ?? 0) / availableParallelism());
}

/**
 * An upper bound on a wait, from what it waits for: `ms` is the bound on an idle machine (the
 * configured timings that must pass plus the work in between), stretched by the load. Only for
 * bounds that catch a hang — never for a figure the test measures against a promise.
 */
export function scaled(ms: number): number {
  return Math.round(ms * loadFactor());
}

/**
 * How long a daemon may take to start: `node --import tsx` compiles NixGuard's sources, then it
 * connects to Redis and starts its parts: CPU-bound work, a few seconds on an idle 2-core machine
 * (BASE leaves room for it), stretched by the load. The start itself is awaited on its readiness
 * line ("NixGuard started"); this bound only catches a daemon that hangs, and a daemon that
 * exits fails the wait at once.
 */
const BASE_STARTUP_MS = 10_000;
export function startupBudget(): number {
  return scaled(BASE_STARTUP_MS);
}

/** Every line printed by every daemon this test file started: the secret audit reads it. */
export const ALL_LINES: LogLine[] = [];
const started: Daemon[] = [];

export interface StartOptions {
  config: string;
  name?: string;
  roles?: string;
  /** Default: a free loopback port. */
  listen?: string;
  logLevel?: string;
  env?: Record<string, string>;
  /** Wait for "NixGuard started" (default true). */
  waitStarted?: boolean;
  timeoutMs?: number;
}

export async function startDaemon(opts: StartOptions): Promise<Daemon> {
  const listen = opts.listen ?? `127.0.0.1:${await freePort()}`;
  const args = ["--import", "tsx", MAIN, "serve", "--config", opts.config, "--listen", listen];
  if (opts.roles) args.push("--roles", opts.roles);
  if (opts.logLevel) args.push("--log-level", opts.logLevel);
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...opts.env },
  });
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  const feed = (stream: "stdout" | "stderr") => {
    let buf = "";
    return (b: Buffer) => {
      buf += b.toString("utf8");
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      for (const raw of parts) {
        if (raw === "") continue;
        let json: LogLine["json"];
        if (raw.startsWith("{")) {
          try {
            json = JSON.parse(raw);
          } catch {}
        }
        const line: LogLine = { raw, at: Date.now(), stream, ...(json ? { json } : {}) };
        lines.push(line);
        ALL_LINES.push(line);
      }
      for (const w of waiters) w();
    };
  };
  child.stdout?.on("data", feed("stdout"));
  child.stderr?.on("data", feed("stderr"));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) =>
    child.once("exit", (code, signal) => {
      for (const w of waiters) w();
      r({ code, signal, at: Date.now() });
    }),
  );
  const name = opts.name ?? `nixguard-${started.length + 1}`;
  const d: Daemon = {
    name,
    pid: child.pid as number,
    child,
    url: `http://${listen}`,
    lines,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    waitLog: (match, timeoutMs = 20_000, fromIndex = 0) =>
      new Promise((resolveLine, reject) => {
        let i = fromIndex;
        const check = () => {
          for (; i < lines.length; i++) {
            if (match(lines[i] as LogLine)) {
              done();
              resolveLine(lines[i] as LogLine);
              return;
            }
          }
          if (!d.alive()) {
            done();
            reject(new Error(`${name} exited before the awaited log line:\n${tail(lines)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name}: awaited log line not seen in ${timeoutMs} ms:\n${tail(lines)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    signal: (sig) => {
      if (d.alive()) child.kill(sig);
    },
    kill: async () => {
      if (d.alive()) child.kill("SIGKILL");
      await exited;
    },
  };
  started.push(d);
  if (opts.waitStarted !== false)
    await d.waitLog((l) => l.json?.msg === "NixGuard started", opts.timeoutMs ?? startupBudget());
  return d;
}

/** SIGKILL every daemon this file started that is still alive (afterAll/finally). */
export async function killAllDaemons(): Promise<void> {
  await Promise.all(started.map((d) => d.kill()));
}

export const tail = (lines: LogLine[], n = 15) =>
  lines
    .slice(-n)
    .map((l) => l.raw.slice(0, 400))
    .join("\n");

export const msg = (text: string | RegExp) => (l: LogLine) =>
  typeof l.json?.msg === "string" && (typeof text === "string" ? l.json.msg === text : text.test(l.json.msg));

/** Lines of any daemon of this file that contain one of the secrets (should be none). */
export function secretLeaks(secrets: readonly string[]): string[] {
  return ALL_LINES.filter((l) => secrets.some((s) => l.raw.includes(s))).map((l) => l.raw);
}

/** Resident set size of a process in bytes (VmRSS) and its peak (VmHWM), from /proc. */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

/** PIDs of the live descendants of `pid` (children, grandchildren, …), from /proc. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of safeReaddir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (rest[0] === "Z") continue;
      const ppid = Number(rest[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {}
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
