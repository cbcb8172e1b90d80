import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = new URL("../../../", import.meta.url).pathname;
const TSX = join(ROOT, "node_modules/.bin/tsx");
const dir = mkdtempSync(join(tmpdir(), "nixguard-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function nixguard(...args: string[]) {
  try {
    const { stdout, stderr } = await run(TSX, [join(ROOT, "src/main.ts"), ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

function writeConfig(name: string, mutate: (c: any) => void): string {
  const c: any = {
    deployments: {
      web: { flake: "/var/lib/deploy", hosts: { web1: { address: "10.0.0.1", units: ["nginx.service"] } } },
    },
  };
  mutate(c);
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(c));
  return file;
}

describe("nixguard config", () => {
  it("check exits 0 on the Fediversity example", async () => {
    // The example's credentials live on its NixOS host, not here.
    const r = await nixguard("config", "check", "--no-files", "examples/fediversity.json");
    expect(r.code).toBe(0);
    // Fediversity's real shape: check-deployment-cli-mastodon-pixelfed (garage derived from the apps).
    expect(r.stdout).toMatch(/ok \(1 deployment\(s\), 3 host\(s\)/);
  });

  it("show lists mastodon's units and the /health check", async () => {
    const r = await nixguard("config", "show", "examples/fediversity.json");
    expect(r.code).toBe(0);
    const desired = JSON.parse(r.stdout);
    const mastodon = desired.deployments[0].hosts.find((h: any) => h.name === "mastodon");
    const units = mastodon.units.map((u: any) => u.unit);
    for (const u of [
      "mastodon-web.service",
      "mastodon-streaming-1.service",
      "mastodon-sidekiq-all.service",
      "redis-mastodon.service",
    ]) {
      expect(units).toContain(u);
    }
    const urls = mastodon.http.map((c: any) => c.url);
    expect(urls).toContain("https://mastodon.fediversity.net/health");
    // Streaming through nixpkgs' vhost, which strips /api/v1/streaming/.
    expect(urls).toContain("https://mastodon.fediversity.net/api/v1/streaming/api/v1/streaming/health");
  });

  it.each([
    ["misspelled key", (c: any) => (c.probes = { intervall: "30s" }), "probes.intervall"],
    [
      "hostile unit",
      (c: any) => (c.deployments.web.hosts.web1.units = ["foo.service;reboot"]),
      "deployments.web.hosts.web1.units[0]",
    ],
    [
      "hostile host",
      (c: any) => (c.deployments.web.hosts.web1.address = "-oProxyCommand=x"),
      "deployments.web.hosts.web1.address",
    ],
    ["bad duration", (c: any) => (c.probes = { timeout: "5 parsecs" }), "probes.timeout"],
  ])("%s exits 78 naming the JSON path, without a stack trace", async (_name, mutate, path) => {
    const r = await nixguard("config", "check", writeConfig(`${path}.json`, mutate));
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(path);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("reports all three errors of a file", async () => {
    const file = writeConfig("three.json", (c) => {
      c.probes = { intervall: "30s", timeout: "5 parsecs" };
      c.deployments.web.hosts.web1.units = ["foo.service;reboot"];
    });
    const r = await nixguard("config", "check", file);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/3 errors/);
    for (const p of ["probes.intervall", "probes.timeout", "deployments.web.hosts.web1.units[0]"])
      expect(r.stderr).toContain(p);
  });

  it("check reports every error in one pass: schema, cron, reference, files it will need (issue 19)", async () => {
    const loose = join(dir, "loose-key");
    writeFileSync(loose, "key\n", { mode: 0o644 });
    const file = writeConfig("all-at-once.json", (c) => {
      c.log = { level: "loud" };
      c.schedule = [{ cron: "61 * * * *", action: "redeploy", deployments: ["nope"] }];
      c.api = { tokens: [{ name: "ops", file: join(dir, "no-such-token"), scope: "admin" }] };
      c.ssh = { identityFile: loose, knownHostsFile: join(dir, "no-known-hosts") };
    });
    const r = await nixguard("config", "check", file);
    expect(r.code).toBe(78);
    for (const p of [
      "log.level",
      "schedule[0].cron: invalid cron expression",
      "schedule[0].deployments[0]: unknown deployment",
      "api.tokens[0].file: file does not exist",
      "ssh.knownHostsFile: file does not exist",
    ])
      expect(r.stderr).toContain(p);
    expect(r.stderr).toMatch(
      /ssh\.identityFile: holds a secret but is readable by everyone \(mode 644; chmod 600\)/,
    );
  });

  it("check: a valid config whose secret is group-readable passes with a warning", async () => {
    const token = join(dir, "group-token");
    writeFileSync(token, "secret-token-0123456789abcdef\n", { mode: 0o640 });
    const file = writeConfig("warn.json", (c) => {
      c.api = { tokens: [{ name: "ops", file: token, scope: "admin" }] };
    });
    const r = await nixguard("config", "check", file);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("ok (1 deployment(s)");
    expect(r.stderr).toContain("api.tokens[0].file: holds a secret but is readable by its group (mode 640");
  });

  it("show prints the effective config with its defaults and the expanded hosts", async () => {
    const r = await nixguard(
      "config",
      "show",
      writeConfig("show.json", () => {}),
    );
    const out = JSON.parse(r.stdout);
    expect(out.config.probes).toMatchObject({ interval: 30_000, timeout: 10_000 });
    expect(out.config.remediation.mode).toBeDefined();
    expect(out.config.api.listen).toBe("127.0.0.1:9273");
    expect(out.deployments[0].hosts[0]).toMatchObject({ name: "web1", address: "10.0.0.1" });
  });

  it("a missing file or invalid JSON is a config error (78)", async () => {
    expect((await nixguard("config", "check", join(dir, "nope.json"))).code).toBe(78);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, '{\n  "deployments": {}\n  "log": {}\n}');
    const r = await nixguard("config", "check", bad);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("invalid JSON at line 3 column 3");
  });

  it("usage errors exit 64; --help exits 0 on every subcommand", async () => {
    expect((await nixguard("config", "check")).code).toBe(64);
    expect((await nixguard("frobnicate")).code).toBe(64);
    for (const args of [
      ["--help"],
      ["config", "--help"],
      ["config", "check", "--help"],
      ["config", "show", "--help"],
    ]) {
      const r = await nixguard(...args);
      expect(r.code, args.join(" ")).toBe(0);
      expect(r.stdout).toMatch(/Usage:/);
    }
    // Six tsx start-ups: ~2 s each on an idle machine, several times that on a loaded CI one.
  }, 90_000);
});
