import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FleetStatus, ProbingMember } from "../../src/api/control-plane-port.js";
import { ownerOf } from "../../src/probes/share/rendezvous.js";
import { longestGap } from "../../src/sim/server.js";
import {
  type Daemon,
  killAllDaemons,
  msg,
  scaled,
  secretLeaks,
  startDaemon,
  startupBudget,
} from "../helpers/fault-daemon.js";
import { api, type FaultFleet, poll, sleep, startFaultFleet } from "../helpers/fault-fleet.js";
import { startRedis, type TestRedis } from "../helpers/redis.js";

/**
 * Issue 22, item 1: three NixGuard processes on one Redis share the probing of a simulated
 * fleet reached through node_exporter. The evidence is the simulator's: every scrape of every
 * host's exporter is logged with its time, so who probes what and how long a host went unprobed
 * are measured where the probes land, not taken from NixGuard's word.
 */
let redis: TestRedis;
let conn: Redis;
let fleet: FaultFleet;
const HOSTS = 12;
const PREFIX = "share";
/** Probe interval (2 s) and the membership's timings: heartbeat 250 ms, dead after 750 ms. */
const INTERVAL = 2_000;
const HEARTBEAT = 250;
const DEAD_AFTER = 750;

beforeAll(async () => {
  redis = await startRedis();
  conn = new Redis(redis.url);
  fleet = await startFaultFleet({ hosts: HOSTS, transport: "exporter" });
});
afterAll(async () => {
  await killAllDaemons();
  expect(secretLeaks(Object.values(fleet.tokens))).toEqual([]);
  conn.disconnect();
  await fleet.close();
  await redis.stop();
});

const status = async (d: Daemon): Promise<FleetStatus> =>
  (await api(d.url, "/api/v1/status", { token: fleet.tokens.read })).body as FleetStatus;
const alive = (s: FleetStatus | undefined): ProbingMember[] =>
  s?.probing?.members.filter((m) => m.alive) ?? [];
const streamKey = `${PREFIX}:probe:observations`;

/** Host name → key as NixGuard names it (deployment/host). */
async function hostKeys(): Promise<Map<string, string>> {
  return new Map((await fleet.control.hosts()).map((h) => [h.name, `${h.deployment}/${h.name}`]));
}

/** Which members published observations of each host in the last `ms` (from the stream). */
async function publishedBy(ms: number): Promise<Map<string, Set<string>>> {
  const entries = (await conn.xrange(streamKey, String(Date.now() - ms), "+")) as [string, string[]][];
  const out = new Map<string, Set<string>>();
  for (const [, fields] of entries) {
    const h = fields[fields.indexOf("h") + 1] as string;
    const p = fields[fields.indexOf("p") + 1] as string;
    const s = out.get(h) ?? new Set<string>();
    s.add(p);
    out.set(h, s);
  }
  return out;
}

describe("probing shared across replicas", () => {
  it(
    "alone: one process probes every host itself, nothing through Redis; three: the hosts split, a failure seen by a replica is remediated by the leader, a SIGKILLed replica's hosts are probed again within two intervals",
    async () => {
      const config = fleet.writeConfig({
        redisUrl: redis.url,
        prefix: PREFIX,
        overrides: {
          probes: {
            interval: `${INTERVAL}ms`,
            timeout: "1s",
            jitter: 0,
            failureThreshold: 2,
            sharing: { heartbeat: `${HEARTBEAT}ms`, deadAfter: `${DEAD_AFTER}ms` },
          },
        },
      });
      const keys = await hostKeys();

      // One process alone: it leads, probes all 12 hosts, and publishes nothing.
      const a = await startDaemon({ config, name: "A" });
      await a.waitLog(msg("became leader"), startupBudget());
      const aloneFrom = Date.now();
      await sleep(INTERVAL + 500);
      for (const name of keys.keys())
        expect(
          fleet.sim.exporterLog.get(name)?.some((t) => t >= aloneFrom),
          name,
        ).toBe(true);
      expect(await conn.exists(streamKey)).toBe(0);
      const aloneStatus = await status(a);
      expect(aloneStatus.probing?.shared).toBe(false);
      expect(alive(aloneStatus).map((m) => m.hosts)).toEqual([HOSTS]);

      // Two more: the hosts split three ways, each member probing its own share.
      const b = await startDaemon({ config, name: "B" });
      // C probes without competing for the lease (the probe role; with the API to ask it).
      const c = await startDaemon({ config, name: "C", roles: "probe,api" });
      const three = await poll(
        async () => {
          const s = await status(a);
          return alive(s).length === 3 ? s : undefined;
        },
        scaled(10 * HEARTBEAT + 5_000),
      );
      expect(three?.probing?.shared).toBe(true);
      const members = alive(three);
      expect(members.reduce((n, m) => n + m.hosts, 0)).toBe(HOSTS);
      const ids = members.map((m) => m.id).sort();
      const leaderId = three?.leader.id as string;
      expect(ids).toContain(leaderId);
      // Past the hand-over grace, every replica publishes exactly its rendezvous share.
      await sleep(DEAD_AFTER + 2 * INTERVAL);
      const published = await publishedBy(INTERVAL);
      for (const [name, key] of keys) {
        const owner = ownerOf(key, ids);
        const by = [...(published.get(key) ?? [])];
        if (owner === leaderId) expect(by, name).toEqual([]);
        else expect(by, name).toEqual([owner]);
      }
      // A failure on a host a replica probes: the leader judges it from the stream and remediates.
      const daemons = [a, b, c];
      const leader = daemons.find((d) => d.lines.some(msg("became leader"))) as Daemon;
      const [victimName, victimKey] = [...keys].find(([, k]) => ownerOf(k, ids) !== leaderId) as [
        string,
        string,
      ];
      const prober = ownerOf(victimKey, ids) as string;
      const from = leader.lines.length;
      await fleet.control.inject({ kind: "unit-fail", host: victimName, unit: "mastodon-web.service" });
      // The leader's health book turns the host failing from the replica's observations.
      const failing = await poll(
        async () => {
          const d = await api(leader.url, `/api/v1/hosts/${victimName}`, { token: fleet.tokens.read });
          return d.body?.health?.state === "failing" ? d.body : undefined;
        },
        scaled(3 * INTERVAL + 5_000),
      );
      expect(failing?.lastObservation?.prober).toBe(prober);
      // Remediated by the leader (the exporter cannot restart: a redeploy), the unit is up again.
      // Whichever worker ran the job, its outcome reaches the leader (issue 18): its event says so.
      const outcome = await leader.waitLog(
        (l) => (l.json?.event as { kind?: string } | undefined)?.kind === "outcome",
        scaled(4 * INTERVAL + 20_000),
        from,
      );
      expect(outcome.json?.event).toMatchObject({
        deployment: keys.get(victimName)?.split("/")[0],
        outcome: "success",
      });
      await poll(async () => (await fleet.control.host(victimName)).downUnits.length === 0, scaled(10_000));
      expect((await fleet.control.host(victimName)).downUnits).toEqual([]);

      // SIGKILL a replica that does not lead: the others take its hosts within two intervals.
      // The replica with the most hosts (ids are random: one may win few or none of 12).
      const shares = await Promise.all(
        daemons
          .filter((d) => d !== leader)
          .map(async (d) => ({ d, id: (await status(d)).probing?.self as string })),
      );
      const count = (id: string) => [...keys.values()].filter((k) => ownerOf(k, ids) === id).length;
      shares.sort((x, y) => count(y.id) - count(x.id));
      const { d: victim, id: victimId } = shares[0] as { d: Daemon; id: string };
      const itsHosts = [...keys].filter(([, k]) => ownerOf(k, ids) === victimId).map(([n]) => n);
      expect(itsHosts.length).toBeGreaterThan(0);
      victim.signal("SIGKILL");
      const killedAt = (await victim.exited).at;
      await sleep(4 * INTERVAL);
      const until = Date.now();
      const gaps = Object.fromEntries(
        [...keys.keys()].map((n) => [n, longestGap(fleet.sim.exporterLog.get(n) ?? [], killedAt, until)]),
      );
      const worst = Math.max(...Object.values(gaps));
      console.log(
        JSON.stringify({ fault: "prober-sigkill", intervalMs: INTERVAL, worstGapMs: worst, gaps, itsHosts }),
      );
      expect(worst).toBeLessThanOrEqual(2 * INTERVAL);
      const survivors = daemons.filter((d) => d !== victim);
      const two = await poll(async () => {
        const s = await status(survivors[0] as Daemon);
        return alive(s).length === 2 ? s : undefined;
      }, scaled(5_000));
      expect(alive(two).reduce((n, m) => n + m.hosts, 0)).toBe(HOSTS);
      expect(alive(two).map((m) => m.id)).not.toContain(victimId);
      // The leader took the stream's observations: accepted ones are counted.
      const metrics = await api(leader.url, "/metrics");
      const accepted = /nixguard_probe_observations_received_total\{result="accepted"\} (\d+)/.exec(
        metrics.text,
      );
      expect(Number(accepted?.[1] ?? 0)).toBeGreaterThan(0);
      expect(metrics.text).toMatch(/nixguard_probe_members 2/);
    },
    6 * startupBudget() + 60_000,
  );
});
