import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConfigInput } from "../../src/config/schema.js";
import { type SimBin, writeSimBin } from "../../src/sim/bin.js";
import { simConfig, writeSimFlakes } from "../../src/sim/config.js";
import { SimControlClient } from "../../src/sim/control-client.js";
import { type SimHostsSpec, simLayout } from "../../src/sim/layout.js";
import { type SimServer, startSimulation } from "../../src/sim/server.js";
import { scaled } from "./fault-daemon.js";

/**
 * A simulated fleet for the fault suite: the simulator's server, its fake ssh and nixops4
 * (wrapped by an argv recorder), a flake directory, API token files and a config writer whose
 * defaults are scaled down for tests (1 s probes, 3 s leader lease, 5 s shutdown grace).
 */

export interface FaultFleet {
  dir: string;
  sim: SimServer;
  control: SimControlClient;
  bin: SimBin;
  flakeDir: string;
  /** The secrets in the token files: no log line may ever contain them. */
  tokens: { admin: string; read: string };
  adminFile: string;
  readFile: string;
  /** Writes `config.json` (or `name`) from the sim config with the test defaults, `overrides` and `mutate`. */
  writeConfig(opts?: WriteOptions): string;
  /** Every argv the wrapped ssh and nixops4 were called with, in call order. */
  argvs(): { command: "ssh" | "nixops4"; argv: string[] }[];
  /** The raw recorder file (bytes), for "never saw this value" checks. */
  argvRaw(): string;
  close(): Promise<void>;
}

export interface WriteOptions {
  name?: string;
  redisUrl?: string;
  prefix?: string;
  overrides?: Partial<Omit<ConfigInput, "deployments">>;
  mutate?: (c: ConfigInput) => void;
}

export interface FleetOptions {
  hosts?: SimHostsSpec;
  transport?: "ssh" | "exporter";
  /** Apply duration of the fake nixops4 (default 2 s). */
  applyDelayMs?: number;
}

export async function startFaultFleet(opts: FleetOptions = {}): Promise<FaultFleet> {
  const dir = mkdtempSync(join(tmpdir(), "nixguard-fault-"));
  const layout = simLayout(opts.hosts ?? "fediversity");
  const sim = await startSimulation(layout);
  const control = new SimControlClient(sim.url);
  await control.setNixops4({ delayMs: opts.applyDelayMs ?? 2_000 });
  const bin = writeSimBin(join(dir, "bin"), { controlUrl: sim.url });
  const record = join(dir, "argv.log");
  writeFileSync(record, "");
  const ssh = wrap(join(dir, "bin", "rec-ssh"), "ssh", bin.ssh, record);
  const nixops4 = wrap(join(dir, "bin", "rec-nixops4"), "nixops4", bin.nixops4, record);
  const flakeDir = join(dir, "flake");
  writeSimFlakes(layout, flakeDir);
  const secret = (k: string) => `ngfault-${k}-${randomBytes(16).toString("hex")}`;
  const tokens = { admin: secret("admin"), read: secret("read") };
  const adminFile = join(dir, "admin.token");
  const readFile = join(dir, "read.token");
  writeFileSync(adminFile, `${tokens.admin}\n`, { mode: 0o600 });
  writeFileSync(readFile, `${tokens.read}\n`, { mode: 0o600 });
  chmodSync(adminFile, 0o600);
  chmodSync(readFile, 0o600);
  const state = join(dir, "state");
  mkdirSync(state, { recursive: true, mode: 0o700 });

  return {
    dir,
    sim,
    control,
    bin,
    flakeDir,
    tokens,
    adminFile,
    readFile,
    writeConfig: (w: WriteOptions = {}) => {
      const o = w.overrides ?? {};
      const base = simConfig({
        hosts: opts.hosts ?? "fediversity",
        transport: opts.transport ?? "ssh",
        simUrl: sim.url,
        sshCommand: ssh,
        nixops4Command: nixops4,
        flakeDir,
      });
      const c: ConfigInput = {
        ...base,
        ...o,
        redis: { ...(w.redisUrl ? { url: w.redisUrl } : {}), prefix: w.prefix ?? "ngfault", ...o.redis },
        state: { dir: state, runtimeDir: join(dir, "run"), ...o.state },
        api: {
          tokens: [
            { name: "ops", file: adminFile, scope: "admin" },
            { name: "grafana", file: readFile, scope: "read" },
          ],
          rateLimit: { max: 100_000, window: "1m" },
          ...o.api,
        },
        probes: { interval: "1s", timeout: "3s", jitter: 0, failureThreshold: 2, ...o.probes },
        remediation: { settle: "2s", backoff: { initial: "1s", max: "5s" }, ...o.remediation },
        leader: { lease: "3s", renew: "1s", ...o.leader },
        // The flake lock's holder stops its apply when a renewal is not confirmed within the TTL
        // (less the stop sequence): a daemon stalled a few seconds on a loaded machine would meet
        // that rule in faults that are not about it. Fault 2 sets the short lock it needs.
        worker: { concurrency: 2, shutdownGrace: "5s", lockTtl: "30s", ...o.worker },
        nixops4: {
          ...base.nixops4,
          timeout: "30s",
          interruptGrace: "1s",
          killGrace: "1s",
          stragglerGrace: "1s",
          ...o.nixops4,
        },
        ssh: { ...base.ssh, ...o.ssh },
      };
      w.mutate?.(c);
      const file = join(dir, w.name ?? "config.json");
      writeFileSync(file, JSON.stringify(c, null, 2));
      return file;
    },
    argvs: () => parseRecords(readFileSync(record, "latin1")),
    argvRaw: () => readFileSync(record, "latin1"),
    close: async () => {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A wrapper that appends `name` and its argv to `record` (each argument as LENGTH:BYTES, so
 * newlines and NULs in a value cannot forge a record), then execs the real fake.
 */
function wrap(path: string, name: string, real: string, record: string): string {
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  writeFileSync(
    path,
    `#!/bin/bash
LC_ALL=C
__rec=${name}
for __a in "$@"; do __rec+=" \${#__a}:$__a"; done
printf '%s\\n' "$__rec" >> ${q(record)}
unset __rec __a
exec ${q(real)} "$@"
`,
    { mode: 0o755 },
  );
  chmodSync(path, 0o755);
  return path;
}

function parseRecords(text: string): { command: "ssh" | "nixops4"; argv: string[] }[] {
  const out: { command: "ssh" | "nixops4"; argv: string[] }[] = [];
  let i = 0;
  while (i < text.length) {
    const sp = text.indexOf(" ", i);
    const nl = text.indexOf("\n", i);
    const end = sp < 0 || (nl >= 0 && nl < sp) ? nl : sp;
    const command = text.slice(i, end) as "ssh" | "nixops4";
    i = end;
    const argv: string[] = [];
    while (text[i] === " ") {
      const colon = text.indexOf(":", i + 1);
      const len = Number(text.slice(i + 1, colon));
      argv.push(text.slice(colon + 1, colon + 1 + len));
      i = colon + 1 + len;
    }
    if (text[i] === "\n") i++;
    out.push({ command, argv });
  }
  return out;
}

/** fetch() against a daemon's API with a bearer token. */
export async function api(
  url: string,
  path: string,
  opts: { token?: string; method?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(`${url}${path}`, {
    method: opts.method ?? (opts.body !== undefined ? "POST" : "GET"),
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    // A hang guard: an idle machine answers in far less, a loaded one stretches it (scaled).
    signal: AbortSignal.timeout(opts.timeoutMs ?? scaled(10_000)),
  });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes (then returns the last value). */
export async function poll<T>(fn: () => Promise<T> | T, timeoutMs: number, stepMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let v: T | undefined;
    try {
      v = await fn();
    } catch {}
    if (v || Date.now() > end) return v as T;
    await sleep(stepMs);
  }
}
