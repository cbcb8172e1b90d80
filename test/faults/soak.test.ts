import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/fault-daemon.js";

/**
 * The soak's CI version: `bench/soak.ts --minutes 3 --hosts 100` (a real daemon, random faults
 * every 10 s, Redis SIGKILLs among them). Fails when RSS grows more than 20 % between minute 1
 * and the end, open handles grow past jitter, the daemon dies or does not exit 0 on SIGTERM, or
 * a child process outlives it. The hour-long run is `npm run soak -- --minutes 60 --hosts 1000`.
 */
describe("soak (3 minutes)", () => {
  it("survives random faults without RSS growth > 20 %, handle or child process leaks", async () => {
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          join(ROOT, "bench/soak.ts"),
          "--minutes",
          "3",
          "--hosts",
          "100",
          "--fault-every",
          "10",
          "--seed",
          "7",
        ],
        { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => {
        stdout += b.toString();
      });
      child.stderr.on("data", (b: Buffer) => {
        stderr += b.toString();
      });
      child.once("exit", (code) => resolve({ code, stdout, stderr }));
    });
    const line = out.stdout.split("\n").find((l) => l.startsWith("{"));
    expect(line, out.stderr.slice(-3000)).toBeDefined();
    const r = JSON.parse(line as string);
    console.log(line);
    expect(r.problems, out.stderr.slice(-3000)).toEqual([]);
    expect(r.survived).toBe(true);
    expect(r.exitCode).toBe(0);
    expect(r.rssGrowth).toBeLessThanOrEqual(0.2);
    expect(r.orphansAfterStop).toBe(0);
    expect(r.faults).toBeGreaterThanOrEqual(15);
    expect(out.code).toBe(0);
  }, 360_000);
});
