import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeToken } from "../../../src/api/auth.js";
import { loadConfigFile } from "../../../src/config/load.js";
import { silentLogger } from "../../../src/log.js";
import { Manager } from "../../../src/manager.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";

const ADMIN = "reload-admin-token-0123456789";
let redis: TestRedis;
let dir: string;

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), "nixguard-reload-"));
});

afterAll(async () => {
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Manager.reloadFromFile", () => {
  it("is refused before start and after stop, runs one at a time, refuses start-only changes, forgets removed hosts", async () => {
    const file = join(dir, "nixguard.json");
    const config = (hosts: string[]) => ({
      redis: { url: redis.url, prefix: "reload" },
      state: { dir: join(dir, "state"), runtimeDir: join(dir, "run") },
      deployments: {
        web: {
          flake: "/var/lib/deploy",
          hosts: Object.fromEntries(
            hosts.map((h, i) => [h, { address: `10.0.0.${i + 1}`, units: ["nginx.service"] }]),
          ),
        },
      },
    });
    writeFileSync(file, JSON.stringify(config(["web1"])));
    const manager = new Manager({
      loaded: loadConfigFile(file),
      logger: silentLogger(),
      roles: { controller: false, worker: false, api: true },
      tokens: [makeToken("ops", "admin", ADMIN)],
      listen: "127.0.0.1:0",
      processMetrics: false,
    });
    // A SIGHUP during start-up: refused, not a crash on parts that do not exist yet.
    expect(await manager.reloadFromFile()).toEqual({
      ok: false,
      issues: [{ path: "", message: "NixGuard is still starting; reload once it runs" }],
    });
    await manager.start();
    try {
      writeFileSync(file, JSON.stringify(config(["web1", "web2"])));
      const both = await Promise.all([manager.reloadFromFile(), manager.reloadFromFile()]);
      expect(both).toEqual([{ ok: true }, { ok: true }]);
      expect(manager.current.desired.deployments[0]?.hosts.map((h) => h.name)).toEqual(["web1", "web2"]);
      // A setting only read at start: refused by name, and nothing of the file is applied.
      writeFileSync(file, JSON.stringify({ ...config(["web1"]), probes: { interval: "5s" } }));
      expect(await manager.reloadFromFile()).toEqual({
        ok: false,
        issues: [
          {
            path: "probes.interval",
            message: "changed, but read only at start: restart NixGuard to apply it (nothing was reloaded)",
          },
        ],
      });
      expect(manager.current.desired.deployments[0]?.hosts).toHaveLength(2);
      // A removed host's recorded system goes with it: the same name added later starts afresh.
      await manager.store.recordGeneration("web", "web2", "/nix/store/x-system");
      await manager.store.setDrift("web", "web2", 1);
      const post = (path: string, body: unknown) =>
        fetch(`${manager.url}${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      expect((await post("/api/v1/pause", { scope: "host/web2", reason: "disk swap" })).status).toBe(200);
      writeFileSync(file, JSON.stringify(config(["web1"])));
      expect(await manager.reloadFromFile()).toEqual({ ok: true });
      // Its pause can still be lifted, although the config no longer names the host.
      const resumed = await post("/api/v1/resume", { scope: "host/web2", reason: "disk swapped" });
      expect(resumed.status).toBe(200);
      expect((await manager.store.policyRecords()).pauses).toEqual([]);
      expect((await post("/api/v1/resume", { scope: "host/web2", reason: "disk swapped" })).status).toBe(404);
      writeFileSync(file, JSON.stringify(config(["web1", "web2"])));
      expect(await manager.reloadFromFile()).toEqual({ ok: true });
      const state = await manager.store.load(manager.current.desired.deployments[0]!);
      expect(state.generations).toEqual({});
      expect((await manager.store.policyRecords()).drift).toEqual({});
    } finally {
      await manager.stop();
    }
    expect(await manager.reloadFromFile()).toMatchObject({
      ok: false,
      issues: [{ message: "NixGuard is stopping" }],
    });
  }, 30_000);
});
