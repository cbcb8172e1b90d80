import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.js";
import { createRedis } from "../../../src/redis/connection.js";
import { startEmbeddedRedis } from "../../../src/redis/embedded.js";
import { waitFor } from "../../helpers/fake-nixops4.js";

const dirs: string[] = [];
const stateDir = () => {
  const d = mkdtempSync(join(tmpdir(), "ng-state-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
/** Running and not a zombie. */
const alive = (pid: number) => {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

describe("startEmbeddedRedis", () => {
  it("serves on a private unix socket with AOF under the state dir, and keeps data across restarts", async () => {
    const dir = stateDir();
    const r1 = await startEmbeddedRedis({ stateDir: dir, logger: silentLogger() });
    expect(r1.url).toBe(`unix://${dir}/redis/redis.sock`);
    expect(statSync(join(dir, "redis")).mode & 0o777).toBe(0o700);
    const c1 = createRedis(r1.url, { role: "client" });
    await c1.set("k", "v");
    c1.disconnect();
    await r1.stop();
    expect(alive(r1.pid)).toBe(false);
    expect(existsSync(join(dir, "redis", "appendonlydir"))).toBe(true);
    const r2 = await startEmbeddedRedis({ stateDir: dir, logger: silentLogger() });
    const c2 = createRedis(r2.url, { role: "client" });
    expect(await c2.get("k")).toBe("v");
    c2.disconnect();
    await r2.stop();
  });

  it("a redis-server that dies is restarted on the same socket with its data; status counts it", async () => {
    const dir = stateDir();
    const r = await startEmbeddedRedis({ stateDir: dir, logger: silentLogger(), restartDelayMs: 50 });
    const c = createRedis(r.url, { role: "client" });
    c.on("error", () => {});
    try {
      await c.set("k", "v");
      // appendfsync everysec: written to the AOF within a second
      await new Promise((res) => setTimeout(res, 1_500));
      const first = r.pid;
      process.kill(first, "SIGKILL");
      expect(await waitFor(() => r.status().restarts === 1 && r.status().state === "running", 15_000)).toBe(
        true,
      );
      expect(r.pid).not.toBe(first);
      expect(alive(r.pid)).toBe(true);
      expect(await c.get("k")).toBe("v");
      expect(r.status()).toMatchObject({
        state: "running",
        restarts: 1,
        lastExit: expect.stringMatching(/SIGKILL/),
      });
    } finally {
      c.disconnect();
      await r.stop();
    }
    expect(r.status().state).toBe("stopped");
  });

  it("one that keeps dying is given up on: onGiveUp (the manager exits 69)", async () => {
    const dir = stateDir();
    const gaveUp: Error[] = [];
    const r = await startEmbeddedRedis({
      stateDir: dir,
      logger: silentLogger(),
      restartDelayMs: 50,
      maxRestarts: 1,
      onGiveUp: (e) => gaveUp.push(e),
    });
    try {
      process.kill(r.pid, "SIGKILL");
      expect(await waitFor(() => r.status().restarts === 1 && r.status().state === "running", 15_000)).toBe(
        true,
      );
      process.kill(r.pid, "SIGKILL");
      expect(await waitFor(() => gaveUp.length === 1, 15_000)).toBe(true);
      expect(r.status().state).toBe("given-up");
      expect(gaveUp[0]).toMatchObject({ code: "REDIS_UNAVAILABLE" });
    } finally {
      await r.stop();
    }
  });

  it("without redis-server on PATH: REDIS_NOT_INSTALLED naming both fixes", async () => {
    const err = await startEmbeddedRedis({
      stateDir: stateDir(),
      logger: silentLogger(),
      env: { PATH: "/nonexistent" },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "REDIS_NOT_INSTALLED" });
    expect((err as Error).message).toMatch(/install redis-server/);
    expect((err as Error).message).toMatch(/set\s+redis\.url/);
  });

  it("goes down with a SIGKILLed owner", async () => {
    const dir = stateDir();
    const script = `
      import { startEmbeddedRedis } from ${JSON.stringify(join(process.cwd(), "src/redis/embedded.ts"))};
      import { silentLogger } from ${JSON.stringify(join(process.cwd(), "src/log.ts"))};
      const r = await startEmbeddedRedis({ stateDir: ${JSON.stringify(dir)}, logger: silentLogger() });
      process.stdout.write("pid " + r.pid + "\\n");
      setInterval(() => {}, 1 << 30);`;
    const owner = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const pid = await new Promise<number>((resolve) =>
        owner.stdout?.on("data", (b: Buffer) => {
          const m = /pid (\d+)/.exec(b.toString());
          if (m) resolve(Number(m[1]));
        }),
      );
      expect(alive(pid)).toBe(true);
      owner.kill("SIGKILL");
      expect(await waitFor(() => !alive(pid), 5_000)).toBe(true);
    } finally {
      owner.kill("SIGKILL");
    }
  });
});
