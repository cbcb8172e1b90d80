import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Daemon, killAllDaemons, scaled, secretLeaks, startDaemon } from "../helpers/fault-daemon.js";
import { api, type FaultFleet, poll, sleep, startFaultFleet } from "../helpers/fault-fleet.js";
import { startRedis, type TestRedis } from "../helpers/redis.js";

/**
 * Fault 6: 60 % of the hosts fail at once (6 of 10, mastodon-web.service failed on each). The
 * circuit breaker must open, nothing may be enqueued while it is open, and it must close when
 * the hosts recover. A real daemon probing the simulator; the breaker's moments come from the
 * event stream, the jobs from the API, the restarts from the fake ssh's argv.
 */
let redis: TestRedis;
let fleet: FaultFleet;
let d: Daemon;
const HOSTS = Array.from({ length: 10 }, (_, i) => `h${i}`);

beforeAll(async () => {
  redis = await startRedis();
  fleet = await startFaultFleet({ hosts: 10 });
  d = await startDaemon({
    config: fleet.writeConfig({
      redisUrl: redis.url,
      prefix: "mass",
      overrides: { remediation: { breaker: { unhealthyFraction: 0.5, minHosts: 3 }, settle: "1s" } },
    }),
  });
});
afterAll(async () => {
  await killAllDaemons();
  expect(secretLeaks(Object.values(fleet.tokens))).toEqual([]);
  await fleet.close();
  await redis.stop();
});

const events = async () =>
  (await api(d.url, "/api/v1/events?limit=1000", { token: fleet.tokens.read })).body as {
    time: string;
    kind: string;
    outcome?: string;
    reason?: string;
  }[];
const restarts = () => fleet.argvs().filter((r) => /systemctl restart/.test(r.argv.at(-1) ?? "")).length;
const metric = async (name: string) => {
  const text = (await api(d.url, "/metrics")).text;
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
};

describe("fault 6: mass failure", () => {
  it(
    "opens the breaker at 60 % failing, enqueues nothing while open, closes on recovery",
    async () => {
      const { read } = fleet.tokens;
      const healthyCount = async () =>
        ((await api(d.url, "/api/v1/hosts", { token: read })).body as { state: string }[]).filter(
          (h) => h.state === "healthy",
        ).length;
      expect(await poll(async () => (await healthyCount()) === 10, scaled(20_000), 250)).toBe(true);

      await Promise.all(
        HOSTS.slice(0, 6).map((host) =>
          fleet.control.inject({ kind: "unit-fail", host, unit: "mastodon-web.service", keepFailing: true }),
        ),
      );
      expect(await poll(async () => (await metric("nixguard_breaker_open")) === 1, scaled(20_000), 200)).toBe(
        true,
      );
      const openedAt = Date.now();
      const jobsAtOpen = (await api(d.url, "/api/v1/jobs", { token: read })).body.length;
      const restartsAtOpen = restarts();
      await sleep(6_000); // six probe and plan cycles with the breaker open
      expect(await metric("nixguard_breaker_open")).toBe(1);
      expect((await api(d.url, "/api/v1/jobs", { token: read })).body.length).toBe(jobsAtOpen);
      expect(restarts()).toBe(restartsAtOpen);
      const blocked = await api(d.url, "/metrics");
      expect(blocked.text).toMatch(
        /^nixguard_actions_blocked_total\{deployment="[^"]+",reason="breaker"\} [1-9]/m,
      );

      // Recovery: the faults heal outside NixGuard; the breaker closes and stays quiet.
      await fleet.control.healAll();
      expect(await poll(async () => (await metric("nixguard_breaker_open")) === 0, scaled(20_000), 200)).toBe(
        true,
      );
      const closedAt = Date.now();
      expect(await poll(async () => (await healthyCount()) === 10, scaled(20_000), 250)).toBe(true);

      const breaker = (await events()).filter((e) => e.kind === "breaker");
      expect(breaker.map((e) => e.outcome)).toEqual(["open", "closed"]);
      expect(breaker[0]?.reason).toMatch(/^[6-9] of 10 hosts bad/);
      // No job was requested between the opening and the closing events.
      const [open, closed] = breaker.map((e) => Date.parse(e.time)) as [number, number];
      const jobs = (await api(d.url, "/api/v1/jobs", { token: read })).body as { requestedAt: number }[];
      const duringOpen = jobs.filter((j) => j.requestedAt >= open && j.requestedAt <= closed);
      expect(duringOpen).toEqual([]);
      console.log(
        JSON.stringify({
          fault: "mass-failure",
          failing: "6/10",
          openForMs: closedAt - openedAt,
          enqueuedWhileOpen: duringOpen.length,
          enqueuedBeforeOpen: jobs.filter((j) => j.requestedAt < open).length,
        }),
      );
    },
    scaled(90_000),
  );

  it(
    "one host's restart, running or settling, does not hide the other hosts' failures from the breaker",
    async () => {
      // A daemon whose deployment settles for a minute after each action: failures on the hosts
      // an action touches are not counted meanwhile, those on the others must be.
      await d.kill();
      d = await startDaemon({
        config: fleet.writeConfig({
          redisUrl: redis.url,
          prefix: "mass2",
          overrides: { remediation: { breaker: { unhealthyFraction: 0.5, minHosts: 3 }, settle: "60s" } },
        }),
      });
      const { read } = fleet.tokens;
      const hostsState = async () =>
        ((await api(d.url, "/api/v1/hosts", { token: read })).body as { host: string; state: string }[]).map(
          (h) => h.state,
        );
      expect(
        await poll(async () => (await hostsState()).every((s) => s === "healthy"), scaled(20_000), 250),
      ).toBe(true);

      await fleet.control.inject({
        kind: "unit-fail",
        host: "h0",
        unit: "mastodon-web.service",
        keepFailing: true,
      });
      const restartDone = async () =>
        ((await api(d.url, "/api/v1/jobs?state=completed", { token: read })).body as { key: string }[]).some(
          (j) => j.key.endsWith("__h0"),
        );
      expect(await poll(restartDone, scaled(20_000), 200)).toBe(true);
      // h0's restart has run and its deployment now settles for 60 s: five more hosts fail.
      await Promise.all(
        HOSTS.slice(1, 6).map((host) =>
          fleet.control.inject({ kind: "unit-fail", host, unit: "mastodon-web.service", keepFailing: true }),
        ),
      );
      // Two failed probes a host (failureThreshold 2 at 1 s), then a pass: well inside the settle.
      expect(await poll(async () => (await metric("nixguard_breaker_open")) === 1, scaled(20_000), 200)).toBe(
        true,
      );
      expect((await hostsState()).filter((s) => s === "failing")).toHaveLength(6);
      await fleet.control.healAll();
    },
    scaled(90_000),
  );
});
