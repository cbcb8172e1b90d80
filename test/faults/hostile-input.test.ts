import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/program.js";
import {
  type Daemon,
  killAllDaemons,
  ROOT,
  scaled,
  secretLeaks,
  startDaemon,
} from "../helpers/fault-daemon.js";
import { api, type FaultFleet, poll, sleep, startFaultFleet } from "../helpers/fault-fleet.js";
import { HOSTILE_VALUES } from "../helpers/hostile.js";
import { startRedis, type TestRedis } from "../helpers/redis.js";

/**
 * Security 10: every hostile value (test/helpers/hostile.ts) through every config field that can
 * reach a command line, and through every identifier parameter of the API. Config: exit 78 from
 * `nixguard config check`. API: 400 (404 where an empty path segment matches no route). The fake
 * ssh and nixops4 are wrapped by a recorder: after everything, no argv they were given holds a
 * hostile value.
 */
let redis: TestRedis;
let fleet: FaultFleet;
let d: Daemon;
let base: any;
const refused = { config: 0, api: 0 };

beforeAll(async () => {
  redis = await startRedis();
  fleet = await startFaultFleet();
  const file = fleet.writeConfig({ redisUrl: redis.url, prefix: "hostile" });
  base = JSON.parse(readFileSync(file, "utf8"));
  d = await startDaemon({ config: file });
});
afterAll(async () => {
  await killAllDaemons();
  expect(secretLeaks(Object.values(fleet.tokens))).toEqual([]);
  await fleet.close();
  await redis.stop();
  console.log(JSON.stringify({ security: "hostile-values", values: HOSTILE_VALUES.length, refused }));
});

type Mutator = (c: any, v: string) => void;
const host = (c: any) => c.deployments.fediversity.hosts.garage;
const dep = (c: any) => c.deployments.fediversity;

/** Every config field whose value can end up in an ssh/nixops4 argv, a remote shell line or a path. */
const CONFIG_FIELDS: Record<string, Mutator> = {
  "deployment name": (c, v) => {
    c.deployments = { [v]: dep(c) };
  },
  "host name": (c, v) => {
    dep(c).hosts = { [v]: host(c) };
    dep(c).fediversity = { domain: dep(c).fediversity.domain, garage: { enable: true } };
  },
  "host address": (c, v) => {
    host(c).address = v;
  },
  "host user": (c, v) => {
    host(c).user = v;
  },
  "host units[]": (c, v) => {
    host(c).units = [v];
  },
  "host oneshotUnits[]": (c, v) => {
    host(c).oneshotUnits = [v];
  },
  "host target": (c, v) => {
    host(c).target = v;
  },
  "host identityFile": (c, v) => {
    host(c).identityFile = v;
  },
  "host knownHostsFile": (c, v) => {
    host(c).knownHostsFile = v;
  },
  "host exporterUrl": (c, v) => {
    host(c).transport = "exporter";
    host(c).exporterUrl = v;
  },
  "http check url": (c, v) => {
    host(c).http = [{ name: "x", url: v }];
  },
  "http check units[]": (c, v) => {
    host(c).http = [{ name: "x", url: "http://127.0.0.1:1/", units: [v] }];
  },
  "serviceOptions skipUnits[]": (c, v) => {
    host(c).serviceOptions.garage.skipUnits = [v];
  },
  "serviceOptions hostname": (c, v) => {
    host(c).serviceOptions.garage.hostname = v;
  },
  "deployment flake": (c, v) => {
    dep(c).flake = v;
  },
  "deployment target": (c, v) => {
    dep(c).target = v;
  },
  "ssh.command": (c, v) => {
    c.ssh.command = v;
  },
  "ssh.user": (c, v) => {
    c.ssh.user = v;
  },
  "ssh.identityFile": (c, v) => {
    c.ssh.identityFile = v;
  },
  "nixops4.command": (c, v) => {
    c.nixops4.command = v;
  },
  "nixops4.extraArgs[]": (c, v) => {
    c.nixops4.extraArgs = [v];
  },
  "state.runtimeDir": (c, v) => {
    c.state.runtimeDir = v;
  },
  "schedule deployments[]": (c, v) => {
    c.schedule = [{ cron: "0 4 * * *", action: "redeploy", deployments: [v] }];
  },
};

/** `main()` is the CLI's entry (src/main.ts calls it); stderr is captured, not printed. */
async function configCheck(file: string): Promise<{ code: number; stderr: string }> {
  let stderr = "";
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await main(["node", "nixguard", "config", "check", file]), stderr };
  } finally {
    process.stderr.write = write;
  }
}

describe("security 10: hostile values", () => {
  it("the unmodified config passes `config check` (so each refusal below is the value's doing)", async () => {
    const file = join(fleet.dir, "ok.json");
    writeFileSync(file, JSON.stringify(base));
    expect((await configCheck(file)).code).toBe(0);
  });

  it("every hostile value in every argv-bound config field: exit 78, naming the field", async () => {
    const accepted: string[] = [];
    const file = join(fleet.dir, "hostile.json");
    for (const [field, mutate] of Object.entries(CONFIG_FIELDS)) {
      for (const v of HOSTILE_VALUES) {
        const c = structuredClone(base);
        mutate(c, v);
        writeFileSync(file, JSON.stringify(c));
        const r = await configCheck(file);
        if (r.code === 78) refused.config++;
        else accepted.push(`${field} = ${JSON.stringify(v)} → exit ${r.code}`);
      }
    }
    expect(accepted).toEqual([]);
  });

  it("the real CLI process exits 78 too (`tsx src/main.ts config check`)", async () => {
    const c = structuredClone(base);
    CONFIG_FIELDS["host units[]"]?.(c, "foo.service;reboot");
    const file = join(fleet.dir, "hostile-cli.json");
    writeFileSync(file, JSON.stringify(c));
    const r = await promisify(execFile)(join(ROOT, "node_modules/.bin/tsx"), [
      join(ROOT, "src/main.ts"),
      "config",
      "check",
      file,
    ]).catch((e) => e as { code: number; stderr: string });
    expect((r as { code: number }).code).toBe(78);
    expect((r as { stderr: string }).stderr).toContain("deployments.fediversity.hosts.garage.units[0]");
  });

  it(
    "every hostile value in every API identifier parameter: 400, nothing queued",
    async () => {
      const { admin, read } = fleet.tokens;
      expect(await poll(async () => (await api(d.url, "/readyz")).status === 200, scaled(15_000))).toBe(true);
      const e = encodeURIComponent;
      const requests = (v: string): [string, string, unknown?][] => [
        ["GET", `/api/v1/deployments/${e(v)}`],
        ["GET", `/api/v1/hosts/${e(v)}`],
        ["GET", `/api/v1/hosts/garage?deployment=${e(v)}`],
        ["GET", `/api/v1/hosts?deployment=${e(v)}`],
        ["GET", `/api/v1/hosts?state=${e(v)}`],
        ["GET", `/api/v1/jobs/${e(v)}`],
        ["GET", `/api/v1/jobs/${e(v)}/log`],
        ["GET", `/api/v1/jobs?state=${e(v)}`],
        ["GET", `/api/v1/jobs?limit=${e(v)}`],
        ["GET", `/api/v1/events?deployment=${e(v)}`],
        ["GET", `/api/v1/events?host=${e(v)}`],
        ["GET", `/api/v1/events?since=${e(v)}`],
        ["GET", `/api/v1/events?limit=${e(v)}`],
        ["POST", "/api/v1/reconcile", { deployments: [v] }],
        ["POST", `/api/v1/deployments/${e(v)}/redeploy`, {}],
        ["POST", `/api/v1/deployments/${e(v)}/reset`, {}],
        ["POST", `/api/v1/hosts/${e(v)}/probe`, {}],
        ["POST", `/api/v1/hosts/${e(v)}/reset`, {}],
        ["POST", `/api/v1/hosts/garage/probe?deployment=${e(v)}`, {}],
        ["POST", `/api/v1/hosts/${e(v)}/units/garage.service/restart`, {}],
        ["POST", `/api/v1/hosts/garage/units/${e(v)}/restart`, {}],
        ["POST", `/api/v1/hosts/garage/units/garage.service/restart?deployment=${e(v)}`, {}],
        ["POST", "/api/v1/pause", { scope: v, reason: "hostile test" }],
        ["POST", "/api/v1/pause", { scope: `host/${v}`, reason: "hostile test" }],
        ["POST", "/api/v1/pause", { scope: `deployment/${v}`, reason: "hostile test" }],
        ["POST", "/api/v1/pause", { scope: "global", reason: "hostile test", until: v }],
        ["POST", "/api/v1/resume", { scope: v, reason: "hostile test" }],
      ];
      const wrong: string[] = [];
      for (const v of HOSTILE_VALUES) {
        for (const [method, path, body] of requests(v)) {
          const r = await api(d.url, path, { method, token: method === "POST" ? admin : read, body });
          // An empty path segment matches no route at all: that refusal is fastify's 404.
          const emptySegment = v === "" && /\/\/|\/$|\/\?/.test(path);
          if (r.status === 400 || (emptySegment && r.status === 404)) refused.api++;
          else
            wrong.push(
              `${method} ${path} ${JSON.stringify(body ?? "")} → ${r.status} ${r.text.slice(0, 120)}`,
            );
        }
      }
      expect(wrong).toEqual([]);
      expect((await api(d.url, "/api/v1/jobs", { token: read })).body).toEqual([]);
      expect((await api(d.url, "/api/v1/status", { token: read })).body.pauses).toEqual([]);
    },
    scaled(120_000),
  );

  it(
    "no argv given to ssh or nixops4 ever held a hostile value",
    async () => {
      // Make sure the recorder saw real traffic: probes and one legitimate restart and apply.
      const { admin } = fleet.tokens;
      await api(d.url, "/api/v1/hosts/garage/units/garage.service/restart", { token: admin, body: {} });
      await api(d.url, "/api/v1/deployments/fediversity/redeploy", { token: admin, body: {} });
      expect(
        await poll(
          () => fleet.argvs().some((r) => r.command === "nixops4" && r.argv.includes("apply")),
          scaled(20_000),
        ),
      ).toBe(true);
      await sleep(1_000);
      const records = fleet.argvs();
      expect(records.filter((r) => r.command === "ssh").length).toBeGreaterThan(10);
      const raw = fleet.argvRaw();
      // "" and "-" are substrings of every argv ("-o"); the recorder's framing rules out the rest.
      // NixGuard's own start-up question `nixops4 --help` (the CLI generation) is a fixed argv, not
      // a value from config or API: every "--help" the recorder saw must be exactly that call.
      const ownHelp = (r: { command: string; argv: string[] }) =>
        r.command === "nixops4" && r.argv.length === 1 && r.argv[0] === "--help";
      const helps = records.filter(ownHelp).length;
      const seen = HOSTILE_VALUES.filter(
        (v) => v.length > 1 && raw.includes(v) && !(v === "--help" && raw.split(v).length - 1 === helps),
      );
      expect(seen).toEqual([]);
      const whole = records
        .filter((r) => !ownHelp(r))
        .flatMap((r) => r.argv.filter((a) => HOSTILE_VALUES.includes(a)));
      expect(whole).toEqual([]);
    },
    scaled(60_000),
  );
});
