import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Daemon,
  killAllDaemons,
  type LogLine,
  msg,
  secretLeaks,
  startDaemon,
} from "../helpers/fault-daemon.js";
import { type FaultFleet, poll, sleep, startFaultFleet } from "../helpers/fault-fleet.js";
import { startRedis, type TestRedis } from "../helpers/redis.js";

/**
 * Fault 4: two NixGuard processes on one Redis, the leader SIGKILLed (and, harder, frozen with
 * SIGSTOP past its lease, then thawed). Each plan is logged with the fencing token it was made
 * under ("planned", debug level): over the whole run, no two plans of different processes
 * overlap in time and the tokens never interleave (once a newer token planned, an older never
 * plans again).
 */
let redis: TestRedis;
let fleet: FaultFleet;
beforeAll(async () => {
  redis = await startRedis();
  fleet = await startFaultFleet();
});
afterAll(async () => {
  await killAllDaemons();
  expect(secretLeaks(Object.values(fleet.tokens))).toEqual([]);
  await fleet.close();
  await redis.stop();
});

interface Plan {
  daemon: string;
  token: number | undefined;
  from: number;
  to: number;
}

const plansOf = (d: Daemon): Plan[] =>
  d.lines
    .filter((l: LogLine) => l.json?.msg === "planned")
    .map((l) => ({
      daemon: d.name,
      token: l.json?.fencingToken as number | undefined,
      from: l.json?.plannedAt as number,
      to: Date.parse(l.json?.time as string),
    }));

/** Every plan carries a token; plans sorted by start never overlap across processes; tokens never go back. */
function checkFencing(daemons: Daemon[]): { plans: number; tokens: number[] } {
  const plans = daemons.flatMap(plansOf).sort((a, b) => a.from - b.from || a.to - b.to);
  for (const p of plans) expect(p.token, JSON.stringify(p)).toBeTypeOf("number");
  let maxToken = 0;
  for (let i = 0; i < plans.length; i++) {
    const p = plans[i] as Plan;
    expect(p.token as number, `token went back: ${JSON.stringify(p)}`).toBeGreaterThanOrEqual(maxToken);
    maxToken = p.token as number;
    // Any earlier plan by another process must have ended before this one started.
    for (let j = 0; j < i; j++) {
      const q = plans[j] as Plan;
      if (q.daemon !== p.daemon)
        expect(q.to <= p.from, `overlap: ${JSON.stringify(q)} and ${JSON.stringify(p)}`).toBe(true);
    }
  }
  return { plans: plans.length, tokens: [...new Set(plans.map((p) => p.token as number))] };
}

const leaderLine = (d: Daemon) => d.waitLog(msg("became leader"), 40_000);

describe("fault 4: leader failover", () => {
  it("SIGKILL of the leader: the other leads within 20 s (default 15 s lease); plans never overlap", async () => {
    // The default lease (15 s, renewed every 5 s): the 20 s promise must hold for the defaults.
    const config = fleet.writeConfig({
      redisUrl: redis.url,
      prefix: "leader",
      overrides: { leader: { lease: "15s", renew: "5s" } },
    });
    const a = await startDaemon({ config, name: "A", logLevel: "debug" });
    await leaderLine(a);
    const b = await startDaemon({ config, name: "B", logLevel: "debug" });
    await a.waitLog(msg("planned"));
    await sleep(3_000);
    expect(plansOf(b)).toEqual([]);

    a.signal("SIGKILL");
    const killedAt = (await a.exited).at;
    const took = (await leaderLine(b)).at - killedAt;
    expect(took).toBeLessThan(20_000);
    await b.waitLog(msg("planned"));

    // B plans for real: a failing unit is restarted under B's token.
    await fleet.control.inject({ kind: "unit-fail", host: "peertube", unit: "peertube.service" });
    expect(
      await poll(
        () =>
          plansOf(b).some((p) => p.token !== undefined) &&
          b.lines.some((l) => l.json?.msg === "action finished"),
        20_000,
      ),
    ).toBe(true);
    const result = checkFencing([a, b]);
    expect(result.tokens.length).toBe(2);
    console.log(JSON.stringify({ fault: "leader-sigkill", takeoverMs: took, ...result }));
    await b.kill();
  }, 90_000);

  it("a leader frozen (SIGSTOP) past its lease and thawed never plans alongside the new leader", async () => {
    const config = fleet.writeConfig({ redisUrl: redis.url, prefix: "leader-stop" });
    const a = await startDaemon({ config, name: "A2", logLevel: "debug" });
    await leaderLine(a);
    const b = await startDaemon({ config, name: "B2", logLevel: "debug" });
    await a.waitLog(msg("planned"));

    a.signal("SIGSTOP");
    const stoppedAt = Date.now();
    const took = (await leaderLine(b)).at - stoppedAt;
    await b.waitLog(msg("planned"));
    await sleep(2_000);
    const thawIndex = a.lines.length;
    a.signal("SIGCONT");
    // A finds out it lost the lease; meanwhile it must not have planned under its old token.
    await a.waitLog(msg("stopped leading"), 10_000, thawIndex);
    await sleep(3_000);
    const result = checkFencing([a, b]);
    expect(plansOf(b).length).toBeGreaterThan(0);
    console.log(JSON.stringify({ fault: "leader-sigstop", takeoverMs: took, ...result }));
  }, 60_000);
});
