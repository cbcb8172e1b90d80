import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeToken } from "../../../src/api/auth.js";
import { loadConfigFile } from "../../../src/config/load.js";
import { EXIT, exitCodeOf } from "../../../src/errors.js";
import { silentLogger } from "../../../src/log.js";
import { Manager } from "../../../src/manager.js";
import {
  FAKE_NIXOPS4,
  type FakeControl,
  type FakeFlake,
  makeFakeFlake,
  waitFor,
} from "../../helpers/fake-nixops4.js";
import { ROOT } from "../../helpers/fault-daemon.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";

/**
 * `serve` asks nixops4 what it can apply before it starts: a refused target ends the start with
 * exit 78 naming host, target, why and what exists; no answer (nixops4 not installed yet) lets
 * NixGuard start, says so, and asks again; the generation found shows in /api/v1/status.
 */
const ADMIN = "start-discovery-admin-token-0123";
let redis: TestRedis;
let dir: string;
let flakes: FakeFlake[] = [];
let managers: Manager[] = [];

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), "nixguard-start-discovery-"));
});
afterAll(async () => {
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const m of managers) await m.stop();
  managers = [];
  for (const f of flakes) f.cleanup();
  flakes = [];
});

const newer: FakeControl = {
  cli: "newer",
  composites: { "": ["fediversity"], fediversity: ["garage", "mastodon"] },
  resources: ["fediversity.garage", "fediversity.mastodon"],
};

function flake(control: FakeControl): FakeFlake {
  const f = makeFakeFlake("start-discovery");
  flakes.push(f);
  f.control(control);
  return f;
}

function configFile(name: string, command: string, deployments: Record<string, unknown>): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      redis: { url: redis.url, prefix: name },
      state: { dir: join(dir, name, "state"), runtimeDir: join(dir, name, "run") },
      nixops4: { command },
      deployments,
    }),
  );
  return file;
}

const fedi = (flakeDir: string, target: unknown, mastodonTarget?: string) => ({
  flake: flakeDir,
  target,
  hosts: {
    garage: { address: "10.0.0.10", units: ["garage.service"] },
    mastodon: {
      address: "10.0.0.11",
      units: ["mastodon-web.service"],
      ...(mastodonTarget ? { target: mastodonTarget } : {}),
    },
  },
});

function manager(file: string, retryMs = 30_000): Manager {
  const m = new Manager({
    loaded: loadConfigFile(file),
    logger: silentLogger(),
    roles: { controller: false, worker: false, api: true },
    tokens: [makeToken("ops", "admin", ADMIN)],
    listen: "127.0.0.1:0",
    processMetrics: false,
    discoverTargets: { retryMs, maxRetryMs: retryMs },
  });
  managers.push(m);
  return m;
}

interface StatusBody {
  nixops4: {
    deployment: string;
    state: string;
    generation?: string;
    error?: string;
    checkedAt?: number;
    nextTryAt?: number;
  }[];
}
const status = async (m: Manager) =>
  (await (
    await fetch(`${m.url}/api/v1/status`, { headers: { authorization: `Bearer ${ADMIN}` } })
  ).json()) as StatusBody;

describe("serve: targets checked with nixops4 at start", () => {
  it("a host target naming a machine ends `nixguard serve` with exit 78, saying what to use", () => {
    const f = flake(newer);
    const file = configFile("refused", FAKE_NIXOPS4, {
      fedi: fedi(f.dir, "fediversity", "fediversity.mastodon"),
    });
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", join(ROOT, "src/main.ts"), "serve", "--config", file],
      {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(r.status).toBe(EXIT.CONFIG);
    expect(r.status).toBe(78);
    expect(r.stderr).toContain(
      'deployments.fedi.hosts.mastodon.target: host mastodon, target fediversity.mastodon: "fediversity.mastodon" is a resource (a nixops4-nixos machine is one), and nixops4 applies composites only; apply the composite that holds it, or the whole root (target []) (root members: fediversity)',
    );
    // Only read-only questions were asked; nothing was applied.
    const argvs = f
      .calls()
      .filter((c) => c.event === "start")
      .map((c) => c.argv?.[0]);
    expect(argvs).not.toContain("apply");
    expect(argvs.length).toBeGreaterThan(0);
  }, 90_000);

  it("the same refusal from Manager.start is a config error (exit 78) and starts nothing", async () => {
    const f = flake({ cli: "older", deployments: ["check-deployment-cli-mastodon-pixelfed"] });
    const m = manager(
      configFile("refused-older", FAKE_NIXOPS4, { fedi: fedi(f.dir, "fediversity.mastodon") }),
    );
    const err = await m.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(exitCodeOf(err)).toBe(78);
    expect((err as Error).message).toContain(
      'deployment fedi, target fediversity.mastodon: no deployment "fediversity.mastodon" in',
    );
    expect((err as Error).message).toContain(
      "(nixops4 deployments list: check-deployment-cli-mastodon-pixelfed); the older CLI has no per-machine paths: use the deployment's name",
    );
    expect(m.url).toBeUndefined();
  });

  it("shows the generation per deployment in /api/v1/status, detected once per directory", async () => {
    const f = flake(newer);
    const m = manager(
      configFile("ok", FAKE_NIXOPS4, {
        fedi: fedi(f.dir, "fediversity"),
        all: { ...fedi(f.dir, []), hosts: { x: { address: "10.0.0.12", units: ["a.service"] } } },
      }),
    );
    await m.start();
    const s = await status(m);
    expect(s.nixops4.map(({ deployment, state, generation }) => ({ deployment, state, generation }))).toEqual(
      [
        { deployment: "fedi", state: "ok", generation: "newer" },
        { deployment: "all", state: "ok", generation: "newer" },
      ],
    );
    const helps = f.calls().filter((c) => c.event === "start" && c.argv?.includes("--help"));
    expect(helps).toHaveLength(1);
  });

  it("nixops4 not installed yet: NixGuard starts, says so in status and events, and asks again until it answers", async () => {
    const f = flake({ cli: "older", deployments: ["check-deployment-cli-mastodon-pixelfed"] });
    // An absolute command that does not exist yet: installed (linked) once NixGuard runs.
    const command = join(dir, "later-bin", "nixops4");
    const retryMs = 300;
    const m = manager(
      configFile("missing", command, { fedi: fedi(f.dir, "check-deployment-cli-mastodon-pixelfed") }),
      retryMs,
    );
    await m.start();
    let s = await status(m);
    expect(s.nixops4[0]).toMatchObject({ deployment: "fedi", state: "unknown" });
    expect(s.nixops4[0]?.error).toContain(`${command} not found on PATH`);
    expect(s.nixops4[0]?.nextTryAt).toBeGreaterThan(s.nixops4[0]?.checkedAt ?? Number.POSITIVE_INFINITY);
    const events = await m.events.list({});
    expect(
      events.some(
        (e) =>
          e.kind === "config" &&
          e.deployment === "fedi" &&
          /could not check the targets/.test(e.reason ?? ""),
      ),
    ).toBe(true);

    spawnSync("mkdir", ["-p", join(dir, "later-bin")]);
    symlinkSync(FAKE_NIXOPS4, command);
    // Retries every retryMs (capped there); each asks nixops4 --help and deployments list.
    expect(
      await waitFor(async () => (await status(m)).nixops4[0]?.state === "ok", 20 * retryMs + 10_000),
    ).toBe(true);
    s = await status(m);
    expect(s.nixops4[0]).toMatchObject({ state: "ok", generation: "older" });
    const after = await m.events.list({});
    expect(
      after.some(
        (e) =>
          e.kind === "config" && /older CLI in .* can apply every configured target/.test(e.reason ?? ""),
      ),
    ).toBe(true);
  }, 30_000);
});
