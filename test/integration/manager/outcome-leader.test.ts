/**
 * Outcomes reach the leader (issue 18, item 6). The process that ran a job handled its outcome: on
 * a worker-only (or standby) process the re-probe did nothing, the outcome said "(after: unknown)"
 * and the leader was not woken — half of all jobs with two replicas. Here the controller (leader)
 * is this process and the worker another one, sharing one Redis.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfigFile } from "../../../src/config/load.js";
import { silentLogger } from "../../../src/log.js";
import { Manager } from "../../../src/manager.js";
import { waitFor } from "../../helpers/fake-nixops4.js";
import { useExporterRig } from "./exporter-rig.js";

const rig = useExporterRig("outcome");

describe("outcomes reach the leader", () => {
  it("a job run by a worker in another process: the leader re-probes, reports the health after it, and wakes", async () => {
    const file = join(rig.dir, "nixguard.json");
    writeFileSync(
      file,
      JSON.stringify({
        redis: { url: rig.redis.url, prefix: "outcome" },
        state: { dir: join(rig.dir, "state"), runtimeDir: join(rig.dir, "run") },
        // The interval is long: a probe after the outcome is the outcome's re-probe.
        probes: { interval: "10m", failureThreshold: 1 },
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
    const worker: ChildProcess = spawn(
      process.execPath,
      ["--import", "tsx", new URL("./worker-only.ts", import.meta.url).pathname, file],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const controller = new Manager({
      loaded: loadConfigFile(file),
      logger: silentLogger(),
      roles: { controller: true, worker: false, api: false },
      processMetrics: false,
    });
    try {
      let out = "";
      worker.stdout?.on("data", (b) => {
        out += b;
      });
      expect(await waitFor(() => out.includes("ready"), 30_000)).toBe(true);
      await controller.start();
      expect(await waitFor(() => controller.leader?.isLeader() === true, 10_000)).toBe(true);
      expect(await waitFor(() => controller.health.get("web", "h1") !== undefined, 10_000)).toBe(true);
      const before = rig.probes;
      const d = await controller.controller.requestAction(
        { kind: "restart", deployment: "web", host: "h1", units: ["mastodon-web.service"] },
        { actor: "test", force: true },
      );
      expect(d.decision).toBe("enqueued");
      const outcome = async () =>
        (await controller.events.list({ limit: 50 })).find((e) => e.kind === "outcome");
      expect(await waitFor(async () => (await outcome()) !== undefined, 20_000)).toBe(true);
      const o = await outcome();
      // Reported by the leader, with the host's health after the re-probe — never "after: unknown".
      expect(o?.reason).not.toContain("unknown");
      expect(o?.reason).toMatch(/\((healed|after: \w+)\)$/);
      expect(rig.probes).toBeGreaterThan(before);
    } finally {
      await controller.stop();
      worker.kill("SIGTERM");
      await new Promise((r) => worker.once("exit", r));
    }
  }, 90_000);
});
