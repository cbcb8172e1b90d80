import { describe, expect, it } from "vitest";
import { hostsNamed } from "../../../src/config/host-index.js";
import { parseConfig } from "../../../src/config/load.js";

const host = (address: string) => ({ address, units: ["nginx.service"] });
const desired = (deployments: Record<string, Record<string, ReturnType<typeof host>>>) =>
  parseConfig({
    deployments: Object.fromEntries(
      Object.entries(deployments).map(([name, hosts]) => [name, { flake: "/var/lib/deploy", hosts }]),
    ),
  }).desired;

describe("hostsNamed", () => {
  const state = desired({
    web: { web1: host("10.0.0.1"), shared: host("10.0.0.2") },
    db: { db1: host("10.0.1.1"), shared: host("10.0.1.2") },
  });

  it("finds a host by name with its deployment", () => {
    expect(hostsNamed(state, "db1").map((h) => [h.deployment, h.name, h.address])).toEqual([
      ["db", "db1", "10.0.1.1"],
    ]);
  });

  it("returns every deployment's host of that name, in config order", () => {
    expect(hostsNamed(state, "shared").map((h) => `${h.deployment}/${h.address}`)).toEqual([
      "web/10.0.0.2",
      "db/10.0.1.2",
    ]);
  });

  it("returns nothing for an unknown name", () => {
    expect(hostsNamed(state, "web2")).toEqual([]);
  });

  it("answers from the desired state asked about, so a reloaded one is never served stale", () => {
    expect(hostsNamed(state, "web1")).toHaveLength(1);
    const reloaded = desired({ web: { web2: host("10.0.0.3") } });
    expect(hostsNamed(reloaded, "web1")).toEqual([]);
    expect(hostsNamed(reloaded, "web2").map((h) => h.address)).toEqual(["10.0.0.3"]);
    expect(hostsNamed(state, "web1").map((h) => h.address)).toEqual(["10.0.0.1"]);
  });
});
