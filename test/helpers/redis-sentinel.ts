import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { waitFor } from "./fake-nixops4.js";
import { freePort, startRedis, type TestRedis, untilPrinted } from "./redis.js";

/**
 * Real Redis with Sentinel on loopback: three redis-server (a master and two replicas) and three
 * Sentinels — `redis-server --sentinel`, so nothing beyond the redis-server binary is needed —
 * with a quorum of two. Short timings, so a failover takes seconds; waits derive from them.
 */
export interface SentinelTimings {
  /** `sentinel down-after-milliseconds`: a master silent this long is subjectively down. */
  downAfterMs: number;
  /** `sentinel failover-timeout`: a failed election is tried again after twice this. */
  failoverTimeoutMs: number;
}

export interface TestSentinelSet {
  masterName: string;
  timings: SentinelTimings;
  /** "127.0.0.1:PORT" of each Sentinel, as redis.sentinels.addresses takes them. */
  addresses: string[];
  servers: TestRedis[];
  /** The master's port as the Sentinels report it. */
  masterPort(): Promise<number>;
  /** SIGKILLs the current master by its PID; returns its port. */
  killMaster(): Promise<number>;
  /**
   * Subscribes to every Sentinel's +switch-master; `promoted` resolves when one announces a new
   * master in place of `fromPort`, with the time it arrived, or rejects after `timeoutMs`.
   */
  watchPromotion(
    fromPort: number,
    timeoutMs: number,
  ): Promise<{ promoted: Promise<{ port: number; at: number }> }>;
  /** Starts the servers killed so far again. */
  restartKilled(): Promise<void>;
  /** Waits until one master, two replicas in sync, all Sentinels agreeing (as before the first kill). */
  waitHealthy(timeoutMs: number): Promise<void>;
  /** How long a failover may take here: detection, and up to three elections. */
  failoverBudgetMs(): number;
  stop(): Promise<void>;
}

interface SentinelProc {
  port: number;
  child: ChildProcess;
}

async function startSentinel(
  dir: string,
  masterName: string,
  masterPort: number,
  t: SentinelTimings,
  password: string | undefined,
) {
  const port = await freePort();
  const conf = join(dir, `sentinel-${port}.conf`);
  writeFileSync(
    conf,
    [
      `port ${port}`,
      "bind 127.0.0.1",
      `dir ${dir}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${masterName} ${t.downAfterMs}`,
      `sentinel failover-timeout ${masterName} ${t.failoverTimeoutMs}`,
      `sentinel parallel-syncs ${masterName} 1`,
      ...(password ? [`sentinel auth-pass ${masterName} ${password}`] : []),
      "",
    ].join("\n"),
  );
  const child = spawn("redis-server", [conf, "--sentinel"], { stdio: ["ignore", "pipe", "pipe"] });
  child.stderr?.resume();
  await untilPrinted(child, "+monitor master");
  return { port, child };
}

function client(port: number, password?: string): Redis {
  const r = new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    ...(password ? { password } : {}),
  });
  r.on("error", () => undefined);
  return r;
}

async function ask<T>(port: number, fn: (r: Redis) => Promise<T>, password?: string): Promise<T> {
  const r = client(port, password);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

export async function startSentinelSet(
  opts: { timings?: SentinelTimings; masterName?: string; password?: string } = {},
): Promise<TestSentinelSet> {
  const timings = opts.timings ?? { downAfterMs: 1_000, failoverTimeoutMs: 2_000 };
  const masterName = opts.masterName ?? "nixguard";
  const password = opts.password;
  const auth = password ? ["--requirepass", password, "--masterauth", password] : [];
  const dir = mkdtempSync(join(tmpdir(), "nixguard-sentinel-"));
  const servers: TestRedis[] = [];
  const sentinels: SentinelProc[] = [];
  const killed: TestRedis[] = [];
  const stop = async () => {
    for (const s of sentinels) {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        await new Promise<void>((resolve) => {
          s.child.once("exit", () => resolve());
          s.child.kill("SIGTERM");
        });
      }
    }
    for (const s of servers) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  /**
   * Before anything may fail: every Sentinel names the same master, up, and knows two replicas
   * not down and the two other Sentinels (learned from INFO and hello messages), and the
   * master has both replicas in sync.
   */
  const healthy = async (): Promise<boolean> => {
    let port: number | undefined;
    for (const s of sentinels) {
      const info = await ask(
        s.port,
        (r) => r.call("SENTINEL", "MASTER", masterName) as Promise<string[]>,
      ).catch(() => [] as string[]);
      const field = (k: string) => info[info.indexOf(k) + 1] ?? "";
      if (field("flags") !== "master" || Number(field("num-other-sentinels")) !== 2) return false;
      if (port !== undefined && Number(field("port")) !== port) return false;
      port = Number(field("port"));
      const replicas = await ask(
        s.port,
        (r) => r.call("SENTINEL", "REPLICAS", masterName) as Promise<string[][]>,
      ).catch(() => [] as string[][]);
      const up = replicas.filter((r) => r[r.indexOf("flags") + 1] === "slave");
      if (up.length !== 2) return false;
    }
    if (port === undefined) return false;
    const repl = await ask(port, (r) => r.info("replication"), password).catch(() => "");
    return (repl.match(/state=online/g) ?? []).length === 2;
  };
  try {
    const master = await startRedis({ args: auth });
    servers.push(master);
    // Diskless, undelayed full sync: replicas are in step within milliseconds.
    const replicaArgs = [
      "--replicaof",
      "127.0.0.1",
      String(master.port),
      "--repl-diskless-sync-delay",
      "0",
      ...auth,
    ];
    for (let i = 0; i < 2; i++) servers.push(await startRedis({ args: replicaArgs }));
    for (let i = 0; i < 3; i++)
      sentinels.push(await startSentinel(dir, masterName, master.port, timings, password));
    if (!(await waitFor(healthy, 30_000, 100)))
      throw new Error("Sentinels did not discover the replicas and each other within 30 s");
  } catch (e) {
    await stop();
    throw e;
  }

  const masterPort = async () => {
    for (const s of sentinels) {
      const addr = await ask(s.port, (r) => r.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)).catch(
        () => undefined,
      );
      if (Array.isArray(addr)) return Number(addr[1]);
    }
    throw new Error("no Sentinel answered");
  };
  return {
    masterName,
    timings,
    addresses: sentinels.map((s) => `127.0.0.1:${s.port}`),
    servers,
    masterPort,
    killMaster: async () => {
      const port = await masterPort();
      const server = servers.find((s) => s.port === port);
      if (!server) throw new Error(`master on ${port} is not one of ours`);
      await server.kill();
      killed.push(server);
      return port;
    },
    watchPromotion: async (fromPort, timeoutMs) => {
      // Every Sentinel publishes +switch-master once the new master is chosen and promoted:
      // the first one heard is the moment. Subscribed before this returns.
      const subs = sentinels.map((s) => client(s.port));
      let settle: (r: { port: number; at: number } | Error) => void = () => undefined;
      const promoted = new Promise<{ port: number; at: number }>((resolve, reject) => {
        settle = (r) => {
          clearTimeout(timer);
          for (const c of subs) c.disconnect();
          if (r instanceof Error) reject(r);
          else resolve(r);
        };
        const timer = setTimeout(
          () => settle(new Error(`no +switch-master within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      promoted.catch(() => undefined);
      for (const r of subs) {
        r.on("message", (_channel: string, message: string) => {
          // "<name> <old-ip> <old-port> <new-ip> <new-port>"
          const [name, , oldPort, , newPort] = message.split(" ");
          if (name === masterName && Number(oldPort) === fromPort)
            settle({ port: Number(newPort), at: Date.now() });
        });
      }
      await Promise.all(subs.map((r) => r.connect().then(() => r.subscribe("+switch-master"))));
      return { promoted };
    },
    failoverBudgetMs: () => timings.downAfterMs + 3 * 2 * timings.failoverTimeoutMs + 5_000,
    restartKilled: async () => {
      // Back with its old arguments; the Sentinels turn it into a replica of the new master.
      for (const server of killed.splice(0)) await server.start();
    },
    waitHealthy: async (timeoutMs) => {
      if (!(await waitFor(healthy, timeoutMs, 100)))
        throw new Error(`Sentinel set not healthy within ${timeoutMs} ms`);
    },
    stop,
  };
}
