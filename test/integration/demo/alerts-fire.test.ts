import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, expect, test } from "vitest";
import { promDurationMs, rulesWithTimeScale } from "../../../src/cmd/alerts.js";
import { startPrometheus, type TestPrometheus } from "../../helpers/prometheus.js";

/**
 * Issue 19, item 6: a real Prometheus scrapes `nixguard demo --alerts` with contrib's rules
 * loaded, and every alert fires at least once; every expression of contrib's dashboard returns
 * data over the run.
 *
 * Timings: the rules are loaded through `nixguard alerts --time-scale` (every `for:` and range
 * divided by SCALE, nothing else changed), Prometheus scrapes and evaluates every INTERVAL, and
 * the demo holds each fault HOLD: the longest wait of the scaled rules plus room for NixGuard's
 * own ladder (restarts, a failed redeploy, quarantine) and several scrape + evaluation rounds.
 * Every wait below derives from those.
 */
const ROOT = resolve(import.meta.dirname, "../../..");
const SCALE = 240;
const INTERVAL_MS = 1000;
const SHIPPED = readFileSync(join(ROOT, "contrib/prometheus/alerts.yml"), "utf8");
const RULES = rulesWithTimeScale(SHIPPED, SCALE);
const ALERTS = [...SHIPPED.matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1] as string);
/** Every wait of the scaled rules: `for:` and range selectors. */
const WAITS = [...RULES.matchAll(/for: (\S+)$|\[(\w+)\]/gm)].map(
  (m) => promDurationMs((m[1] ?? m[2]) as string)!,
);
const LONGEST_WAIT_MS = Math.max(...WAITS);
/** Prometheus sees a change within a scrape and acts on it within an evaluation. */
const ROUND_MS = 2 * INTERVAL_MS;
/** The demo's ladder to quarantine takes ~18 s on a quiet machine (2 restarts, a failed apply, settles). */
const LADDER_MS = 30_000;
const HOLD_MS = Math.max(LONGEST_WAIT_MS, LADDER_MS) + 10 * ROUND_MS;
/** First deploy and the fleet settling before each episode (the demo bounds each by 30–60 s). */
const START_MS = 60_000;
const EPISODES = 3;
const ALL_FIRED_MS = START_MS + EPISODES * (HOLD_MS + 15_000);

let prom: TestPrometheus | undefined;
let demo: ChildProcess | undefined;
const dir = mkdtempSync(join(tmpdir(), "nixguard-alerts-fire-"));

afterAll(async () => {
  if (demo && demo.exitCode === null && demo.signalCode === null) demo.kill("SIGKILL");
  await prom?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test(
  "every alert fires against `nixguard demo --alerts`, and every dashboard expression returns data",
  async () => {
    // The scaled rules are the shipped ones with shorter waits: still valid.
    const rulesFile = join(dir, "alerts.yml");
    writeFileSync(rulesFile, RULES);
    execFileSync("promtool", ["check", "rules", rulesFile], { stdio: "pipe" });
    expect(ALERTS.length).toBeGreaterThanOrEqual(10);

    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/main.ts",
        "demo",
        "--alerts",
        "--hold",
        `${Math.ceil(HOLD_MS / 1000)}s`,
        "--port",
        "0",
      ],
      { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    demo = child;
    let out = "";
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.stderr?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const metricsUrl = await poll(
      "the demo's metrics URL",
      () => /metrics\s+(http:\/\/\S+)\/metrics/.exec(out)?.[1],
      START_MS,
      () => out,
    );
    const certFile = join(/files\s+(\/\S+) \(/.exec(out)?.[1] as string, "tls-cert.pem");

    const started = Date.now() / 1000;
    prom = await startPrometheus({
      targets: [new URL(metricsUrl).host],
      scrapeInterval: `${INTERVAL_MS / 1000}s`,
      ruleFiles: [rulesFile],
    });
    const p = prom;

    // Every alert but NixGuardDown (the demo must stop for that one) fires during the tour.
    const everFired = async () =>
      new Set(
        (await p.query(`max by (alertname) (max_over_time(ALERTS{alertstate="firing"}[1h]))`)).map(
          (s) => s.metric.alertname as string,
        ),
      );
    const running = ALERTS.filter((a) => a !== "NixGuardDown");
    await poll(
      "every alert firing once",
      async () => {
        const fired = await everFired();
        return running.every((a) => fired.has(a)) ? true : undefined;
      },
      ALL_FIRED_MS,
      async () => `fired: ${[...(await everFired())].join(", ")}\ndemo output:\n${out}`,
    );

    // The TLS expiry Prometheus holds is the certificate's own, as openssl reads it.
    const notAfter = execFileSync("openssl", ["x509", "-in", certFile, "-noout", "-enddate"], {
      encoding: "utf8",
    });
    const expiry = await p.query("nixguard_http_tls_expiry_timestamp_seconds");
    expect(expiry.length).toBe(1);
    expect(Number(expiry[0]!.value[1]) * 1000).toBe(Date.parse(notAfter.trim().replace("notAfter=", "")));

    // Every dashboard expression returns data at some point of the run.
    const dash = JSON.parse(readFileSync(join(ROOT, "contrib/grafana/nixguard.json"), "utf8")) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const exprs = dash.panels.flatMap((panel) =>
      (panel.targets ?? []).map((t) => ({ title: panel.title, expr: t.expr })),
    );
    const end = Date.now() / 1000;
    const empty: string[] = [];
    for (const { title, expr } of exprs) {
      const concrete = expr
        .replaceAll("$__rate_interval", `${(4 * INTERVAL_MS) / 1000}s`)
        .replaceAll("$deployment", ".*");
      const range = await p.get<{ result: unknown[] }>(
        `/api/v1/query_range?query=${encodeURIComponent(concrete)}&start=${started}&end=${end}&step=${INTERVAL_MS / 1000}`,
      );
      if (range.result.length === 0) empty.push(`${title}: ${concrete}`);
    }
    expect(exprs.length).toBeGreaterThanOrEqual(20);
    expect(empty).toEqual([]);

    // NixGuard stops: NixGuardDown fires within its scaled wait and a few rounds.
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    const downFor = promDurationMs(
      /alert: NixGuardDown\n\s+expr: .*\n\s+for: (\S+)/.exec(RULES)?.[1] as string,
    )!;
    await p.waitFor(
      'ALERTS{alertname="NixGuardDown",alertstate="firing"}',
      (r) => r.length > 0,
      downFor + 10 * ROUND_MS,
    );
  },
  START_MS + ALL_FIRED_MS + 120_000,
);

async function poll<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  ms: number,
  log: () => string | Promise<string>,
): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}; ${await log()}`);
}
