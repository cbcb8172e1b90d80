import { randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeToken } from "../api/auth.js";
import { parseDuration } from "../config/duration-text.js";
import { parseConfig } from "../config/load.js";
import type { NixGuardEvent } from "../controller/types.js";
import { UsageError } from "../errors.js";
import { createLogger } from "../log.js";
import { Manager } from "../manager.js";
import { writeSimBin } from "../sim/bin.js";
import { writeSimFlakes } from "../sim/config.js";
import { SimControlClient } from "../sim/control-client.js";
import { simLayout } from "../sim/layout.js";
import { type SimServer, startSimulation } from "../sim/server.js";
import { AlertTour } from "./alert-tour.js";
import { DEMO_DEPLOYMENT, DEMO_PROBES, demoConfig } from "./config.js";
import { eventLine, type Line, renderLine, type Tone } from "./format.js";
import { checkPrerequisites, dropKeys, pickPort } from "./prereq.js";
import { Rotation } from "./rotation.js";
import { demoScenarios } from "./scenarios.js";
import { type DemoTls, startDemoTls } from "./tls.js";

/**
 * `nixguard demo`: the simulated Fediversity fleet, NixGuard against it (in this process, with
 * its private redis-server), a fault every `intervalMs`, and one readable line per detection,
 * decision, action and outcome. Everything lives in one temporary directory, removed on exit;
 * nothing it started outlives it.
 */
export interface DemoOptions {
  intervalMs: number;
  /** API port; undefined: 9273, or any free one when that is taken. */
  port?: number;
  redisUrl?: string;
  /** Only the scenarios with these names (default: all of them, in turn). */
  scenarios?: string[];
  /** Keep the temporary directory (logs, Redis AOF) after exit. */
  keep: boolean;
  /** Ends the demo (Ctrl-C, --duration). */
  signal: AbortSignal;
  write: (text: string) => void;
  colour: boolean;
  /**
   * `--alerts`: episodes that hold each fault `holdMs` so every alert rule fires (alert-tour.ts),
   * instead of the rotation of faults healed in seconds.
   */
  alerts?: { holdMs: number };
  /** The simulated nixops4's CLI generation (default older: what Fediversity's checks use). */
  nixops4Cli?: "older" | "newer";
}

const DEFAULT_PORT = 9273;
/** `--alerts`: the host whose HTTP check reads the demo TLS endpoint's certificate. */
const TLS_HOST = "garage";
const SCENARIO_TIMEOUT_MS = 60_000;
const NIXOPS4_DELAY_MS = 1500;
const DOCS = fileURLToPath(new URL("../../docs/api.md", import.meta.url));

export async function runDemo(opts: DemoOptions): Promise<void> {
  checkPrerequisites(opts.redisUrl ? { redisUrl: opts.redisUrl } : {});
  const out = (l: Line) => opts.write(`${renderLine(l, opts.colour)}\n`);
  const say = (host: string, tag: string, text: string, tone: Tone) =>
    out({ time: Date.now(), host, tag, text, tone });
  const heading = (text: string) => opts.write(opts.colour ? `\x1b[1m${text}\x1b[0m\n` : `${text}\n`);

  const dir = mkdtempSync(join(tmpdir(), "nixguard-demo-"));
  const prefix = `nixguard-demo-${randomBytes(4).toString("hex")}`;
  const logFile = join(dir, "nixguard.log");
  const logStream = createWriteStream(logFile, { mode: 0o600 });
  let sim: SimServer | undefined;
  let manager: Manager | undefined;
  let rotation: Rotation | AlertTour | undefined;
  let tls: DemoTls | undefined;
  try {
    const layout = simLayout("fediversity");
    sim = await startSimulation(layout);
    const control = new SimControlClient(sim.url);
    await control.setNixops4({ delayMs: NIXOPS4_DELAY_MS, cli: opts.nixops4Cli ?? "older" });
    const bin = writeSimBin(join(dir, "bin"), { controlUrl: sim.url });
    if (opts.alerts) tls = await startDemoTls(dir, `status.${layout.domain}`);
    const loaded = parseConfig(
      demoConfig({
        simUrl: sim.url,
        bin,
        flakeDir: join(dir, "flake"),
        stateDir: join(dir, "state"),
        runtimeDir: join(dir, "run"),
        redisPrefix: prefix,
        ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}),
        ...(tls ? { alerts: { tls: { url: tls.url, caFile: tls.certFile }, tlsHost: TLS_HOST } } : {}),
      }),
    );
    writeSimFlakes(layout, join(dir, "flake"));
    const secret = randomBytes(24).toString("base64url");
    const port = opts.port ?? (await pickPort(DEFAULT_PORT));
    manager = new Manager({
      loaded,
      logger: createLogger({ level: loaded.config.log.level, destination: logStream }),
      tokens: [makeToken("demo-admin", "admin", secret)],
      listen: `127.0.0.1:${port}`,
      // As serve does: the simulated nixops4 is asked what it can apply; status shows its CLI.
      discoverTargets: true,
    });
    await manager.start().catch((err: NodeJS.ErrnoException) => {
      if (err?.code !== "EADDRINUSE") throw err;
      throw new UsageError(
        `port ${port} on 127.0.0.1 is taken; choose another with --port (0: any free one)`,
      );
    });
    const m = manager;
    m.events.subscribe((e) => {
      const l = shown(e) ? eventLine(e) : undefined;
      if (l) out(l);
    });
    writeFileSync(join(dir, "admin-token"), `${secret}\n`, { mode: 0o600 });
    opts.write(banner({ url: m.url ?? "", secret, dir, logFile, keep: opts.keep, colour: opts.colour }));

    if ((await firstDeploy(m, opts.signal, say)) && opts.alerts) {
      const worker = m.worker?.worker;
      const leader = m.leader;
      rotation = new AlertTour({
        control,
        reset: (scope, actor) => m.controller.reset(scope, actor),
        pause: (scope, reason) => m.controller.pause(scope, reason, "demo"),
        resume: (scope) => m.controller.resume(scope, "demo").catch(() => undefined),
        request: (action) => m.controller.requestAction(action, { actor: "demo" }),
        // Waits for the worker's loop to stop, its blocking fetch included: pause(true) left a
        // fetch pending that still took the next job.
        pauseWorker: async () => worker?.pause(),
        resumeWorker: () => worker?.resume(),
        stopLeading: async () => leader?.stop(),
        startLeading: async () => leader?.start(),
        fleetHealthy: (timeoutMs, signal) => fleetHealthy(m, timeoutMs, signal),
        deployment: DEMO_DEPLOYMENT,
        holdMs: opts.alerts.holdMs,
        say,
        heading,
      });
      rotation.start();
    } else if (!opts.signal.aborted) {
      const all = demoScenarios(loaded.config.remediation.drift);
      rotation = new Rotation({
        scenarios: opts.scenarios ? all.filter((s) => opts.scenarios?.includes(s.name)) : all,
        control,
        deploy: async (actor) => {
          await m.controller.requestAction(
            { kind: "redeploy", deployment: DEMO_DEPLOYMENT, target: DEMO_DEPLOYMENT },
            { actor },
          );
        },
        knownGood: async (host) => {
          const { memory } = await m.controller.generations(DEMO_DEPLOYMENT, host);
          return memory.entries.find((e) => e.path === memory.current)?.verdict === "good";
        },
        reset: (scope, actor) => m.controller.reset(scope, actor),
        subscribe: (l) => m.events.subscribe(l),
        deployment: DEMO_DEPLOYMENT,
        intervalMs: opts.intervalMs,
        timeoutMs: SCENARIO_TIMEOUT_MS,
        say,
        heading,
      });
      rotation.start();
    }
    await aborted(opts.signal);
    heading("\nstopping: fault rotation, NixGuard, its redis-server, the simulator …");
  } finally {
    await rotation?.stop();
    await manager?.stop();
    await sim?.close();
    await tls?.close();
    if (opts.redisUrl) await dropKeys(opts.redisUrl, prefix).catch(() => undefined);
    await new Promise<void>((resolve) => logStream.end(resolve));
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }
  heading(opts.keep ? `stopped; kept ${dir}` : "stopped; nothing left running, temporary files removed");
}

/** A reset that cleared nothing is noise; every other event is part of the story. */
function shown(e: NixGuardEvent): boolean {
  return !(e.kind === "decision" && /cleared nothing$/.test(e.reason ?? ""));
}

/**
 * Drift is judged against the generation NixGuard itself last deployed: deploy the fleet once,
 * as an operator would on day one, and wait until every host is healthy on it.
 */
async function firstDeploy(
  m: Manager,
  signal: AbortSignal,
  say: (host: string, tag: string, text: string, tone: Tone) => void,
): Promise<boolean> {
  say("demo", "START", "deploying the fleet once, so NixGuard knows each host's generation", "note");
  const outcome = new Promise<void>((resolve) => {
    const off = m.events.subscribe((e) => {
      if (e.kind === "outcome" && e.action === "redeploy" && !e.host) {
        off();
        resolve();
      }
    });
  });
  await m.controller.requestAction(
    { kind: "redeploy", deployment: DEMO_DEPLOYMENT, target: DEMO_DEPLOYMENT },
    { actor: "demo" },
  );
  await Promise.race([outcome, aborted(signal)]);
  if (await fleetHealthy(m, 30_000, signal)) {
    say("fleet", "READY", "4 hosts healthy; the first fault comes now", "good");
    return true;
  }
  if (!signal.aborted) say("fleet", "NOT READY", "hosts not all healthy after 30 s; see the log", "bad");
  return !signal.aborted;
}

/**
 * Polls the health book until all four hosts are healthy on a system read more than one probe
 * interval after the call (true), or timeout/abort (false). The fresh read matters: an apply's
 * generation is recorded from the first probe after it, and a drift injected before that would be
 * recorded as NixGuard's own system (then its heal reported as drift).
 */
async function fleetHealthy(m: Manager, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  const since = Date.now() + parseDuration(DEMO_PROBES.interval)!;
  const end = Date.now() + timeoutMs;
  while (!signal.aborted && Date.now() < end) {
    const hosts = m.health.all();
    if (hosts.length === 4 && hosts.every((h) => h.state === "healthy" && (h.systemAt ?? 0) > since))
      return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

function banner(b: {
  url: string;
  secret: string;
  dir: string;
  logFile: string;
  keep: boolean;
  colour: boolean;
}): string {
  const bold = (s: string) => (b.colour ? `\x1b[1m${s}\x1b[0m` : s);
  return [
    "",
    bold("NixGuard demo — a simulated Fediversity fleet (garage, mastodon, peertube, pixelfed)"),
    "",
    `  API          ${b.url}/api/v1/status`,
    `  events       ${b.url}/api/v1/events`,
    `  metrics      ${b.url}/metrics`,
    `  OpenAPI      ${b.url}/openapi.json`,
    `  API docs     ${DOCS}`,
    `  admin token  ${b.secret}`,
    `  try          curl -H 'Authorization: Bearer ${b.secret}' ${b.url}/api/v1/hosts`,
    `               NIXGUARD_URL=${b.url} NIXGUARD_TOKEN=${b.secret} npx tsx src/main.ts status`,
    `  files        ${b.dir} (${b.keep ? "kept" : "removed"} on exit; log: ${b.logFile})`,
    "",
    "A fault every few seconds, one line per detection, decision, action and outcome. Ctrl-C stops.",
    "",
    "",
  ].join("\n");
}
