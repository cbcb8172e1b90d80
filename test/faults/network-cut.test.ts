import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Daemon, killAllDaemons, scaled, secretLeaks, startDaemon } from "../helpers/fault-daemon.js";
import { api, type FaultFleet, poll, sleep, startFaultFleet } from "../helpers/fault-fleet.js";
import { createNetns, type Netns, netnsAvailable } from "../helpers/fault-netns.js";
import { freePort, startRedis, type TestRedis } from "../helpers/redis.js";

/**
 * Fault 5: a host cut off by the network. The mastodon host lives behind a real link: its
 * node_exporter and HTTP endpoints answer on an address inside a network namespace this test
 * creates (veth pair, 10.213.N.0/30), relayed to the simulator. Bringing the link down makes it
 * unreachable — which is not a service failure: no restart, no redeploy — and it recovers alone
 * when the link comes back.
 */
let redis: TestRedis;
let fleet: FaultFleet;
let ns: Netns | undefined;
let d: Daemon;

beforeAll(async () => {
  redis = await startRedis();
  fleet = await startFaultFleet();
});
afterAll(async () => {
  await killAllDaemons();
  await ns?.destroy(); // always: a leftover namespace or veth would outlive the test run
  expect(secretLeaks(Object.values(fleet.tokens))).toEqual([]);
  await fleet.close();
  await redis.stop();
});

describe.skipIf(!netnsAvailable())("fault 5: a host cut off by the network", () => {
  it(
    "turns unreachable, triggers no action, and recovers by itself when the link returns",
    async () => {
      ns = await createNetns();
      const port = await freePort();
      await ns.forward(port, fleet.sim.port);
      const nsAddr = ns.nsAddr;
      const config = fleet.writeConfig({
        redisUrl: redis.url,
        prefix: "netcut",
        overrides: { probes: { interval: "1s", timeout: "1s", jitter: 0, failureThreshold: 2 } },
        mutate: (c) => {
          const host = (c.deployments as any).fediversity.hosts.mastodon;
          host.address = nsAddr;
          host.transport = "exporter";
          host.exporterUrl = `http://${nsAddr}:${port}/exporter/mastodon/metrics`;
          host.serviceOptions.mastodon.port = port;
        },
      });
      d = await startDaemon({ config });
      const state = async () =>
        (await api(d.url, "/api/v1/hosts/mastodon", { token: fleet.tokens.read })).body?.health
          ?.state as string;
      const healthy = await poll(async () => (await state()) === "healthy", scaled(20_000), 250);
      const host = await api(d.url, "/api/v1/hosts/mastodon", { token: fleet.tokens.read });
      expect(healthy, host.text).toBe(true);

      ns.down();
      const cutAt = Date.now();
      expect(await poll(async () => (await state()) === "unreachable", scaled(20_000), 250)).toBe(true);
      const unreachableAfterMs = Date.now() - cutAt;
      await sleep(5_000); // several probe and plan cycles while it is cut off
      expect(await state()).toBe("unreachable");

      ns.up();
      const upAt = Date.now();
      expect(await poll(async () => (await state()) === "healthy", scaled(30_000), 250)).toBe(true);
      const recoveredAfterMs = Date.now() - upAt;

      // Nothing was done about it: no job, no restart over ssh, no nixops4 apply.
      const jobs = await api(d.url, "/api/v1/jobs", { token: fleet.tokens.read });
      expect(jobs.body).toEqual([]);
      // (serve's start asks nixops4 read-only questions about its targets; none is an apply)
      expect(fleet.argvs().filter((r) => r.command === "nixops4" && r.argv.includes("apply"))).toEqual([]);
      expect(fleet.argvs().filter((r) => /systemctl restart/.test(r.argv.at(-1) ?? ""))).toEqual([]);
      expect(await fleet.control.applyRuns()).toEqual([]);
      const events = await api(d.url, "/api/v1/events?host=mastodon", { token: fleet.tokens.read });
      const kinds = (events.body as { kind: string }[]).map((e) => e.kind);
      expect(kinds).toContain("unreachable");
      expect(kinds).toContain("recover");
      expect(kinds).not.toContain("action");
      console.log(JSON.stringify({ fault: "network-cut", unreachableAfterMs, recoveredAfterMs, actions: 0 }));
    },
    scaled(90_000),
  );
});
