/**
 * Rollback: time from a broken deploy to the host healthy on its known-good generation, on a real
 * systemd host (the real-host bed: Debian in systemd-nspawn, real sshd, NixOS generation layout,
 * the nixops4 stand-in), against the floor the issue names — failureThreshold × interval + one
 * restart attempt + the switch — with the restart and the switch measured in the same round
 * (their action → outcome events), so the ratio says what NixGuard adds on top of the host's own
 * work: the settle periods after the apply and the restart, the probe phase, the queue.
 *
 * Each round: deploy a good generation and wait until it is known-good, then deploy one whose
 * unit exits at start (switch-to-configuration exits 4, the apply fails) and time until the first
 * probe that sees the host up on the known-good generation (NixGuard: detect, one restart, the
 * rollback's nix-env-style profile link and `systemd-run --wait switch-to-configuration`). The
 * next round's good deploy releases the hold. The whole NixGuard Manager runs in this process
 * over its own ssh transport, with a redis-server of its own.
 *
 * Needs root and systemd-nspawn (test/helpers/realhost/available.ts); the Debian root filesystem
 * is built under /var/cache/nixguard on first use.
 *
 * Run: npx tsx bench/rollback.ts [--rounds 5]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfigFile } from "../src/config/load.js";
import type { NixGuardEvent } from "../src/controller/types.js";
import { silentLogger } from "../src/log.js";
import { Manager } from "../src/manager.js";
import { realhostStatus } from "../test/helpers/realhost/available.js";
import type { Generation } from "../test/helpers/realhost/generation.js";
import { bootHost, type RealHost } from "../test/helpers/realhost/host.js";
import {
  BROKEN,
  GOOD,
  ROLLBACK_TIMINGS,
  writeRollbackConfig,
} from "../test/helpers/realhost/rollback-fleet.js";
import { makeStandinFlake, type StandinFlake } from "../test/helpers/realhost/standin.js";
import { startRedis, type TestRedis } from "../test/helpers/redis.js";
import { percentile, round } from "./_lib/metrics.js";
import { emit, flags, log } from "./_lib/report.js";

const f = flags({ rounds: "5" });
const ROUNDS = Number(f.rounds);
const { interval: INTERVAL, failureThreshold: FAILURE_THRESHOLD } = ROLLBACK_TIMINGS;
/** Generous for a busy machine: every wait below is a deadline, not a pause. */
const STEP_DEADLINE = 120_000;

const COLUMNS = ["benchmark", "rounds", "p50", "max", "floor p50", "ratio p50", "ratio max"];
const status = realhostStatus();
if (!status.ok) {
  log(`rollback: no real hosts here (${status.reason}); nothing measured`);
  emit(COLUMNS, ["rollback to known-good (real host)", 0, "skipped", "", "", "", ""], {
    bench: "rollback",
    skipped: status.reason,
  });
  process.exit(0);
}

let web: RealHost | undefined;
let flake: StandinFlake | undefined;
let redis: TestRedis | undefined;
let manager: Manager | undefined;
const dir = mkdtempSync(join(tmpdir(), "nixguard-bench-rollback-"));

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + STEP_DEADLINE;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) {
      const trail = ((await manager?.events.list({ limit: 40 })) ?? []).map(
        (e) => `${e.kind} ${e.action ?? ""} ${e.outcome ?? ""} ${e.reason ?? ""}`,
      );
      throw new Error(`rollback bench: no ${what} after ${STEP_DEADLINE} ms\n${trail.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, INTERVAL / 10));
  }
}

interface Round {
  totalMs: number;
  restartMs: number;
  switchMs: number;
  floorMs: number;
}

try {
  web = await bootHost({ name: "web1", system: GOOD(0) });
  redis = await startRedis();
  flake = makeStandinFlake([{ host: web, resource: ["fediversity", "web1"] }]);
  const file = writeRollbackConfig({
    dir,
    redisUrl: redis.url,
    prefix: "bench-rollback",
    web,
    flake,
    // Every round is a fresh incident: no budget in the way.
    budget: 1000,
  });
  const m = new Manager({
    loaded: loadConfigFile(file),
    logger: silentLogger(),
    roles: { controller: true, worker: true, api: false },
    processMetrics: false,
  });
  manager = m;
  await m.start();
  await until("leadership", () => (m.leader?.isLeader() ? true : undefined));
  const host = web;
  const standin = flake;
  const memory = () => m.controller.generations("fediversity", "web1");
  const events = async () => (await m.events.list({ limit: 1000 })) as NixGuardEvent[];
  const deploy = async (g: Generation) => {
    standin.deploy(host, g);
    await m.controller.requestAction(
      { kind: "redeploy", deployment: "fediversity", target: "fediversity" },
      { actor: "bench" },
    );
  };
  const up = (system: string) => {
    const h = m.health.get("fediversity", "web1");
    // Degraded counts: on a busy machine the load threshold may be crossed.
    return (h?.state === "healthy" || h?.state === "degraded") && h.currentSystem === system;
  };
  const span = (evs: NixGuardEvent[], action: string, after: number) => {
    const start = evs.find((e) => e.kind === "action" && e.action === action && e.time >= after);
    const end = evs.find(
      (e) => e.kind === "outcome" && e.action === action && e.time >= (start?.time ?? after),
    );
    if (!start || !end) throw new Error(`rollback bench: no ${action} action and outcome in the round`);
    return end.time - start.time;
  };

  const rounds: Round[] = [];
  for (let i = 1; i <= ROUNDS; i++) {
    const good = host.addGeneration(GOOD(i));
    await deploy(good);
    await until("a known-good generation", async () => {
      const { memory: mem, hold } = await memory();
      const v = mem.entries.find((e) => e.path === good.toplevel)?.verdict;
      return v === "good" && !hold && up(good.toplevel) ? true : undefined;
    });
    // Each round is a fresh incident: the restart window (30 min) would count earlier rounds'
    // restarts, and restartAttempts would run out (the demo resets the same way).
    await m.controller.reset({ kind: "deployment", deployment: "fediversity" }, "bench");
    const bad = host.addGeneration(BROKEN);
    const requested = Date.now();
    await deploy(bad);
    // The broken apply ends (the host runs the bad generation): the clock starts.
    const applied = await until("the broken apply's outcome", async () =>
      (await events()).find((e) => e.kind === "outcome" && e.action === "redeploy" && e.time >= requested),
    );
    const healed = await until("healthy on the known-good generation", () =>
      up(good.toplevel) ? Date.now() : undefined,
    );
    await until("the hold", async () => ((await memory()).hold ? true : undefined));
    const evs = (await events()).filter((e) => e.time >= requested).sort((a, b) => a.time - b.time);
    const restartMs = span(evs, "restart", applied.time);
    const switchMs = span(evs, "rollback", applied.time);
    const r: Round = {
      totalMs: healed - applied.time,
      restartMs,
      switchMs,
      floorMs: FAILURE_THRESHOLD * INTERVAL + restartMs + switchMs,
    };
    rounds.push(r);
    log(
      `round ${i}: broken apply → healthy on known-good ${r.totalMs} ms (request → healthy ${healed - requested} ms); ` +
        `floor ${r.floorMs} ms = ${FAILURE_THRESHOLD} × ${INTERVAL} + restart ${restartMs} + switch ${switchMs}; ratio ${round(r.totalMs / r.floorMs)}`,
    );
  }

  const sorted = (k: (r: Round) => number) => rounds.map(k).sort((a, b) => a - b);
  const total = sorted((r) => r.totalMs);
  const floor = sorted((r) => r.floorMs);
  const ratio = sorted((r) => r.totalMs / r.floorMs);
  const s = (ms: number) => `${round(ms / 1000, 1)} s`;
  emit(
    COLUMNS,
    [
      "rollback to known-good (real host)",
      ROUNDS,
      s(percentile(total, 50)),
      s(total.at(-1) as number),
      s(percentile(floor, 50)),
      round(percentile(ratio, 50)),
      round(ratio.at(-1) as number),
    ],
    {
      bench: "rollback",
      rounds,
      settings: ROLLBACK_TIMINGS,
    },
  );
} finally {
  await manager?.stop();
  flake?.cleanup();
  await redis?.stop();
  await web?.destroy();
  rmSync(dir, { recursive: true, force: true });
}
