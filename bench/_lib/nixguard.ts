import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import type { ConfigInput } from "../../src/config/schema.js";
import { builtEntry } from "./built.js";

/**
 * NixGuard as operators run it — `nixguard serve --config FILE` in a process of its own — so a
 * benchmark measures its CPU and memory apart from the simulator's. Redis is the embedded one
 * (no redis.url): a redis-server under `dir`, also a process of its own.
 */
export interface RunningNixGuard {
  pid: number;
  /** What ran: "dist/main.js" (the built package) or "src/main.ts (tsx)". */
  entry: string;
  url: string;
  token: string;
  /** GET with the admin token; throws on a non-2xx answer. */
  get(path: string): Promise<string>;
  stop(): Promise<void>;
}

const ROOT = resolve(import.meta.dirname, "../..");

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
  });
}

export async function startNixGuard(opts: {
  config: ConfigInput;
  dir: string;
  logLevel?: string;
  readyTimeoutMs?: number;
}): Promise<RunningNixGuard> {
  const token = randomBytes(24).toString("base64url");
  const tokenFile = join(opts.dir, "admin-token");
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const port = await freePort();
  const config: ConfigInput = {
    ...opts.config,
    state: { dir: join(opts.dir, "state"), runtimeDir: join(opts.dir, "run"), ...opts.config.state },
    api: { ...opts.config.api, listen: `127.0.0.1:${port}`, tokens: [{ file: tokenFile, scope: "admin" }] },
  };
  const file = join(opts.dir, "nixguard.json");
  writeFileSync(file, JSON.stringify(config));
  const log = createWriteStream(join(opts.dir, "nixguard.log"));
  const fromSources = process.env["NIXGUARD_BENCH_DIST"] === "0";
  const child: ChildProcess = spawn(
    process.execPath,
    [
      // Extra node flags for a profiling run, e.g. NIXGUARD_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
      ...(process.env["NIXGUARD_BENCH_NODE_ARGS"]?.split(" ").filter(Boolean) ?? []),
      // The built package, as operators run it (built.ts); NIXGUARD_BENCH_DIST=0: the sources via tsx.
      ...(fromSources
        ? ["--import", "tsx", "src/main.ts"]
        : [builtEntry(ROOT, (line) => console.error(line))]),
      "serve",
      "--config",
      file,
      "--log-level",
      opts.logLevel ?? "warn",
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const url = `http://127.0.0.1:${port}`;
  const get = async (path: string) => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${text.slice(0, 200)}`);
    return text;
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
    await new Promise<void>((r) => log.end(r));
  };
  const end = Date.now() + (opts.readyTimeoutMs ?? 120_000);
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`nixguard serve exited ${child.exitCode}; see ${opts.dir}/nixguard.log`);
    try {
      await get("/readyz");
      break;
    } catch {
      if (Date.now() > end) {
        await stop();
        throw new Error(`nixguard serve not ready; see ${opts.dir}/nixguard.log`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const entry = fromSources ? "src/main.ts (tsx)" : "dist/main.js";
  return { pid: child.pid as number, entry, url, token, get, stop };
}
