import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ProbeError } from "../../../src/errors.js";
import { runCommand } from "../../../src/probes/transports/run.js";
import { descendants } from "../../helpers/sshd.js";
import { alive } from "./procs.js";

async function waitForFile(path: string, ms = 5000): Promise<string> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const text = readFileSync(path, "utf8");
      if (text.endsWith("\n")) return text;
    } catch {
      // Not written yet.
    }
    if (Date.now() > until) throw new Error(`${path} not written within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let dir: string;
const started: number[] = [];

beforeEach(() => {
  dir = mkdtempSync("/tmp/ngrun-gw-");
});

afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone (the test's point).
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

const signal = (ms = 5000) => AbortSignal.timeout(ms);

describe("runCommand (the probes' process gateway)", () => {
  it("returns stdout, stderr and a non-zero exit code without rejecting", async () => {
    const r = await runCommand("sh", ["-c", "printf 'out\\n'; printf 'err\\n' >&2; exit 3"], {
      signal: signal(),
    });
    expect(r).toEqual({
      argv: ["sh", "-c", "printf 'out\\n'; printf 'err\\n' >&2; exit 3"],
      stdout: "out\n",
      stderr: "err\n",
      exitCode: 3,
    });
  });

  it("passes argv untouched to the program, never through a shell", async () => {
    const hostile = ["$(touch pwned)", "a b", "'\"", "*", "; echo no"];
    const r = await runCommand("printf", ["%s\\n", ...hostile], { signal: signal() });
    expect(r.stdout).toBe(hostile.map((a) => `${a}\n`).join(""));
  });

  it("keeps multi-byte text intact across pipe chunks", async () => {
    // 300,000 × 3-byte characters: far more than one 64 KiB pipe read, split mid-character.
    const r = await runCommand("sh", ["-c", "yes € | head -c 900000"], { signal: signal() });
    expect(r.stdout.length).toBe(450_000);
    expect(r.stdout.replaceAll("€\n", "")).toBe("");
  });

  it("gives the child exactly the env it was given", async () => {
    const r = await runCommand("env", [], { signal: signal(), env: { PATH: "/usr/bin:/bin", ONLY: "1" } });
    expect(r.stdout.trim().split("\n").sort()).toEqual(["ONLY=1", "PATH=/usr/bin:/bin"]);
  });

  it("reports a missing program as COMMAND_NOT_FOUND", async () => {
    await expect(runCommand("/nonexistent/ssh", ["x"], { signal: signal() })).rejects.toMatchObject({
      code: "COMMAND_NOT_FOUND",
      argv: ["/nonexistent/ssh", "x"],
    });
  });

  it("reports a program that is not executable as COMMAND_FAILED", async () => {
    await expect(runCommand(dir, [], { signal: signal() })).rejects.toMatchObject({
      code: "COMMAND_FAILED",
    });
  });

  it("reports a child killed by a signal as COMMAND_FAILED with the signal", async () => {
    await expect(runCommand("sh", ["-c", "kill -TERM $$"], { signal: signal() })).rejects.toMatchObject({
      code: "COMMAND_FAILED",
      signal: "SIGTERM",
    });
  });

  it("refuses output beyond maxBuffer and kills the flooding child", async () => {
    const pidFile = join(dir, "pid");
    const run = runCommand("sh", ["-c", `echo $$ > ${pidFile}; exec yes`], {
      signal: signal(),
      maxBuffer: 100_000,
    });
    await expect(run).rejects.toMatchObject({
      code: "COMMAND_FAILED",
      message: expect.stringContaining("output exceeds 100000 bytes"),
    });
    const pid = Number(readFileSync(pidFile, "utf8"));
    started.push(pid);
    expect(alive(pid)).toBe(false);
  });

  it("never starts a child when the signal is already aborted", async () => {
    const marker = join(dir, "ran");
    const ac = new AbortController();
    ac.abort();
    await expect(runCommand("touch", [marker], { signal: ac.signal })).rejects.toMatchObject({
      code: "PROBE_TIMEOUT",
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(() => readFileSync(marker)).toThrow();
  });

  it("on abort kills the whole process group and rejects with the aborter's error", async () => {
    const pids = join(dir, "pids");
    const ac = new AbortController();
    // The shell and a grandchild it forked; both must die, not just the direct child.
    const run = runCommand("sh", ["-c", `sleep 300 & echo "$$ $!" > ${pids}; wait`], { signal: ac.signal });
    const [shell, sleeper] = (await waitForFile(pids)).trim().split(" ").map(Number);
    started.push(shell!, sleeper!);
    const reason = new ProbeError("PROBE_UNREACHABLE", "stopped by the test");
    ac.abort(reason);
    await expect(run).rejects.toBe(reason);
    // `close` means reaped: no zombie left among our children.
    expect(descendants(process.pid)).not.toContain(shell);
    await new Promise((r) => setTimeout(r, 50));
    expect(alive(sleeper!)).toBe(false);
  });

  it("settles on abort even while a process outside the group holds our pipes (the ControlMaster case)", async () => {
    const pidFile = join(dir, "outsider");
    const ac = new AbortController();
    // setsid: the outsider leaves our process group, as an ssh ControlMaster does, and keeps
    // stdout and stderr open; the group kill cannot reach it, so only dropping our pipe ends helps.
    const run = runCommand("sh", ["-c", `setsid sh -c 'echo $$ > ${pidFile}; exec sleep 300' & sleep 300`], {
      signal: ac.signal,
    });
    const outsider = Number((await waitForFile(pidFile)).trim());
    started.push(outsider);
    const t0 = Date.now();
    ac.abort();
    await expect(run).rejects.toMatchObject({ code: "PROBE_TIMEOUT" });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(alive(outsider)).toBe(true);
  });
});
