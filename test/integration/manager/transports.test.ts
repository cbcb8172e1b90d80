/**
 * One owner of transports (issue 18, item 1). A restart closed the transport it was handed, which
 * was the manager's cached one the probe scheduler used: for a host probed through node_exporter
 * the agent was gone for good and the host stayed "unreachable: transport closed" until NixGuard
 * restarted (never remediated, counted by the breaker).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfigFile } from "../../../src/config/load.js";
import { silentLogger } from "../../../src/log.js";
import { Manager } from "../../../src/manager.js";
import { useExporterRig } from "./exporter-rig.js";

const rig = useExporterRig("transports");

describe("transports have one owner", () => {
  it("a restart on an exporter host leaves the host reachable through the scheduler's transport", async () => {
    const file = join(rig.dir, "nixguard.json");
    writeFileSync(
      file,
      JSON.stringify({
        redis: { url: rig.redis.url, prefix: "transports" },
        state: { dir: join(rig.dir, "state"), runtimeDir: join(rig.dir, "run") },
        leader: { lease: "3s", renew: "1s" },
        remediation: { mode: "observe" },
        deployments: {
          web: {
            flake: "/var/lib/deploy",
            hosts: {
              h1: {
                address: "127.0.0.1",
                transport: "exporter",
                exporterUrl: rig.url,
                units: ["mastodon-web.service"],
              },
            },
          },
        },
      }),
    );
    const manager = new Manager({
      loaded: loadConfigFile(file),
      logger: silentLogger(),
      roles: { controller: true, worker: true, api: false },
      processMetrics: false,
    });
    await manager.start();
    try {
      const end = Date.now() + 10_000;
      while (!manager.leader?.isLeader() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect((await manager.probeNow("web", "h1")).reachable).toBe(true);
      const d = await manager.controller.requestAction(
        { kind: "restart", deployment: "web", host: "h1", units: ["mastodon-web.service"] },
        { actor: "test", force: true },
      );
      expect(d.decision).toBe("enqueued");
      let outcome: { reason?: string; outcome?: string } | undefined;
      while (!outcome && Date.now() < end) {
        outcome = (await manager.events.list({ limit: 50 })).find((e) => e.kind === "outcome");
        if (!outcome) await new Promise((r) => setTimeout(r, 50));
      }
      // The exporter is read-only: the restart is refused, and says why.
      expect(outcome).toMatchObject({ outcome: "failed" });
      expect(outcome?.reason).toContain("cannot restart");
      const after = await manager.probeNow("web", "h1");
      expect(after.error?.message).toBeUndefined();
      expect(after.reachable).toBe(true);
    } finally {
      await manager.stop();
    }
  });
});
