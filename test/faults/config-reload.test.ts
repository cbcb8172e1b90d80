import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Daemon,
  killAllDaemons,
  msg,
  scaled,
  secretLeaks,
  startDaemon,
} from "../helpers/fault-daemon.js";
import { api, type FaultFleet, poll, sleep, startFaultFleet } from "../helpers/fault-fleet.js";
import { startRedis, type TestRedis } from "../helpers/redis.js";

/**
 * Fault 8: config reloads (SIGHUP and the API) of a running daemon. It runs without the worker
 * role so queued jobs stay pending. An invalid file is refused with its errors while the running
 * config keeps probing; a valid one that removes a host cancels that host's pending job and
 * drops its metric series.
 */
let redis: TestRedis;
let fleet: FaultFleet;
let d: Daemon;
let file: string;
beforeAll(async () => {
  redis = await startRedis();
  fleet = await startFaultFleet();
  file = fleet.writeConfig({ redisUrl: redis.url, prefix: "reload" });
  d = await startDaemon({ config: file, roles: "controller,api" });
});
afterAll(async () => {
  await killAllDaemons();
  expect(secretLeaks(Object.values(fleet.tokens))).toEqual([]);
  await fleet.close();
  await redis.stop();
});

const hostSeries = (text: string, host: string) =>
  text.split("\n").filter((l) => !l.startsWith("#") && l.includes(`host="${host}"`));

describe("fault 8: config reload", () => {
  it(
    "refuses an invalid file with its errors and keeps running; a valid one removing a host cancels its jobs and series",
    async () => {
      const { admin, read } = fleet.tokens;
      expect(await poll(async () => (await api(d.url, "/readyz")).status === 200, scaled(15_000))).toBe(true);
      const good = JSON.parse(readFileSync(file, "utf8"));

      // A pending job for peertube (no worker here: it waits).
      const job = await api(d.url, "/api/v1/hosts/peertube/units/peertube.service/restart", {
        token: admin,
        body: {},
      });
      expect(job.status, job.text).toBe(202);
      expect((await api(d.url, `/api/v1/jobs/${job.body.jobId}`, { token: read })).body.state).toBe(
        "waiting",
      );
      expect(hostSeries((await api(d.url, "/metrics")).text, "peertube").length).toBeGreaterThan(0);

      // Invalid: a hostile unit name and an unknown key. SIGHUP, then the API.
      const bad = structuredClone(good);
      bad.deployments.fediversity.hosts.garage.units = ["foo.service;reboot"];
      bad.remediation.typo = true;
      writeFileSync(file, JSON.stringify(bad));
      const from = d.lines.length;
      d.signal("SIGHUP");
      const refused = await d.waitLog(msg(/config reload refused/), scaled(10_000), from);
      const issues = JSON.stringify(refused.json?.issues);
      expect(issues).toContain("deployments.fediversity.hosts.garage.units[0]");
      expect(issues).toContain("typo");
      const viaApi = await api(d.url, "/api/v1/config/reload", { token: admin, body: {} });
      expect(viaApi.status).toBe(422);
      expect(JSON.stringify(viaApi.body.issues)).toContain("units[0]");

      // The running config keeps working: four hosts, still probed, still ready.
      const observedAt = async () =>
        (await api(d.url, "/api/v1/hosts/garage", { token: read })).body.health.lastObservedAt as number;
      const before = await observedAt();
      await sleep(2_500);
      expect(await observedAt()).toBeGreaterThan(before);
      expect((await api(d.url, "/api/v1/hosts", { token: read })).body).toHaveLength(4);
      expect((await api(d.url, "/readyz")).status).toBe(200);
      expect(d.alive()).toBe(true);

      // Valid, without peertube.
      const next = structuredClone(good);
      delete next.deployments.fediversity.hosts.peertube;
      delete next.deployments.fediversity.fediversity.peertube;
      writeFileSync(file, JSON.stringify(next));
      const from2 = d.lines.length;
      d.signal("SIGHUP");
      await d.waitLog(msg("config reloaded"), scaled(10_000), from2);
      const cancelled = await d.waitLog(msg("cancelled jobs of a removed host"), scaled(5_000), from2);
      expect(cancelled.json).toMatchObject({ host: "peertube", cancelled: 1 });
      const after = await api(d.url, `/api/v1/jobs/${job.body.jobId}`, { token: read });
      expect(after.status === 404 || after.body.state !== "waiting", after.text).toBe(true);
      expect((await api(d.url, "/api/v1/jobs?state=waiting", { token: read })).body).toEqual([]);
      expect((await api(d.url, "/api/v1/hosts", { token: read })).body).toHaveLength(3);
      // Its series are gone for good (not re-created by a late probe).
      await sleep(2_000);
      const metrics = (await api(d.url, "/metrics")).text;
      expect(hostSeries(metrics, "peertube")).toEqual([]);
      expect(hostSeries(metrics, "garage").length).toBeGreaterThan(0);
      console.log(
        JSON.stringify({ fault: "config-reload", refusedIssues: refused.json?.issues, cancelledJobs: 1 }),
      );
    },
    scaled(60_000),
  );
});
