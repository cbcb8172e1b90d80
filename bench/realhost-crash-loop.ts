/**
 * Crash loops and hung restarts on a real systemd host (issue 16, figures): a Debian host booted
 * in a container by the real-host bed (test/helpers/realhost), watched by a real `nixguard serve`
 * over its own ssh transport. Needs root and systemd-nspawn, like the real-host tests.
 *
 * 1. Crash-loop detection: a `Restart=always`, `RestartSec=5` service whose process exits 3 two
 *    seconds after each start — never `failed` on systemd. Per trial the bench arms the crash (a
 *    flag file the unit reads at start) and restarts the unit itself; the first crash is 2 s after
 *    that restart returned. Measured: first crash → the restart NixGuard queues (its "action"
 *    event). Bound: failureThreshold × interval + one crash cycle (2 s running + RestartSec 5 s);
 *    reported as p99 / bound. Then the flag is removed and the unit restarted: healthy again.
 * 2. Hung restart: a unit whose ExecStop never ends (TimeoutStopSec=infinity); a manual restart
 *    through the API is ended by remediation.restartTimeout. Measured: request → the outcome
 *    event `timeout`, against restartTimeout (+ 2 s allowed).
 *
 * Needs root and systemd-nspawn (test/helpers/realhost/available.ts), else it prints a `skipped`
 * row (it is part of `npm run bench`).
 *
 * Run: npx tsx bench/realhost-crash-loop.ts [--trials 20] [--hung 5]
 */
import { setTimeout as sleep } from "node:timers/promises";
import { killAllDaemons } from "../test/helpers/fault-daemon.js";
import { realhostStatus } from "../test/helpers/realhost/available.js";
import {
  type RealhostDaemon,
  type RealhostEvent,
  startRealhostDaemon,
} from "../test/helpers/realhost/daemon.js";
import { bootHost } from "../test/helpers/realhost/host.js";
import { service } from "../test/helpers/realhost/units.js";
import { startRedis } from "../test/helpers/redis.js";
import { percentile, round } from "./_lib/metrics.js";
import { emit, flags, log } from "./_lib/report.js";

const f = flags({ trials: "20", hung: "5" });
const TRIALS = Number(f.trials);
const HUNG = Number(f.hung);
const INTERVAL_MS = 1_000;
const THRESHOLD = 2;
const CRASH_AFTER_MS = 2_000;
const RESTART_SEC_MS = 5_000;
const BOUND_MS = THRESHOLD * INTERVAL_MS + CRASH_AFTER_MS + RESTART_SEC_MS;
const RESTART_TIMEOUT_MS = 3_000;

// Crashes 2 s after each start while /run/loop exists; runs for ever otherwise.
const LOOP = service(
  "/bin/sh -c 'if [ -e /run/loop ]; then sleep 2; exit 3; fi; exec sleep infinity'",
  `Restart=always\nRestartSec=${RESTART_SEC_MS / 1000}\n`,
);
const HANGS = service("/bin/sleep infinity", "ExecStop=/bin/sleep infinity\nTimeoutStopSec=infinity\n");

const status = realhostStatus();
if (!status.ok) {
  log(`realhost-crash-loop: no real hosts here (${status.reason}); nothing measured`);
  emit(["bench", "trials"], ["realhost-crash-loop", "skipped"], {
    bench: "realhost-crash-loop",
    skipped: status.reason,
  });
  process.exit(0);
}

const host = await bootHost({
  name: "bench1",
  system: { units: { "loop.service": LOOP, "hang.service": HANGS } },
});
const redis = await startRedis();
let n: RealhostDaemon | undefined;

/** Waits for the first event after `from` that matches, polling the API. */
async function eventAfter(
  from: number,
  match: (e: RealhostEvent) => boolean,
  ms: number,
): Promise<RealhostEvent | undefined> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const e = (await (n as RealhostDaemon).events()).find((x) => x.time >= from && match(x));
    if (e) return e;
    await sleep(100);
  }
  return undefined;
}
async function healthyWithin(ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const h = (await (n as RealhostDaemon).api("/api/v1/hosts/bench1")).body as {
      health?: { state?: string };
    };
    if (h.health?.state === "healthy") return true;
    await sleep(200);
  }
  return false;
}
const stats = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1) ?? Number.NaN };
};
const sec = (ms: number) => `${round(ms / 1000)} s`;

try {
  const daemon = (mode: string, deployment: string, units: string[]) =>
    startRealhostDaemon({
      redisUrl: redis.url,
      prefix: `ngb${mode}`,
      probes: { interval: `${INTERVAL_MS}ms`, timeout: "5s", jitter: 0, failureThreshold: THRESHOLD },
      remediation: {
        mode,
        // Every trial is the first of its kind: no ladder, budget or breaker in the way.
        restartAttempts: 100,
        restartWindow: "1s",
        restartTimeout: `${RESTART_TIMEOUT_MS}ms`,
        settle: "1s",
        backoff: { initial: "1s", factor: 1, max: "1s", resetAfter: "1s" },
        budget: { deployment: { max: 100_000, window: "1h" }, global: { max: 100_000, window: "1h" } },
        breaker: { minHosts: 1000 },
        drift: "alert",
      },
      nixops4Command: "/bin/false",
      deployments: {
        [deployment]: { flake: "/tmp", target: deployment, hosts: { bench1: { host, units } } },
      },
    });

  // 1. Crash-loop detection.
  n = await daemon("enforce", "loops", ["loop.service"]);
  const detect: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    await sleep(1_500 + Math.random() * INTERVAL_MS); // past settle and backoff, at a random phase
    await host.run("touch /run/loop && systemctl restart loop.service");
    const crash = Date.now() + CRASH_AFTER_MS;
    const queued = await eventAfter(
      crash,
      (e) => e.kind === "action" && e.action === "restart" && e.host === "bench1",
      BOUND_MS * 4,
    );
    if (queued) detect.push(queued.time - crash);
    else log(`  trial ${i}: no restart queued within ${sec(BOUND_MS * 4)}`);
    await host.run("rm -f /run/loop && systemctl restart loop.service");
    if (!(await healthyWithin(30_000))) log(`  trial ${i}: not healthy again within 30 s`);
  }
  await killAllDaemons();

  // 2. Hung restarts ended by restartTimeout (observe mode: only the restart asked for).
  n = await daemon("observe", "hangs", ["hang.service"]);
  const hung: number[] = [];
  for (let i = 0; i < HUNG; i++) {
    const asked = Date.now();
    const r = await n.api("/api/v1/hosts/bench1/units/hang.service/restart", { force: true });
    if (r.status !== 202) throw new Error(`restart refused: ${r.status} ${r.text}`);
    const out = await eventAfter(
      asked,
      (e) => e.kind === "outcome" && e.action === "restart" && e.host === "bench1",
      RESTART_TIMEOUT_MS * 10,
    );
    if (out?.outcome === "timeout") hung.push(out.time - asked);
    else log(`  hung ${i}: ${out?.outcome ?? "no outcome"}`);
    // Free the unit for the next round: its stop hangs until killed.
    await host.run(
      "systemctl kill -s KILL hang.service; systemctl reset-failed hang.service; systemctl start hang.service",
    );
    await sleep(2 * INTERVAL_MS);
  }

  const d = stats(detect);
  const h = stats(hung);
  const ratio = round(d.p99 / BOUND_MS);
  emit(
    [
      "bench",
      "trials",
      "interval / failureThreshold",
      "first crash → restart queued p50 / p99 (max)",
      "bound: threshold × interval + one crash cycle",
      "p99 / bound",
      "hung restart → timeout p50 / max (n)",
      "restartTimeout (allowed +2 s)",
    ],
    [
      "realhost-crash-loop",
      d.n,
      `${sec(INTERVAL_MS)} / ${THRESHOLD}`,
      `${sec(d.p50)} / ${sec(d.p99)} (${sec(d.max)})`,
      sec(BOUND_MS),
      `${ratio} ${ratio <= 1 ? "✓" : "✗"}`,
      `${sec(h.p50)} / ${sec(h.max)} (${h.n})`,
      `${sec(RESTART_TIMEOUT_MS)} ${h.max <= RESTART_TIMEOUT_MS + 2_000 ? "✓" : "✗"}`,
    ],
    {
      bench: "realhost-crash-loop",
      trials: d.n,
      intervalMs: INTERVAL_MS,
      failureThreshold: THRESHOLD,
      restartSecMs: RESTART_SEC_MS,
      crashAfterMs: CRASH_AFTER_MS,
      detectP50Ms: d.p50,
      detectP99Ms: d.p99,
      detectMaxMs: d.max,
      boundMs: BOUND_MS,
      p99OverBound: ratio,
      hungRestarts: h.n,
      hungP50Ms: h.p50,
      hungMaxMs: h.max,
      restartTimeoutMs: RESTART_TIMEOUT_MS,
    },
  );
} finally {
  await killAllDaemons();
  n?.cleanup();
  await redis.stop();
  await host.destroy();
}
