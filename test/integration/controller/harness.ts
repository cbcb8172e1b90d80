import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { type ActionOutcome, actionKey } from "../../../src/action.js";
import { allHosts, hostKey } from "../../../src/config/desired.js";
import type { LoadedConfig } from "../../../src/config/load.js";
import type { ConfigInput } from "../../../src/config/schema.js";
import { Controller, type LeaderView } from "../../../src/controller/controller.js";
import { EventLog } from "../../../src/controller/events.js";
import { StateStore } from "../../../src/controller/state-store.js";
import type { HostHealth } from "../../../src/controller/types.js";
import { silentLogger } from "../../../src/log.js";
import { createMetrics, type Metrics } from "../../../src/metrics.js";
import { HealthBook } from "../../../src/runtime/health-book.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { check, fleetConfig, hostHealth } from "../../unit/controller/fixtures.js";
import { RecordingQueue } from "./recording-queue.js";

export const HOSTS = ["a", "b", "c", "d", "mastodon"] as const;
/** Sunday 2025-06-01 00:00 UTC. */
export const T0 = Date.UTC(2025, 5, 1, 0, 0, 0);
let seq = 0;

/** A Controller over a real Redis with a recording queue and a hand-driven clock. */
export function harness(
  redis: Redis,
  remediation: ConfigInput["remediation"] = {},
  leader?: LeaderView,
  queue: RecordingQueue = new RecordingQueue(),
  extra: Partial<ConfigInput> = {},
) {
  const loaded = fleetConfig(remediation, extra);
  const prefix = `ctl-test-${process.pid}-${++seq}`;
  const store = new StateStore(redis, prefix);
  const events = new EventLog(redis, prefix);
  const metrics = createMetrics({ version: "test", processMetrics: false });
  const clock = { now: T0 };
  const health = healthBook(
    loaded,
    metrics,
    (h, prev) => ctl.observe(h, prev),
    () => clock.now,
  );
  const ctl: Controller = new Controller({
    getConfig: () => loaded,
    queue,
    store,
    events,
    health,
    metrics,
    logger: silentLogger(),
    now: () => clock.now,
    timezone: "UTC",
    ...(leader ? { leader } : {}),
  });
  const observe = (host: string, h: Partial<HostHealth> & Pick<HostHealth, "state">) =>
    health.judge({ ...hostHealth(host, h.state), since: clock.now, lastObservedAt: clock.now, ...h });
  const healthyAll = () => {
    for (const h of HOSTS) observe(h, { state: "healthy", since: T0 - 3_600_000 });
  };
  const failUnit = (host: string, unit = "a.service", extra = {}) =>
    observe(host, { state: "failing", checks: { [unit]: check(unit, "failing", extra) } });
  /** The worker finished the job of `key` now with this outcome. */
  const finish = async (
    key: string,
    outcome: ActionOutcome["outcome"] = "success",
    extra: Partial<ActionOutcome> = {},
  ) => {
    const req = queue.requests.findLast((r) => actionKey(r.action) === key);
    const jobId = queue.finish(key);
    await ctl.onOutcome({
      key,
      jobId,
      action: req!.action,
      actor: req!.actor,
      outcome,
      startedAt: clock.now,
      finishedAt: clock.now,
      message: outcome,
      ...extra,
    });
  };
  const metric = async (name: string) => (await metrics.registry.getSingleMetricAsString(name)).toString();
  return {
    ctl,
    queue,
    store,
    events,
    health,
    metrics,
    clock,
    observe,
    healthyAll,
    failUnit,
    finish,
    metric,
    loaded,
  };
}

/**
 * The health book the controller plans from, fed judged health directly (`judge`) rather than
 * observations: the ladder's tests describe hosts by their judged state.
 */
export function healthBook(
  loaded: LoadedConfig,
  metrics: Metrics,
  onHealth: (h: HostHealth, prev: HostHealth | undefined) => void,
  now: () => number = Date.now,
): HealthBook & { judge(h: HostHealth): void } {
  const book = new HealthBook({
    getConfig: () => loaded.config,
    metrics,
    logger: silentLogger(),
    isSuppressed: () => false,
    onHealth,
    now,
  });
  const specs = new Map(allHosts(loaded.desired).map((h) => [hostKey(h.deployment, h.name), h]));
  return Object.assign(book, {
    judge(h: HostHealth) {
      const spec = specs.get(hostKey(h.deployment, h.host));
      if (!spec) throw new Error(`no host ${h.deployment}/${h.host} in the test config`);
      book.judged(spec, h);
    },
  });
}

export async function connect(url: string): Promise<Redis> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  // Some tests kill the server under this client: its reconnect attempts emit "error", which
  // ioredis prints as unhandled without a listener. Commands still reject, so failures show.
  redis.on("error", () => {});
  await redis.ping();
  return redis;
}

/** One real redis-server for the test file, and a client to it; both gone after the file. */
export function useRedis(): { redis: () => Redis; server: () => TestRedis } {
  let server: TestRedis | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    server = await startRedis();
    redis = await connect(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  return { redis: () => redis as Redis, server: () => server as TestRedis };
}
