import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { NixGuardEvent } from "../../../src/controller/types.js";

/**
 * `nixguard demo` as a newcomer runs it: a child process with the real embedded redis-server,
 * the simulator, the fake ssh and nixops4. It must show a full detect → act → healthy cycle in
 * its output and in /api/v1/events, exit 0 at --duration, and leave no process behind.
 */
const ROOT = resolve(import.meta.dirname, "../../..");
const children: ChildProcess[] = [];

function startDemo(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "demo", ...args], {
    cwd: ROOT,
    env: { ...env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (b: Buffer) => {
    stdout += b.toString();
  });
  child.stderr?.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

async function until<T>(what: string, fn: () => T | undefined, ms: number, log: () => string): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; output so far:\n${log()}`);
}

/** The API URL and admin token the demo prints in its banner. */
async function apiOf(demo: { out: () => string }): Promise<{ url: string; token: string }> {
  const url = await until(
    "the API URL",
    () => /events\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(demo.out())?.[1],
    30_000,
    demo.out,
  );
  return { url, token: /admin token\s+(\S+)/.exec(demo.out())?.[1] as string };
}

/** PIDs of live processes whose command line mentions `needle` (the demo's temp directory). */
function processesMentioning(needle: string): { pid: number; comm: string; cmd: string }[] {
  const found: { pid: number; comm: string; cmd: string }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue; // exited, awaiting reaping
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").replace(/\0/g, " ");
      const comm = readFileSync(`/proc/${name}/comm`, "utf8").trim();
      if (cmd.includes(needle)) found.push({ pid: Number(name), comm, cmd });
    } catch {
      // gone while we looked
    }
  }
  return found;
}

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

describe("nixguard demo", () => {
  it("shows a detect → act → healthy cycle in its output and its API, then leaves nothing running", async () => {
    const demo = startDemo(["--duration", "30s", "--port", "0"]);
    const { url, token } = await apiOf(demo);
    const dir = /files\s+(\/\S+nixguard-demo-\S+) \(/.exec(demo.out())?.[1] as string;
    expect(token).toMatch(/^[\w-]{20,}$/);
    expect(existsSync(dir)).toBe(true);

    // The private redis-server runs under the demo's directory while the demo runs.
    const started = processesMentioning(dir);
    expect(started.filter((p) => p.comm === "redis-server")).toHaveLength(1);

    // Readable lines, in order: the fault, its detection, the restart, the outcome, healthy again.
    const cycle = await until(
      "a full cycle on mastodon",
      () => {
        const lines = demo.out().split("\n");
        const at = (re: RegExp, from: number) => lines.findIndex((l, i) => i > from && re.test(l));
        const fault = at(/mastodon\s+FAULT\s/, -1);
        const detected = at(/mastodon\s+DETECTED\s+mastodon-sidekiq-all\.service/, fault);
        const decided = at(/mastodon\s+DECIDED\s+restart/, detected);
        const outcome = at(/mastodon\s+OUTCOME\s+restart success/, decided);
        const healthy = at(/mastodon\s+HEALTHY\s/, detected);
        return fault >= 0 && detected > 0 && decided > 0 && outcome > 0 && healthy > 0 ? lines : undefined;
      },
      30_000,
      demo.out,
    );
    expect(cycle.some((l) => /^\d\d:\d\d:\d\d {2}/.test(l))).toBe(true);
    expect(demo.out()).not.toMatch(/"level":/); // no raw JSON logs on the terminal

    // The same cycle through the API, with the printed token; a wrong token is refused.
    const res = await fetch(`${url}/api/v1/events?host=mastodon&limit=200`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    const events = (await res.json()) as NixGuardEvent[];
    const kinds = events.map((e) => `${e.kind}${e.action ? `:${e.action}` : ""}`);
    const detect = kinds.indexOf("detect");
    const action = kinds.indexOf("action:restart", detect);
    const outcome = kinds.indexOf("outcome:restart", action);
    const recover = kinds.indexOf("recover", detect);
    expect([detect >= 0, action > detect, outcome > action, recover > detect]).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(events[outcome]?.outcome).toBe("success");
    const denied = await fetch(`${url}/api/v1/events`, { headers: { authorization: "Bearer nope" } });
    expect(denied.status).toBe(401);

    // --duration ends it by itself: exit 0, API gone, no process left, directory removed.
    expect(await demo.exited).toBe(0);
    expect(demo.out()).toContain("nothing left running");
    expect(processesMentioning(dir)).toEqual([]);
    for (const p of started) expect(existsSync(`/proc/${p.pid}`) && !isZombie(p.pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  }, 90_000);

  it("rollback scenario: a broken deploy is rolled back to the known-good generation, healthy and held, until the panel's fix releases it", async () => {
    const demo = startDemo(["--scenario", "rollback", "--duration", "120s", "--port", "0"]);
    try {
      await rollbackStory(demo);
    } finally {
      demo.child.kill("SIGINT");
    }
    expect(await demo.exited).toBe(0);
  }, 240_000);

  async function rollbackStory(demo: ReturnType<typeof startDemo>): Promise<void> {
    const { url, token } = await apiOf(demo);
    const api = async <T>(path: string): Promise<T> => {
      const res = await fetch(`${url}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      return (await res.json()) as T;
    };
    interface Generations {
      current?: string;
      generations: { path: string; verdict: string }[];
      hold?: { bad: string; to: string; reason: string };
    }
    // Waits come from the demo's own timings: known-good after 3 settle periods, then detection,
    // one restart, the rollback and its settle; the demo's scenario timeout (60 s) bounds each.
    const heldState = async () => {
      const g = await api<Generations>("/hosts/mastodon/generations");
      if (!g.hold) return undefined;
      const { health } = await api<{ health: { state: string; currentSystem?: string } }>("/hosts/mastodon");
      return health.state === "healthy" && health.currentSystem === g.hold.to ? { g, health } : undefined;
    };
    let held: Awaited<ReturnType<typeof heldState>>;
    const end = Date.now() + 90_000;
    while (!held && Date.now() < end) {
      held = await heldState();
      if (!held) await new Promise((r) => setTimeout(r, 250));
    }
    if (!held) throw new Error(`never rolled back, healthy and held; output:\n${demo.out()}`);
    const { g } = held;
    expect(g.current).toBe(g.hold?.to);
    expect(g.hold?.reason).toContain("mastodon-web.service");
    const verdict = (path?: string) => g.generations.find((e) => e.path === path)?.verdict;
    expect([verdict(g.hold?.bad), verdict(g.hold?.to)]).toEqual(["bad", "good"]);

    // The story in order: the panel's deploy, detection, one restart, the rollback (redeploy
    // skipped), the hold; then the panel's fix releases it.
    const lines = await until(
      "the hold released",
      () => {
        const l = demo.out().split("\n");
        return l.some((x) => /mastodon\s+HOLD\s+hold released/.test(x)) ? l : undefined;
      },
      60_000,
      demo.out,
    );
    const at = (re: RegExp, from: number) => lines.findIndex((l, i) => i > from && re.test(l));
    const order = [
      /mastodon\s+FAULT\s/,
      /PANEL\s+deploys the new commit/,
      /mastodon\s+DETECTED\s+.*mastodon-web\.service/,
      /mastodon\s+DECIDED\s+restart/,
      /mastodon\s+DECIDED\s+rollback .*redeploy skipped/,
      /mastodon\s+OUTCOME\s+rollback success/,
      /PANEL\s+commits a fix/,
      /mastodon\s+HOLD\s+hold released/,
    ].reduce<number[]>((acc, re) => {
      acc.push(at(re, acc.at(-1) ?? -1));
      return acc;
    }, []);
    expect(
      order.every((i) => i >= 0),
      demo.out(),
    ).toBe(true);
    const between = lines.slice(order[0], order[7]);
    // At least one restart that did not heal before the rollback. Exactly one is the real-host
    // test's claim; here, on a loaded machine, the controller once tried the second restart
    // restartAttempts allows before the rollback (seen once in four runs at load 16 on 2 cores).
    const restarts = between.filter((l) => /mastodon\s+DECIDED\s+restart/.test(l)).length;
    expect(restarts >= 1 && restarts <= 2, demo.out()).toBe(true);
    expect(between.some((l) => /DECIDED\s+redeploy — mastodon/.test(l))).toBe(false);
    expect(between.some((l) => /mastodon\s+HOLD\s+.*held at/.test(l))).toBe(true);
  }

  it("stops everything on SIGINT, even with a nixops4 apply running", async () => {
    const demo = startDemo(["--port", "0"]);
    await until(
      "the first deploy",
      () => (/DECIDED\s+redeploy/.test(demo.out()) ? true : undefined),
      30_000,
      demo.out,
    );
    const dir = /files\s+(\/\S+nixguard-demo-\S+) \(/.exec(demo.out())?.[1] as string;
    const apply = await until(
      "the fake nixops4 running",
      () => processesMentioning(dir).find((p) => p.cmd.includes(`${dir}/bin/nixops4`)),
      5_000,
      demo.out,
    );
    const started = processesMentioning(dir);
    demo.child.kill("SIGINT");
    expect(await demo.exited).toBe(0);
    expect(processesMentioning(dir)).toEqual([]);
    for (const p of [apply, ...started]) expect(existsSync(`/proc/${p.pid}`) && !isZombie(p.pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  }, 60_000);

  it("names both fixes and exits 69 when redis-server is missing", async () => {
    const empty = mkdtempSync(join(tmpdir(), "nixguard-demo-nopath-"));
    try {
      const demo = startDemo(["--duration", "5s"], { ...process.env, PATH: empty });
      expect(await demo.exited).toBe(69);
      expect(demo.err()).toMatch(/apt install redis-server/);
      expect(demo.err()).toMatch(/--redis-url redis:\/\//);
      expect(demo.out()).not.toContain("admin token"); // nothing started
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  }, 30_000);
});

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}
