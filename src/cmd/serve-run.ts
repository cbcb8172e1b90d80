import { writeSync } from "node:fs";
import { loadConfigFile } from "../config/load.js";
import { UsageError } from "../errors.js";
import { createLogger } from "../log.js";
import { ALL_ROLES, Manager, type ManagerOptions, type Roles } from "../manager.js";
import type { ServeOptions } from "./serve.js";

export function parseRoles(text: string): Roles {
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  // `probe` is not in the default set: the controller role probes too (its share, or all alone).
  const known = [...Object.keys(ALL_ROLES), "probe"];
  const bad = names.filter((n) => !known.includes(n));
  if (bad.length > 0 || names.length === 0) {
    throw new UsageError(`--roles takes a comma-separated list of ${known.join(", ")} (got "${text}")`);
  }
  return {
    controller: names.includes("controller"),
    worker: names.includes("worker"),
    api: names.includes("api"),
    ...(names.includes("probe") ? { probe: true } : {}),
  };
}

/** The daemon: checks the options, loads the config, runs until SIGTERM/SIGINT. */
export async function serve(opts: ServeOptions): Promise<void> {
  if (!opts.config)
    throw new UsageError("serve needs --config FILE (or the environment variable NIXGUARD_CONFIG)");
  if (opts.logFormat !== "json" && opts.logFormat !== "pretty") {
    throw new UsageError(`--log-format takes json or pretty (got "${opts.logFormat}")`);
  }
  const roles = parseRoles(opts.roles);
  const loaded = loadConfigFile(opts.config);
  const logger = createLogger({
    level: opts.logLevel ?? process.env["NIXGUARD_LOG_LEVEL"] ?? loaded.config.log.level,
    format: opts.logFormat,
  });
  const manager = new Manager({
    loaded,
    logger,
    roles,
    // serve asks nixops4 what it can apply before it starts (a refused target: exit 78).
    discoverTargets: true,
    ...(opts.listen ? { listen: opts.listen } : {}),
    ...freezeMidPass(process.env["NIXGUARD_TEST_FREEZE_MID_PASS"]),
  });
  await runUntilSignalled(manager, logger);
}

export async function runUntilSignalled(
  manager: Manager,
  logger: ReturnType<typeof createLogger>,
): Promise<void> {
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) return;
    logger.info({ signal }, "stopping");
    stopping = manager.stop();
  };
  const onHup = () => {
    manager.reloadFromFile().then(
      (r) => {
        if (r.ok) logger.info("config reloaded");
        else logger.error({ issues: r.issues }, "config reload refused; the running config stays");
      },
      // Not a bad file (that is `issues`) but a failure while swapping: logged, the daemon runs on.
      (err) => logger.error({ err }, "config reload failed"),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", onHup);
  let fatal: Error | undefined;
  manager.onFatal((err) => {
    fatal ??= err;
    stop("fatal");
  });
  try {
    await manager.start();
  } catch (e) {
    await manager.stop().catch(() => undefined);
    throw e;
  }
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (stopping) {
        clearInterval(check);
        stopping.then(resolve, resolve);
      }
    }, 100);
  });
  // Exits EX_UNAVAILABLE (69): the service manager restarts NixGuard.
  if (fatal) throw fatal;
}

/**
 * Test seam for the fault suite (test/faults/leader-failover.test.ts): the first planning pass
 * that has actions to decide says so and freezes its own process (SIGSTOP) before deciding —
 * a leader frozen in the middle of a pass, between its reads and its writes, exactly there.
 * The test thaws it (SIGCONT) once another process leads. Unset: nothing.
 */
function freezeMidPass(on: string | undefined): Pick<ManagerOptions, "beforeDecisions"> {
  if (on !== "1") return {};
  let frozen = false;
  return {
    beforeDecisions: async (deployment, plan) => {
      if (frozen) return;
      frozen = true;
      // Written synchronously, past the logger's buffer: a line still buffered when the
      // process stops is not out until it is thawed (seen on a loaded machine: the test waited for a line that was not out).
      const line = { level: 30, time: new Date().toISOString(), deployment, actions: plan.map((p) => p.key) };
      writeSync(2, `${JSON.stringify({ ...line, msg: "test: freezing mid-pass" })}\n`);
      process.kill(process.pid, "SIGSTOP");
    },
  };
}
