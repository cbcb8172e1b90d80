import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A real redis-server the test starts itself: free loopback port, AOF on, own temp dir. */
export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  pid(): number | undefined;
  /** SIGKILL the server (fault injection); `start()` brings it back on the same port and AOF. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once `proc` prints `marker` on stdout (then keeps draining it); rejects if it exits first. */
export function untilPrinted(proc: ChildProcess, marker: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let out = "";
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.includes(marker)) {
        proc.stdout?.off("data", onData);
        proc.stdout?.resume();
        resolve();
      }
    };
    proc.stdout?.on("data", onData);
    proc.once("exit", (code) =>
      reject(new Error(`${proc.spawnargs[0]} exited (${code}): ${out.slice(-500)}`)),
    );
    proc.once("error", reject);
  });
}

/** `args`: more redis-server options (a replica's `--replicaof`). */
export async function startRedis(opts: { args?: string[] } = {}): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "nixguard-redis-"));
  let child: ChildProcess | undefined;

  const start = async () => {
    child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--appendonly",
        "yes",
        "--save",
        "",
        "--daemonize",
        "no",
        ...(opts.args ?? []),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    await untilPrinted(child, "Ready to accept connections");
  };
  const waitExit = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once("exit", () => resolve());
      proc.kill(signal);
    });
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    pid: () => child?.pid,
    kill: () => waitExit("SIGKILL"),
    start,
    stop: async () => {
      await waitExit("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
