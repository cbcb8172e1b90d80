/**
 * Evaluates nix/module.nix with nixpkgs' `lib` (NIXPKGS_LIB; CI points it at
 * ../shared/nixpkgs-lib/lib) against the slice of NixOS declared in ./nixos, and feeds the JSON
 * it generates to the real `nixguard config check`. All configurations are evaluated in one
 * nix-instantiate run. Without NIXPKGS_LIB the suite is skipped; with it set, anything that stops
 * the evaluation is a failure. The flake's `module-eval` check covers the same against real NixOS.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDuration } from "../../../src/config/duration.js";
import { parseConfig } from "../../../src/config/load.js";
import { START_ONLY } from "../../../src/config/start-only.js";
import { nixEval, nixpkgsLib, root, unusable } from "./nix-eval.js";

interface Result {
  failedAssertions: string[];
  warnings: string[];
  settings?: Record<string, unknown> & {
    redis?: { url?: string };
    api?: { listen?: string };
    nixops4?: { ssh?: Record<string, string> };
  };
  configSource?: string;
  unit?: {
    after: string[];
    requires: string[];
    path: string[];
    serviceConfig: Record<string, unknown>;
    environment: Record<string, string>;
    restartTriggers: string[];
    reloadTriggers: string[];
    text: string;
  };
  etc?: Record<string, { text: string | null; source: string; mode: string }>;
  polkit?: { enable: boolean; extraConfig: string };
  sshConfig?: string;
  redis?: Record<string, { enable?: boolean; user: string; group: string }>;
  firewall?: number[];
  meta?: { doc: string[]; maintainers: unknown };
}

interface Evaluation {
  results: Record<string, Result>;
  switches: { from: string; to: string; action: "equal" | "reload" | "restart" | "skip" }[];
}

const FAKE_NIXOPS4 = `derivation { name = "nixops4"; system = "x86_64-linux"; builder = "/bin/sh"; }`;
// streamingProcesses has no default in nixpkgs, so NixGuard requires it for mastodon.
const HOSTS = `hosts.mastodon = { address = "10.0.0.11"; services = [ "mastodon" ]; serviceOptions.mastodon.streamingProcesses = 1; };`;
const DEPLOYMENT = `{
  flake = "/var/lib/fediversity/deployment";
  target = "fediversity";
  fediversity = { domain = "example.org"; mastodon.enable = true; };
  ${HOSTS}
}`;
const BASE = `nixops4Package = ${FAKE_NIXOPS4}; settings.deployments.fediversity = ${DEPLOYMENT};`;

/** services.nixguard = { enable; checkConfig = false; <options> } as a NixOS configuration. */
const nixguard = (options: string) =>
  `{ services.nixguard = { enable = true; checkConfig = false; ${options} }; }`;

// A change of one start-only setting (each path of START_ONLY) from BASE, or why there is none.
const START_ONLY_CHANGES: Record<string, string | { fixed: string }> = {
  redis: `settings.redis.prefix = "other";`,
  state: { fixed: "state.dir and state.runtimeDir are read-only options of the module" },
  log: `settings.log.level = "debug";`,
  api: `settings.api.bodyLimit = 131072;`,
  "probes.interval": `settings.probes.interval = "45s";`,
  "probes.timeout": `settings.probes.timeout = "7s";`,
  "probes.jitter": `settings.probes.jitter = 0.5;`,
  "probes.concurrency": `settings.probes.concurrency = 8;`,
  "probes.sharing": `settings.probes.sharing.heartbeat = "4s";`,
  nixops4: `settings.nixops4.timeout = "45m";`,
  worker: `settings.worker.concurrency = 2;`,
  leader: `settings.leader.lease = "20s";`,
};

// Changes NixGuard applies on reload.
const RELOADED_CHANGES: Record<string, string> = {
  "remediation.restartAttempts": `settings.remediation.restartAttempts = 5;`,
  "probes.failureThreshold": `settings.probes.failureThreshold = 4;`,
  "a new host": `settings.deployments.fediversity.fediversity.pixelfed.enable = true;
    settings.deployments.fediversity.hosts.pixelfed = { address = "10.0.0.13"; services = [ "pixelfed" ]; };`,
  notify: `settings.notify = [ { url = "https://hooks.example.org/x"; events = [ "deploy" ]; } ];`,
  "ssh.user": `settings.ssh.user = "deploy";`,
};

const CASES: Record<string, string> = {
  base: nixguard(BASE),
  complete: nixguard(`
    ${BASE}
    sshKeyFile = "/run/keys/ssh";
    knownHostsFile = "/etc/nixguard-keys/known_hosts";
    apiTokenFiles.admin = { file = "/run/keys/admin"; scope = "admin"; };
    apiTokenFiles.grafana.file = "/run/keys/grafana";
    environmentFile = "/run/keys/env";
    openFirewall = true;
  `),
  invalid: nixguard(`${BASE} settings.remediation.mode = "sometimes";`),
  graces: nixguard(`${BASE}
    settings.worker.shutdownGrace = "1.5m";
    settings.worker.lockTtl = "2m";
    settings.nixops4 = { interruptGrace = "1m15s"; killGrace = "20s"; stragglerGrace = "2.5s"; };
  `),
  external: nixguard(`${BASE} redis.createLocally = false; redis.url = "redis://redis.internal:6379/0";`),
  sentinels: nixguard(`${BASE} redis.createLocally = false;
    redis.sentinels = { addresses = [ "10.0.0.5:26379" "10.0.0.6:26379" "10.0.0.7:26379" ]; passwordFile = "/run/keys/redis"; };`),
  urlAndSentinels: nixguard(`${BASE} redis.createLocally = false; redis.url = "redis://r:6379";
    redis.sentinels.addresses = [ "10.0.0.5:26379" ];`),
  ipv6: nixguard(`${BASE} listenAddress = "::"; port = 9000;`),
  knownHosts: nixguard(
    `${BASE} knownHosts.mastodon = { hostNames = [ "mastodon" "10.0.0.11" ]; publicKey = "ssh-ed25519 AAAAkey"; };`,
  ),
  knownHostsChanged: nixguard(
    `${BASE} knownHosts.mastodon = { hostNames = [ "mastodon" "10.0.0.11" ]; publicKey = "ssh-ed25519 BBBBkey"; };`,
  ),
  redisGroup: `{ services.redis.servers.nixguard.group = "redis-shared"; ${nixguard(BASE).slice(1, -1)} }`,
  noDeployments: nixguard(`nixops4Package = ${FAKE_NIXOPS4};`),
  noNixops4: nixguard(`settings.deployments.fediversity = ${DEPLOYMENT};`),
  noRedis: nixguard(`${BASE} redis.createLocally = false;`),
  embeddedRedis: nixguard(`${BASE} settings.redis.url = null;`),
  bothKnownHosts: nixguard(
    `${BASE} knownHostsFile = "/etc/kh"; knownHosts.a.publicKey = "ssh-ed25519 AAAA";`,
  ),
  local: nixguard(`
    nixops4Package = ${FAKE_NIXOPS4};
    settings.deployments.self = {
      flake = "/srv/self";
      hosts.deployer = {
        address = "localhost";
        units = [ "nginx.service" "garage.service" ];
        oneshotUnits = [ "backup.service" ];
        http = [ { name = "home"; url = "http://127.0.0.1/"; units = [ "nginx.service" "php-fpm.service" ]; } ];
      };
      hosts.other = { address = "10.0.0.5"; transport = "local"; units = [ "other.service" ]; };
      hosts.remote = { address = "10.0.0.6"; units = [ "remote.service" ]; };
      hosts.catalog = { address = "127.0.0.1"; transport = "local"; services = [ "garage" ]; };
    };
  `),
  nixops4Ssh: nixguard(`
    ${BASE}
    sshKeyFile = "/run/keys/probe-key";
    nixops4.sshKeyFile = "/run/keys/deploy-key";
    nixops4.knownHostsFile = "/etc/fleet/known_hosts";
    knownHosts.mastodon.publicKey = "ssh-ed25519 AAAAkey";
  `),
  ...Object.fromEntries(
    Object.entries(START_ONLY_CHANGES).flatMap(([path, change]) =>
      typeof change === "string" ? [[`start-only ${path}`, nixguard(`${BASE} ${change}`)]] : [],
    ),
  ),
  ...Object.fromEntries(
    Object.entries(RELOADED_CHANGES).map(([what, change]) => [
      `reloaded ${what}`,
      nixguard(`${BASE} ${change}`),
    ]),
  ),
};

const SWITCHES = [
  ...Object.keys(CASES)
    .filter((name) => name.startsWith("start-only ") || name.startsWith("reloaded "))
    .map((to) => ({ from: "base", to })),
  { from: "base", to: "base" },
  { from: "knownHosts", to: "knownHostsChanged" },
];

const nixAttrs = (cases: Record<string, string>) =>
  `{ ${Object.entries(cases)
    .map(([name, value]) => `${JSON.stringify(name)} = ${value};`)
    .join("\n")} }`;
const nixList = (items: { from: string; to: string }[]) =>
  `[ ${items.map((s) => `{ from = ${JSON.stringify(s.from)}; to = ${JSON.stringify(s.to)}; }`).join(" ")} ]`;

// Made by the tests that run: when the suite is skipped, vitest runs no file-level hook either.
let dir: string | undefined;
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The validation `nixguard config check --no-files` (as the module runs it) does, in this process: no CLI start per config. */
function accepts(settings: unknown): string {
  const loaded = parseConfig(settings);
  return `${loaded.desired.deployments.length} deployment(s)`;
}

function configCheck(settings: unknown): { status: number | null; output: string } {
  dir ??= mkdtempSync(join(tmpdir(), "nixguard-module-eval-"));
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(settings));
  const r = spawnSync("npx", ["tsx", join(root, "src/main.ts"), "config", "check", "--no-files", file], {
    encoding: "utf8",
    cwd: root,
  });
  return { status: r.status, output: r.stdout + r.stderr };
}

describe.skipIf(!nixpkgsLib)("services.nixguard evaluated with nixpkgs lib", () => {
  let evaluation: Evaluation;
  const result = (name: string): Result => {
    const r = evaluation.results[name];
    if (!r) throw new Error(`no result for ${name}`);
    return r;
  };
  const action = (from: string, to: string) =>
    evaluation.switches.find((s) => s.from === from && s.to === to)?.action;

  beforeAll(() => {
    if (unusable()) return; // the first test reports it
    evaluation = nixEval<Evaluation>("test/integration/nix/eval-module.nix", {
      cases: nixAttrs(CASES),
      switches: nixList(SWITCHES),
    });
  });

  it("NIXPKGS_LIB is a nixpkgs lib and nix-instantiate runs (set but unusable is a failure)", () => {
    expect(unusable()).toBeUndefined();
    expect(evaluation).toBeDefined();
  });

  it("a complete setup evaluates, and its generated config passes `nixguard config check`", () => {
    const out = result("complete");
    expect(out.failedAssertions).toEqual([]);
    expect(out.warnings).toEqual([]);
    expect(out.settings).toMatchObject({
      api: {
        listen: "127.0.0.1:9273",
        tokens: [
          { name: "admin", scope: "admin", file: "/run/credentials/nixguard.service/api-token-admin" },
          { name: "grafana", scope: "read", file: "/run/credentials/nixguard.service/api-token-grafana" },
        ],
      },
      redis: { url: "unix:///run/redis-nixguard/redis.sock" },
      state: { dir: "/var/lib/nixguard", runtimeDir: "/run/nixguard" },
      ssh: {
        identityFile: "/run/credentials/nixguard.service/ssh-key",
        knownHostsFile: "/run/credentials/nixguard.service/known-hosts",
      },
    });
    expect(JSON.stringify(out.settings)).not.toMatch(/null/);
    const sc = out.unit!.serviceConfig;
    expect(sc.LoadCredential).toEqual([
      "ssh-key:/run/keys/ssh",
      "known-hosts:/etc/nixguard-keys/known_hosts",
      // nixops4's ssh gets the same key and host keys by default
      "nixops4-ssh-key:/run/keys/ssh",
      "nixops4-known-hosts:/etc/nixguard-keys/known_hosts",
      "api-token-admin:/run/keys/admin",
      "api-token-grafana:/run/keys/grafana",
    ]);
    expect(sc.EnvironmentFile).toBe("/run/keys/env");
    expect(sc.TimeoutStopSec).toBe(120 + 30 + 30 + 5 + 60);
    expect(sc.ReadWritePaths).toEqual(["-/var/lib/fediversity/deployment"]);
    expect(out.unit!.requires).toEqual(["redis-nixguard.service"]);
    expect(out.unit!.after).toContain("redis-nixguard.service");
    expect(out.unit!.environment.HOME).toBe("/var/lib/nixguard");
    // nixops4 evaluates flakes through nix, whatever the machine's nix.conf enables.
    expect(out.unit!.environment.NIX_CONFIG).toBe("extra-experimental-features = nix-command flakes");
    expect(out.redis?.nixguard?.enable).toBe(true);
    expect(out.firewall).toEqual([9273]);

    const check = configCheck(out.settings);
    expect(check.output).toMatch(/ok \(1 deployment/);
    expect(check.status).toBe(0);
  });

  it("the service reads the stable /etc/nixguard/config.json, which holds the generated settings", () => {
    const out = result("base");
    expect(out.unit!.serviceConfig.ExecStart).toMatch(
      /\/bin\/nixguard serve --config \/etc\/nixguard\/config\.json$/,
    );
    expect(out.etc!["nixguard/config.json"]!.source).toMatch(
      /^\/nix\/store\/[a-z0-9]{32}-nixguard-unchecked\.json$/,
    );
    expect(out.configSource).toBe("nixguard-unchecked.json");
    expect(out.unit!.reloadTriggers).toEqual([out.etc!["nixguard/config.json"]!.source]);
    expect(out.unit!.serviceConfig.ExecReload).toMatch(/\/bin\/kill -HUP \$MAINPID$/);
  });

  it("a change NixGuard applies on reload reloads the service; an identical config does nothing", () => {
    for (const what of Object.keys(RELOADED_CHANGES)) {
      expect({ what, action: action("base", `reloaded ${what}`) }).toEqual({ what, action: "reload" });
    }
    expect(action("base", "base")).toBe("equal");
  });

  it("a change of a setting read only at start (each of START_ONLY) restarts it", () => {
    for (const path of START_ONLY.map((p) => p.join("."))) {
      const change = START_ONLY_CHANGES[path];
      expect(change, `a change for ${path}`).toBeDefined();
      if (typeof change !== "string") continue;
      expect({ path, action: action("base", `start-only ${path}`) }).toEqual({ path, action: "restart" });
    }
    // The restart trigger holds exactly the start-only settings, by path.
    const triggers = JSON.parse(result("base").unit!.restartTriggers[0]!) as { path: string }[];
    expect(triggers.map((t) => t.path)).toEqual(START_ONLY.map((p) => p.join(".")));
  });

  it("the changed configs are still valid", () => {
    for (const name of Object.keys(CASES).filter(
      (n) => n.startsWith("start-only ") || n.startsWith("reloaded "),
    )) {
      expect({ name, accepted: accepts(result(name).settings) }).toEqual({
        name,
        accepted: "1 deployment(s)",
      });
    }
  });

  it("an invalid setting reaches `nixguard config check`, which rejects it (exit 78), and 78 is not retried", () => {
    const out = result("invalid");
    expect(out.failedAssertions).toEqual([]);
    const check = configCheck(out.settings);
    expect(check.status).toBe(78);
    expect(check.output).toMatch(/remediation\.mode/);
    expect(out.unit!.serviceConfig.RestartPreventExitStatus).toBe(78);
  });

  it("accepts NixGuard's durations (1.5m) and derives TimeoutStopSec from shutdownGrace and the nixops4 stop graces", () => {
    const out = result("graces");
    expect(out.failedAssertions).toEqual([]);
    // Each grace rounded up to whole seconds: 2.5s counts 3.
    expect(out.unit!.serviceConfig.TimeoutStopSec).toBe(90 + 75 + 20 + 3 + 60);
    expect(accepts(out.settings)).toBe("1 deployment(s)");
  });

  it("the graces the module writes by default are NixGuard's own defaults (TimeoutStopSec follows them)", () => {
    const settings = result("base").settings as {
      worker: Record<string, string>;
      nixops4: Record<string, string>;
      deployments: unknown;
    };
    const schemaDefaults = parseConfig({ deployments: settings.deployments }).config;
    for (const [section, key] of [
      ["worker", "shutdownGrace"],
      ["nixops4", "interruptGrace"],
      ["nixops4", "killGrace"],
      ["nixops4", "stragglerGrace"],
    ] as const) {
      const fromModule = parseDuration(settings[section][key]!);
      const fromSchema = (schemaDefaults[section] as unknown as Record<string, number>)[key];
      expect({ key, ms: fromModule }).toEqual({ key, ms: fromSchema });
    }
  });

  it("joins the Redis server's group, not its user", () => {
    expect(result("base").unit!.serviceConfig.SupplementaryGroups).toEqual(["redis-nixguard"]);
    const out = result("redisGroup");
    expect(out.redis?.nixguard).toMatchObject({ user: "redis-nixguard", group: "redis-shared" });
    expect(out.unit!.serviceConfig.SupplementaryGroups).toEqual(["redis-shared"]);
  });

  it("hardening: PrivateMounts, and no ReadWritePaths for the nix-daemon socket", () => {
    const sc = result("base").unit!.serviceConfig;
    expect(sc.PrivateMounts).toBe(true);
    expect(sc.ReadWritePaths).toEqual(["-/var/lib/fediversity/deployment"]);
    expect(result("base").unit!.text).not.toMatch(/daemon-socket/);
  });

  it("has a manual chapter (meta.doc) and declares meta.maintainers", () => {
    expect(result("base").meta).toEqual({ doc: ["module.md"], maintainers: {} });
  });

  it("an external Redis replaces the local one", () => {
    const out = result("external");
    expect(out.failedAssertions).toEqual([]);
    expect(out.settings?.redis?.url).toBe("redis://redis.internal:6379/0");
    expect(out.redis?.nixguard).toBeUndefined();
    expect(out.unit!.requires).toEqual([]);
    expect(out.unit!.serviceConfig.SupplementaryGroups).toEqual([]);
    expect(accepts(out.settings)).toBe("1 deployment(s)");
  });

  it("Redis behind Sentinel: the Sentinels and the password as a credential, no local Redis", () => {
    const out = result("sentinels");
    expect(out.failedAssertions).toEqual([]);
    expect(out.settings?.redis).toEqual({
      sentinels: {
        addresses: ["10.0.0.5:26379", "10.0.0.6:26379", "10.0.0.7:26379"],
        masterName: "nixguard",
        passwordFile: "/run/credentials/nixguard.service/redis-password",
      },
    });
    expect(out.unit!.serviceConfig.LoadCredential).toContain("redis-password:/run/keys/redis");
    expect(out.redis?.nixguard).toBeUndefined();
    expect(out.unit!.requires).toEqual([]);
    expect(accepts(out.settings)).toBe("1 deployment(s)");
  });

  it("an IPv6 listen address is bracketed and accepted by the schema", () => {
    const out = result("ipv6");
    expect(out.settings?.api?.listen).toBe("[::]:9000");
    expect(accepts(out.settings)).toBe("1 deployment(s)");
  });

  it("knownHosts entries become /etc/nixguard/known_hosts, whose change needs no reload", () => {
    const out = result("knownHosts");
    expect((out.settings as { ssh: { knownHostsFile: string } }).ssh.knownHostsFile).toBe(
      "/etc/nixguard/known_hosts",
    );
    expect(out.etc!["nixguard/known_hosts"]!.text).toBe("mastodon,10.0.0.11 ssh-ed25519 AAAAkey\n");
    expect(action("knownHosts", "knownHostsChanged")).toBe("equal");
  });

  it("a polkit rule lets the nixguard user restart exactly the units the config names for local hosts", () => {
    const out = result("local");
    expect(out.polkit!.enable).toBe(true);
    const rule = out.polkit!.extraConfig;
    expect(rule).toContain('action.id == "org.freedesktop.systemd1.manage-units"');
    expect(rule).toContain('subject.user == "nixguard"');
    expect(rule).toContain('action.lookup("verb") == "restart"');
    const list = rule.match(/(\[[^\]]*\])\.indexOf\(action\.lookup\("unit"\)\)/);
    expect(list).not.toBeNull();
    expect(JSON.parse(list![1]!)).toEqual([
      "nginx.service",
      "garage.service",
      "backup.service",
      "php-fpm.service",
      "other.service",
    ]);
    // The catalog host's units are not named: the module says so.
    expect(out.warnings.join("\n")).toMatch(/local host 127\.0\.0\.1 checks catalog services \(garage\)/);
    // Without local hosts there is no rule.
    expect(result("base").polkit).toEqual({ enable: false, extraConfig: "" });
  });

  it("nixops4's ssh gets its key and known hosts as NixGuard's nixops4.ssh settings, from credentials", () => {
    const out = result("nixops4Ssh");
    expect(out.unit!.serviceConfig.LoadCredential).toEqual(
      expect.arrayContaining([
        "ssh-key:/run/keys/probe-key",
        "nixops4-ssh-key:/run/keys/deploy-key",
        "nixops4-known-hosts:/etc/fleet/known_hosts",
      ]),
    );
    // One mechanism: NixGuard writes nixops4's ssh_config and ssh wrapper from these settings
    // (src/nixops4/ssh-env.ts); the system ssh_config is left alone.
    expect(out.settings?.nixops4?.ssh).toEqual({
      identityFile: "/run/credentials/nixguard.service/nixops4-ssh-key",
      knownHostsFile: "/run/credentials/nixguard.service/nixops4-known-hosts",
    });
    expect(out.sshConfig).toBe("");
    expect(result("external").settings?.nixops4?.ssh).toEqual({});
  });

  it.each([
    ["no deployments", "noDeployments", /settings\.deployments is empty/],
    ["no nixops4", "noNixops4", /nixops4Package is null/],
    ["neither local nor external Redis", "noRedis", /exactly one of redis\.createLocally/],
    [
      "an external Redis and Sentinels",
      "urlAndSentinels",
      /exactly one of redis\.createLocally = true, redis\.url or redis\.sentinels/,
    ],
    ["the embedded Redis the module does not ship", "embeddedRedis", /settings\.redis\.url is null/],
    ["both known_hosts sources", "bothKnownHosts", /mutually exclusive/],
  ])("asserts against %s", (_what, name, message) => {
    expect(result(name).failedAssertions.join("\n")).toMatch(message);
  });
});
