import { describe, expect, it } from "vitest";
import * as g from "../../../src/config/grammar.js";
import { HOSTILE_VALUES } from "../../helpers/hostile.js";

const CHECKS: Record<string, g.Check> = {
  hostAddress: g.hostAddress,
  sshUser: g.sshUser,
  unitName: g.unitName,
  nixops4Target: g.nixops4Target,
  absolutePath: g.absolutePath,
  httpUrl: g.httpUrl,
  resourceName: g.resourceName,
};

describe("grammars refuse every hostile value", () => {
  for (const [name, check] of Object.entries(CHECKS)) {
    for (const value of HOSTILE_VALUES) {
      it(`${name} refuses ${JSON.stringify(value)}`, () => {
        expect(check(value)).toEqual(expect.any(String));
      });
    }
  }
});

describe("grammars accept real values", () => {
  it.each([
    ["hostAddress", "10.0.0.11"],
    ["hostAddress", "mastodon.example.org"],
    ["hostAddress", "fe80::1"],
    ["hostAddress", "localhost"],
    ["sshUser", "root"],
    ["sshUser", "deploy_user"],
    ["unitName", "mastodon-web.service"],
    ["unitName", "mastodon-streaming-1.service"],
    ["unitName", "getty@tty1.service"],
    ["unitName", "pixelfed-cron.timer"],
    ["unitName", "dev-disk-by\\x2duuid-abc.device"],
    ["nixops4Target", "default"],
    ["nixops4Target", "fediversity.mastodon"],
    ["absolutePath", "/var/lib/fediversity/deployment"],
    ["absolutePath", "/run/credentials/nixguard.service/ssh-key"],
    ["httpUrl", "https://mastodon.example.org/health"],
    ["httpUrl", "http://[::1]:8080/x?y=1"],
    ["resourceName", "fediversity"],
    ["resourceName", "web-1.eu"],
  ])("%s accepts %s", (name, value) => {
    expect(CHECKS[name]!(value)).toBeUndefined();
  });

  it("refuses units without a known suffix or with two @", () => {
    expect(g.unitName("mastodon-web")).toMatch(/ending in/);
    expect(g.unitName("a@b@c.service")).toBeDefined();
  });

  it("refuses URLs with credentials or other schemes", () => {
    expect(g.httpUrl("https://user:pw@example.org/")).toMatch(/credentials/);
    expect(g.httpUrl("file:///etc/passwd")).toMatch(/http/);
  });

  it("reserves __ in names (job-id separator)", () => {
    expect(g.resourceName("a__b")).toMatch(/reserved/);
  });
});
