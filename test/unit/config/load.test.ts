import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { allHosts } from "../../../src/config/desired.js";
import { loadConfigFile, parseConfig } from "../../../src/config/load.js";
import { ConfigError } from "../../../src/errors.js";
import { issuesOf } from "../../helpers/config-issues.js";
import { HOSTILE_VALUES } from "../../helpers/hostile.js";

const base = () => ({
  deployments: {
    web: {
      flake: "/var/lib/deploy",
      hosts: {
        web1: {
          address: "10.0.0.1",
          units: ["nginx.service"],
          http: [{ name: "home", url: "https://web1.example.org/" }],
        },
      },
    },
  },
});

describe("parseConfig", () => {
  it("applies defaults in one place", () => {
    const { config } = parseConfig(base());
    expect(config.probes.interval).toBe(30_000);
    expect(config.remediation.backoff).toEqual({
      initial: 30_000,
      factor: 2,
      max: 1_800_000,
      resetAfter: 600_000,
    });
    expect(config.remediation.budget.global).toEqual({ max: 10, window: 3_600_000 });
    expect(config.api.listen).toBe("127.0.0.1:9273");
    expect(config.deployments["web"]!.target).toBe("default");
  });

  it("freezes the loaded config", () => {
    const { config, desired } = parseConfig(base());
    expect(Object.isFrozen(config.probes)).toBe(true);
    expect(Object.isFrozen(desired.deployments[0]!.hosts[0]!.units)).toBe(true);
  });

  it("reports a misspelled key with its path", () => {
    const raw = { ...base(), probes: { intervall: "30s" } };
    const issues = issuesOf(raw);
    expect(issues).toEqual([
      expect.objectContaining({ path: "probes.intervall", message: expect.stringMatching(/unknown key/) }),
    ]);
  });

  it("reports a bad duration with path, value and what was expected", () => {
    const raw = { ...base(), probes: { interval: "5 parsecs" } };
    const [issue] = issuesOf(raw);
    expect(issue).toMatchObject({ path: "probes.interval", value: "5 parsecs" });
    expect(issue!.message).toMatch(/duration/);
  });

  it("reports all errors of a file at once", () => {
    const raw = base() as Record<string, unknown>;
    raw["probes"] = { interval: "5 parsecs", timeot: "1s" };
    (raw["deployments"] as any).web.hosts.web1.units = ["foo.service;reboot"];
    const issues = issuesOf(raw);
    expect(issues.map((i) => i.path).sort()).toEqual(
      ["deployments.web.hosts.web1.units[0]", "probes.interval", "probes.timeot"].sort(),
    );
    expect(() => parseConfig(raw)).toThrow(/3 errors/);
  });

  it("requires deployments", () => {
    expect(issuesOf({})).toEqual([expect.objectContaining({ path: "deployments" })]);
  });

  it("checks cron expressions and references to deployments", () => {
    const raw = {
      ...base(),
      schedule: [{ cron: "61 * * * *", action: "redeploy", deployments: ["nope"] }],
    };
    const paths = issuesOf(raw).map((i) => i.path);
    expect(paths).toContain("schedule[0].cron");
    expect(paths).toContain("schedule[0].deployments[0]");
  });

  it("reports schema, cron, reference and expansion errors in one pass (issue 19)", () => {
    const raw = {
      ...base(),
      log: { level: "loud" },
      api: { tokens: [{ file: "relative/path", scope: "admin" }] },
      schedule: [{ cron: "61 * * * *", action: "redeploy", deployments: ["nope"] }],
    };
    (raw.deployments.web.hosts.web1 as any).transport = "exporter";
    const paths = issuesOf(raw).map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "log.level",
        "api.tokens[0].file",
        "schedule[0].cron",
        "schedule[0].deployments[0]",
        "deployments.web.hosts.web1.exporterUrl",
      ]),
    );
    // A section the schema refused is not checked against its defaults: no invented issues.
    expect(new Set(paths).size).toBe(paths.length);
  });

  it("needs exporterUrl for the exporter transport", () => {
    const raw = base();
    (raw.deployments.web.hosts.web1 as any).transport = "exporter";
    expect(issuesOf(raw).map((i) => i.path)).toEqual(["deployments.web.hosts.web1.exporterUrl"]);
  });

  it("never echoes a value that may hold a secret (redis password, webhook token)", () => {
    const raw: any = base();
    raw.redis = { url: "valkey://:hunter2@redis.internal:6379/0" };
    raw.notify = [{ url: "ftp://hooks.example.org/services/T0/s3cr3t-hook", events: ["quarantine"] }];
    let err: unknown;
    try {
      parseConfig(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const { issues, message } = err as ConfigError;
    expect(issues.map((i) => i.path).sort()).toEqual(["notify[0].url", "redis.url"]);
    expect(issues.every((i) => i.value === undefined)).toBe(true);
    expect(`${message} ${JSON.stringify(issues)}`).not.toMatch(/hunter2|s3cr3t/);
    // Elsewhere the value still helps find the typo.
    raw.redis = {};
    raw.notify = [];
    raw.deployments.web.hosts.web1.http[0].timeout = "5 parsecs";
    expect(issuesOf(raw)[0]?.value).toBe("5 parsecs");
  });

  it("refuses two tokens with one name, counting an unnamed token by its file's name as the API does", () => {
    const raw: any = base();
    raw.api = {
      tokens: [
        { name: "ops", file: "/run/credentials/nixguard.service/a", scope: "admin" },
        { file: "/run/credentials/nixguard.service/ops", scope: "read" },
        { file: "/run/credentials/nixguard.service/grafana", scope: "read" },
      ],
    };
    expect(issuesOf(raw)).toEqual([
      {
        path: "api.tokens[1].name",
        message: 'duplicate token name (unnamed: named after its file, "ops"); give it a name',
        value: "ops",
      },
    ]);
    raw.api.tokens[1].name = "ops-read";
    expect(issuesOf(raw)).toEqual([]);
  });

  it("needs a flake lock that outlives the time to stop an apply", () => {
    const raw: any = base();
    raw.nixops4 = { interruptGrace: "30s", killGrace: "20s", stragglerGrace: "5s" };
    raw.worker = { lockTtl: "50s" };
    expect(issuesOf(raw)).toEqual([
      {
        path: "worker.lockTtl",
        message:
          "must be longer than nixops4.interruptGrace + killGrace + stragglerGrace (55s): an apply that cannot renew its lock is stopped that long before the lock expires",
        value: "50s",
      },
    ]);
    raw.worker = {};
    expect(issuesOf(raw)).toEqual([]); // the defaults fit
  });

  it("refuses an invalid body regex", () => {
    const raw = base();
    (raw.deployments.web.hosts.web1.http[0] as any).expectBodyRegex = "(";
    expect(issuesOf(raw).map((i) => i.path)).toEqual(["deployments.web.hosts.web1.http[0].expectBodyRegex"]);
  });
});

/** Every field that reaches an argv or a remote shell line, fed every hostile value. */
const FIELDS: Record<string, (raw: any, v: string) => void> = {
  "host address": (r, v) => (r.deployments.web.hosts.web1.address = v),
  "unit name": (r, v) => (r.deployments.web.hosts.web1.units = [v]),
  "oneshot unit": (r, v) => (r.deployments.web.hosts.web1.oneshotUnits = [v]),
  "http check unit": (r, v) => (r.deployments.web.hosts.web1.http[0].units = [v]),
  "ssh user (host)": (r, v) => (r.deployments.web.hosts.web1.user = v),
  "ssh user (global)": (r, v) => (r.ssh = { user: v }),
  "identity file": (r, v) => (r.ssh = { identityFile: v }),
  "known_hosts file": (r, v) => (r.deployments.web.hosts.web1.knownHostsFile = v),
  "deployment target": (r, v) => (r.deployments.web.target = v),
  "host target": (r, v) => (r.deployments.web.hosts.web1.target = v),
  "flake directory": (r, v) => (r.deployments.web.flake = v),
  "http url": (r, v) => (r.deployments.web.hosts.web1.http[0].url = v),
  "http check name": (r, v) => (r.deployments.web.hosts.web1.http[0].name = v),
  "ca file": (r, v) => (r.deployments.web.hosts.web1.http[0].caFile = v),
  "nixops4 extra arg": (r, v) => (r.nixops4 = { extraArgs: [v] }),
  "host name": (r, v) => {
    r.deployments.web.hosts = { [v]: r.deployments.web.hosts.web1 };
  },
  "deployment name": (r, v) => {
    r.deployments = { [v]: r.deployments.web };
  },
};

describe("hostile values are refused in every field", () => {
  for (const [field, set] of Object.entries(FIELDS)) {
    it(`${field}`, () => {
      for (const value of HOSTILE_VALUES) {
        const raw = base();
        set(raw, value);
        const issues = issuesOf(raw);
        expect(issues.length, `${field} accepted ${JSON.stringify(value)}`).toBeGreaterThan(0);
      }
    });
  }
});

describe("examples", () => {
  it("fediversity.json loads Fediversity's own shape and expands mastodon's units and checks", () => {
    const { config, desired } = loadConfigFile(
      new URL("../../../examples/fediversity.json", import.meta.url).pathname,
    );
    const mastodon = allHosts(desired).find((h) => h.name === "mastodon")!;
    expect(mastodon.units.map((u) => u.unit)).toEqual(
      expect.arrayContaining([
        "mastodon-web.service",
        "mastodon-streaming-1.service",
        "mastodon-streaming-2.service",
        "mastodon-sidekiq-all.service",
        "redis-mastodon.service",
        "nginx.service",
      ]),
    );
    expect(mastodon.http.find((c) => c.url === "https://mastodon.fediversity.net/health")).toMatchObject({
      expectBody: "OK",
      resolve: "10.0.0.11",
      units: ["nginx.service", "mastodon-web.service"],
    });
    // An older-CLI deployment applied whole: no per-machine dot paths.
    expect(allHosts(desired).map((h) => [h.target, h.ownTarget])).toEqual([
      ["check-deployment-cli-mastodon-pixelfed", false],
      ["check-deployment-cli-mastodon-pixelfed", false],
      ["check-deployment-cli-mastodon-pixelfed", false],
    ]);
    // Fediversity's options NixGuard does not read are kept as they are.
    const fedi = config.deployments["mastodon-pixelfed"]!.fediversity!;
    expect(fedi.mastodon?.["s3SecretKeyFile"]).toBe("/run/secrets/mastodon-s3-secret-key");
    expect(fedi.temp?.["initialUser"]).toMatchObject({ username: "admin" });
  });

  it("a Fediversity block loads as it is: unknown-but-real options kept, Garage derived from the apps", () => {
    const raw = {
      deployments: {
        d: {
          flake: "/srv/d",
          target: "check-deployment-cli-peertube",
          fediversity: {
            domain: "example.org",
            garage: { enable: false },
            peertube: { enable: true, secretsFile: "/run/secrets/peertube", futureOption: { x: 1 } },
            temp: { cores: 4, initialUser: { username: "a" }, somethingNew: true },
          },
          hosts: {
            garage: { address: "10.0.0.1", services: ["garage"] },
            peertube: { address: "10.0.0.2", services: ["peertube"] },
          },
        },
      },
    };
    // Garage placed and not enabled by itself: it runs because PeerTube does.
    expect(issuesOf(raw)).toEqual([]);
    const noApps = structuredClone(raw);
    noApps.deployments.d.fediversity.peertube.enable = false;
    delete (noApps.deployments.d.hosts as Record<string, unknown>)["peertube"];
    expect(issuesOf(noApps)).toEqual([
      expect.objectContaining({ path: "deployments.d.hosts.garage.services" }),
    ]);
  });

  it("minimal.json is one host, one unit, one HTTP check", () => {
    const { desired } = loadConfigFile(new URL("../../../examples/minimal.json", import.meta.url).pathname);
    const hosts = allHosts(desired);
    expect(hosts).toHaveLength(1);
    expect(hosts[0]!.units).toHaveLength(1);
    expect(hosts[0]!.http).toHaveLength(1);
  });
});

describe("nixops4.extraArgs allowlist", () => {
  it("accepts nixops4's global flags", () => {
    const raw = {
      ...base(),
      nixops4: {
        extraArgs: [
          "--show-trace",
          "-v",
          "--color",
          "never",
          "--override-input",
          "nixpkgs",
          "github:NixOS/nixpkgs/nixos-25.05",
        ],
      },
    };
    expect(issuesOf(raw)).toEqual([]);
  });
  it("refuses -vv and a repeated -v: nixops4's -v is a switch, and clap exits 2 on either", () => {
    expect(issuesOf({ ...base(), nixops4: { extraArgs: ["-vv"] } })).toEqual([
      expect.objectContaining({
        path: "nixops4.extraArgs[0]",
        message: "-v is a switch in nixops4: give it once (-vv is a usage error, exit 2)",
      }),
    ]);
    expect(issuesOf({ ...base(), nixops4: { extraArgs: ["-v", "--show-trace", "--verbose"] } })).toEqual([
      expect.objectContaining({ path: "nixops4.extraArgs[2]", value: "--verbose" }),
    ]);
  });
  it("refuses --override-input with nixops4.file (nixops4's file mode), and a file outside the directory", () => {
    const args = ["--override-input", "nixpkgs", "github:NixOS/nixpkgs"];
    expect(issuesOf({ ...base(), nixops4: { file: "nixops4.nix", extraArgs: args } })).toEqual([
      expect.objectContaining({ path: "nixops4.extraArgs" }),
    ]);
    expect(issuesOf({ ...base(), nixops4: { file: "deploy/root.nix" } })).toEqual([]);
    expect(issuesOf({ ...base(), nixops4: { file: "/etc/root.nix" } })).toEqual([
      expect.objectContaining({ path: "nixops4.file" }),
    ]);
  });
  it("refuses anything else, naming the index", () => {
    const raw = { ...base(), nixops4: { extraArgs: ["--show-trace", "--option", "sandbox", "false"] } };
    expect(issuesOf(raw)).toEqual([
      expect.objectContaining({ path: "nixops4.extraArgs[1]", value: "--option" }),
    ]);
  });
});

describe("a config file that is not JSON", () => {
  it("is one issue with line and column, and never quotes the text (it may hold a password)", () => {
    const dir = mkdtempSync(join(tmpdir(), "nixguard-json-"));
    try {
      const file = join(dir, "bad.json");
      writeFileSync(file, '{\n  "redis": { "url": "redis://:hunter2@db:6379" }\n  "deployments": {}\n}\n');
      let err: unknown;
      try {
        loadConfigFile(file);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const issues = (err as ConfigError).issues;
      expect(issues).toEqual([
        {
          path: "",
          message: "invalid JSON at line 3 column 3: expected ',' (or the end of the object or array)",
          where: { line: 3, column: 3 },
        },
      ]);
      expect((err as Error).message).not.toContain("hunter2");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
