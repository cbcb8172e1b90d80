import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { boundedEnv, resolveCommand } from "../../../src/exec/env.js";
import { runGuarded } from "../../../src/exec/run.js";
import {
  FAKE_NIXOPS4,
  type FakeFlake,
  type FakeMode,
  makeFakeFlake,
  waitFor,
} from "../../helpers/fake-nixops4.js";

const here = dirname(fileURLToPath(import.meta.url));
let flakes: FakeFlake[] = [];
afterEach(() => {
  for (const f of flakes) f.cleanup();
  flakes = [];
});
const flake = () => {
  const f = makeFakeFlake("exec");
  flakes.push(f);
  return f;
};
const env = () => boundedEnv();

describe("runGuarded", () => {
  it("runs argv in cwd with a non-TTY stdin and only the bounded environment", async () => {
    const f = flake();
    f.control({ mode: "success" });
    const r = await runGuarded({
      command: FAKE_NIXOPS4,
      args: ["apply", "--no-interactive", "fediversity"],
      cwd: f.dir,
      env: boundedEnv({ ...process.env, SECRET_TOKEN: "s3cret", NIX_PATH: "nixpkgs=/x" }),
      killGraceMs: 500,
    }).result;
    expect(r.exitCode).toBe(0);
    const start = f.calls().find((c) => c.event === "start");
    expect(start?.argv).toEqual(["apply", "--no-interactive", "fediversity"]);
    expect(start?.cwd).toBe(f.dir);
    expect(start?.stdinIsTTY).toBe(false);
    expect(start?.env?.["NIX_PATH"]).toBe("nixpkgs=/x");
    expect(start?.env?.["SECRET_TOKEN"]).toBeUndefined();
    expect(r.stderrTail).toContain("Skipping update for resource fediversity.state");
  });

  it("reports exit codes 1 and 101", async () => {
    const f = flake();
    f.control({ mode: "fail" });
    const run = () =>
      runGuarded({ command: FAKE_NIXOPS4, args: ["apply", "x"], cwd: f.dir, env: env(), killGraceMs: 500 })
        .result;
    const failed = await run();
    expect(failed.exitCode).toBe(1);
    expect(failed.stderrTail).toContain("nixops4 error: Failed to create stateless resource x");
    f.control({ mode: "panic" });
    expect((await run()).exitCode).toBe(101);
  });

  it("times out: SIGTERM, then SIGKILL after the grace, and nothing of the group is left in /proc", async () => {
    const f = flake();
    // sh ignores SIGTERM before anything else runs (a node fake could still be starting when the
    // timeout fires); the ignored disposition is inherited by its children.
    const t0 = Date.now();
    const r = await runGuarded({
      command: "/bin/sh",
      args: ["-c", "trap '' TERM; sleep 3600 & wait"],
      cwd: f.dir,
      env: env(),
      timeoutMs: 500,
      killGraceMs: 700,
    }).result;
    const took = Date.now() - t0;
    expect(r.timedOut).toBe(true);
    expect(r.stopSignals).toEqual(["SIGTERM", "SIGKILL"]);
    expect(r.signal).toBe("SIGKILL");
    expect(took).toBeGreaterThanOrEqual(1100);
    expect(await waitFor(() => f.liveProcesses().length === 0, 1000)).toBe(true);
  });

  /** Runs the fake in `mode` and aborts it once its signal handlers are in place (it recorded its start). */
  async function stopOnceStarted(mode: FakeMode, interruptGraceMs: number, killGraceMs: number) {
    const f = flake();
    f.control({ mode });
    const ac = new AbortController();
    const p = runGuarded({
      command: FAKE_NIXOPS4,
      args: ["apply", "x"],
      cwd: f.dir,
      env: env(),
      interruptGraceMs,
      killGraceMs,
      signal: ac.signal,
    });
    await waitFor(() => f.calls().some((c) => c.event === "start"), 5000);
    ac.abort();
    return { f, r: await p.result };
  }

  it("an abort signal ends the group with SIGTERM", async () => {
    const { f, r } = await stopOnceStarted("hang", 0, 2000);
    expect(r.aborted).toBe(true);
    expect(r.stopSignals).toEqual(["SIGTERM"]);
    // Like nixops4, the fake does not handle SIGTERM: it dies by it.
    expect(r.signal).toBe("SIGTERM");
    expect(f.calls().find((c) => c.event === "end")?.signal).toBe("SIGTERM");
    expect(await waitFor(() => f.liveProcesses().length === 0, 1000)).toBe(true);
  });

  it("with an interrupt grace the stop sequence starts with SIGINT, which nixops4 handles", async () => {
    const { f, r } = await stopOnceStarted("hang", 5000, 5000);
    expect(r.stopSignals).toEqual(["SIGINT"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderrTail).toContain("nixops4 error: Interrupted");
    expect(f.calls().find((c) => c.event === "end")?.signal).toBe("SIGINT");
    expect(await waitFor(() => f.liveProcesses().length === 0, 1000)).toBe(true);
  });

  it("SIGINT not heeded: SIGTERM after the interrupt grace, SIGKILL after the kill grace", async () => {
    const { f, r } = await stopOnceStarted("hang-ignore-term", 300, 300);
    expect(r.stopSignals).toEqual(["SIGINT", "SIGTERM", "SIGKILL"]);
    expect(r.signal).toBe("SIGKILL");
    const events = f.calls().map((c) => c.event);
    expect(events.indexOf("sigint-ignored")).toBeLessThan(events.indexOf("sigterm-ignored"));
    expect(await waitFor(() => f.liveProcesses().length === 0, 1000)).toBe(true);
  });

  it("SIGINT not heeded by nixops4: SIGTERM ends it", async () => {
    const { r } = await stopOnceStarted("hang-ignore-int", 300, 5000);
    expect(r.stopSignals).toEqual(["SIGINT", "SIGTERM"]);
    expect(r.signal).toBe("SIGTERM");
  });

  /** A timeout far beyond the straggler grace: a result before it is the exit status's. */
  const runWithStraggler = (f: FakeFlake, command: string, args: string[]) =>
    runGuarded({
      command,
      args,
      cwd: f.dir,
      env: env(),
      timeoutMs: 10_000,
      killGraceMs: 500,
      stragglerGraceMs: 200,
    }).result;

  // Issue 18 item 2: the pipes stayed open while a background child held stdout, so a finished
  // apply waited for its timeout and was reported as one.
  it("a child that exits 0 leaving a straggler on its stdout succeeds; the straggler is killed after its grace", async () => {
    const f = flake();
    const r = await runWithStraggler(f, "/bin/sh", ["-c", "sleep 20 & echo applied; exit 0"]);
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(0);
    expect(r.stopSignals).toEqual([]);
    expect(r.stragglersKilled).toBe(true);
    expect(r.stdoutTail).toBe("applied\n");
    expect(await waitFor(() => f.liveProcesses().length === 0, 1000)).toBe(true);
  });

  it("the exit status is the outcome even when a straggler holds the pipes (fake nixops4 failing)", async () => {
    const f = flake();
    f.control({ mode: "fail", straggler: true });
    const r = await runWithStraggler(f, FAKE_NIXOPS4, ["apply", "x"]);
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(1);
    expect(r.stderrTail).toContain("nixops4 error:");
    expect(f.calls().some((c) => c.event === "straggler")).toBe(true);
    expect(await waitFor(() => f.liveProcesses().length === 0, 1000)).toBe(true);
  });

  it("keeps only a bounded tail of a child printing 20 MB", async () => {
    const f = flake();
    f.control({ mode: "success", spamBytes: 20 * 1024 * 1024 });
    let seen = 0;
    const r = await runGuarded({
      command: FAKE_NIXOPS4,
      args: ["apply", "x"],
      cwd: f.dir,
      env: env(),
      killGraceMs: 500,
      tailBytes: 4096,
      onStdout: (b) => {
        seen += b.length;
      },
    }).result;
    expect(seen).toBe(20 * 1024 * 1024);
    expect(Buffer.byteLength(r.stdoutTail)).toBe(4096);
  });

  it("a child never outlives a SIGKILLed parent", async () => {
    const f = flake();
    f.control({ mode: "hang-ignore-term" });
    const parent = spawn(process.execPath, ["--import", "tsx", join(here, "guarded-parent.ts"), f.dir], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        parent.stdout?.on("data", (b: Buffer) => {
          if (b.toString().includes("started")) resolve();
        });
        parent.once("exit", () => reject(new Error("parent exited early")));
      });
      expect(await waitFor(() => f.calls().some((c) => c.event === "grandchild"), 5000)).toBe(true);
      expect(f.liveProcesses().length).toBeGreaterThanOrEqual(3); // guard, fake, sleep
      const killedAt = Date.now();
      parent.kill("SIGKILL");
      // The fake ignores SIGTERM: only the guard's SIGKILL after its 1 s grace ends it.
      expect(await waitFor(() => f.liveProcesses().length === 0, 5000)).toBe(true);
      expect(Date.now() - killedAt).toBeLessThan(5000);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});

describe("resolveCommand", () => {
  it("finds commands on PATH and refuses relative paths", () => {
    expect(resolveCommand("sh", process.env["PATH"])).toMatch(/^\/.*\/sh$/);
    expect(resolveCommand("no-such-nixops4", process.env["PATH"])).toBeUndefined();
    expect(resolveCommand("./nixops4", process.env["PATH"])).toBeUndefined();
    expect(resolveCommand(FAKE_NIXOPS4, undefined)).toBe(FAKE_NIXOPS4);
  });
});
